package archive

import (
	"errors"
	"fmt"
	"os"
	"sync"

	"go.opentelemetry.io/collector/pdata/plog"
)

// Group commit: the writer's write path under many concurrent appends.
//
// An append plans its de-duplication, encodes its batch to OTLP, hashes its
// leaves and summarises it for the index without the writer's lock (every
// append on its own core), then joins the commit queue; it does not compress
// it. If no append is writing, it writes: it takes the queue (itself first,
// up to maxGroupRecords records and maxGroupRaw bytes of OTLP) and, under
// the writer's lock, checks each plan against the marks (a stale one plans
// and encodes again, in its next group), joins the OTLP of the group into
// frames (at most maxFrameRecords records and maxFrameRaw bytes each),
// compresses each frame's as one zstd frame, and writes all the group's
// frames with one write system call. The appends that queued meanwhile
// wait; when the write is done, the first of them writes the next group and
// the others of this group learn their result. Each then waits for an fsync
// that started after its write (one fsync covers every append written
// before it; segmentSync). An append alone is a group of one, the same way.
//
// As with a database's write-ahead log, the lock, the system call and the
// frame's chain hash are then paid per group rather than per append: with
// thousands of devices' small exports a lock handed from append to append
// made every append wait for the scheduler to run the next holder, and the
// gateway was serialised on it while its cores were idle.
//
// So is the compression: a device's export is small (10 to 130 records) and
// each zstd frame builds its own entropy tables. 64 appends of 40 device
// records took 1.2 to 1.3 µs a record compressed one by one, to 0.24 of
// their size, and 0.7 to 0.8 µs compressed as one frame, to 0.13.
// Compressing under the writer's lock is serial, but the group writer is
// one at a time anyway, and the cost is small beside the group's fsync:
// 0.6 µs a record (BenchmarkIngestDevices/nofsync's profile), so at 200,000
// records/s about 0.12 of one core, and a group of 2,500 records holds the
// lock about 1.5 ms, the median of one fsync on the development machine
// (0.25 to 2.3 ms; 7 to 13 ms at the 90th percentile), while the appends
// not writing go on encoding and hashing on the other core. (The previous
// group's fsync, which reads the segment's size under the lock, may start
// up to that much later, and then covers this group too.) A part of more
// OTLP than a joined frame may hold (selfCompressBytes) is compressed by its
// append, beside the hashing, as one frame of its own, and the group writer
// writes it as it is, so the lock is held for at most maxGroupRaw bytes of
// compression.
//
// The format does not change: a frame's payload is one zstd frame, or in
// archives written before, several one after the other (frame.go), whose
// contents, OTLP requests one after the other, are one OTLP request holding
// all their records in order. Either way its leaves are the appends' leaves
// in order, and Verify, Query and the index read such a frame as any other.

const (
	// maxGroupRecords and maxGroupRaw (OTLP bytes, before compression)
	// bound one group, so a group writer's own append waits for a bounded
	// write and the lock is held for a bounded compression.
	maxGroupRecords = 4 * maxFrameRecords
	maxGroupRaw     = 4 * maxFrameRaw
	// maxFrameRaw bounds the OTLP bytes of a frame joined from several
	// appends' payloads, which the group writer joins in one buffer to
	// compress, and which a reader decompresses (a frame of one payload is
	// bounded by maxFrameRecords alone, as before).
	maxFrameRaw = 4 << 20
)

// commitQueue is the appends waiting to be written.
type commitQueue struct {
	mu      sync.Mutex
	waiting []*pendingAppend
	// writing is set while an append writes a group; when it clears, the
	// queue is empty.
	writing bool
	// group is the group writer's scratch list of the group's appends
	// (there is one group writer at a time); parts, owners, accepted and
	// over are its scratch under the writer's lock: a frame's payloads and
	// their appends, the appends written and the marks they raise.
	group    []*pendingAppend
	parts    [][]byte
	owners   []*pendingAppend
	accepted []*pendingAppend
	over     map[markKey]uint64
}

// pendingAppend is one append in the commit queue.
type pendingAppend struct {
	// ld is the batch to write (the records its plan keeps), batch its
	// encoding; with batch nil, orig is the batch as given, planned and
	// encoded by the group writer under the lock.
	ld, orig plog.Logs
	batch    *encodedBatch
	plan     *dedupPlan
	// wake gets one message: the append's group was written, or it is to
	// write the next group (lead).
	wake chan struct{}
	lead bool

	// Set by the group writer.
	stale      bool // a mark its plan depends on moved: plan again
	allSkipped bool // planned under the lock, every record already stored
	err        error
	res        AppendResult
	seg        *openSegment
	size       int64 // the segment's size after the group's frames
	// leaves is the group's leaf count, set on the writer's own append,
	// which folds them into the tree.
	leaves int
	fold   bool
}

var pendingPool = sync.Pool{New: func() any { return &pendingAppend{wake: make(chan struct{}, 1)} }}

func newPending(plan *dedupPlan) *pendingAppend {
	p := pendingPool.Get().(*pendingAppend)
	p.plan = plan
	return p
}

// release returns p to the pool once its append is done with it: its group
// writer woke it (or it wrote the group), so no one else refers to it, and
// its wake channel is empty.
func (p *pendingAppend) release() {
	if p == nil {
		return
	}
	*p = pendingAppend{wake: p.wake}
	pendingPool.Put(p)
}

// weight is p's records and OTLP bytes.
func (p *pendingAppend) weight() (records, raw int) {
	if p.batch == nil {
		return p.orig.LogRecordCount(), 0
	}
	for i, n := range p.batch.raws {
		records += int(p.batch.records[i])
		raw += n
	}
	return records, raw
}

// Append writes ld at the end of the open segment and, with FsyncAlways,
// syncs it before returning. A failed write leaves the segment as it was
// before the call. Errors wrapping ErrUnencodable are permanent.
//
// Concurrent appends are written together (group commit, see above): each
// encodes its batch on its own, the appends that arrive while one group is
// written are written as the next, compressed together in as few frames and
// one write, and one fsync covers every append written before it started. The
// records of one batch stay in their order, one after the other.
//
// Records stamped by an agent's spool that the archive already holds are
// skipped and counted in AppendResult.Skipped (dedup.go); a batch of only
// such records writes nothing and returns once the originals are durable.
func (w *Writer) Append(ld plog.Logs) (AppendResult, error) {
	return w.AppendThen(ld, nil)
}

// AppendThen is Append that calls written, when not nil, once the records
// are written (or found already stored) and only the wait for their fsync
// is left, before that wait; it is not called when the append fails first.
func (w *Writer) AppendThen(ld plog.Logs, written func()) (AppendResult, error) {
	if written == nil {
		written = func() {}
	}
	if ld.LogRecordCount() == 0 {
		return AppendResult{}, nil
	}
	var plan *dedupPlan
	if !w.opts.StoreRedeliveries {
		plan = newPlan(ld)
	}
	defer func() { plan.release() }()
	var p *pendingAppend
	defer func() { p.release() }()
	for attempt := 1; ; attempt++ {
		if p != nil {
			p.release()
		}
		p = newPending(plan)
		if attempt > maxPlanAttempts {
			// Concurrent appends of the same spool keep moving its mark:
			// the group writer plans and encodes this batch under the
			// lock, which cannot be outrun.
			p.orig = ld
		} else {
			if plan != nil {
				w.marksMu.Lock()
				plan.plan(markView{marks: w.marks})
				w.marksMu.Unlock()
			}
			p.ld = plan.keep(ld)
			if p.ld.LogRecordCount() == 0 {
				written()
				return AppendResult{Skipped: plan.skippedCount()}, w.syncSkipped()
			}
			var err error
			if p.batch, err = w.encode(p.ld); err != nil {
				return AppendResult{Skipped: plan.skippedCount()}, err
			}
		}
		w.commit(p)
		if p.stale {
			continue // another append stored records of the same spool
		}
		res := p.res
		res.Skipped = plan.skippedCount()
		// The plan is done with: back to the pool now rather than after
		// the fsync, so the appends waiting for one hold none.
		plan.release()
		plan, p.plan = nil, nil
		if p.err != nil {
			return res, p.err
		}
		if p.allSkipped {
			written()
			return res, w.syncSkipped()
		}
		written()
		if err := w.durable(p); err != nil {
			return AppendResult{}, err
		}
		return res, nil
	}
}

// maxPlanAttempts bounds how often Append plans a batch again because a
// concurrent append moved a mark it depends on.
const maxPlanAttempts = 3

// maxLeadGroups bounds the groups one append writes before it hands the
// writing over to the first append left in the queue: it is running already,
// where the next writer would first have to be scheduled, but its own
// records wait for its return.
const maxLeadGroups = 4

// commit queues p and returns once p's group is written. If no group is
// being written, or when the writer before hands over, p writes the group at
// the front of the queue, itself first, and then, while appends wait, up to
// maxLeadGroups groups in all.
func (w *Writer) commit(p *pendingAppend) {
	q := &w.commits
	q.mu.Lock()
	q.waiting = append(q.waiting, p)
	if q.writing {
		q.mu.Unlock()
		<-p.wake
		if !p.lead {
			return
		}
		q.mu.Lock()
	}
	q.writing = true
	for round := 1; ; round++ {
		// Only a group writer takes from the queue, one at a time, and it
		// hands over to the first it leaves: p is first in its first
		// round.
		n, records, raw := 0, 0, 0
		for _, o := range q.waiting {
			r, b := o.weight()
			if n > 0 && (records+r > maxGroupRecords || raw+b > maxGroupRaw) {
				break
			}
			n, records, raw = n+1, records+r, raw+b
		}
		group := append(q.group[:0], q.waiting[:n]...)
		rest := copy(q.waiting, q.waiting[n:])
		clear(q.waiting[rest:])
		q.waiting = q.waiting[:rest]
		q.mu.Unlock()

		w.writeGroup(group)

		for _, o := range group {
			// The frames are written (or failed): the payloads are
			// copied out, and the append does not look at its batch
			// again (a stale one encodes anew).
			if o.batch != nil {
				o.batch.release()
				o.batch = nil
			}
			if o != p {
				o.wake <- struct{}{}
			}
		}
		clear(group)
		q.group = group[:0]
		q.mu.Lock()
		if len(q.waiting) == 0 {
			q.writing = false
			q.mu.Unlock()
			break
		}
		if round == maxLeadGroups {
			// Woken last, the next writer is the one this core runs next.
			next := q.waiting[0]
			next.lead = true
			next.wake <- struct{}{}
			q.mu.Unlock()
			break
		}
	}
	// The tree takes the groups' leaves now, unless another append is
	// folding (and then takes them too); durable folds what p's group
	// leaves beside the fsync.
	if p.seg == nil {
		w.log.foldSoon()
	}
}

// maxReusedMarks bounds the group's marks map the writer keeps.
const maxReusedMarks = 1024

// writeGroup writes the appends of group, in order, as few frames with one
// write, and sets each one's result.
func (w *Writer) writeGroup(group []*pendingAppend) {
	w.mu.Lock()
	defer w.mu.Unlock()
	fail := func(err error) {
		for _, p := range group {
			p.err = err
		}
	}
	if w.failed != nil {
		fail(w.failed)
		return
	}
	if w.open == nil {
		if err := w.openSegment(); err != nil {
			fail(err)
			return
		}
	}

	// De-duplication: each plan against the marks as the appends before it
	// in the group leave them.
	view := markView{marks: w.marks}
	accepted := w.commits.accepted[:0]
	defer func() {
		clear(accepted)
		w.commits.accepted = accepted[:0]
		if len(w.commits.over) > maxReusedMarks {
			w.commits.over = nil // clearing it would cost every group
		}
	}()
	for _, p := range group {
		if p.plan != nil && view.over == nil {
			if w.commits.over == nil {
				w.commits.over = map[markKey]uint64{}
			}
			view.over = w.commits.over
			clear(view.over)
		}
		switch {
		case p.batch == nil:
			p.plan.plan(view)
			p.ld = p.plan.keep(p.orig)
			if p.ld.LogRecordCount() == 0 {
				p.allSkipped = true
				continue
			}
			var err error
			if p.batch, err = w.encode(p.ld); err != nil {
				p.err = err
				continue
			}
		case p.plan != nil && !p.plan.current(view):
			p.stale = true
			continue
		}
		if p.plan != nil {
			p.plan.raise(view)
		}
		accepted = append(accepted, p)
	}
	if len(accepted) == 0 {
		return
	}

	seg := w.open
	buf := w.frame[:0]
	prev, next := w.prevChain, w.nextFrame
	parts, owners := w.commits.parts[:0], w.commits.owners[:0]
	var records uint32
	raw := 0
	// flush compresses and writes the frame of parts.
	flush := func() {
		if len(parts) == 0 {
			return
		}
		src := parts[0]
		if len(parts) > 1 {
			joined := w.joined[:0]
			for _, part := range parts {
				joined = append(joined, part...)
			}
			w.joined, src = joined, joined
		}
		start := len(buf)
		buf, prev = appendFrameZstd(buf, prev, next, records, w.frameEnc, src)
		next++
		// Each append is counted its share of the frame's bytes.
		payload := int64(len(buf)-start) - frameOverhead
		shared := int64(0)
		for i, part := range parts {
			n := payload * int64(len(part)) / int64(max(raw, 1))
			owners[i].res.Bytes += n
			shared += n
		}
		owners[0].res.Bytes += frameOverhead + payload - shared
		clear(parts)
		clear(owners)
		parts, owners, records, raw = parts[:0], owners[:0], 0, 0
	}
	for _, p := range accepted {
		b := p.batch
		for i, payload := range b.payloads {
			if b.compressed[i] {
				// A large part, compressed by its append: a frame of
				// its own.
				flush()
				buf, prev = appendFrame(buf, prev, next, b.records[i], payload)
				next++
				p.res.Bytes += frameOverhead + int64(len(payload))
				continue
			}
			if len(parts) > 0 && (records+b.records[i] > maxFrameRecords || raw+len(payload) > maxFrameRaw) {
				flush()
			}
			parts = append(parts, payload)
			owners = append(owners, p)
			records += b.records[i]
			raw += len(payload)
		}
	}
	flush()
	w.frame, w.commits.parts, w.commits.owners = buf, parts, owners
	if _, err := seg.f.Write(buf); err != nil {
		err = w.rollback(fmt.Errorf("write segment %s: %w", seg.rel, err))
		for _, p := range accepted {
			p.err, p.res = err, AppendResult{}
		}
		return
	}
	if view.over != nil {
		w.marksMu.Lock()
		for k, v := range view.over {
			w.marks[k] = max(w.marks[k], v)
		}
		w.marksMu.Unlock()
	}
	leaves := 0
	for _, p := range accepted {
		b := p.batch
		w.log.enqueue(b.leaves)
		leaves += len(b.leaves) / HashSize
		seg.addTime(b.minT)
		seg.addTime(b.maxT)
		seg.index.add(&b.index)
		p.res.Records = p.ld.LogRecordCount()
		seg.records += uint64(p.res.Records)
		p.seg = seg
	}
	seg.frames += next - w.nextFrame
	seg.size += int64(len(buf))
	w.prevChain, w.nextFrame = prev, next
	for _, p := range accepted {
		p.size = seg.size
	}
	group[0].leaves += leaves
	group[0].fold = true
	if seg.size >= w.opts.MaxSegmentSize {
		// seal syncs the segment before it signs it.
		last := accepted[len(accepted)-1]
		last.res.Sealed = true
		if err := w.seal(); err != nil {
			last.res.Sealed, last.res.SealErr = false, err
		}
	}
}

// durable folds the group's leaves into the tree if p wrote the group and,
// with FsyncAlways, returns once p's records are on stable storage.
func (w *Writer) durable(p *pendingAppend) error {
	fold := p.fold
	if fold && (w.opts.Fsync != FsyncAlways || p.leaves < parallelHashBytes/HashSize/8) {
		// (Folding a small group takes less than starting a goroutine.)
		w.log.foldSoon()
		fold = false
	}
	if w.opts.Fsync != FsyncAlways {
		return nil
	}
	if !fold {
		return w.syncTo(p.seg, p.size)
	}
	// The Merkle tree takes the group's leaves while the fsync runs.
	folded := make(chan struct{})
	go func() {
		defer close(folded)
		w.log.foldSoon()
	}()
	err := w.syncTo(p.seg, p.size)
	<-folded
	return err
}

// syncSkipped returns, for a batch whose records were all stored already,
// once what is written is durable (with FsyncAlways): the append that wrote
// them may still be syncing, and the batch must not be acknowledged before.
func (w *Writer) syncSkipped() error {
	if w.opts.Fsync != FsyncAlways {
		return nil
	}
	w.mu.Lock()
	seg, failed := w.open, w.failed
	var target int64
	if seg != nil {
		target = seg.size
	}
	w.mu.Unlock()
	if failed != nil {
		return failed
	}
	if seg == nil {
		return nil // sealed, and sealing synced it
	}
	return w.syncTo(seg, target)
}

// segmentSync is an open segment's group fsync: one fsync runs at a time and
// covers every byte written before it started; whoever needs bytes it does
// not cover waits for it to end and then starts the next.
type segmentSync struct {
	mu sync.Mutex
	// synced is the size the fsyncs so far covered.
	synced int64
	// run is the fsync in progress, nil when none.
	run *syncRun
}

type syncRun struct {
	done    chan struct{} // closed when the fsync ended
	covered int64
	err     error
}

// covered records that the segment is on stable storage up to size (a seal
// or a checkpoint synced it).
func (s *segmentSync) covered(size int64) {
	s.mu.Lock()
	s.synced = max(s.synced, size)
	s.mu.Unlock()
}

// syncTo makes sure seg is on stable storage up to byte target.
func (w *Writer) syncTo(seg *openSegment, target int64) error {
	s := &seg.sync
	for {
		s.mu.Lock()
		if s.synced >= target {
			s.mu.Unlock()
			return nil
		}
		if run := s.run; run != nil {
			s.mu.Unlock()
			<-run.done
			if run.err != nil {
				return run.err
			}
			continue
		}
		run := &syncRun{done: make(chan struct{})}
		s.run = run
		s.mu.Unlock()
		run.covered, run.err = w.fsync(seg)
		s.mu.Lock()
		if run.err == nil {
			s.synced = max(s.synced, run.covered)
		}
		s.run = nil
		s.mu.Unlock()
		close(run.done)
		if run.err != nil {
			return run.err
		}
	}
}

// fsync syncs seg and returns the size it covers: what was written when it
// started.
func (w *Writer) fsync(seg *openSegment) (int64, error) {
	w.mu.Lock()
	covered, failed := seg.size, w.failed
	w.mu.Unlock()
	if failed != nil {
		return 0, failed // a sync or seal failed since these bytes were written
	}
	if err := seg.f.Sync(); err != nil {
		if errors.Is(err, os.ErrClosed) {
			// Sealed meanwhile, and sealing synced it.
			return covered, nil
		}
		// After a failed fsync the kernel may have dropped the dirty pages:
		// nothing written since the last good sync can be trusted. Stop, so
		// a restart recovers the segment from what is really on disk.
		w.mu.Lock()
		defer w.mu.Unlock()
		if w.failed == nil {
			w.failed = fmt.Errorf("archive writer stopped: sync segment %s: %w", seg.rel, err)
		}
		return 0, w.failed
	}
	return covered, nil
}
