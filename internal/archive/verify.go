package archive

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/transparency-dev/merkle/compact"
)

// Problem is what Verify found wrong.
type Problem string

// The problems Verify diagnoses.
const (
	Modified     Problem = "modified"
	Missing      Problem = "missing"
	Reordered    Problem = "reordered"
	Truncated    Problem = "truncated"
	BadSignature Problem = "bad signature"
)

// VerifyError names the first broken segment and frame and what is wrong.
type VerifyError struct {
	Segment string
	// Frame is the archive-wide sequence number of the broken frame, 0 when
	// the problem is not in a frame.
	Frame uint64
	// Checkpoint names the checkpoint at fault, when the problem is one
	// checkpoint rather than a segment.
	Checkpoint string
	Problem    Problem
	Detail     string
}

func (e *VerifyError) Error() string {
	if e.Checkpoint != "" {
		return fmt.Sprintf("checkpoint %s: %s: %s", e.Checkpoint, e.Problem, e.Detail)
	}
	where := "segment " + e.Segment
	if e.Frame != 0 {
		where += fmt.Sprintf(", frame %d", e.Frame)
	}
	return fmt.Sprintf("%s: %s: %s", where, e.Problem, e.Detail)
}

// Summary is what Verify checked.
type Summary struct {
	Sealed, Tombstones int
	// Open is the unsealed segment being written, if any; its frames are
	// checked against the chain but no manifest vouches for it yet.
	Open     string
	OpenTorn int64
	Frames   uint64
	Records  uint64
	// First and Last bound the record times of sealed segments (from their
	// manifests) and of the open segment.
	First, Last time.Time
	// TreeSize and TreeRoot are the Merkle tree over the records (all of
	// them since the tree began, including those deleted by retention).
	TreeSize uint64
	TreeRoot []byte
	// Checkpoints counts the archive's own checkpoints checked against the
	// tree, External those given to Verify, CheckpointsUnchecked those whose
	// records retention deleted. Epoch is the newest signing epoch.
	Checkpoints, External, CheckpointsUnchecked int
	Epoch                                       uint64
}

// VerifyOptions are what VerifyArchive checks an archive against.
type VerifyOptions struct {
	// Keys are the trusted public keys: the first epoch key and the keys of
	// manifests written before epoch keys.
	Keys []ed25519.PublicKey
	// Checkpoints were saved outside the archive: the archive must extend
	// the tree each one signed.
	Checkpoints []*Checkpoint
	Progress    Progress
}

// Progress is told how many of the archive's segments Verify has checked.
type Progress func(done, total int)

// Verify checks every frame hash, every manifest and tombstone signature
// against keys, and the chains of frames and manifests across segments. It
// returns a *VerifyError for the first problem in the archive, other errors
// only when the archive cannot be read at all.
func Verify(dir string, keys []ed25519.PublicKey, progress Progress) (*Summary, error) {
	return VerifyArchive(dir, VerifyOptions{Keys: keys, Progress: progress})
}

// VerifyArchive is Verify that also checks the Merkle tree against the
// archive's own checkpoints and those in o, and every epoch signature
// against the key chain from o.Keys.
func VerifyArchive(dir string, o VerifyOptions) (*Summary, error) {
	keys, progress := o.Keys, o.Progress
	if _, err := os.Stat(dir); err != nil {
		return nil, fmt.Errorf("verify %s: %w", dir, err)
	}
	trusted := make(map[string]ed25519.PublicKey, len(keys))
	for _, k := range keys {
		trusted[KeyID(k)] = k
	}
	entries, err := scan(dir)
	if err != nil {
		return nil, err
	}
	own, err := readCheckpoints(dir)
	if err != nil {
		return nil, err
	}
	c, err := newCodec()
	if err != nil {
		return nil, err
	}
	defer c.close()
	v := &verifier{dir: dir, keys: trusted, sum: &Summary{}, nextSeq: 1, nextFrame: 1,
		codec: c, leafHasher: newLeafHasher(), hasCheckpoints: len(own) > 0}
	if v.epochKeys, v.lastSigned, err = resolveEpochs(collectArtifacts(dir, entries, own), keys); err != nil {
		return v.sum, err
	}
	if err := v.prepareCheckpoints(own, o.Checkpoints); err != nil {
		return v.sum, err
	}
	last := ""
	for i, e := range entries {
		if err := v.entry(e, i == len(entries)-1); err != nil {
			return v.sum, err
		}
		last = e.segment + e.manifest + e.tombstone
		if e.segment != "" {
			last = e.segment
		}
		if progress != nil {
			progress(i+1, len(entries))
		}
	}
	v.sum.Epoch = v.lastSigned
	return v.sum, v.finishCheckpoints(last)
}

type verifier struct {
	dir                     string
	keys                    map[string]ed25519.PublicKey
	sum                     *Summary
	nextSeq, nextFrame      uint64
	prevChain, prevManifest Hash
	// openGood is where the last frames call stopped parsing, -1 if it
	// stopped at a frame that parsed but did not chain.
	openGood int64

	// The Merkle tree (nil until it starts), the checkpoints to check it
	// against in order of size, and the epoch keys (verify_log.go).
	codec          *codec
	leafHasher     *leafHasher
	tree           *compact.Range
	cps            []cpCheck
	cpNext         int
	hasCheckpoints bool
	epochKeys      map[uint64]ed25519.PublicKey
	lastEpoch      uint64 // of the last segment manifest
	lastSigned     uint64 // the newest epoch that signed anything
	chainStart     time.Time
}

func (v *verifier) entry(e entry, last bool) error {
	name := e.segment
	if name == "" {
		name = e.manifest + e.tombstone
	}
	if e.seq != v.nextSeq {
		return &VerifyError{Segment: segmentFile(v.nextSeq), Problem: Missing,
			Detail: fmt.Sprintf("segments %d to %d are gone without tombstones (next present: %s)", v.nextSeq, e.seq-1, name)}
	}
	switch {
	case e.tombstone != "":
		return v.tombstone(e)
	case e.manifest != "":
		return v.sealed(e)
	case !last:
		return &VerifyError{Segment: e.segment, Problem: Missing, Detail: "the manifest is gone (only the newest segment may be unsealed)"}
	default:
		return v.open(e)
	}
}

// manifest reads, authenticates and places a manifest or tombstone in the chain.
func (v *verifier) manifest(rel string, seq uint64, kind string) (*parsedManifest, error) {
	wantSegment := withExt(rel, segmentExt)
	data, err := os.ReadFile(v.path(rel))
	if err != nil {
		return nil, fmt.Errorf("verify: %w", err)
	}
	m, err := parseManifest(data)
	if err != nil {
		return nil, &VerifyError{Segment: wantSegment, Problem: Modified, Detail: rel + ": " + err.Error()}
	}
	if m.Epoch != nil {
		if err := v.epochSignature(m, rel, wantSegment); err != nil {
			return nil, err
		}
	} else if err := m.verify(v.keys); err != nil {
		return nil, &VerifyError{Segment: wantSegment, Problem: BadSignature, Detail: rel + ": " + err.Error()}
	} else if m.Kind == KindSegment && (v.tree != nil || v.sealedAfter(m, v.chainStart)) {
		return nil, &VerifyError{Segment: wantSegment, Problem: Modified,
			Detail: rel + " is of the format before epoch keys, but was sealed after the archive's key chain began: a manifest of the old format was put in"}
	}
	if m.Tree == nil && v.tree != nil {
		return nil, &VerifyError{Segment: wantSegment, Problem: Modified,
			Detail: rel + " has no Merkle tree head, but segments before it have"}
	}
	if m.Seq != seq || m.Segment != wantSegment {
		return nil, &VerifyError{Segment: wantSegment, Problem: Modified,
			Detail: fmt.Sprintf("%s was replaced: it is the validly signed manifest of segment %s", rel, m.Segment)}
	}
	if m.Kind != kind {
		return nil, &VerifyError{Segment: wantSegment, Problem: Modified, Detail: fmt.Sprintf("%s is a %s, not a %s", rel, m.Kind, kind)}
	}
	if m.PrevManifestHash != v.prevManifest.String() {
		return nil, &VerifyError{Segment: wantSegment, Problem: Modified,
			Detail: fmt.Sprintf("%s does not follow the previous manifest (prev_manifest_hash %s, expected %s)", rel, m.PrevManifestHash, v.prevManifest)}
	}
	if m.PrevChainHash != v.prevChain.String() || m.FirstFrame != v.nextFrame {
		return nil, &VerifyError{Segment: wantSegment, Problem: Missing,
			Detail: fmt.Sprintf("%s does not continue the frame chain (first frame %d, expected %d)", rel, m.FirstFrame, v.nextFrame)}
	}
	return m, nil
}

// sealedAfter reports whether m was sealed after t (never for a zero t).
func (v *verifier) sealedAfter(m *parsedManifest, t time.Time) bool {
	sealed, err := time.Parse(time.RFC3339Nano, m.SealedAt)
	return !t.IsZero() && (err != nil || sealed.After(t))
}

func (v *verifier) tombstone(e entry) error {
	want := withExt(e.tombstone, segmentExt)
	m, err := v.manifest(e.tombstone, e.seq, KindTombstone)
	if err != nil {
		return err
	}
	if v.prevManifest, err = parseHash(m.ManifestSHA256); err != nil {
		return &VerifyError{Segment: want, Problem: Modified, Detail: e.tombstone + ": manifest_sha256: " + err.Error()}
	}
	if v.prevChain, err = parseHash(m.LastChainHash); err != nil {
		return &VerifyError{Segment: want, Problem: Modified, Detail: e.tombstone + ": last_chain_hash: " + err.Error()}
	}
	if m.Tree != nil {
		if err := v.restoreTree(m.Tree, e.tombstone, want); err != nil {
			return err
		}
	}
	v.nextSeq++
	v.nextFrame = m.FirstFrame + m.Frames
	v.sum.Tombstones++
	return nil
}

func (v *verifier) sealed(e entry) error {
	want := withExt(e.manifest, segmentExt)
	m, err := v.manifest(e.manifest, e.seq, KindSegment)
	if err != nil {
		return err
	}
	if e.segment == "" {
		return &VerifyError{Segment: want, Problem: Missing, Detail: "the segment file is gone but its manifest is here"}
	}
	if m.Tree != nil {
		v.startTree()
	}
	data, err := os.ReadFile(v.path(e.segment))
	if err != nil {
		return fmt.Errorf("verify: %w", err)
	}
	sealed := data
	if int64(len(data)) > m.Size && m.Size >= 0 {
		sealed = data[:m.Size]
	}
	frames, records, tailErr := v.frames(e.segment, sealed)
	var ve *VerifyError
	if errors.As(tailErr, &ve) && ve.Problem == Truncated && int64(len(data)) >= m.Size {
		// The file is not short: a frame's length field was changed.
		ve.Problem = Modified
	}
	if tailErr != nil {
		return tailErr
	}
	if int64(len(data)) > m.Size {
		return &VerifyError{Segment: e.segment, Frame: v.nextFrame, Problem: Modified,
			Detail: fmt.Sprintf("%d bytes were appended after the seal", int64(len(data))-m.Size)}
	}
	if int64(len(data)) < m.Size || frames < m.Frames {
		return &VerifyError{Segment: e.segment, Frame: v.nextFrame, Problem: Truncated,
			Detail: fmt.Sprintf("%d bytes and %d frames, the manifest says %d bytes and %d frames", len(data), frames, m.Size, m.Frames)}
	}
	sum := sha256.Sum256(data)
	if int64(len(data)) != m.Size || frames != m.Frames || records != m.Records ||
		v.prevChain.String() != m.LastChainHash || hex.EncodeToString(sum[:]) != m.SegmentSHA256 {
		return &VerifyError{Segment: e.segment, Problem: Modified,
			Detail: fmt.Sprintf("the segment (%d bytes, %d frames, %d records) does not match its manifest (%d bytes, %d frames, %d records)", len(data), frames, records, m.Size, m.Frames, m.Records)}
	}
	if m.Tree != nil && !m.Tree.matches(v.tree) {
		return &VerifyError{Segment: e.segment, Problem: Modified,
			Detail: fmt.Sprintf("the records hash to a Merkle tree of %d leaves and root %x, the manifest says %d leaves and root %s", v.tree.End(), treeRoot(v.tree), m.Tree.Size, m.Tree.Root)}
	}
	v.prevManifest = m.hash
	v.nextSeq++
	v.sum.Sealed++
	v.sum.Frames += frames
	v.sum.Records += records
	v.addTime(m.FirstTime)
	v.addTime(m.LastTime)
	return nil
}

func (v *verifier) open(e entry) error {
	if v.hasCheckpoints {
		// The writer starts the tree at the open segment when the manifest
		// before it has none.
		v.startTree()
	}
	data, err := os.ReadFile(v.path(e.segment))
	if err != nil {
		return fmt.Errorf("verify: %w", err)
	}
	frames, records, tailErr := v.frames(e.segment, data)
	var ve *VerifyError
	if errors.As(tailErr, &ve) && v.openGood >= 0 && tornTail(data, v.openGood) {
		// Unparseable bytes after the last good frame, with no frame after
		// them, are a write in progress or the torn last write of a crash;
		// the writer cuts them when it restarts.
		v.sum.OpenTorn = int64(len(data)) - v.openGood
	} else if tailErr != nil {
		return tailErr
	}
	v.sum.Open = e.segment
	v.sum.Frames += frames
	v.sum.Records += records
	return v.openTimes(data[:v.openGood], e.segment)
}

// openTimes widens the summary's time range by the open segment's records,
// which no manifest summarises yet.
func (v *verifier) openTimes(data []byte, rel string) error {
	c, err := newCodec()
	if err != nil {
		return err
	}
	defer c.close()
	frames, _, _ := ParseFrames(data)
	for _, f := range frames {
		ld, err := c.decode(f.Payload)
		if err != nil {
			return &VerifyError{Segment: rel, Frame: f.Seq, Problem: Modified, Detail: err.Error()}
		}
		for _, rl := range ld.ResourceLogs().All() {
			for _, sl := range rl.ScopeLogs().All() {
				for _, lr := range sl.LogRecords().All() {
					if ts := recordTime(lr); ts != 0 {
						v.widen(ts.AsTime())
					}
				}
			}
		}
	}
	return nil
}

func (v *verifier) addTime(s string) {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		v.widen(t)
	}
}

func (v *verifier) widen(t time.Time) {
	t = t.UTC()
	if v.sum.First.IsZero() || t.Before(v.sum.First) {
		v.sum.First = t
	}
	if t.After(v.sum.Last) {
		v.sum.Last = t
	}
}

// frames checks a segment's frames against the chain, advancing it, and
// returns the number of frames and records checked.
func (v *verifier) frames(rel string, data []byte) (uint64, uint64, error) {
	frames, off, perr := ParseFrames(data)
	v.openGood = -1 // set once every parsed frame checked out
	var n, records uint64
	for i, f := range frames {
		if f.Seq != v.nextFrame {
			problem, detail := Missing, fmt.Sprintf("found frame %d where frame %d belongs; frame %d is gone", f.Seq, v.nextFrame, v.nextFrame)
			if f.Seq < v.nextFrame || containsSeq(frames[i+1:], v.nextFrame) {
				problem, detail = Reordered, fmt.Sprintf("found frame %d where frame %d belongs", f.Seq, v.nextFrame)
			}
			return n, records, &VerifyError{Segment: rel, Frame: v.nextFrame, Problem: problem, Detail: detail}
		}
		h := ChainHash(v.prevChain, f.Body)
		if h != f.Hash {
			return n, records, &VerifyError{Segment: rel, Frame: f.Seq, Problem: Modified, Detail: "the frame's chain hash does not match its content"}
		}
		if v.tree != nil {
			leaves, err := v.frameLeaves(&frames[i])
			if err != nil {
				return n, records, &VerifyError{Segment: rel, Frame: f.Seq, Problem: Modified, Detail: err.Error()}
			}
			if err := v.addLeaves(leaves, rel, f.Seq); err != nil {
				return n, records, err
			}
		}
		v.prevChain = h
		v.nextFrame++
		n++
		records += uint64(f.Records)
	}
	v.openGood = off
	switch {
	case perr == nil:
		return n, records, nil
	case errors.Is(perr, ErrTruncated):
		return n, records, &VerifyError{Segment: rel, Frame: v.nextFrame, Problem: Truncated,
			Detail: fmt.Sprintf("the data ends inside frame %d at byte %d", v.nextFrame, len(data))}
	default:
		return n, records, &VerifyError{Segment: rel, Frame: v.nextFrame, Problem: Modified,
			Detail: fmt.Sprintf("byte %d: %v", off, perr)}
	}
}

func containsSeq(frames []Frame, seq uint64) bool {
	for _, f := range frames {
		if f.Seq == seq {
			return true
		}
	}
	return false
}

func (v *verifier) path(rel string) string { return joinRel(v.dir, rel) }
