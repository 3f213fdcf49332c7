package archive

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/klauspost/compress/zstd"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/fleetlog/fleetlog/internal/durable"
)

const (
	privateDirPerm  = 0o700
	privateFilePerm = 0o600
	sealedFilePerm  = 0o444
	// maxFrameRecords bounds the records in one frame, so a reader's memory
	// per frame stays bounded whatever the batch size upstream.
	maxFrameRecords = 4096
)

// ErrLocked means another writer holds the archive directory.
var ErrLocked = errors.New("archive directory is locked by another writer")

// FsyncPolicy says when appended frames reach stable storage.
type FsyncPolicy int

const (
	// FsyncAlways syncs every append before it returns.
	FsyncAlways FsyncPolicy = iota
	// FsyncOnSeal syncs only when a segment is sealed (and on Close); a
	// machine crash may lose frames appended since the last seal.
	FsyncOnSeal
)

// Options configure a Writer.
type Options struct {
	Dir string
	// Key is epoch 0's signing key: it starts the archive's key chain
	// (epoch.go) and is needed only until the archive has one.
	Key ed25519.PrivateKey
	// KeyFile is where Key was read from; it is erased when epoch 0 ends.
	KeyFile string
	// KeyEpoch is how long one epoch key signs before the next takes over
	// and it is erased; 0 never ends the first epoch.
	KeyEpoch time.Duration
	// CheckpointCopy, if set, is a file every signed checkpoint is also
	// appended to, meant to be on other storage than the archive.
	CheckpointCopy string
	GatewayID      string
	MaxSegmentSize int64
	MaxSegmentAge  time.Duration
	Fsync          FsyncPolicy
	// StoreRedeliveries turns the de-duplication of stamped records off
	// (dedup.go): every record is stored. It is for writers whose batches of
	// one spool may arrive out of order (a queue with several consumers),
	// where "at or below the mark" would also skip records never stored.
	StoreRedeliveries bool
	// Now is the clock; time.Now when nil.
	Now func() time.Time
}

// Recovery reports what Open found of a segment left open by the previous run.
type Recovery struct {
	Segment string
	Frames  uint64
	Records uint64
	// TornBytes were cut from the segment's tail (an incomplete or broken
	// last write) and kept in TornFile for inspection.
	TornBytes int64
	TornFile  string
	// Damaged is set when the cut bytes held frames after the first bad
	// one: not a torn write but damage or tampering.
	Damaged bool
	// Resealed counts sealed segments whose seal was finished after a crash.
	Resealed int
	// KeyIgnored is set when Options.Key is not the first key of the
	// archive's key chain: the archive goes on signing with its own epoch
	// keys, and the given key is not used.
	KeyIgnored bool
}

// AppendResult reports one Append.
type AppendResult struct {
	Records int
	Bytes   int64
	// Sealed is set when the append filled the segment and it was sealed;
	// SealErr when that seal failed (the records are written regardless and
	// sealing is retried).
	Sealed  bool
	SealErr error
	// Skipped counts stamped records not written because the archive
	// already holds them (re-deliveries; see dedup.go).
	Skipped int
}

// Writer appends log records to an archive directory. It holds the
// directory's lock from Open to Close. It is safe for concurrent use.
type Writer struct {
	opts  Options
	mu    sync.Mutex
	lock  *durable.LockFile
	codec *codec
	// frameEnc compresses the group writer's frames, under mu; frame and
	// joined are its scratch: the group's frames and a frame's payloads
	// joined before compression (commit.go).
	frameEnc *zstd.Encoder
	frame    []byte
	joined   []byte
	// encoders holds the idle encoders (zstd and leaf hasher), of which
	// encodersMade exist, at most cap(encoders).
	encoders     chan *batchEncoder
	encodersMade atomic.Int32

	// The chain: the hash and sequence number the next frame continues from,
	// and the next segment's sequence number and previous manifest hash.
	prevChain    Hash
	nextFrame    uint64
	nextSeq      uint64
	prevManifest Hash

	open   *openSegment
	failed error

	// marks is the highest spool sequence number stored per device and
	// spool identity (dedup.go), under marksMu: appends plan against them
	// without the writer's lock. marksMu is taken alone or after mu.
	marksMu sync.Mutex
	marks   map[markKey]uint64

	// commits is the queue of appends waiting to be written (commit.go).
	commits commitQueue

	// log is the Merkle tree, the checkpoints and the epoch keys (writer_log.go).
	log treeState

	// witnessKeys are past epochs' public keys, resolved for CheckWitness
	// (witness.go) in epoch witnessKeysAt, under witnessMu.
	witnessMu     sync.Mutex
	witnessKeys   map[uint64]ed25519.PublicKey
	witnessKeysAt uint64
}

type openSegment struct {
	f          *os.File
	rel        string
	seq        uint64
	created    time.Time
	size       int64
	frames     uint64
	records    uint64
	firstFrame uint64
	prevChain  Hash
	minT, maxT pcommon.Timestamp
	index      *segmentIndex

	// sync is the segment's group fsync (commit.go).
	sync segmentSync
}

func (s *openSegment) addTime(ts pcommon.Timestamp) {
	if ts == 0 {
		return
	}
	if s.minT == 0 || ts < s.minT {
		s.minT = ts
	}
	if ts > s.maxT {
		s.maxT = ts
	}
}

// Open locks dir (creating it 0700), recovers the segment the previous run
// left open and returns a Writer that continues its chain.
func Open(opts Options) (*Writer, *Recovery, error) {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if err := os.MkdirAll(opts.Dir, privateDirPerm); err != nil {
		return nil, nil, fmt.Errorf("create archive %s: %w", opts.Dir, err)
	}
	if err := os.Chmod(opts.Dir, privateDirPerm); err != nil {
		return nil, nil, fmt.Errorf("restrict archive %s: %w", opts.Dir, err)
	}
	lock, err := lockDir(opts.Dir)
	if err != nil {
		return nil, nil, err
	}
	c, err := newCodec()
	if err != nil {
		_ = lock.Unlock()
		return nil, nil, err
	}
	enc, err := newEncoder()
	if err != nil {
		c.close()
		_ = lock.Unlock()
		return nil, nil, err
	}
	w := &Writer{opts: opts, lock: lock, codec: c, frameEnc: enc, nextFrame: 1, nextSeq: 1,
		encoders: make(chan *batchEncoder, encodersPerCore*runtime.GOMAXPROCS(0)), marks: map[markKey]uint64{}}
	if err := w.openLog(); err != nil {
		w.closeFiles()
		return nil, nil, err
	}
	rec, err := w.recover()
	if err == nil {
		rec.KeyIgnored = w.log.keys.ignored
		err = w.startLog()
	}
	if err != nil {
		w.closeFiles()
		return nil, nil, err
	}
	return w, rec, nil
}

func (w *Writer) abs(rel string) string { return joinRel(w.opts.Dir, rel) }

// recover restores the chain from the newest manifest or tombstone, finishes
// seals and deletions a crash interrupted, and reopens the open segment.
func (w *Writer) recover() (*Recovery, error) {
	entries, err := scan(w.opts.Dir)
	if err != nil {
		return nil, err
	}
	rec := &Recovery{}
	var open *entry
	var (
		last    string // the newest manifest or tombstone
		lastSeq uint64
	)
	for i := range entries {
		e := &entries[i]
		switch {
		case e.tombstone != "":
			// A crash during retention: the tombstone is written first, so
			// whatever is left of the segment is deleted now.
			for _, rel := range []string{e.segment, e.manifest} {
				if rel != "" {
					if err := os.Remove(w.abs(rel)); err != nil {
						return nil, fmt.Errorf("finish deleting segment %d: %w", e.seq, err)
					}
				}
			}
			last, lastSeq = e.tombstone, e.seq
		case e.manifest != "":
			if e.segment != "" {
				// A crash between writing the manifest and chmod.
				if st, err := os.Stat(w.abs(e.segment)); err == nil && st.Mode().Perm() != sealedFilePerm {
					if err := os.Chmod(w.abs(e.segment), sealedFilePerm); err != nil {
						return nil, fmt.Errorf("seal %s: %w", e.segment, err)
					}
					rec.Resealed++
				}
			}
			last, lastSeq = e.manifest, e.seq
		default:
			if i != len(entries)-1 || e.seq != lastSeq+1 {
				return nil, fmt.Errorf("segment %s has no manifest but is not the open segment (expected segment %d); the archive needs inspection with 'fleetlogctl archive verify'", e.segment, lastSeq+1)
			}
			open = e
		}
	}
	if last != "" {
		if err := w.continueFrom(last); err != nil {
			return nil, err
		}
	}
	covered, _, err := w.loadMarks()
	if err != nil {
		return nil, err
	}
	for _, e := range entries {
		if e.seq > covered && e.manifest != "" && e.segment != "" {
			if err := w.marksFromSegment(e.segment); err != nil {
				return nil, err
			}
		}
	}
	if open == nil {
		return rec, nil
	}
	if err := w.reopen(open.segment, rec); err != nil {
		return nil, err
	}
	return rec, nil
}

// continueFrom moves the chain state past a sealed or deleted segment.
func (w *Writer) continueFrom(rel string) error {
	data, err := os.ReadFile(w.abs(rel))
	if err != nil {
		return fmt.Errorf("read %s: %w", rel, err)
	}
	m, err := parseManifest(data)
	if err != nil {
		return fmt.Errorf("read %s: %w", rel, err)
	}
	last, err := parseHash(m.LastChainHash)
	if err != nil {
		return fmt.Errorf("read %s: last_chain_hash: %w", rel, err)
	}
	w.prevChain = last
	w.nextFrame = m.FirstFrame + m.Frames
	w.nextSeq = m.Seq + 1
	w.prevManifest = m.hash
	if err := w.continueTree(m); err != nil {
		return err
	}
	if m.Kind == KindTombstone {
		if w.prevManifest, err = parseHash(m.ManifestSHA256); err != nil {
			return fmt.Errorf("read %s: manifest_sha256: %w", rel, err)
		}
	}
	return nil
}

// reopen validates the open segment's frames against the chain, cuts a torn
// tail (keeping the cut bytes beside it) and opens it for appending.
func (w *Writer) reopen(rel string, rec *Recovery) error {
	path := w.abs(rel)
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("recover %s: %w", rel, err)
	}
	seg := &openSegment{rel: rel, seq: w.nextSeq, created: w.opts.Now(), firstFrame: w.nextFrame, prevChain: w.prevChain,
		index: newSegmentIndex(w.opts.MaxSegmentSize)}
	frames, _, _ := ParseFrames(data)
	var good int64
	lh := newLeafHasher()
	var leaves []byte
	for _, f := range frames {
		h := ChainHash(w.prevChain, f.Body)
		if f.Seq != w.nextFrame || h != f.Hash {
			break
		}
		ld, err := w.codec.decode(f.Payload)
		if err != nil {
			break
		}
		// The tree's queue copies the leaf hashes: the buffer is reused.
		if leaves, _, err = lh.appendLeaves(leaves[:0], w.codec.raw); err != nil {
			break
		}
		w.log.enqueue(leaves)
		for _, rl := range ld.ResourceLogs().All() {
			for _, sl := range rl.ScopeLogs().All() {
				for _, lr := range sl.LogRecords().All() {
					seg.addTime(recordTime(lr))
				}
			}
		}
		noteMarks(w.marks, ld)
		seg.index.add(indexBatch(ld))
		w.prevChain = h
		w.nextFrame++
		seg.frames++
		seg.records += uint64(f.Records)
		good = f.Offset + f.Size()
	}
	rec.Segment, rec.Frames, rec.Records = rel, seg.frames, seg.records
	if good < int64(len(data)) {
		rec.TornBytes = int64(len(data)) - good
		rec.Damaged = !tornTail(data, good)
		rec.TornFile = rel + ".torn-" + strconv.FormatInt(w.opts.Now().UnixNano(), 10)
		if err := writeFileAtomic(w.abs(rec.TornFile), data[good:], 0o400); err != nil {
			return fmt.Errorf("recover %s: keep torn tail: %w", rel, err)
		}
		if err := os.Truncate(path, good); err != nil {
			return fmt.Errorf("recover %s: truncate torn tail: %w", rel, err)
		}
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, privateFilePerm)
	if err != nil {
		return fmt.Errorf("recover %s: %w", rel, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("recover %s: %w", rel, err)
	}
	seg.f, seg.size = f, good
	w.open = seg
	return nil
}

func (w *Writer) openSegment() error {
	now := w.opts.Now()
	rel := segmentPath(now, w.nextSeq)
	path := w.abs(rel)
	if err := os.MkdirAll(filepath.Dir(path), privateDirPerm); err != nil {
		return fmt.Errorf("open segment %s: %w", rel, err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE|os.O_EXCL, privateFilePerm)
	if err != nil {
		return fmt.Errorf("open segment %s: %w", rel, err)
	}
	if err := syncDir(filepath.Dir(path)); err != nil {
		f.Close()
		return fmt.Errorf("open segment %s: %w", rel, err)
	}
	w.open = &openSegment{f: f, rel: rel, seq: w.nextSeq, created: now, firstFrame: w.nextFrame, prevChain: w.prevChain,
		index: newSegmentIndex(w.opts.MaxSegmentSize)}
	return nil
}

// encodedBatch is a batch encoded into frame payloads: OTLP bytes that the
// group writer compresses with the other payloads of their frame, or, for a
// large part (selfCompressBytes), its zstd frame, which is a frame's whole
// payload. Batches are pooled (batchPool) with their buffers: the group
// writer releases each once its frames are written (commit.go), and nothing
// refers to it after.
type encodedBatch struct {
	payloads [][]byte
	records  []uint32
	// compressed tells which payloads are compressed already.
	compressed []bool
	// raws are the payloads' sizes before compression.
	raws       []int
	minT, maxT pcommon.Timestamp
	// leaves are the records' Merkle leaf hashes, 32 bytes each (leaf.go).
	leaves []byte
	index  batchIndex
	// spare are payload buffers of before, for the next payloads.
	spare [][]byte
}

// batchPool holds released encodedBatches. Under thousands of small
// concurrent appends their compressed payloads and leaf and index buffers
// were about a fifth of the gateway's allocated bytes, which its garbage
// collection paid for.
var batchPool = sync.Pool{New: func() any { return new(encodedBatch) }}

// maxPooledBuffer bounds a buffer a released batch keeps, so one large
// batch does not keep its memory in the pool.
const maxPooledBuffer = 1 << 20

// maxPooledPayload bounds a payload buffer a released batch keeps. Payloads
// are OTLP, not compressed, and every pooled batch would come to keep one
// as large as the largest it ever held: under the fleet simulator (2,000
// devices) pooled payloads of up to 1 MiB held 74 MB of the gateway's heap.
// 64 KiB holds a device's export of a few hundred records; a larger one is
// allocated, which its size pays for.
const maxPooledPayload = 64 << 10

func newEncodedBatch(records int) *encodedBatch {
	b := batchPool.Get().(*encodedBatch)
	b.leaves = slices.Grow(b.leaves[:0], HashSize*records)
	return b
}

// payloadBuffer returns an empty buffer for the next payload.
func (b *encodedBatch) payloadBuffer() []byte {
	n := len(b.spare)
	if n == 0 {
		return nil
	}
	buf := b.spare[n-1]
	b.spare[n-1] = nil
	b.spare = b.spare[:n-1]
	return buf[:0]
}

// release returns b to the pool; the caller must not use b or any of its
// payloads after.
func (b *encodedBatch) release() {
	for _, p := range b.payloads {
		if cap(p) <= maxPooledPayload && len(b.spare) < 2 {
			b.spare = append(b.spare, p[:0])
		}
	}
	clear(b.payloads)
	b.payloads, b.records, b.compressed, b.raws = b.payloads[:0], b.records[:0], b.compressed[:0], b.raws[:0]
	b.minT, b.maxT = 0, 0
	if cap(b.leaves) > maxPooledBuffer {
		b.leaves = nil
	}
	b.index.reset()
	if cap(b.index.keys) > maxPooledBuffer/8 {
		b.index.keys = nil
	}
	batchPool.Put(b)
}

// encode encodes ld into payloads of at most maxFrameRecords records each,
// with a pooled encoder, outside the writer's lock. It also hashes the
// records' leaves and summarises them for the index. Only a large part is
// compressed here, while its leaves are hashed on another core; the others
// the group writer compresses, joined (encodeHashed, commit.go).
func (w *Writer) encode(ld plog.Logs) (*encodedBatch, error) {
	be, err := w.encoder()
	if err != nil {
		return nil, err
	}
	defer func() { w.encoders <- be }()
	enc, lh := be.enc, be.lh
	records := ld.LogRecordCount()
	b := newEncodedBatch(records)
	be.ix.start(&b.index, records)
	sum := &be.sum
	sum.b, sum.ix = b, &be.ix
	defer func() {
		// Drop the references to the batch, which its append owns now.
		*sum = batchSummary{}
		be.ix.b = nil
		be.otlp.release()
	}()
	parts := [1]plog.Logs{ld}
	split := parts[:]
	if records > maxFrameRecords {
		split = splitLogs(ld, maxFrameRecords)
	}
	for _, part := range split {
		sum.part = part
		var payload []byte
		var compressed bool
		var raw int
		var err error
		payload, compressed, raw, b.leaves, err = encodeHashed(enc, lh, &be.otlp, part, b.payloadBuffer(), b.leaves, sum)
		if err != nil {
			b.release()
			return nil, err
		}
		b.payloads = append(b.payloads, payload)
		b.compressed = append(b.compressed, compressed)
		b.records = append(b.records, uint32(part.LogRecordCount()))
		b.raws = append(b.raws, raw)
	}
	return b, nil
}

// encodersPerCore bounds the encoders per core: a few more than one, so a
// batch whose goroutine the scheduler parks mid-compression does not hold up
// the others, but not one per concurrent batch (thousands on a gateway),
// which would create and drop an encoder for most batches.
const encodersPerCore = 2

// batchEncoder is what encode needs for a batch and reuses; its zstd
// encoder compresses large parts only (selfCompressBytes).
type batchEncoder struct {
	enc  *zstd.Encoder
	lh   *leafHasher
	ix   indexer
	sum  batchSummary
	otlp otlpEncoder
}

// batchSummary summarises part for the index into ix and finds b's time
// range, beside the leaf hashes (encodeHashed).
type batchSummary struct {
	part plog.Logs
	b    *encodedBatch
	ix   *indexer
}

func (s *batchSummary) run() {
	b, ix := s.b, s.ix
	for _, rl := range s.part.ResourceLogs().All() {
		ix.resource(rl.Resource().Attributes())
		for _, sl := range rl.ScopeLogs().All() {
			for _, lr := range sl.LogRecords().All() {
				ix.record(lr)
				ts := recordTime(lr)
				if ts != 0 && (b.minT == 0 || ts < b.minT) {
					b.minT = ts
				}
				b.maxT = max(b.maxT, ts)
			}
		}
	}
}

// encoder returns an idle encoder, creates one while fewer than
// cap(w.encoders) exist, or else waits for one: only so many batches can be
// compressed at once anyway.
func (w *Writer) encoder() (*batchEncoder, error) {
	select {
	case be := <-w.encoders:
		return be, nil
	default:
	}
	if w.encodersMade.Add(1) > int32(cap(w.encoders)) {
		w.encodersMade.Add(-1)
		return <-w.encoders, nil
	}
	enc, err := newEncoder()
	if err != nil {
		w.encodersMade.Add(-1)
		return nil, err
	}
	return &batchEncoder{enc: enc, lh: newLeafHasher()}, nil
}

// rollback cuts a failed write from the open segment so the next append
// continues from the last good frame. If even that fails the writer stops
// accepting data rather than append after a broken frame.
func (w *Writer) rollback(cause error) error {
	if err := w.open.f.Truncate(w.open.size); err != nil {
		w.failed = fmt.Errorf("archive writer stopped: %w (and rolling back failed: %w)", cause, err)
		return w.failed
	}
	return cause
}

// SealIfOlder seals the open segment once it is older than MaxSegmentAge.
func (w *Writer) SealIfOlder() (bool, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.open == nil || w.open.frames == 0 || w.opts.Now().Sub(w.open.created) < w.opts.MaxSegmentAge {
		return false, nil
	}
	return true, w.seal()
}

// Seal seals the open segment, if it holds any frame.
func (w *Writer) Seal() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.open == nil || w.open.frames == 0 {
		return nil
	}
	return w.seal()
}

// seal syncs the open segment, writes its signed manifest and makes the
// segment read-only. Recovery finishes a seal a crash interrupted: a
// manifest makes a segment sealed, whatever step came after.
func (w *Writer) seal() error {
	seg := w.open
	if err := seg.f.Sync(); err != nil {
		// As in fsync: the failed fsync may have consumed the error for
		// pages the kernel dropped, so a later one could falsely succeed.
		if w.failed == nil {
			w.failed = fmt.Errorf("archive writer stopped: seal %s: %w", seg.rel, err)
		}
		return w.failed
	}
	seg.sync.covered(seg.size)
	sum, size, err := fileSHA256(w.abs(seg.rel))
	if err != nil {
		return fmt.Errorf("seal %s: %w", seg.rel, err)
	}
	if size != seg.size {
		return fmt.Errorf("seal %s: size %d on disk, %d written", seg.rel, size, seg.size)
	}
	now := w.opts.Now()
	m := &Manifest{
		Kind:             KindSegment,
		Seq:              seg.seq,
		Segment:          seg.rel,
		GatewayID:        w.opts.GatewayID,
		CreatedAt:        formatTime(seg.created),
		SealedAt:         formatTime(now),
		Records:          seg.records,
		Frames:           seg.frames,
		FirstFrame:       seg.firstFrame,
		Size:             seg.size,
		SegmentSHA256:    hex.EncodeToString(sum[:]),
		PrevChainHash:    seg.prevChain.String(),
		LastChainHash:    w.prevChain.String(),
		PrevManifestHash: w.prevManifest.String(),
	}
	if seg.minT != 0 {
		m.FirstTime, m.LastTime = formatTime(seg.minT.AsTime()), formatTime(seg.maxT.AsTime())
	}
	w.commitLog(m)
	m.Index = seg.index.seal(seg.size)
	data, hash, err := encodeManifest(m, w.signingKey())
	if err != nil {
		return err
	}
	if err := writeFileAtomic(w.abs(withExt(seg.rel, manifestExt)), data, sealedFilePerm); err != nil {
		return fmt.Errorf("seal %s: %w", seg.rel, err)
	}
	// From here the segment is sealed; the rest is tidying that recovery
	// redoes if it does not happen.
	w.open = nil
	w.prevManifest = hash
	w.nextSeq = seg.seq + 1
	seg.f.Close()
	// Not fatal: Open reads the segments the marks file does not cover.
	_ = w.saveMarksLocked(seg.seq)
	// A checkpoint at every seal; a failure is reported by the next
	// Checkpoint call and does not undo the seal.
	w.log.pending = errors.Join(w.log.pending, w.checkpointLocked())
	if err := os.Chmod(w.abs(seg.rel), sealedFilePerm); err != nil {
		return fmt.Errorf("seal %s: %w", seg.rel, err)
	}
	return nil
}

// ApplyRetention deletes sealed segments sealed longer ago than keep, each
// replaced by a signed tombstone that keeps the manifest chain verifiable.
// policy is recorded in the tombstone (e.g. "400d").
func (w *Writer) ApplyRetention(keep time.Duration, policy string) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	entries, err := scan(w.opts.Dir)
	if err != nil {
		return 0, err
	}
	now := w.opts.Now()
	deleted := 0
	for _, e := range entries {
		if e.manifest == "" || e.tombstone != "" {
			continue
		}
		data, err := os.ReadFile(w.abs(e.manifest))
		if err != nil {
			return deleted, fmt.Errorf("retention: read %s: %w", e.manifest, err)
		}
		m, err := parseManifest(data)
		if err != nil {
			return deleted, fmt.Errorf("retention: read %s: %w", e.manifest, err)
		}
		sealed, err := time.Parse(time.RFC3339Nano, m.SealedAt)
		if err != nil {
			return deleted, fmt.Errorf("retention: read %s: sealed_at: %w", e.manifest, err)
		}
		if now.Sub(sealed) < keep {
			continue
		}
		t := m.Manifest
		t.Kind = KindTombstone
		t.GatewayID = w.opts.GatewayID
		t.ManifestSHA256 = m.hash.String()
		t.DeletedAt = formatTime(now)
		t.Retention = policy
		// The tombstone is signed now, in the current epoch; its tree head
		// stays the deleted segment's.
		t.Epoch = w.log.keys.commitment()
		t.Index = nil // its records are gone
		ts, _, err := encodeManifest(&t, w.signingKey())
		if err != nil {
			return deleted, err
		}
		if err := writeFileAtomic(w.abs(withExt(e.manifest, tombstoneExt)), ts, sealedFilePerm); err != nil {
			return deleted, fmt.Errorf("retention: %w", err)
		}
		for _, rel := range []string{e.segment, e.manifest} {
			if rel == "" {
				continue
			}
			if err := os.Remove(w.abs(rel)); err != nil {
				return deleted, fmt.Errorf("retention: %w", err)
			}
		}
		if err := syncDir(filepath.Dir(w.abs(e.manifest))); err != nil {
			return deleted, fmt.Errorf("retention: %w", err)
		}
		deleted++
	}
	return deleted, nil
}

// Close syncs and closes the open segment, which stays open (unsealed) for
// the next run, and releases the directory lock.
func (w *Writer) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	var err error
	if w.open != nil {
		if serr := w.open.f.Sync(); serr != nil {
			err = fmt.Errorf("sync segment %s: %w", w.open.rel, serr)
		}
	}
	w.closeFiles()
	return err
}

func (w *Writer) closeFiles() {
	if w.open != nil {
		w.open.f.Close()
		w.open = nil
	}
	w.codec.close()
	w.frameEnc.Close()
	for len(w.encoders) > 0 {
		(<-w.encoders).enc.Close()
	}
	_ = w.lock.Unlock()
	w.failed = errors.New("archive writer is closed")
}

func fileSHA256(path string) (Hash, int64, error) {
	var sum Hash
	f, err := os.Open(path)
	if err != nil {
		return sum, 0, err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return sum, 0, err
	}
	h.Sum(sum[:0])
	return sum, n, nil
}

// writeFileAtomic writes path durably and atomically (durable.WriteFile), so
// a crash leaves the old state or the new one.
func writeFileAtomic(path string, data []byte, perm os.FileMode) error {
	return durable.WriteFile(path, data, perm)
}

func syncDir(dir string) error { return durable.SyncDir(dir) }
