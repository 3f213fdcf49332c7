package archive

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"fmt"
	"os"
	"path"

	"github.com/transparency-dev/merkle/compact"
)

// Witnesses: checkpoints the archive signed that someone else kept (each
// device keeps the last few it was given). The writer checks such a
// checkpoint against the archive it continues, before it takes records and
// whenever a device reports one.

// Errors of CheckWitness.
var (
	// ErrWitnessInconsistent: a checkpoint this archive signed, or one that
	// claims to be and cannot be checked, disagrees with the archive: it
	// was rolled back, truncated or rewritten.
	ErrWitnessInconsistent = errors.New("the archive is inconsistent with a checkpoint a witness holds")
	// ErrWitnessForged: the checkpoint names this archive but is not signed
	// by the key of the epoch it names; it proves nothing.
	ErrWitnessForged = errors.New("the checkpoint is not signed by the archive's key for its epoch")
	// ErrWitnessUnchecked: the records up to the checkpoint's size were
	// deleted by retention; it can be neither confirmed nor refuted.
	ErrWitnessUnchecked = errors.New("the checkpoint cannot be checked: records it covers were deleted by retention")
	// ErrWitnessOther: not a checkpoint of this archive (another archive's,
	// or not a checkpoint at all); it proves nothing about this one.
	ErrWitnessOther = errors.New("not a checkpoint of this archive")
)

// WitnessError is an inconsistency found against a witnessed checkpoint.
type WitnessError struct {
	// Problem is RolledBack (the checkpoint covers more records than the
	// archive holds) or Inconsistent (other records at its size).
	Problem Problem
	// Size, Epoch and Time are the checkpoint's; Held the archive's size.
	Size, Epoch, Held uint64
	Detail            string
}

func (e *WitnessError) Error() string {
	return fmt.Sprintf("%s: %s", ErrWitnessInconsistent, e.Diagnosis())
}

// Diagnosis is the problem and what was found, without the sentinel.
func (e *WitnessError) Diagnosis() string {
	return fmt.Sprintf("%s: checkpoint of %d records (epoch %d) %s", e.Problem, e.Size, e.Epoch, e.Detail)
}

func (e *WitnessError) Unwrap() error { return ErrWitnessInconsistent }

// CheckWitness checks a checkpoint note a witness kept against the archive:
// a checkpoint of the archive's size must have its root, a smaller one the
// root of the archive's first records, and none may be larger. A note that
// is not this archive's (ErrWitnessOther) or not signed by its epoch's key
// (ErrWitnessForged) is no evidence. A note of a later epoch than the
// writer's key chain reaches cannot be authenticated: it is an
// inconsistency when it claims more records than the archive holds (the
// archive was put back to a state before that epoch, or the witness forged
// it; WitnessError says both), and no evidence otherwise.
//
// For a smaller checkpoint the writer reads from the newest manifest at or
// below its size, at most one segment: the check trusts the signed tree
// heads of the manifests; `Verify` with the checkpoint checks every record.
func (w *Writer) CheckWitness(note []byte) error {
	cp, err := ParseCheckpoint(note)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrWitnessOther, err)
	}
	w.mu.Lock()
	origin := w.log.keys.state.Origin
	epoch := w.log.keys.epoch()
	cur := w.log.keys.cur.Public().(ed25519.PublicKey)
	next := w.log.keys.next.Public().(ed25519.PublicKey)
	first := w.opts.Key
	w.mu.Unlock()
	if cp.Origin != origin {
		return fmt.Errorf("%w: its origin is %q, this archive's %q", ErrWitnessOther, cp.Origin, origin)
	}
	size, root, _ := w.log.current(false)

	var key ed25519.PublicKey
	switch {
	case cp.Epoch == epoch:
		key = cur
	case cp.Epoch == epoch+1:
		key = next
	case cp.Epoch < epoch:
		if key, err = w.pastEpochKey(cp.Epoch, epoch, first); err != nil {
			return err
		}
	}
	// Epoch 0's key after it was erased: the archive's own copy of the
	// checkpoint vouches for it.
	vouched := key == nil && cp.Epoch <= epoch && w.ownCheckpoint(cp)
	switch {
	case vouched:
	case key == nil:
		if cp.Size > size {
			return &WitnessError{Problem: RolledBack, Size: cp.Size, Epoch: cp.Epoch, Held: size,
				Detail: fmt.Sprintf("signed in epoch %d, the archive's keys reach epoch %d; it covers %d records, the archive holds %d: the archive was put back to an earlier state, or the witness forged the checkpoint",
					cp.Epoch, epoch+1, cp.Size, size)}
		}
		return fmt.Errorf("%w: epoch %d's key is unknown to the archive, and the archive does not keep the checkpoint", ErrWitnessForged, cp.Epoch)
	case !cp.signedBy(key):
		return fmt.Errorf("%w: not signed by epoch %d's key %s", ErrWitnessForged, cp.Epoch, KeyID(key))
	}
	switch {
	case cp.Size > size:
		return &WitnessError{Problem: RolledBack, Size: cp.Size, Epoch: cp.Epoch, Held: size,
			Detail: fmt.Sprintf("signed %s: it covers %d records, the archive holds %d: the newest %d records are gone (the archive was rolled back or truncated)",
				formatTime(cp.Time), cp.Size, size, cp.Size-size)}
	case cp.Size < size:
		if root, err = w.rootAt(cp.Size); err != nil {
			return err
		}
	}
	if !bytes.Equal(root, cp.Root) {
		return &WitnessError{Problem: Inconsistent, Size: cp.Size, Epoch: cp.Epoch, Held: size,
			Detail: fmt.Sprintf("signed %s with root %x: the archive's first %d records hash to %x: records up to there were changed, removed or replaced",
				formatTime(cp.Time), cp.Root, cp.Size, root)}
	}
	return nil
}

// Origin is the origin line of the archive's checkpoints: it names the
// archive by its first key.
func (w *Writer) Origin() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.log.keys.state.Origin
}

// ownCheckpoint reports whether the archive keeps cp, byte for byte, where
// it stores the checkpoints it signs.
func (w *Writer) ownCheckpoint(cp *Checkpoint) bool {
	data, err := os.ReadFile(joinRel(w.opts.Dir, checkpointPath(cp.Time, cp.Size, cp.Epoch)))
	return err == nil && bytes.Equal(bytes.TrimSpace(data), bytes.TrimSpace(cp.Note))
}

// pastEpochKey is the public key of an epoch before the current one: epoch
// 0's is the configured key while it is given; epoch e's the next key of a
// checkpoint of epoch e-1 that is signed by epoch e-1's key (resolved the
// same way; when epoch 0's key is gone, the archive's own epoch 0
// checkpoints, which no witness can write, are taken as they are). nil when
// the archive's checkpoints do not reach it. The keys
// are resolved once per current epoch.
func (w *Writer) pastEpochKey(e, current uint64, first ed25519.PrivateKey) (ed25519.PublicKey, error) {
	w.witnessMu.Lock()
	defer w.witnessMu.Unlock()
	if w.witnessKeys == nil || w.witnessKeysAt < current {
		w.witnessKeys, w.witnessKeysAt = map[uint64]ed25519.PublicKey{}, current
		if len(first) == ed25519.PrivateKeySize {
			w.witnessKeys[0] = first.Public().(ed25519.PublicKey)
		}
		rels, err := listCheckpoints(w.opts.Dir)
		if err != nil {
			return nil, err
		}
		// One checkpoint of each epoch, in epoch order.
		byEpoch := map[uint64]string{}
		var maxEpoch uint64
		for _, rel := range rels {
			_, ep, _ := checkpointName(path.Base(rel))
			if _, ok := byEpoch[ep]; !ok {
				byEpoch[ep] = rel
			}
			maxEpoch = max(maxEpoch, ep)
		}
		for ep := uint64(0); ep <= maxEpoch; ep++ {
			rel, ok := byEpoch[ep]
			if !ok {
				break
			}
			data, err := os.ReadFile(joinRel(w.opts.Dir, rel))
			if err != nil {
				return nil, fmt.Errorf("read checkpoint: %w", err)
			}
			cp, err := ParseCheckpoint(data)
			if err != nil || cp.Epoch != ep {
				break
			}
			if k := w.witnessKeys[ep]; k != nil && !cp.signedBy(k) {
				break
			}
			if ep > 0 && w.witnessKeys[ep] == nil {
				break
			}
			w.witnessKeys[ep+1] = cp.NextKey
		}
	}
	return w.witnessKeys[e], nil
}

// rootAt returns the root of the tree of the archive's first size records,
// which it holds: it continues from the newest manifest or tombstone whose
// tree head is at or below size and reads the records after it.
func (w *Writer) rootAt(size uint64) ([]byte, error) {
	entries, err := scan(w.opts.Dir)
	if err != nil {
		return nil, err
	}
	r := emptyTree()
	from := 0
	for i, e := range entries {
		rel := e.manifest + e.tombstone
		if rel == "" {
			continue
		}
		m, err := readManifestFile(w.opts.Dir, rel)
		if err != nil {
			return nil, err
		}
		if m.Tree == nil {
			r, from = emptyTree(), i+1
			continue
		}
		if m.Tree.Size > size {
			break
		}
		if r, err = m.Tree.rangeOf(); err != nil {
			return nil, fmt.Errorf("read %s: %w", rel, err)
		}
		from = i + 1
	}
	if r.End() == size {
		return treeRoot(r), nil
	}
	c, err := newCodec()
	if err != nil {
		return nil, err
	}
	defer c.close()
	lh := newLeafHasher()
	for _, e := range entries[from:] {
		if e.tombstone != "" {
			return nil, fmt.Errorf("%w (%s)", ErrWitnessUnchecked, e.tombstone)
		}
		if e.segment == "" {
			continue
		}
		if err := addSegmentLeaves(w.opts.Dir, e.segment, c, lh, r, size); err != nil {
			return nil, err
		}
		if r.End() == size {
			return treeRoot(r), nil
		}
	}
	return nil, fmt.Errorf("witness check: the archive's tree ends at %d records, before %d", r.End(), size)
}

// addSegmentLeaves appends a segment's leaf hashes to r, up to size.
func addSegmentLeaves(dir, seg string, c *codec, lh *leafHasher, r *compact.Range, size uint64) error {
	data, err := os.ReadFile(joinRel(dir, seg))
	if err != nil {
		return fmt.Errorf("witness check: %w", err)
	}
	frames, _, _ := ParseFrames(data)
	for _, f := range frames {
		raw, err := c.decompress(f.Payload)
		if err != nil {
			return fmt.Errorf("witness check: %s frame %d: %w", seg, f.Seq, err)
		}
		leaves, n, err := lh.appendLeaves(nil, raw)
		if err != nil {
			return fmt.Errorf("witness check: %s frame %d: %w", seg, f.Seq, err)
		}
		n = min(n, int(size-r.End()))
		appendLeafHashes(r, leaves[:n*HashSize], nil)
		if r.End() == size {
			return nil
		}
	}
	return nil
}
