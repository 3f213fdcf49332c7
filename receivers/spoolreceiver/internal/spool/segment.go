package spool

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"go.uber.org/zap"

	"github.com/fleetlog/fleetlog/receivers/spoolreceiver/internal/spool/segfmt"
)

// Chains. Records are kept in one chain of segments per severity band so
// that eviction can drop the lowest band's oldest segment without touching
// the others; every record carries a global sequence number and Read merges
// the chains' heads in sequence order. Under DropOldest and Block every
// record goes to the single chain "all". The constants' order is the
// eviction order under EvictLowestSeverity ("all" only holds segments left
// by a run under another policy).
const (
	chainDebug = iota // TRACE, DEBUG (1..8)
	chainInfo         // INFO (9..12) and unspecified (0): unknown is not chatter
	chainAll          // every severity, under DropOldest and Block
	chainWarn         // WARN (13..16)
	chainError        // ERROR, FATAL (17..24)
	numChains
)

var chainNames = [numChains]string{"debug", "info", "all", "warn", "error"}

// chainFor returns the chain a record of severity sev goes to.
func chainFor(sev uint8, full FullPolicy) int {
	if full != EvictLowestSeverity {
		return chainAll
	}
	switch {
	case sev == 0:
		return chainInfo
	case sev <= 8:
		return chainDebug
	case sev <= 12:
		return chainInfo
	case sev <= 16:
		return chainWarn
	default:
		return chainError
	}
}

const segSuffix = ".seg"

// segName is a segment's file name: its chain and the sequence number it
// starts at (so names sort in append order within a chain).
func segName(chain int, firstSeq uint64) string {
	return fmt.Sprintf("%s-%020d%s", chainNames[chain], firstSeq, segSuffix)
}

// parseSegName is segName's inverse; ok is false for any other file.
func parseSegName(name string) (chain int, firstSeq uint64, ok bool) {
	base, found := strings.CutSuffix(name, segSuffix)
	if !found {
		return 0, 0, false
	}
	prefix, num, found := strings.Cut(base, "-")
	if !found || len(num) != 20 {
		return 0, 0, false
	}
	seq, err := strconv.ParseUint(num, 10, 64)
	if err != nil {
		return 0, 0, false
	}
	for i, n := range chainNames {
		if n == prefix {
			return i, seq, true
		}
	}
	return 0, 0, false
}

// segment is one segment file and its bookkeeping. Counts cover the frames
// in the file (written or still buffered): read and acked count the leading
// ones handed out by Read and acknowledged.
type segment struct {
	path     string
	chain    int
	version  int // segment format version (segfmt.HeaderVersion)
	firstSeq uint64
	lastSeq  uint64

	size    int64 // file length including buffered bytes
	flushed int64 // bytes written to the file

	count, frameBytes     int64
	readN, readBytes      int64
	ackedN, ackedBytes    int64
	firstTime, lastTime   int64
	lastReadTime, ackTime int64
	maxSev                uint8

	gone bool // evicted or deleted
}

// add accounts one appended frame.
func (g *segment) add(seq uint64, r *Record, fsz int64) {
	if g.count == 0 {
		g.firstTime = r.Time
	}
	g.count++
	g.frameBytes += fsz
	g.size += fsz
	g.lastSeq = seq
	g.lastTime = r.Time
	g.maxSev = max(g.maxSev, r.Severity)
}

// chain is one severity band: its segments oldest first, the writer of the
// newest, and the reader's position.
type chain struct {
	id   int
	segs []*segment

	// writer; active is the last segment when it is open for appends
	active       *segment
	wf           segFile
	wbuf         []byte
	gw           segfmt.GroupWriter // the frame group open at wbuf's end
	writeFailing bool               // the last write failed (logged once)
	bufFrames    int                // frames in wbuf
	bufSeq       uint64             // sequence number of the first of them

	unread int64 // appended records not yet handed out by Read

	// reader; rdIdx indexes segs
	rdIdx  int
	rdFile *os.File
	rd     segfmt.Reader
	peeked bool
	pk     segfmt.Frame
}

// segFile is what the spool needs of a segment file it appends to.
type segFile interface {
	Write(b []byte) (int, error)
	Truncate(size int64) error
	Sync() error
	Close() error
}

// createFile creates a segment file for appends (Options.createFile in
// tests, which inject write failures through it).
func (s *Spool) createFile(path string) (segFile, error) {
	if s.opts.createFile != nil {
		return s.opts.createFile(path)
	}
	return os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL|os.O_APPEND, filePerm)
}

// readerSeg is the segment the reader is in, or nil.
func (c *chain) readerSeg() *segment {
	if c.rdIdx < len(c.segs) {
		return c.segs[c.rdIdx]
	}
	return nil
}

// closeReader drops the reader's open file and any peeked frame.
func (c *chain) closeReader() {
	if c.rdFile != nil {
		_ = c.rdFile.Close()
		c.rdFile = nil
	}
	c.peeked = false
}

// createSegmentLocked creates a new segment file for chain c starting at seq, with
// its header buffered.
func (s *Spool) createSegmentLocked(c *chain, seq uint64) error {
	s.checkDiskLocked() // once a segment: cheap, and often enough
	path := filepath.Join(s.opts.Dir, segName(c.id, seq))
	f, err := s.createFile(path)
	if err != nil {
		return fmt.Errorf("create segment: %w", err)
	}
	g := &segment{path: path, chain: c.id, firstSeq: seq, size: segfmt.HeaderSize, version: segfmt.Version}
	c.gw.Reset()
	c.wbuf = segfmt.AppendHeader(c.wbuf[:0], c.id)
	c.segs = append(c.segs, g)
	c.active, c.wf = g, f
	s.used += segfmt.HeaderSize
	s.dirDirty = true
	return nil
}

// flushLocked writes c's buffered frames to its active segment. On failure
// whatever part was written is cut off again and the frames stay buffered
// for the next try.
func (s *Spool) flushLocked(c *chain) error {
	g := c.active
	if g == nil || len(c.wbuf) == 0 {
		return nil
	}
	c.gw.Close(c.wbuf)
	if _, err := c.wf.Write(c.wbuf); err != nil {
		_ = c.wf.Truncate(g.flushed)
		err = fmt.Errorf("write segment %s: %w", filepath.Base(g.path), err)
		if !c.writeFailing {
			c.writeFailing = true
			s.log.Error("Spool writes failing; keeping records buffered", zap.Error(err))
		}
		return err
	}
	if c.writeFailing {
		c.writeFailing = false
		s.log.Info("Spool writes succeed again")
	}
	g.flushed = g.size
	c.wbuf = c.wbuf[:0]
	c.bufFrames = 0
	s.dirty = true
	return nil
}

// sealLocked ends appends to c's active segment. Its file is synced (per the
// policy) and closed by the next sync.
func (s *Spool) sealLocked(c *chain) {
	if c.active == nil {
		return
	}
	if s.opts.Fsync == FsyncNever {
		_ = c.wf.Close()
	} else {
		s.toClose = append(s.toClose, c.wf)
	}
	c.active, c.wf = nil, nil
	c.wbuf, c.bufFrames = c.wbuf[:0], 0
	c.gw.Reset()
}

// removeSegLocked deletes segment g of chain c (the head, in practice) and
// fixes the reader's and writer's positions.
func (s *Spool) removeSegLocked(c *chain, g *segment) {
	i := 0
	for i < len(c.segs) && c.segs[i] != g {
		i++
	}
	if i == len(c.segs) {
		return
	}
	switch {
	case i == c.rdIdx:
		c.closeReader()
	case i < c.rdIdx:
		c.rdIdx--
	}
	c.segs = append(c.segs[:i], c.segs[i+1:]...)
	if c.active == g {
		// Its data is being deleted: no need to sync it first.
		_ = c.wf.Close()
		c.active, c.wf = nil, nil
		c.wbuf, c.bufFrames = c.wbuf[:0], 0
		c.gw.Reset()
	}
	g.gone = true
	s.used -= g.size
	if err := os.Remove(g.path); err != nil && !os.IsNotExist(err) {
		s.log.Warn("Cannot delete spool segment", zap.Error(err))
	}
	s.dirDirty = true
	s.signalSpaceLocked()
}
