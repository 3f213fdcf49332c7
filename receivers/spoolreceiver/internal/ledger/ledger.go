// Package ledger records, for one file input, the batches of lines that
// reached the spool since the input's last saved checkpoint, so that the
// lines a restart reads again are recognised and not spooled a second time.
//
// # Why
//
// stanza's fileconsumer saves its read offsets at the end of a poll, and one
// poll reads every file to its end: while it catches up a backlog, a poll
// spools hundreds of thousands of lines before its offsets are saved. After a
// crash it reads them all again from the last saved offset. The spool cannot
// tell a line read again from a new one (it stamps each append with a new
// sequence number), so without the ledger every such line is stored twice.
//
// # How
//
// For each batch of lines the input appends, the spool calls back once every
// record of the batch is buffered and before any of it is written to a file
// (spool.Spool.AppendPlaced), and the input appends one fixed-size entry
// here, without fsync: where the batch starts and ends in its file, the
// file's line number at its end, how many lines it holds, a 64-bit hash of
// the lines and their end offsets, and where the spool put the records
// (the last sequence number in each chain). stanza reads again from its saved
// offset with the same batching as before the crash, so at the next start
// each batch it emits is looked up by its start offset and skipped, line for
// line, only if an entry with the same end, line number, line count and hash
// is there. What is skipped is thus byte for byte what the spool holds; a
// file truncated, rewritten or replaced at the same path has other lines
// there and is read as usual. Entries only ever skip lines in the first read
// after a start (the index is dropped at the input's next saved checkpoint,
// which covers what that read went through), never lines read again within
// one run (stanza re-reads a truncated file on purpose).
//
// # When an entry is trusted
//
// Since the entry is written before the records, a crash leaves either the
// entry alone, the entry and the records, or neither, never the records
// alone (which would be spooled again). At the next start an entry is
// trusted only as far as the spool holds its records (spool.Spool.Held: each
// chain it used reaches its sequence numbers, or delivered them; a crash in
// the middle of the spool's write of a batch that went to one chain leaves
// its first records, and only their lines are skipped) and, beyond that,
// it was written during the same boot of the machine (the process was
// killed and the kernel kept every write), or the spool had fsynced the
// batch when this entry or a later one of the same run was written (the
// batch survived a power loss too: after one, a chain's file may keep later
// pages and lose earlier ones). Any other entry is ignored: its lines are
// read again, a duplicate at worst, never a loss. A damaged entry ends the
// ledger; a ledger written for another spool (a new identity) is discarded.
//
// Each checkpoint the input saves covers every batch before it, so the file
// is cut back to its header then; it holds at most one poll's entries
// (112 bytes per batch of up to 100 lines).
package ledger // import "github.com/fleetlog/fleetlog/receivers/spoolreceiver/internal/ledger"

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"

	"github.com/cespare/xxhash/v2"

	"github.com/fleetlog/fleetlog/receivers/spoolreceiver/internal/spool"
)

const (
	magic = "FLLEDGR1"
	// maxIDLen bounds the spool identity kept in the header.
	maxIDLen  = 255
	entrySize = 112
	// crcAt is where an entry's CRC32C (of the bytes before it) is.
	crcAt = entrySize - 4
	// DefaultMaxSize is the size past which a ledger stops recording until
	// the next saved checkpoint: the lines after it are read again after a
	// crash, as without a ledger. (Only an input whose checkpoints cannot be
	// saved for a long time gets there.)
	DefaultMaxSize = 32 << 20

	dirPerm  = 0o700
	filePerm = 0o600
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// ErrTooLarge is returned by Record, once, when the ledger reached its
// maximum size.
var ErrTooLarge = errors.New("ledger: full until the next saved checkpoint")

// Options are a ledger's settings.
type Options struct {
	// Path is the ledger file; its directory is created if missing.
	Path string
	// SpoolID is the identity of the spool the batches go to.
	SpoolID string
	// BootID identifies the machine's current boot ("" if unknown: then
	// only fsynced batches are trusted after a restart). BootID() reads it.
	BootID string
	// Held returns how many of a batch's n records, placed as given, the
	// spool holds (spool.Spool.Held); nil trusts no entry.
	Held func(where spool.Placement, n int) int
	// MaxSize is the largest the file grows (default DefaultMaxSize).
	MaxSize int64
}

// Stats counts what a ledger did.
type Stats struct {
	// Loaded is the number of trusted entries found at Open, Untrusted the
	// number ignored (records the spool does not hold, or neither written
	// in the same boot nor fsynced).
	Loaded, Untrusted int
	// Skipped is the number of lines Skip recognised.
	Skipped int64
}

// entry is one spooled batch.
type entry struct {
	start, end, recNum int64
	count              uint32
	hash               uint64
	// where the spool put the batch's records; synced is the last sequence
	// number it had fsynced then.
	where     spool.Placement
	synced    uint64
	boot, run uint64

	// held is how many of the batch's first lines the spool holds (set
	// when the ledger is loaded): the lines Skip may skip.
	held int
}

// last is the highest sequence number of e's records.
func (e *entry) last() uint64 {
	var m uint64
	for _, s := range e.where.Last {
		m = max(m, s)
	}
	return m
}

// Ledger is one file input's ledger. Its methods are safe for concurrent
// use (fileconsumer reads several files at once).
type Ledger struct {
	opts Options
	boot uint64
	run  uint64

	// armed is set while index holds entries to skip.
	armed atomic.Bool

	mu     sync.Mutex
	f      *os.File
	size   int64
	full   bool // reached MaxSize
	failed bool // a write failed; recording stops until Saved
	index  map[int64][]entry
	buf    [entrySize]byte
	stats  Stats
	// reported is stats.Skipped as Saved last returned it.
	reported int64
	closed   bool
}

// Open opens (or creates) the ledger at opts.Path and loads the entries to
// skip on this start.
func Open(opts Options) (*Ledger, error) {
	if len(opts.SpoolID) > maxIDLen {
		return nil, fmt.Errorf("ledger: spool identity of %d bytes, at most %d", len(opts.SpoolID), maxIDLen)
	}
	if opts.MaxSize <= 0 {
		opts.MaxSize = DefaultMaxSize
	}
	l := &Ledger{opts: opts, run: rand.Uint64() | 1, index: map[int64][]entry{}}
	if opts.BootID != "" {
		l.boot = xxhash.Sum64String(opts.BootID) | 1
	}
	if err := os.MkdirAll(filepath.Dir(opts.Path), dirPerm); err != nil {
		return nil, fmt.Errorf("create ledger directory: %w", err)
	}
	raw, err := os.ReadFile(opts.Path)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("read ledger %s: %w", opts.Path, err)
	}
	hdr := header(opts.SpoolID)
	keep := int64(0) // bytes of the file to keep
	if len(raw) >= len(hdr) && string(raw[:len(hdr)]) == string(hdr) {
		keep = int64(len(hdr))
		entries := raw[len(hdr):]
		var all []entry
		for len(entries) >= entrySize {
			e, ok := decode(entries[:entrySize])
			if !ok {
				break // a torn or damaged tail: the rest is not trusted
			}
			all = append(all, e)
			entries = entries[entrySize:]
			keep += entrySize
		}
		l.load(all)
	}
	f, err := os.OpenFile(opts.Path, os.O_RDWR|os.O_CREATE, filePerm)
	if err != nil {
		return nil, fmt.Errorf("open ledger: %w", err)
	}
	if keep == 0 {
		// New, or written for another spool: start over.
		err := f.Truncate(0)
		if err == nil {
			_, err = f.WriteAt(hdr, 0)
		}
		if err != nil {
			_ = f.Close()
			return nil, fmt.Errorf("write ledger header: %w", err)
		}
		keep = int64(len(hdr))
	} else if err := f.Truncate(keep); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("cut ledger tail: %w", err)
	}
	if _, err := f.Seek(keep, io.SeekStart); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("seek ledger: %w", err)
	}
	l.f, l.size = f, keep
	return l, nil
}

// load indexes the entries that can be trusted (see the package doc).
func (l *Ledger) load(all []entry) {
	// durable[run] is the highest fsynced sequence number an entry of that
	// run, at or after the current one, was written with.
	durable := map[uint64]uint64{}
	for i := len(all) - 1; i >= 0; i-- {
		e := &all[i]
		durable[e.run] = max(durable[e.run], e.synced)
		if l.opts.Held != nil && ((l.boot != 0 && e.boot == l.boot) || durable[e.run] >= e.last()) {
			e.held = min(l.opts.Held(e.where, int(e.count)), int(e.count))
		}
	}
	for _, e := range all {
		if e.held <= 0 {
			l.stats.Untrusted++
			continue
		}
		l.index[e.start] = append(l.index[e.start], e)
		l.stats.Loaded++
	}
	l.armed.Store(len(l.index) > 0)
}

// Skip returns how many of the leading tokens of one fileconsumer emit call
// (its tokens, last record number and offsets) the ledger knows as spooled
// before this start. It costs one atomic load once nothing is left to skip.
func (l *Ledger) Skip(tokens [][]byte, lastRecord int64, offsets []int64) int {
	if l == nil || !l.armed.Load() || len(offsets) < len(tokens)+1 {
		return 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	i := 0
	for i < len(tokens) {
		cands := l.index[offsets[i]]
		matched := -1
		for k := range cands {
			e := &cands[k]
			n := int(e.count)
			if n == 0 || n > len(tokens)-i || offsets[i+n] != e.end ||
				lastRecord-int64(len(tokens)-i-n) != e.recNum ||
				hashBatch(tokens[i:i+n], offsets[i+1:i+n+1]) != e.hash {
				continue
			}
			matched = k
			break
		}
		if matched < 0 {
			break
		}
		e := cands[matched]
		// Each entry skips once.
		if cands = append(cands[:matched], cands[matched+1:]...); len(cands) == 0 {
			delete(l.index, offsets[i])
		} else {
			l.index[offsets[i]] = cands
		}
		i += e.held
		if e.held < int(e.count) {
			break // the spool holds the batch's first lines only
		}
	}
	l.stats.Skipped += int64(i)
	if len(l.index) == 0 {
		l.armed.Store(false)
	}
	return i
}

// Record notes that the spool took the tokens of one emit call (after what
// Skip skipped) and put them at where; synced is the last sequence number
// the spool had fsynced. It writes one entry, without fsync. After a failed
// write it returns the error once and records nothing until Saved.
func (l *Ledger) Record(tokens [][]byte, lastRecord int64, offsets []int64, where spool.Placement, synced uint64) error {
	if l == nil || len(tokens) == 0 || len(offsets) < len(tokens)+1 {
		return nil
	}
	e := entry{
		start: offsets[0], end: offsets[len(tokens)], recNum: lastRecord,
		count: uint32(len(tokens)), hash: hashBatch(tokens, offsets[1:len(tokens)+1]),
		where: where, synced: synced, boot: l.boot, run: l.run,
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed || l.failed || l.full {
		return nil
	}
	if l.size+entrySize > l.opts.MaxSize {
		l.full = true
		return ErrTooLarge
	}
	encode(l.buf[:], &e)
	n, err := l.f.Write(l.buf[:])
	l.size += int64(n)
	if err != nil {
		// A partial entry fails its CRC and ends the ledger at the next
		// start; nothing after it could be read, so stop here.
		l.failed = true
		return fmt.Errorf("write ledger: %w", err)
	}
	return nil
}

// Saved tells the ledger that the input saved its checkpoint: every batch
// recorded so far is covered by it, and the read after this start is over.
// The file is cut back to its header and nothing more is skipped. The first
// call returns how many lines that read skipped, later ones 0.
func (l *Ledger) Saved() (int64, error) {
	if l == nil {
		return 0, nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.index) > 0 {
		clear(l.index)
		l.armed.Store(false)
	}
	skipped := l.stats.Skipped - l.reported
	l.reported = l.stats.Skipped
	if l.closed {
		return skipped, nil
	}
	hdr := int64(len(header(l.opts.SpoolID)))
	if l.size == hdr && !l.failed {
		return skipped, nil
	}
	if err := l.f.Truncate(hdr); err != nil {
		l.failed = true
		return skipped, fmt.Errorf("cut ledger: %w", err)
	}
	if _, err := l.f.Seek(hdr, io.SeekStart); err != nil {
		l.failed = true
		return skipped, fmt.Errorf("seek ledger: %w", err)
	}
	l.size, l.failed, l.full = hdr, false, false
	return skipped, nil
}

// Stats returns what the ledger did so far.
func (l *Ledger) Stats() Stats {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.stats
}

// Close closes the file. It is safe to call twice.
func (l *Ledger) Close() error {
	if l == nil {
		return nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil
	}
	l.closed = true
	return l.f.Close()
}

// header is the file's first bytes: the magic and the spool's identity.
func header(spoolID string) []byte {
	b := make([]byte, 0, len(magic)+1+len(spoolID)+4)
	b = append(b, magic...)
	b = append(b, byte(len(spoolID)))
	b = append(b, spoolID...)
	return binary.LittleEndian.AppendUint32(b, crc32.Checksum(b, castagnoli))
}

// encode writes e as an entry of the file: little endian start, end and
// recNum (int64), count (uint32), hash, where (its first sequence number,
// then the last in each spool chain), synced, boot and run (uint64), then the
// CRC32C (Castagnoli) of all that.
func encode(b []byte, e *entry) {
	le := binary.LittleEndian
	le.PutUint64(b[0:], uint64(e.start))
	le.PutUint64(b[8:], uint64(e.end))
	le.PutUint64(b[16:], uint64(e.recNum))
	le.PutUint32(b[24:], e.count)
	le.PutUint64(b[28:], e.hash)
	le.PutUint64(b[36:], e.where.First)
	at := 44
	for _, s := range e.where.Last {
		le.PutUint64(b[at:], s)
		at += 8
	}
	le.PutUint64(b[at:], e.synced)
	le.PutUint64(b[at+8:], e.boot)
	le.PutUint64(b[at+16:], e.run)
	le.PutUint32(b[crcAt:], crc32.Checksum(b[:crcAt], castagnoli))
}

// decode reads an entry encode wrote; false for a damaged one.
func decode(b []byte) (entry, bool) {
	le := binary.LittleEndian
	if crc32.Checksum(b[:crcAt], castagnoli) != le.Uint32(b[crcAt:]) {
		return entry{}, false
	}
	e := entry{
		start: int64(le.Uint64(b[0:])), end: int64(le.Uint64(b[8:])), recNum: int64(le.Uint64(b[16:])),
		count: le.Uint32(b[24:]), hash: le.Uint64(b[28:]),
	}
	e.where.First = le.Uint64(b[36:])
	at := 44
	for i := range e.where.Last {
		e.where.Last[i] = le.Uint64(b[at:])
		at += 8
	}
	e.synced, e.boot, e.run = le.Uint64(b[at:]), le.Uint64(b[at+8:]), le.Uint64(b[at+16:])
	return e, true
}

// The entry's fields fill it up to its CRC.
var _ = [1]struct{}{}[crcAt-(44+8*len(spool.Placement{}.Last)+24)]

// hashBatch hashes lines with the offsets their lines end at in the file, so
// that the same bytes cut into other lines hash differently.
func hashBatch(tokens [][]byte, ends []int64) uint64 {
	var d xxhash.Digest
	d.Reset()
	var off [8]byte
	for i, tok := range tokens {
		binary.LittleEndian.PutUint64(off[:], uint64(ends[i]))
		_, _ = d.Write(off[:])
		_, _ = d.Write(tok)
	}
	return d.Sum64()
}
