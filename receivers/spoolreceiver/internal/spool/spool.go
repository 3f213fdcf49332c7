// Package spool is the agent's crash-safe disk buffer: a segmented,
// append-only log of records, framed in groups under a CRC32C (the records
// of one append to one band, sharing what they have in common), with a
// persisted read cursor that advances only when the consumer acknowledges.
//
// # Layout
//
// Dir holds the segment files (<band>-<first sequence number>.seg, format in
// package segfmt), the cursor (cursor.go), the spool's identity
// (identity.go), the lock file LOCK, and two
// sub-directories: quarantine/ (batches the consumer refused for good, in the
// segment format, kept under MaxSize/4 by deleting the oldest files) and
// corrupt/ (copies of damaged segments for inspection, the newest 8).
// Other files are left alone.
//
// # Severity bands and eviction
//
// Under EvictLowestSeverity each record goes to the chain of segments of its
// severity band (TRACE+DEBUG, INFO+unspecified, WARN, ERROR+FATAL); every
// record carries a global sequence number, and Read merges the heads of the
// chains in sequence order, so delivery keeps append order. Append is O(1)
// (one buffered write to one chain) and Read O(bands) per record. When the
// spool is full, whole segments go: the oldest segment of the lowest band
// that has any. A record whose band is below every band spooled is itself
// dropped (and reported) instead, so a flood of debug lines cannot push
// errors out. Under DropOldest and Block all records share one chain, and
// DropOldest drops its oldest segment. A segment is at most SegmentSize, so
// one eviction frees at most a quarter of MaxSize.
//
// Records already handed out by Read but not yet acknowledged are not
// counted as evicted when their segment goes: the consumer holds them, and
// their Ack still works because the cursor is a sequence number, not a file
// position. Only records never read count as evicted.
//
// # Durability
//
// Appends go to a per-chain buffer that is written out when it fills, on
// Sync, and when the reader needs it. FsyncAlways syncs before Append
// returns (concurrent appenders share one fsync); FsyncInterval syncs from
// one background goroutine every FsyncInterval; FsyncNever leaves it to the
// OS. The cursor is written on every Ack and synced on the same schedule.
// A cursor that is behind the data only causes redelivery; one that is
// ahead only means those records were delivered; so the two need no
// ordering between them. This holds because delivery is strictly in
// sequence order: a band whose records cannot be written out yet holds back
// every later record. A failed write (disk full) loses nothing: the records
// stay buffered, bounded, and Sync returns the error until a write succeeds.
//
// # Recovery
//
// Open reads every segment and checks every frame group. Damage that runs to the
// end of a segment is a torn tail and is cut off. Damage followed by an
// intact frame is corruption: the segment is copied to corrupt/ and
// rewritten with only its intact records, and the damaged regions are
// counted. Empty and header-only segments are removed. Open fails only on
// an invalid option, ErrLocked, or I/O it cannot work around. Open reads
// the whole spool once (at disk speed; CRC32C runs at several GB/s).
package spool

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/fleetlog/fleetlog/internal/durable"
	"github.com/fleetlog/fleetlog/receivers/spoolreceiver/internal/spool/segfmt"
)

// ErrFull is returned by TryAppend, and by Append once its context is done,
// when the spool is full under the Block policy.
var ErrFull = errors.New("spool is full")

// ErrClosed is returned by every method after Close.
var ErrClosed = errors.New("spool is closed")

// ErrTooLarge is returned by Append and TryAppend for a record (or, under
// Block, a batch) that cannot fit in the spool at all.
var ErrTooLarge = errors.New("record too large for the spool")

// MaxPayload is the largest payload that a spool of maxSize bytes with the
// default SegmentSize accepts: a record must fit in one segment.
func MaxPayload(maxSize int64) int64 {
	seg := min(int64(defaultSegmentSize), maxSize/4)
	return min(seg-segfmt.HeaderSize-segfmt.MaxOverhead, segfmt.MaxPayload)
}

// ErrLocked is returned by Open when another process holds the directory.
var ErrLocked = errors.New("spool directory is locked by another process")

// FsyncPolicy says when appended records are flushed to stable storage.
type FsyncPolicy int

const (
	// FsyncInterval groups commits: a sync at most every Options.FsyncInterval
	// (default 200ms). Sync() forces one at once.
	FsyncInterval FsyncPolicy = iota
	// FsyncAlways syncs before Append returns.
	FsyncAlways
	// FsyncNever leaves flushing to the OS; Sync() only writes buffers out.
	FsyncNever
)

// String returns the policy's config name.
func (p FsyncPolicy) String() string {
	switch p {
	case FsyncInterval:
		return "interval"
	case FsyncAlways:
		return "always"
	case FsyncNever:
		return "never"
	}
	return "FsyncPolicy(" + strconv.Itoa(int(p)) + ")"
}

// FullPolicy says what Append does when the spool has reached Options.MaxSize.
type FullPolicy int

const (
	// EvictLowestSeverity drops the oldest records of the lowest severity
	// band that holds any, so error and security lines outlive debug chatter.
	EvictLowestSeverity FullPolicy = iota
	// DropOldest drops the oldest records whatever their severity.
	DropOldest
	// Block makes Append wait for space and TryAppend fail with ErrFull.
	Block
)

// String returns the policy's config name.
func (p FullPolicy) String() string {
	switch p {
	case EvictLowestSeverity:
		return "evict_lowest_severity"
	case DropOldest:
		return "drop_oldest"
	case Block:
		return "block"
	}
	return "FullPolicy(" + strconv.Itoa(int(p)) + ")"
}

// Options configures a spool. Zero values take the documented defaults.
type Options struct {
	// Dir holds the segments, the cursor and the lock; created 0700 if
	// missing, files inside are 0600.
	Dir string
	// MaxSize bounds the bytes on disk of undelivered records (segments
	// included). Required, > 0.
	MaxSize int64
	// SegmentSize is the size at which a segment is rotated (default 8 MiB,
	// capped at MaxSize/4).
	SegmentSize int64
	// Fsync is the durability policy (default FsyncInterval).
	Fsync FsyncPolicy
	// FsyncInterval is the group-commit period for FsyncInterval (default 200ms).
	FsyncInterval time.Duration
	// Full is the policy when MaxSize is reached, or when the filesystem's
	// free space is below MinFree (default EvictLowestSeverity).
	Full FullPolicy
	// MinFree is the free space to keep on the filesystem holding Dir, in
	// bytes: below it the spool counts as full, so that it never fills the
	// device's disk. 0 (the zero value) turns it off; DefaultMinFree takes
	// the default. Free space is read at every new segment and every second.
	MinFree int64
	// OnEvict, when set, is called without spool locks held after records
	// were evicted to make room, from the appending goroutine. Incoming
	// records dropped for being below every spooled band are reported
	// together, at most once a second: with an Append, from a timer, or from
	// Close for what is left. It must not block for long.
	OnEvict func(Eviction)
	// Logger receives recovery and eviction summaries, never record contents.
	Logger *zap.Logger

	// createFile, if set, creates segment files instead of os.OpenFile.
	createFile func(path string) (segFile, error)
}

// Record is one spooled entry. Shared and Payload are opaque to the spool
// (the receiver's encoding of a log record with its resource and scope):
// Shared is what consecutive records have in common, stored once per frame
// group of a segment, and Payload the record's own part.
type Record struct {
	// Severity is the plog.SeverityNumber (0..24); it drives eviction.
	Severity uint8
	// Time is the record's observed time in Unix nanoseconds; it drives the
	// oldest-record age and eviction reports.
	Time int64
	// Shared is the part of the encoded record that records of the same
	// input share (nil: none). The spool copies it on Append when it is
	// not the same as an earlier record's of the frame group.
	Shared []byte
	// Payload is the record's own encoded part; on Append, Tail follows
	// it (so that a caller can hand over a line without copying it into
	// its payload first). The spool copies both on Append; Read returns
	// them joined in Payload and Tail nil.
	Payload []byte
	Tail    []byte
	// Seq is the record's sequence number, set by Read (Append ignores
	// it). Sequence numbers increase in append order and are never reused
	// under one identity (ID).
	Seq uint64
}

// Batch is a run of records read from the cursor, in append order. It stays
// valid until it is acknowledged or quarantined.
type Batch struct {
	Records []Record
	// Bytes is the framed size of the batch on disk.
	Bytes int64
	// token identifies the batch's position for Ack and Quarantine.
	token any
}

// Eviction reports records dropped to make room.
type Eviction struct {
	Records  int64
	Bytes    int64
	Severity uint8 // highest severity among the dropped records
	First    time.Time
	Last     time.Time
}

// Stats is a snapshot for telemetry. Counters are cumulative since Open;
// Appended = Records + Delivered + Evicted + Lost for records appended since.
type Stats struct {
	Bytes         int64     // on disk, undelivered (whole segments: what MaxSize bounds)
	Records       int64     // undelivered
	Oldest        time.Time // observed time of the oldest undelivered record; zero if empty
	Appended      int64
	Delivered     int64
	Evicted       int64
	EvictedBytes  int64
	Corrupt       int64 // damaged regions (bad CRC, length or header) skipped at recovery or read
	Quarantined   int64 // records moved to quarantine by Quarantine
	TornTailBytes int64 // bytes truncated from torn tails at recovery
	// CursorResets counts Opens that found spooled data but no intact cursor
	// and started from the oldest record (redelivering what was acked).
	CursorResets int64
	// CursorAhead counts Opens whose cursor was past all spooled data, which
	// was then treated as delivered; new records are numbered after it.
	CursorAhead int64
	// Lost counts records found unreadable after Open (a segment damaged,
	// deleted or failing to read while the spool runs). A failed write
	// loses nothing: records stay buffered and Sync reports the error.
	Lost int64
	// FreeBytes is the free space of the filesystem at the last check; 0
	// where it cannot be read.
	FreeBytes int64
	// MinFree is the effective min free in bytes (0: not applied).
	MinFree int64
	// Limit is what Bytes may reach now: MaxSize, or less when free space
	// is short.
	Limit int64
}

// PartialError is returned by Append and TryAppend when a failure (a write
// error, past what the spool keeps buffered) stopped a batch part-way: the
// first Appended records were taken and must not be appended again. Under
// FsyncAlways a failed sync after the whole batch was taken gives one with
// Appended = len(batch): the records are kept buffered, not yet durable.
type PartialError struct {
	Appended int
	Err      error
}

func (e *PartialError) Error() string {
	return fmt.Sprintf("appended %d records of the batch: %v", e.Appended, e.Err)
}

// Unwrap returns the failure.
func (e *PartialError) Unwrap() error { return e.Err }

const (
	dirPerm  = 0o700
	filePerm = 0o600

	defaultSegmentSize   = 8 << 20
	defaultFsyncInterval = 200 * time.Millisecond
	// minMaxSize keeps a segment (MaxSize/4) large enough for some frames.
	minMaxSize = 4 << 10
	// writeBufSize is how much a chain buffers before writing to its file.
	writeBufSize = 64 << 10
	// maxGroup is the size at which a frame group is closed: what damage
	// to one byte may cost at most, with smaller records.
	maxGroup = 64 << 10
	// maxPending is how much a chain keeps buffered while its writes fail.
	maxPending = 1 << 20
)

// Spool is safe for concurrent Append/TryAppend from many goroutines and one
// reader (Read/Ack/Quarantine).
type Spool struct {
	opts       Options
	log        *zap.Logger
	maxRecord  int // largest payload Append accepts
	lock       *durable.LockFile
	cur        *cursorFile
	quarantine quarantine
	identity   identityState
	// cursorFound is set by recover when the cursor was intact.
	cursorFound bool

	mu      sync.Mutex
	closed  bool
	chains  [numChains]chain
	nextSeq uint64 // sequence number of the next appended record
	ackSeq  uint64 // last sequence number acknowledged
	// openAckSeq is ackSeq as Open found it: records up to it that the
	// reader meets in a segment's head were delivered before the restart.
	openAckSeq uint64
	used       int64 // bytes of the live segment files, buffered included
	records    int64 // undelivered records
	unread     int64 // records not yet handed out by Read
	stats      Stats // counters
	spaceCh    chan struct{}
	free       []*batchState // recycled by Ack

	// Free space: the filesystem's size (0 if unknown) and free bytes at
	// the last check, the effective min free, and the limit on used they
	// give (-1: none).
	fsSize, fsFree, minFree, diskLimit int64

	// Incoming records dropped for being below every spooled band are
	// reported together, at most every reportEvery, so that a flood of them
	// does not turn into a flood of reports.
	dropped     Eviction
	lastReport  time.Time
	reportEvery time.Duration
	reportTimer *time.Timer // pending report of drops, if armed

	// state of the next sync
	toClose     []segFile // sealed segment files, closed after their sync
	dirty       bool      // segment data written since the last sync
	dirDirty    bool      // segment files created or deleted since then
	cursorDirty bool

	syncMu    sync.Mutex // one sync at a time
	syncedSeq uint64     // guarded by syncMu
	// syncErr is the first failed fsync of a segment, guarded by syncMu.
	// It sticks: the kernel may have dropped the pages it could not write
	// and report the next fsync of the same file as a success, so nothing
	// appended since can be called durable again until the spool is
	// reopened (and recovery reads what really is on disk).
	syncErr error
	// placing, while AppendPlaced buffers a batch, collects where its
	// records go, and holds back every write to the files meanwhile.
	placing *Placement
	// openLast is, per chain, the last sequence number its files held
	// when the spool was opened (for Held).
	openLast [numChains]uint64
	// durableSeq mirrors syncedSeq for Durable, which must not wait for a
	// sync in progress; it is set only by this process's fsyncs.
	durableSeq atomic.Uint64

	dataCh chan struct{} // wakes the reader; capacity 1
	done   chan struct{} // closed by Close
	wg     sync.WaitGroup
}

// Open recovers the spool in opts.Dir and locks it. Damage (torn tails, bad
// CRCs, a missing or out-of-range cursor, zero-length files) is repaired,
// counted and logged; Open fails only on I/O it cannot work around, an
// invalid option or ErrLocked.
func Open(opts Options) (*Spool, error) {
	if err := opts.setDefaults(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(opts.Dir, dirPerm); err != nil {
		return nil, fmt.Errorf("create spool directory: %w", err)
	}
	// The spool owns its directory: tighten one created by someone else.
	if err := os.Chmod(opts.Dir, dirPerm); err != nil {
		return nil, fmt.Errorf("set spool directory mode: %w", err)
	}
	lock, err := lockDir(opts.Dir)
	if err != nil {
		return nil, err
	}
	s := &Spool{
		opts:    opts,
		log:     opts.Logger,
		lock:    lock,
		spaceCh: make(chan struct{}),
		// One report a second at most, for drops of incoming records.
		reportEvery: time.Second,
		dataCh:      make(chan struct{}, 1),
		done:        make(chan struct{}),
	}
	s.quarantine.dir = filepath.Join(opts.Dir, quarantineDir)
	s.quarantine.maxSize = opts.MaxSize / 4
	for i := range s.chains {
		s.chains[i].id = i
	}
	s.initDisk()
	s.maxRecord = int(min(s.opts.SegmentSize-segfmt.HeaderSize-segfmt.MaxOverhead, segfmt.MaxPayload))
	if err := s.recover(); err != nil {
		s.closeFiles()
		return nil, err
	}
	if err := s.openIdentity(s.cursorFound); err != nil {
		s.closeFiles()
		return nil, err
	}
	s.checkDiskLocked()
	if opts.Fsync == FsyncInterval {
		s.wg.Add(1)
		go s.syncLoop()
	}
	if s.fsSize > 0 {
		s.wg.Add(1)
		go s.diskLoop()
	}
	return s, nil
}

func (o *Options) setDefaults() error {
	if o.Dir == "" {
		return errors.New("spool: Dir is required")
	}
	if o.MaxSize < minMaxSize {
		return fmt.Errorf("spool: MaxSize must be at least %d bytes, got %d", minMaxSize, o.MaxSize)
	}
	if o.SegmentSize <= 0 {
		o.SegmentSize = defaultSegmentSize
	}
	o.SegmentSize = min(o.SegmentSize, o.MaxSize/4)
	if o.FsyncInterval <= 0 {
		o.FsyncInterval = defaultFsyncInterval
	}
	if o.Fsync < FsyncInterval || o.Fsync > FsyncNever {
		return fmt.Errorf("spool: unknown fsync policy %d", o.Fsync)
	}
	if o.Full < EvictLowestSeverity || o.Full > Block {
		return fmt.Errorf("spool: unknown full policy %d", o.Full)
	}
	if o.Logger == nil {
		o.Logger = zap.NewNop()
	}
	return nil
}

// Append adds records. Under Block it waits until there is room or ctx is
// done (then ErrFull); under the evicting policies it evicts and never waits.
// Under FsyncAlways the records are durable when it returns.
//
// While disk writes fail, records are kept buffered (Sync returns the
// error) up to a bound; past it Append returns the write error, as a
// *PartialError when the batch was taken only in part.
func (s *Spool) Append(ctx context.Context, recs []Record) error {
	return s.append(ctx, recs, true, nil)
}

// TryAppend is Append that never waits: under Block it returns ErrFull at once.
func (s *Spool) TryAppend(recs []Record) error {
	return s.append(context.Background(), recs, false, nil)
}

// append is Append (wait) or TryAppend; with placed, it is AppendPlaced.
func (s *Spool) append(ctx context.Context, recs []Record, wait bool, placed func(Placement)) error {
	var need int64
	for i := range recs {
		if n := recs[i].size(); n > s.maxRecord {
			return fmt.Errorf("%w: %d bytes, at most %d", ErrTooLarge, n, s.maxRecord)
		}
		need += segfmt.MaxOverhead + int64(recs[i].size())
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return ErrClosed
	}
	if len(recs) == 0 {
		s.mu.Unlock()
		return nil
	}
	if s.opts.Full == Block {
		// Room for the batch and the headers of the segments it may start.
		need += segfmt.HeaderSize * (1 + need/s.opts.SegmentSize)
		if need > s.opts.MaxSize {
			s.mu.Unlock()
			return fmt.Errorf("%w: a batch of %d bytes under the block policy", ErrTooLarge, need)
		}
		for s.used+need > s.limitLocked() && !s.reclaimLocked() {
			if !wait {
				s.mu.Unlock()
				return ErrFull
			}
			space := s.spaceCh
			s.mu.Unlock()
			select {
			case <-space:
			case <-ctx.Done():
				return ErrFull
			case <-s.done:
				return ErrClosed
			}
			s.mu.Lock()
			if s.closed {
				s.mu.Unlock()
				return ErrClosed
			}
		}
	}
	var ev Eviction
	var err error
	var where Placement
	held := placed != nil && need <= min(maxPlacedBatch, s.opts.SegmentSize/4)
	if held {
		s.placing = &where
	}
	taken := 0
	for ; taken < len(recs); taken++ {
		if err = s.appendLocked(&recs[taken], &ev); err != nil {
			break
		}
	}
	s.closeGroupsLocked()
	if held {
		// (appendLocked gives up holding writes if they fail.)
		whole := s.placing != nil && err == nil
		s.placing = nil
		if whole {
			placed(where)
		}
		s.writeHeldLocked()
	}
	last := s.nextSeq - 1
	if s.dropped.Records > 0 {
		if wait := s.reportEvery - time.Since(s.lastReport); ev.Records > 0 || wait <= 0 {
			s.takeDroppedLocked(&ev)
		} else if s.reportTimer == nil {
			s.reportTimer = time.AfterFunc(wait, s.reportDropped)
		}
	}
	if ev.Records > 0 {
		s.lastReport = time.Now()
	}
	s.mu.Unlock()

	select {
	case s.dataCh <- struct{}{}:
	default:
	}
	s.report(ev)
	if err != nil {
		if taken > 0 {
			return &PartialError{Appended: taken, Err: err}
		}
		return err
	}
	if s.opts.Fsync == FsyncAlways {
		if err := s.syncTo(last, false); err != nil {
			// Taken, and buffered until a write succeeds: appending them
			// again would store them twice.
			return &PartialError{Appended: len(recs), Err: err}
		}
	}
	return nil
}

// appendLocked frames one record into its chain, making room first under
// the evicting policies.
func (s *Spool) appendLocked(r *Record, ev *Eviction) error {
	c := &s.chains[chainFor(r.Severity, s.opts.Full)]
	var fsz int64
	if s.opts.Full != Block {
		for {
			fsz = s.costLocked(c, r)
			need := fsz
			if c.active == nil {
				need += segfmt.HeaderSize
			}
			if s.used+need <= s.limitLocked() || s.reclaimLocked() {
				if s.used+need <= s.limitLocked() {
					break
				}
				continue
			}
			if s.opts.Full == EvictLowestSeverity && len(c.segs) == 0 && s.lowestChainLocked() > c.id {
				// The record is below everything spooled: it is the one to
				// go, not a record of a higher band.
				s.dropped.add(1, fsz, r.Severity, r.Time, r.Time)
				s.stats.Appended++
				s.stats.Evicted++
				s.stats.EvictedBytes += fsz
				return nil
			}
			if !s.evictLocked(ev) {
				break
			}
		}
	}
	if c.active == nil {
		if err := s.createSegmentLocked(c, s.nextSeq); err != nil {
			return err
		}
	}
	if len(c.wbuf) >= writeBufSize {
		if s.placing != nil && c.writeFailing {
			// Writes are held for AppendPlaced, but they fail: the
			// buffer's bound matters more than the placement.
			s.placing = nil
		}
		// While writes fail (disk full, I/O error) records stay buffered,
		// up to maxPending; beyond that Append refuses them.
		if s.placing == nil {
			if err := s.flushLocked(c); err != nil && len(c.wbuf)+segfmt.MaxOverhead+r.size() > maxPending {
				return err
			}
		}
	}
	seq := s.nextSeq
	s.nextSeq++
	if s.placing != nil {
		if s.placing.First == 0 {
			s.placing.First = seq
		}
		s.placing.Last[c.id] = seq
	}
	g := c.active
	if c.bufFrames == 0 {
		c.bufSeq = seq
	}
	c.bufFrames++
	var n int
	c.wbuf, n = c.gw.Add(c.wbuf, seq, r.Severity, r.Time, r.Shared, r.Payload, r.Tail)
	fsz = int64(n)
	if c.gw.Len(c.wbuf) >= maxGroup {
		c.gw.Close(c.wbuf)
	}
	g.add(seq, r, fsz)
	s.used += fsz
	s.records++
	s.unread++
	c.unread++
	s.stats.Appended++
	if g.size >= s.opts.SegmentSize && s.placing == nil && s.flushLocked(c) == nil {
		// (A segment whose data cannot be written yet stays open.)
		s.sealLocked(c)
	}
	return nil
}

// takeDroppedLocked moves the unreported drops of incoming records into ev.
func (s *Spool) takeDroppedLocked(ev *Eviction) {
	d := &s.dropped
	ev.add(d.Records, d.Bytes, d.Severity, d.First.UnixNano(), d.Last.UnixNano())
	*d = Eviction{}
}

// reportDropped is the timer that reports drops no Append reported.
func (s *Spool) reportDropped() {
	s.mu.Lock()
	s.reportTimer = nil
	s.mu.Unlock()
	s.ReportDrops()
}

// ReportDrops hands the drops of incoming records not yet reported to
// OnEvict now, instead of with the next Append, the timer or Close. A caller
// that appends a record for each report calls it before Close, while the
// spool still takes that record.
func (s *Spool) ReportDrops() {
	var ev Eviction
	s.mu.Lock()
	if !s.closed && s.dropped.Records > 0 {
		s.takeDroppedLocked(&ev)
		s.lastReport = time.Now()
	}
	s.mu.Unlock()
	s.report(ev)
}

// report logs an eviction and hands it to OnEvict.
func (s *Spool) report(ev Eviction) {
	if ev.Records == 0 {
		return
	}
	s.log.Warn("Spool full: evicted records",
		zap.Int64("records", ev.Records), zap.Int64("bytes", ev.Bytes),
		zap.Time("first", ev.First), zap.Time("last", ev.Last))
	if s.opts.OnEvict != nil {
		s.opts.OnEvict(ev)
	}
}

// signalSpaceLocked wakes appenders waiting for room.
func (s *Spool) signalSpaceLocked() {
	close(s.spaceCh)
	s.spaceCh = make(chan struct{})
}

// Sync makes every record appended so far durable per the fsync policy
// (FsyncNever: written to the OS only). Input checkpoints are saved only
// after Sync returned nil.
func (s *Spool) Sync() error {
	s.mu.Lock()
	closed, last := s.closed, s.nextSeq-1
	s.mu.Unlock()
	if closed {
		return ErrClosed
	}
	return s.syncTo(last, false)
}

// Stats returns a snapshot of the spool's gauges and counters.
func (s *Spool) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.stats
	st.Bytes = s.used
	st.Records = s.records
	st.FreeBytes, st.MinFree, st.Limit = s.fsFree, s.minFree, s.limitLocked()
	oldest := int64(0)
	found := false
	for i := range s.chains {
		for _, g := range s.chains[i].segs {
			if g.ackedN >= g.count {
				continue
			}
			// The first unacknowledged record's time is not kept; the last
			// acknowledged one's is a bound at most one record off.
			t := g.firstTime
			if g.ackedN > 0 {
				t = g.ackTime
			}
			if !found || t < oldest {
				oldest, found = t, true
			}
			break
		}
	}
	if found {
		st.Oldest = time.Unix(0, oldest)
	}
	return st
}

// Close syncs, persists the cursor, releases the lock and wakes a blocked
// Read or Append (which then return ErrClosed). It is safe to call twice.
func (s *Spool) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	close(s.done)
	if s.reportTimer != nil {
		s.reportTimer.Stop()
		s.reportTimer = nil
	}
	var ev Eviction
	s.takeDroppedLocked(&ev)
	s.mu.Unlock()
	s.report(ev)
	s.wg.Wait()

	err := s.syncTo(0, true)
	if err == nil {
		s.markClean()
	}
	s.mu.Lock()
	s.closeFiles()
	s.mu.Unlock()
	return err
}

// closeFiles closes every file the spool holds and releases the lock.
func (s *Spool) closeFiles() {
	for i := range s.chains {
		c := &s.chains[i]
		c.closeReader()
		if c.wf != nil {
			_ = c.wf.Close()
			c.active, c.wf = nil, nil
		}
	}
	for _, f := range s.toClose {
		_ = f.Close()
	}
	s.toClose = nil
	s.quarantine.close()
	if s.cur != nil {
		_ = s.cur.close()
		s.cur = nil
	}
	if s.lock != nil {
		_ = s.lock.Unlock()
		s.lock = nil
	}
}

// costLocked is what r takes on disk appended to chain c now (the segment
// header of a new segment aside).
func (s *Spool) costLocked(c *chain, r *Record) int64 {
	fresh := c.active == nil || len(c.wbuf) >= writeBufSize
	return int64(c.gw.Cost(c.wbuf, fresh, s.nextSeq, r.Time, r.Shared, len(r.Payload)+len(r.Tail)))
}

// size is the length of r's encoding.
func (r *Record) size() int { return len(r.Shared) + len(r.Payload) + len(r.Tail) }

// closeGroupsLocked ends the frame groups the chains have open: an append
// leaves none open, so that whatever is buffered can be written out.
func (s *Spool) closeGroupsLocked() {
	for i := range s.chains {
		c := &s.chains[i]
		c.gw.Close(c.wbuf)
	}
}
