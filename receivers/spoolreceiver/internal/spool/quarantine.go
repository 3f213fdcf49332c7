package spool

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/fleetlog/fleetlog/receivers/spoolreceiver/internal/spool/segfmt"
)

const quarantineDir = "quarantine"

// quarantine appends refused batches to files in Dir/quarantine, in the
// segment format (chain "all"), each named by its creation time. Together
// they are kept under maxSize by deleting the oldest.
type quarantine struct {
	mu      sync.Mutex
	dir     string
	maxSize int64
	f       *os.File
	size    int64
	seq     uint64
	buf     []byte
}

// write appends recs and, unless sync is false, makes them durable.
func (q *quarantine) write(recs []Record, sync bool) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	created := false
	if q.f == nil || q.size >= q.maxSize/4 {
		if err := q.rotate(); err != nil {
			return err
		}
		created = true
	}
	q.buf = q.buf[:0]
	if created {
		q.buf = segfmt.AppendHeader(q.buf, chainAll)
	}
	var w segfmt.GroupWriter
	for i := range recs {
		q.seq++
		r := &recs[i]
		q.buf, _ = w.Add(q.buf, q.seq, r.Severity, r.Time, r.Shared, r.Payload, r.Tail)
	}
	w.Close(q.buf)
	if _, err := q.f.Write(q.buf); err != nil {
		return fmt.Errorf("write quarantine: %w", err)
	}
	q.size += int64(len(q.buf))
	if !sync {
		return nil
	}
	if err := q.f.Sync(); err != nil {
		return fmt.Errorf("sync quarantine: %w", err)
	}
	if created {
		return syncDir(q.dir)
	}
	return nil
}

// rotate starts a new quarantine file and deletes the oldest ones beyond
// maxSize.
func (q *quarantine) rotate() error {
	q.closeFile()
	if err := os.MkdirAll(q.dir, dirPerm); err != nil {
		return fmt.Errorf("create quarantine directory: %w", err)
	}
	name := fmt.Sprintf("%s-%020d%s", chainNames[chainAll], time.Now().UnixNano(), segSuffix)
	f, err := os.OpenFile(filepath.Join(q.dir, name), os.O_WRONLY|os.O_CREATE|os.O_EXCL|os.O_APPEND, filePerm)
	if err != nil {
		return fmt.Errorf("create quarantine file: %w", err)
	}
	q.f, q.size = f, 0
	entries, err := os.ReadDir(q.dir)
	if err != nil {
		return nil
	}
	var total int64
	var errs []error
	for i := len(entries) - 1; i >= 0; i-- { // newest first
		info, err := entries[i].Info()
		if err != nil || entries[i].Name() == name {
			continue
		}
		total += info.Size()
		if total > q.maxSize {
			errs = append(errs, os.Remove(filepath.Join(q.dir, entries[i].Name())))
		}
	}
	_ = errors.Join(errs...) // best effort: a file that stays only costs room
	return nil
}

func (q *quarantine) closeFile() {
	if q.f != nil {
		_ = q.f.Close()
		q.f = nil
	}
}

func (q *quarantine) close() {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.closeFile()
}

// Quarantine appends b's records to the quarantine file(s) in Dir/quarantine
// and then acknowledges b.
func (s *Spool) Quarantine(b Batch) error {
	if _, ok := b.token.(batchToken); !ok && len(b.Records) > 0 {
		return errors.New("spool: Quarantine of a batch Read did not return")
	}
	s.mu.Lock()
	closed := s.closed
	s.mu.Unlock()
	if closed {
		return ErrClosed
	}
	if err := s.quarantine.write(b.Records, s.opts.Fsync != FsyncNever); err != nil {
		return err
	}
	s.mu.Lock()
	s.stats.Quarantined += int64(len(b.Records))
	s.mu.Unlock()
	return s.Ack(b)
}
