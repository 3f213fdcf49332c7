// Package outbox is a durable FIFO of notifications on disk: one file per
// entry, so that a delivered entry is removed by one unlink and a crash
// leaves either the whole entry or nothing.
//
// Format: the directory (0700) holds files named by a zero-padded 20-digit
// sequence number and ".json" (0600), each holding one entry's bytes. An
// entry is written to a ".tmp" file, fsynced, renamed into place and the
// directory fsynced before Put returns. Open lists the directory: the
// entries left by an earlier run come out first, in order; ".tmp" files (a
// crash during Put) are removed. Alert volumes are small (notifications,
// not records), which is why a file per entry is enough and nothing
// heavier is linked for it.
package outbox // import "github.com/fleetlog/fleetlog/connectors/alertconnector/internal/outbox"

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
)

const (
	dirMode  = 0o700
	fileMode = 0o600
	suffix   = ".json"
)

// ErrClosed is returned after Close.
var ErrClosed = errors.New("outbox closed")

// Outbox is one directory of entries. It is safe for concurrent use.
type Outbox struct {
	dir     string
	max     int
	mu      sync.Mutex
	seqs    []uint64 // pending, ascending
	next    uint64
	dropped int64
	notify  chan struct{}
	closed  bool
}

// Open opens (creating) dir, holding at most maxEntries entries: Put drops
// the oldest to make room.
func Open(dir string, maxEntries int) (*Outbox, error) {
	if err := os.MkdirAll(dir, dirMode); err != nil {
		return nil, fmt.Errorf("create outbox %s: %w", dir, err)
	}
	if err := os.Chmod(dir, dirMode); err != nil {
		return nil, fmt.Errorf("chmod outbox %s: %w", dir, err)
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("list outbox %s: %w", dir, err)
	}
	o := &Outbox{dir: dir, max: max(maxEntries, 1), notify: make(chan struct{}, 1)}
	for _, e := range ents {
		name := e.Name()
		if strings.HasSuffix(name, ".tmp") {
			_ = os.Remove(filepath.Join(dir, name))
			continue
		}
		seq, err := strconv.ParseUint(strings.TrimSuffix(name, suffix), 10, 64)
		if err != nil || !strings.HasSuffix(name, suffix) {
			continue
		}
		o.seqs = append(o.seqs, seq)
	}
	slices.Sort(o.seqs)
	if n := len(o.seqs); n > 0 {
		o.next = o.seqs[n-1] + 1
	}
	if len(o.seqs) > 0 {
		o.notify <- struct{}{}
	}
	return o, nil
}

func (o *Outbox) path(seq uint64) string {
	return filepath.Join(o.dir, fmt.Sprintf("%020d%s", seq, suffix))
}

// Put stores an entry durably. When the outbox is full it first removes the
// oldest entry and counts it in Dropped.
func (o *Outbox) Put(b []byte) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		return ErrClosed
	}
	for len(o.seqs) >= o.max {
		_ = os.Remove(o.path(o.seqs[0]))
		o.seqs = o.seqs[1:]
		o.dropped++
	}
	seq := o.next
	final := o.path(seq)
	tmp := final + ".tmp"
	if err := writeSync(tmp, b); err != nil {
		_ = os.Remove(tmp)
		return err
	}
	if err := os.Rename(tmp, final); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("commit outbox entry: %w", err)
	}
	if err := syncDir(o.dir); err != nil {
		return err
	}
	o.next++
	o.seqs = append(o.seqs, seq)
	select {
	case o.notify <- struct{}{}:
	default:
	}
	return nil
}

func writeSync(path string, b []byte) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, fileMode)
	if err != nil {
		return fmt.Errorf("create outbox entry: %w", err)
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return fmt.Errorf("write outbox entry: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("sync outbox entry: %w", err)
	}
	return f.Close()
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("open outbox dir: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync outbox dir: %w", err)
	}
	return nil
}

// Entry is a pending entry.
type Entry struct {
	Seq  uint64
	Data []byte
}

// Peek returns up to n oldest entries without removing them. An entry
// whose file cannot be read is removed and counted in Dropped.
func (o *Outbox) Peek(n int) ([]Entry, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		return nil, ErrClosed
	}
	var out []Entry
	for i := 0; i < len(o.seqs) && len(out) < n; {
		b, err := os.ReadFile(o.path(o.seqs[i]))
		if err != nil {
			_ = os.Remove(o.path(o.seqs[i]))
			o.seqs = slices.Delete(o.seqs, i, i+1)
			o.dropped++
			continue
		}
		out = append(out, Entry{Seq: o.seqs[i], Data: b})
		i++
	}
	return out, nil
}

// Remove deletes delivered entries.
func (o *Outbox) Remove(seqs ...uint64) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	var errs []error
	for _, s := range seqs {
		if i, ok := slices.BinarySearch(o.seqs, s); ok {
			o.seqs = slices.Delete(o.seqs, i, i+1)
		}
		if err := os.Remove(o.path(s)); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, fmt.Errorf("remove outbox entry: %w", err))
		}
	}
	return errors.Join(errs...)
}

// Len is the number of pending entries.
func (o *Outbox) Len() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.seqs)
}

// Dropped counts entries removed unsent (full outbox, unreadable file).
func (o *Outbox) Dropped() int64 {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.dropped
}

// Ready receives after a Put (and at Open when entries are pending).
func (o *Outbox) Ready() <-chan struct{} { return o.notify }

// Close stops Put and Peek; the entries stay on disk.
func (o *Outbox) Close() {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.closed = true
}
