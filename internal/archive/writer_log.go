package archive

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/transparency-dev/merkle/compact"
)

// The writer's side of the Merkle tree, the checkpoints and the epoch keys.

// treeState is the writer's Merkle tree and checkpoint bookkeeping.
//
// The writer queues a group's leaf hashes under its lock, in frame order,
// and folds the queue into the tree after letting go of it, while the
// group's fsync runs: the tree's node hashes (one per record) stay off the
// write's critical path. Whoever reads the tree (seal, checkpoint) folds
// first.
type treeState struct {
	keys *epochKeys

	// treeMu guards tree and is held through a fold; queueMu guards queue
	// only, so that the next group's leaves are queued while a fold runs.
	// Both are taken after the writer's lock, never before it, and treeMu
	// before queueMu.
	treeMu  sync.Mutex
	tree    *compact.Range
	queueMu sync.Mutex
	// queue is the leaf hashes waiting to be folded, one after the other,
	// copied from the batches (whose buffers are reused once written); a
	// fold takes it and gives it back as spare, so the two are reused.
	queue, spare []byte
	// folder adds the queue to the tree, under treeMu.
	folder subtreeFolder
	// lastSize and lastEpoch are the newest checkpoint's.
	lastSize, lastEpoch uint64
	haveLast            bool
	// lastNote is the newest checkpoint's signed note.
	lastNote []byte
	// pending is a checkpoint or key erasure error from a seal, reported by
	// the next Checkpoint call.
	pending error
}

// ErrCheckpointAhead means the archive holds fewer records than its own
// newest checkpoint covers, or others at that size: it was truncated or
// rolled back since, or its files were edited.
var ErrCheckpointAhead = errors.New("the archive does not extend its newest checkpoint")

// enqueue adds a copy of a batch's leaf hashes to the tree's queue; the
// caller holds the writer's lock, which orders batches as their frames.
func (t *treeState) enqueue(leaves []byte) {
	t.queueMu.Lock()
	t.queue = append(t.queue, leaves...)
	t.queueMu.Unlock()
}

// maxSpareQueue bounds the queue buffer a fold keeps for reuse.
const maxSpareQueue = 1 << 20

// foldSoon folds the queue unless another fold is running, which then
// folds what was queued before this call as well: an append never waits for
// another's fold. (Whoever reads the tree folds under treeMu first.)
func (t *treeState) foldSoon() {
	for t.treeMu.TryLock() {
		t.foldLocked()
		t.treeMu.Unlock()
		// Leaves queued while this fold ran, by appends whose TryLock
		// failed, are folded here.
		t.queueMu.Lock()
		empty := len(t.queue) == 0
		t.queueMu.Unlock()
		if empty {
			return
		}
	}
}

// foldLocked folds the queue; the caller holds treeMu, so one fold runs at
// a time and takes the queue in order.
func (t *treeState) foldLocked() {
	t.queueMu.Lock()
	queue := t.queue
	t.queue, t.spare = t.spare[:0], nil
	t.queueMu.Unlock()
	if len(queue) == 0 {
		t.queueMu.Lock()
		t.spare = queue
		t.queueMu.Unlock()
		return
	}
	if err := t.folder.appendLeaves(t.tree, queue); err != nil {
		// Never for a range the writer built; the range keeps
		// references to the leaves it takes one at a time.
		appendLeafHashes(t.tree, bytes.Clone(queue), nil)
	}
	if cap(queue) <= maxSpareQueue {
		t.queueMu.Lock()
		t.spare = queue[:0]
		t.queueMu.Unlock()
	}
}

// current folds the queue and returns the tree's size and root; with head,
// also its TreeHead.
func (t *treeState) current(withHead bool) (uint64, []byte, *TreeHead) {
	t.treeMu.Lock()
	defer t.treeMu.Unlock()
	t.foldLocked()
	var h *TreeHead
	if withHead {
		h = head(t.tree)
	}
	return t.tree.End(), treeRoot(t.tree), h
}

// setTree replaces the tree (recovery, before any append).
func (t *treeState) setTree(r *compact.Range) {
	t.treeMu.Lock()
	t.queueMu.Lock()
	t.tree, t.queue, t.spare = r, nil, nil
	t.queueMu.Unlock()
	t.treeMu.Unlock()
}

// openLog loads (or starts) the epoch keys. It runs before recovery.
func (w *Writer) openLog() error {
	keys, err := openEpochKeys(w.opts.Dir, w.opts.Key, w.opts.KeyFile, w.opts.Now())
	if err != nil {
		return err
	}
	w.log.keys, w.log.pending = keys, keys.notErased
	w.log.setTree(emptyTree())
	return nil
}

// continueTree restores the tree from the manifest or tombstone the writer
// continues from; a manifest written before the tree existed starts it empty
// at the next record.
func (w *Writer) continueTree(m *parsedManifest) error {
	if m.Tree == nil {
		w.log.setTree(emptyTree())
		return nil
	}
	r, err := m.Tree.rangeOf()
	if err != nil {
		return fmt.Errorf("read %s: %w", m.Segment, err)
	}
	w.log.setTree(r)
	return nil
}

// startLog checks the newest checkpoint against the recovered tree and signs
// one for the current epoch if it has none at this size. It runs after
// recovery.
func (w *Writer) startLog() error {
	latest, err := LatestCheckpoint(w.opts.Dir)
	if err != nil {
		return err
	}
	size, root, _ := w.log.current(false)
	if latest != nil {
		if latest.Size > size {
			return fmt.Errorf("%w: %s covers %d records, the archive holds %d; run 'fleetlogctl archive verify'", ErrCheckpointAhead, latest.Name, latest.Size, size)
		}
		if latest.Size == size && string(latest.Root) != string(root) {
			return fmt.Errorf("%w: %s has another root for the same %d records; run 'fleetlogctl archive verify'", ErrCheckpointAhead, latest.Name, size)
		}
		w.log.lastSize, w.log.lastEpoch, w.log.haveLast = latest.Size, latest.Epoch, true
		w.log.lastNote = latest.Note
	}
	// A checkpoint that cannot be written now (a full disk) must not keep
	// the archive from taking records; the next Checkpoint call retries it
	// and reports the failure.
	if err := w.checkpointLocked(); err != nil {
		if w.failed != nil {
			return err
		}
		w.log.pending = errors.Join(w.log.pending, err)
	}
	return nil
}

// LatestCheckpointNote returns the signed note of the newest checkpoint, or
// nil before the first.
func (w *Writer) LatestCheckpointNote() []byte {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.log.lastNote
}

// signingKey is the current epoch's private key.
func (w *Writer) signingKey() ed25519.PrivateKey { return w.log.keys.cur }

// commitLog adds the tree head and the epoch commitment to a manifest.
func (w *Writer) commitLog(m *Manifest) {
	_, _, m.Tree = w.log.current(true)
	m.Epoch = w.log.keys.commitment()
}

// Checkpoint ends the key epoch if it is due and signs a checkpoint of the
// tree if it grew or the epoch changed since the last one. The exporter calls
// it at least once a minute. Errors wrapping ErrNotErased mean an old key is
// still on disk; the archive goes on.
func (w *Writer) Checkpoint() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.failed != nil {
		return w.failed
	}
	err := errors.Join(w.log.pending, w.checkpointLocked())
	w.log.pending = nil
	return err
}

// checkpointLocked signs a checkpoint when the tree or the epoch moved and
// then, if the epoch is due, rotates the key and signs one in the new epoch.
// Every epoch thus signs something, which hands over to the next epoch's
// key, before it ends: without it, the chain would break there.
func (w *Writer) checkpointLocked() error {
	now := w.opts.Now()
	if err := w.signCheckpointLocked(now); err != nil {
		return err
	}
	if !w.log.keys.due(now, w.opts.KeyEpoch) {
		return nil
	}
	rotErr := w.log.keys.rotate(now)
	if rotErr != nil && !errors.Is(rotErr, ErrNotErased) {
		return rotErr
	}
	return errors.Join(rotErr, w.signCheckpointLocked(now))
}

// signCheckpointLocked signs and stores a checkpoint of the tree unless the
// newest one has its size and epoch. The records it covers are synced
// first, so no checkpoint vouches for records a crash could lose. A copy
// that could not be written is left for the next Checkpoint call to report.
func (w *Writer) signCheckpointLocked(now time.Time) error {
	size, root, _ := w.log.current(false)
	epoch := w.log.keys.epoch()
	if w.log.haveLast && size == w.log.lastSize && epoch == w.log.lastEpoch {
		return nil
	}
	if w.open != nil {
		// Even with FsyncAlways: an append syncs after it let go of the
		// lock, so its records may not be durable yet.
		if err := w.open.f.Sync(); err != nil {
			if w.failed == nil {
				w.failed = fmt.Errorf("archive writer stopped: sync segment %s: %w", w.open.rel, err)
			}
			return w.failed
		}
		w.open.sync.covered(w.open.size)
	}
	cp := &Checkpoint{
		Origin:  w.log.keys.state.Origin,
		Size:    size,
		Root:    root,
		Epoch:   epoch,
		NextKey: w.log.keys.next.Public().(ed25519.PublicKey),
		Time:    now,
	}
	signed, err := signCheckpoint(cp, w.signingKey())
	if err != nil {
		return err
	}
	if err := writeCheckpointFile(w.opts.Dir, checkpointPath(now, size, epoch), signed); err != nil {
		return err
	}
	w.log.lastSize, w.log.lastEpoch, w.log.haveLast = size, epoch, true
	w.log.lastNote = signed
	if w.opts.CheckpointCopy != "" {
		// Not retried: the next checkpoint covers the same records.
		if err := appendCheckpointCopy(w.opts.CheckpointCopy, signed); err != nil {
			w.log.pending = errors.Join(w.log.pending, err)
		}
	}
	return nil
}
