package spool

import (
	"bytes"
	"context"
	"errors"
	"math"
	"os"
	"time"

	"go.uber.org/zap"

	"github.com/fleetlog/fleetlog/receivers/spoolreceiver/internal/spool/segfmt"
)

// batchState is what a Batch's token points to: the records' backing
// memory and, per segment, what the batch took from it.
type batchState struct {
	gen     uint64 // bumped on reuse, so a stale token is recognised
	lastSeq uint64
	recs    []Record
	arena   []byte
	shareds [][]byte // the newest shared parts in arena
	parts   []batchPart
}

type batchPart struct {
	seg      *segment
	n, bytes int64
	lastTime int64
}

// batchToken is Batch.token.
type batchToken struct {
	st  *batchState
	gen uint64
}

const (
	// maxFreeBatches bounds the recycled batch states.
	maxFreeBatches = 8
	// minArena and maxArena bound the chunks batch payloads are copied to.
	minArena = 4 << 10
	maxArena = 4 << 20
	// maxBatchShared is how many distinct shared parts a batch compares a
	// record's with before copying it again.
	maxBatchShared = 4
	// readRetry is how long Read waits before trying again to read records
	// that could not be written out yet.
	readRetry = 100 * time.Millisecond
)

// Read returns up to maxRecords records (and roughly up to maxBytes) from the
// read position without acknowledging them. It waits until at least one
// record is available, or until ctx is done (ctx.Err()). After a Read, the
// next Read continues after that batch even before it is acknowledged; an
// unacknowledged batch is read again only after a restart.
func (s *Spool) Read(ctx context.Context, maxRecords int, maxBytes int64) (Batch, error) {
	maxRecords = max(maxRecords, 1)
	if maxBytes <= 0 {
		maxBytes = math.MaxInt64
	}
	for {
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			return Batch{}, ErrClosed
		}
		var retry <-chan time.Time
		if s.unread > 0 {
			b := s.readLocked(maxRecords, maxBytes)
			if len(b.Records) > 0 {
				s.mu.Unlock()
				return b, nil
			}
			if s.unread > 0 {
				// Records not written out yet (writes failing): try
				// again later rather than spin.
				retry = time.After(readRetry)
			}
		}
		s.mu.Unlock()
		select {
		case <-retry:
		case <-s.dataCh:
		case <-ctx.Done():
			return Batch{}, ctx.Err()
		case <-s.done:
			return Batch{}, ErrClosed
		}
	}
}

// readLocked merges the chains' heads in sequence order into one batch.
func (s *Spool) readLocked(maxRecords int, maxBytes int64) Batch {
	st := s.newBatchLocked()
	var bytes int64
	for len(st.recs) < maxRecords {
		var best *chain
		stuck := uint64(math.MaxUint64)
		for i := range s.chains {
			c := &s.chains[i]
			if c.unread == 0 {
				continue
			}
			if s.peekLocked(c) {
				if best == nil || c.pk.Seq < best.pk.Seq {
					best = c
				}
			} else if c.bufFrames > 0 {
				// Records this chain cannot write out yet: nothing after
				// them may go first, or the cursor would pass them.
				stuck = min(stuck, c.bufSeq)
			}
		}
		if best == nil || best.pk.Seq > stuck {
			break
		}
		f := &best.pk
		fsz := f.Size()
		if len(st.recs) > 0 && bytes+fsz > maxBytes {
			break
		}
		// Payloads share an arena that the batch state keeps for reuse. A
		// full arena is replaced by one twice its size, not grown in place,
		// so the payloads already in it stay where they are.
		shared := st.shared(f.Shared)
		if cap(st.arena)-len(st.arena) < len(f.Payload) {
			st.arena = make([]byte, 0, max(len(f.Payload), min(2*cap(st.arena), maxArena), minArena))
		}
		start := len(st.arena)
		st.arena = append(st.arena, f.Payload...)
		st.recs = append(st.recs, Record{
			Severity: f.Sev,
			Time:     f.Time,
			Shared:   shared,
			Payload:  st.arena[start:len(st.arena):len(st.arena)],
			Seq:      f.Seq,
		})
		bytes += fsz
		g := best.readerSeg()
		g.readN++
		g.readBytes += fsz
		g.lastReadTime = f.Time
		st.addPart(g, fsz, f.Time)
		st.lastSeq = f.Seq
		best.unread--
		s.unread--
		best.rd.Advance()
		best.peeked = false
	}
	if len(st.recs) == 0 {
		s.recycleLocked(st)
		return Batch{}
	}
	return Batch{Records: st.recs, Bytes: bytes, token: batchToken{st: st, gen: st.gen}}
}

// shared returns a copy of b that the batch keeps, one for all its records
// sharing b.
func (st *batchState) shared(b []byte) []byte {
	if b == nil {
		return nil
	}
	for _, s := range st.shareds {
		if bytes.Equal(s, b) {
			return s
		}
	}
	if cap(st.arena)-len(st.arena) < len(b) {
		st.arena = make([]byte, 0, max(len(b), min(2*cap(st.arena), maxArena), minArena))
	}
	start := len(st.arena)
	st.arena = append(st.arena, b...)
	s := st.arena[start:len(st.arena):len(st.arena)]
	if len(st.shareds) == maxBatchShared {
		copy(st.shareds, st.shareds[1:])
		st.shareds = st.shareds[:maxBatchShared-1]
	}
	st.shareds = append(st.shareds, s)
	return s
}

func (st *batchState) addPart(g *segment, fsz, t int64) {
	for i := range st.parts {
		if p := &st.parts[i]; p.seg == g {
			p.n++
			p.bytes += fsz
			p.lastTime = t
			return
		}
	}
	st.parts = append(st.parts, batchPart{seg: g, n: 1, bytes: fsz, lastTime: t})
}

func (s *Spool) newBatchLocked() *batchState {
	if n := len(s.free); n > 0 {
		st := s.free[n-1]
		s.free = s.free[:n-1]
		return st
	}
	return &batchState{}
}

func (s *Spool) recycleLocked(st *batchState) {
	st.gen++
	clear(st.recs)
	st.recs = st.recs[:0]
	st.arena = st.arena[:0]
	clear(st.shareds)
	st.shareds = st.shareds[:0]
	clear(st.parts)
	st.parts = st.parts[:0]
	st.lastSeq = 0
	if len(s.free) < maxFreeBatches {
		s.free = append(s.free, st)
	}
}

// peekLocked decodes the next unread frame of c into c.pk. It reports false
// when c has nothing readable; records found missing (damage at run time,
// write failures) are taken off the counts so that Read does not wait for
// them.
func (s *Spool) peekLocked(c *chain) bool {
	for !c.peeked {
		g := c.readerSeg()
		if g == nil {
			s.dropUnreadLocked(c, c.unread)
			return false
		}
		if c.rdFile == nil {
			f, err := os.Open(g.path)
			if err != nil {
				s.log.Error("Cannot open spool segment; skipping it", zap.Error(err))
				s.skipSegLocked(c, g)
				continue
			}
			c.rdFile = f
			c.rd.Reset(f, segfmt.HeaderSize, g.flushed, g.version)
		}
		if g == c.active && c.rd.Off() >= g.flushed && g.size > g.flushed {
			if err := s.flushLocked(c); err != nil {
				return false // not readable until a write succeeds
			}
		}
		c.rd.Limit = g.flushed
		f, skipped, status, _, err := c.rd.Next()
		if err != nil {
			s.log.Error("Cannot read spool segment; skipping the rest of it", zap.Error(err))
			s.skipSegLocked(c, g)
			continue
		}
		if skipped > 0 || status == segfmt.StatusTorn {
			s.stats.Corrupt++
		}
		if status == segfmt.StatusFrame {
			if f.Seq <= s.openAckSeq {
				c.rd.Advance() // acknowledged before the last restart
				continue
			}
			c.pk, c.peeked = f, true
			return true
		}
		if g == c.active {
			// Everything written is read; what the counts still expect was
			// lost to damage.
			if missing := g.count - g.readN; missing > 0 {
				s.dropFromSegLocked(c, g, missing)
			}
			return false
		}
		s.skipSegLocked(c, g)
	}
	return true
}

// skipSegLocked moves the reader past g, dropping what it did not read.
func (s *Spool) skipSegLocked(c *chain, g *segment) {
	if missing := g.count - g.readN; missing > 0 {
		s.dropFromSegLocked(c, g, missing)
	}
	c.closeReader()
	c.rdIdx++
	if g.ackedN >= g.count && g != c.active {
		s.removeSegLocked(c, g)
	}
}

// dropFromSegLocked takes n unread records of g off the counts.
func (s *Spool) dropFromSegLocked(c *chain, g *segment, n int64) {
	s.log.Warn("Spool records unreadable", zap.String("segment", g.path), zap.Int64("records", n))
	g.count -= n
	s.dropUnreadLocked(c, n)
}

func (s *Spool) dropUnreadLocked(c *chain, n int64) {
	if n <= 0 {
		return
	}
	c.unread -= n
	s.unread -= n
	s.records -= n
	s.stats.Lost += n
}

// Ack marks b delivered: the cursor advances past it and is persisted, and
// segments that are fully delivered are deleted. Batches are acknowledged in
// the order they were read.
func (s *Spool) Ack(b Batch) error {
	tok, ok := b.token.(batchToken)
	if !ok {
		if len(b.Records) == 0 {
			return nil
		}
		return errors.New("spool: Ack of a batch Read did not return")
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return ErrClosed
	}
	st := tok.st
	if st.gen != tok.gen {
		s.mu.Unlock()
		return nil // acknowledged already
	}
	s.ackSeq = max(s.ackSeq, st.lastSeq)
	for _, p := range st.parts {
		s.records -= p.n
		s.stats.Delivered += p.n
		g := p.seg
		if g.gone {
			continue // evicted while the batch was out
		}
		g.ackedN += p.n
		g.ackedBytes += p.bytes
		g.ackTime = p.lastTime
	}
	err := s.cur.write(s.ackSeq)
	s.cursorDirty = s.opts.Fsync == FsyncInterval
	// Delete what is fully delivered, oldest first; segments still being
	// written are kept (reclaimLocked takes them when room is needed).
	for _, p := range st.parts {
		g := p.seg
		if !g.gone && g.ackedN >= g.count {
			c := &s.chains[g.chain]
			if g != c.active {
				s.removeSegLocked(c, g)
			}
		}
	}
	s.recycleLocked(st)
	cur := s.cur
	s.mu.Unlock()
	if err == nil && s.opts.Fsync == FsyncAlways {
		err = cur.sync()
	}
	return err
}
