package archive

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"fmt"
	"os"
	"sort"
	"strings"
)

// The verifier's side of the Merkle tree, the checkpoints and the epoch keys.

// Problems found against checkpoints.
const (
	// RolledBack: a checkpoint kept outside the archive covers records the
	// archive no longer holds (newest records deleted, or the whole archive
	// put back to an earlier state).
	RolledBack Problem = "rolled back"
	// Inconsistent: the archive's records hash to another tree than a
	// checkpoint signed for the same number of records (history rewritten).
	Inconsistent Problem = "inconsistent with a checkpoint"
)

// epochArtifact is something signed in an epoch that commits to the next
// epoch's key: a manifest, a tombstone or a checkpoint.
type epochArtifact struct {
	name     string
	epoch    uint64
	nextKey  string // base64
	signedBy func(ed25519.PublicKey) bool
}

// resolveEpochs finds every epoch's public key: epoch 0's is the trusted key
// that signed epoch 0's artifacts, epoch n+1's the next key that epoch n's
// validly signed artifacts commit to (including the epoch after the last
// one that signed anything). Artifacts that are not validly signed are left
// for the walk to diagnose; validly signed ones that disagree on the next key
// are an error here. last is the newest epoch that signed something.
func resolveEpochs(arts []epochArtifact, trusted []ed25519.PublicKey) (keys map[uint64]ed25519.PublicKey, last uint64, err error) {
	byEpoch := map[uint64][]epochArtifact{}
	for _, a := range arts {
		byEpoch[a.epoch] = append(byEpoch[a.epoch], a)
	}
	keys = map[uint64]ed25519.PublicKey{}
	if len(byEpoch[0]) == 0 {
		return keys, 0, nil
	}
	for _, k := range trusted {
		for _, a := range byEpoch[0] {
			if a.signedBy(k) {
				keys[0] = k
				break
			}
		}
		if keys[0] != nil {
			break
		}
	}
	for n := uint64(0); keys[n] != nil && len(byEpoch[n]) > 0; n++ {
		last = n
		var next, from string
		for _, a := range byEpoch[n] {
			if !a.signedBy(keys[n]) {
				continue
			}
			if next != "" && a.nextKey != next {
				ve := &VerifyError{Problem: Modified,
					Detail: fmt.Sprintf("epoch %d's key commits to two different keys for epoch %d (here and in %s)", n, n+1, from)}
				if strings.HasSuffix(a.name, checkpointExt) {
					ve.Checkpoint = a.name
				} else {
					ve.Segment = withExt(a.name, segmentExt)
				}
				return keys, last, ve
			}
			next, from = a.nextKey, a.name
		}
		b, err := base64.StdEncoding.DecodeString(next)
		if err != nil || len(b) != ed25519.PublicKeySize {
			break
		}
		keys[n+1] = b
	}
	return keys, last, nil
}

// collectArtifacts parses every manifest and tombstone (unverified) and
// returns them with the archive's checkpoints as epoch artifacts.
func collectArtifacts(dir string, entries []entry, cps []*Checkpoint) []epochArtifact {
	var arts []epochArtifact
	for _, e := range entries {
		for _, rel := range []string{e.manifest, e.tombstone} {
			if rel == "" {
				continue
			}
			data, err := os.ReadFile(joinRel(dir, rel))
			if err != nil {
				continue
			}
			m, err := parseManifest(data)
			if err != nil || m.Epoch == nil {
				continue
			}
			arts = append(arts, epochArtifact{name: rel, epoch: m.Epoch.Epoch, nextKey: m.Epoch.NextKey,
				signedBy: func(k ed25519.PublicKey) bool { return m.verifyUnder(k) == nil }})
		}
	}
	for _, cp := range cps {
		arts = append(arts, epochArtifact{name: cp.Name, epoch: cp.Epoch,
			nextKey: base64.StdEncoding.EncodeToString(cp.NextKey), signedBy: cp.signedBy})
	}
	return arts
}

// verifyUnder checks the manifest's signature under pub.
func (p *parsedManifest) verifyUnder(pub ed25519.PublicKey) error {
	return p.verify(map[string]ed25519.PublicKey{KeyID(pub): pub})
}

// epochSignature checks a manifest written with an epoch commitment: signed
// by its epoch's key, in epoch order, committing to the next epoch's key.
func (v *verifier) epochSignature(m *parsedManifest, rel, want string) error {
	n := m.Epoch.Epoch
	key := v.epochKeys[n]
	if key == nil {
		detail := fmt.Sprintf("%s is signed in epoch %d, whose key the chain from the trusted key does not reach", rel, n)
		if n == 0 {
			detail = fmt.Sprintf("%s is signed in epoch 0 with key %s, which is not trusted", rel, m.sig.KeyID)
		}
		return &VerifyError{Segment: want, Problem: BadSignature, Detail: detail}
	}
	if err := m.verifyUnder(key); err != nil {
		return &VerifyError{Segment: want, Problem: BadSignature,
			Detail: fmt.Sprintf("%s is not signed by epoch %d's key %s (signed with key %s)", rel, n, KeyID(key), m.sig.KeyID)}
	}
	if m.Kind == KindSegment {
		if n < v.lastEpoch {
			return &VerifyError{Segment: want, Problem: BadSignature,
				Detail: fmt.Sprintf("%s is signed in epoch %d, but an earlier segment is signed in epoch %d: a later key signed an earlier segment", rel, n, v.lastEpoch)}
		}
		if n > v.lastSigned {
			return &VerifyError{Segment: want, Problem: BadSignature,
				Detail: fmt.Sprintf("%s is signed in epoch %d, after the newest epoch the archive's key chain holds (%d)", rel, n, v.lastSigned)}
		}
		v.lastEpoch = n
	}
	if next := v.epochKeys[n+1]; next != nil && base64.StdEncoding.EncodeToString(next) != m.Epoch.NextKey {
		return &VerifyError{Segment: want, Problem: Modified,
			Detail: fmt.Sprintf("%s commits to another key for epoch %d than the rest of epoch %d", rel, n+1, n)}
	}
	return nil
}

// cpCheck is a checkpoint the walk checks the tree against.
type cpCheck struct {
	cp       *Checkpoint
	external bool
}

// prepareCheckpoints authenticates the checkpoints against the epoch keys and
// orders them by tree size for the walk.
func (v *verifier) prepareCheckpoints(own, external []*Checkpoint) error {
	maxEpoch := v.lastSigned
	for _, cp := range own {
		if cp.Epoch == 0 && (v.chainStart.IsZero() || cp.Time.Before(v.chainStart)) {
			v.chainStart = cp.Time
		}
	}
	check := func(cp *Checkpoint, ext bool) error {
		key := v.epochKeys[cp.Epoch]
		if key != nil && cp.Origin != Origin(v.epochKeys[0]) {
			return &VerifyError{Checkpoint: cp.Name, Problem: BadSignature,
				Detail: fmt.Sprintf("the checkpoint is of another archive (%s, this one is %s)", cp.Origin, Origin(v.epochKeys[0]))}
		}
		switch {
		case key == nil && ext && len(v.epochKeys) > 0 && cp.Epoch > maxEpoch+1:
			return &VerifyError{Checkpoint: cp.Name, Problem: RolledBack,
				Detail: fmt.Sprintf("the checkpoint (%d records) is signed in epoch %d, but the archive's key chain ends at epoch %d: the archive was put back to an earlier state, or the checkpoint is another archive's", cp.Size, cp.Epoch, maxEpoch)}
		case key == nil:
			return &VerifyError{Checkpoint: cp.Name, Problem: BadSignature,
				Detail: fmt.Sprintf("the checkpoint is signed in epoch %d, whose key the chain from the trusted key does not reach", cp.Epoch)}
		case !cp.signedBy(key):
			return &VerifyError{Checkpoint: cp.Name, Problem: BadSignature,
				Detail: fmt.Sprintf("the checkpoint is not signed by epoch %d's key %s", cp.Epoch, KeyID(key))}
		}
		v.cps = append(v.cps, cpCheck{cp: cp, external: ext})
		return nil
	}
	for _, cp := range own {
		if err := check(cp, false); err != nil {
			return err
		}
	}
	for _, cp := range external {
		if err := check(cp, true); err != nil {
			return err
		}
	}
	sort.SliceStable(v.cps, func(i, j int) bool { return v.cps[i].cp.Size < v.cps[j].cp.Size })
	return nil
}

// startTree starts the tree at the current segment if it has not started.
func (v *verifier) startTree() {
	if v.tree == nil {
		v.tree = emptyTree()
	}
}

// restoreTree continues the tree from a signed tree head, for records that
// are gone (deleted by retention).
func (v *verifier) restoreTree(h *TreeHead, rel, want string) error {
	r, err := h.rangeOf()
	if err != nil {
		return &VerifyError{Segment: want, Problem: Modified, Detail: rel + ": " + err.Error()}
	}
	v.tree = r
	v.skipCheckpoints()
	return nil
}

// skipCheckpoints passes over checkpoints for tree sizes whose records are
// gone, checking the one at exactly the current size.
func (v *verifier) skipCheckpoints() {
	for v.cpNext < len(v.cps) && v.cps[v.cpNext].cp.Size < v.tree.End() {
		v.sum.CheckpointsUnchecked++
		v.cpNext++
	}
}

// addLeaves appends a frame's leaf hashes to the tree, checking every
// checkpoint whose size is reached on the way.
func (v *verifier) addLeaves(leaves []byte, rel string, frame uint64) error {
	for i := 0; i+HashSize <= len(leaves); i += HashSize {
		if err := v.checkpointsAt(rel, frame); err != nil {
			return err
		}
		_ = v.tree.Append(leaves[i:i+HashSize:i+HashSize], nil)
	}
	return nil
}

// checkpointsAt checks the checkpoints for the current tree size.
func (v *verifier) checkpointsAt(rel string, frame uint64) error {
	if v.tree == nil {
		return nil
	}
	var root []byte
	for v.cpNext < len(v.cps) && v.cps[v.cpNext].cp.Size == v.tree.End() {
		c := v.cps[v.cpNext]
		if root == nil {
			root = treeRoot(v.tree)
		}
		if !bytes.Equal(root, c.cp.Root) {
			return &VerifyError{Segment: rel, Frame: frame, Problem: Inconsistent,
				Detail: fmt.Sprintf("the first %d records hash to %x, but checkpoint %s (signed %s in epoch %d) says %x: records up to there were changed, removed or replaced",
					c.cp.Size, root, c.cp.Name, formatTime(c.cp.Time), c.cp.Epoch, c.cp.Root)}
		}
		if c.external {
			v.sum.External++
		} else {
			v.sum.Checkpoints++
		}
		v.cpNext++
	}
	return nil
}

// finishCheckpoints checks the checkpoints at the final size and diagnoses
// those beyond it.
func (v *verifier) finishCheckpoints(last string) error {
	if v.tree == nil {
		v.tree = emptyTree()
	}
	if err := v.checkpointsAt(last, 0); err != nil {
		return err
	}
	if v.cpNext < len(v.cps) {
		c := v.cps[v.cpNext]
		problem, who := Truncated, "the archive's own checkpoint"
		if c.external {
			problem, who = RolledBack, "checkpoint"
		}
		return &VerifyError{Segment: last, Problem: problem,
			Detail: fmt.Sprintf("%s %s (signed %s in epoch %d) covers %d records, the archive holds %d: the newest %d records are gone",
				who, c.cp.Name, formatTime(c.cp.Time), c.cp.Epoch, c.cp.Size, v.tree.End(), c.cp.Size-v.tree.End())}
	}
	v.sum.TreeSize = v.tree.End()
	v.sum.TreeRoot = treeRoot(v.tree)
	return nil
}

// frameLeaves returns the leaf hashes of a frame's records.
func (v *verifier) frameLeaves(f *Frame) ([]byte, error) {
	raw, err := v.codec.decompress(f.Payload)
	if err != nil {
		return nil, err
	}
	// A fresh slice: the tree keeps references to leaf hashes.
	leaves, n, err := v.leafHasher.appendLeaves(make([]byte, 0, HashSize*int(f.Records)), raw)
	if err != nil {
		return nil, err
	}
	if uint32(n) != f.Records {
		return nil, fmt.Errorf("the frame holds %d records, its header says %d", n, f.Records)
	}
	return leaves, nil
}
