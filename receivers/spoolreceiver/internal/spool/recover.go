package spool

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"time"

	"go.uber.org/zap"

	"github.com/fleetlog/fleetlog/internal/durable"
	"github.com/fleetlog/fleetlog/receivers/spoolreceiver/internal/spool/segfmt"
)

const (
	corruptDir = "corrupt"
	// maxCorruptCopies bounds the damaged segments kept for inspection.
	maxCorruptCopies = 8
)

// recover rebuilds the spool's state from Dir (see the package comment).
func (s *Spool) recover() error {
	cur, ackSeq, found, err := openCursor(s.opts.Dir)
	if err != nil {
		return err
	}
	s.cur, s.cursorFound = cur, found
	entries, err := os.ReadDir(s.opts.Dir)
	if err != nil {
		return fmt.Errorf("list spool directory: %w", err)
	}
	type segFile struct {
		chain int
		seq   uint64
		name  string
	}
	var files []segFile
	for _, e := range entries {
		name := e.Name()
		if !e.Type().IsRegular() {
			continue
		}
		if durable.IsTemp(name) {
			_ = os.Remove(filepath.Join(s.opts.Dir, name)) // an interrupted rewrite
			continue
		}
		if c, seq, ok := parseSegName(name); ok {
			files = append(files, segFile{c, seq, name})
		}
	}
	slices.SortFunc(files, func(a, b segFile) int {
		return cmp.Or(cmp.Compare(a.chain, b.chain), cmp.Compare(a.seq, b.seq))
	})

	var maxSeq uint64
	var spooled, delivered int64 // records found, and those at or before the cursor
	for _, sf := range files {
		r := s.recoverSegment(filepath.Join(s.opts.Dir, sf.name), sf.chain, sf.seq, ackSeq)
		maxSeq = max(maxSeq, r.lastSeq)
		s.openLast[sf.chain] = max(s.openLast[sf.chain], r.lastSeq)
		spooled += r.count
		delivered += r.acked
		if g := r.seg; g != nil {
			c := &s.chains[sf.chain]
			c.segs = append(c.segs, g)
			c.unread += g.count - g.readN
			s.unread += g.count - g.readN
			s.records += g.count - g.ackedN
			s.used += g.size
		}
	}
	switch {
	case !found && spooled > 0:
		s.stats.CursorResets++
		s.log.Warn("Spool cursor missing or unreadable; delivering from the oldest record",
			zap.Int64("records", spooled))
	case found && spooled > 0 && delivered == spooled && ackSeq > maxSeq:
		s.stats.CursorAhead++
		s.log.Warn("Spool cursor is past all spooled data; treating it as delivered",
			zap.Uint64("cursor", ackSeq), zap.Uint64("last_record", maxSeq))
	}
	if !found {
		// From now on a missing cursor means damage, not a new spool.
		if err := cur.write(ackSeq); err != nil {
			return err
		}
		if err := cur.sync(); err != nil {
			return err
		}
	}
	s.ackSeq, s.openAckSeq = ackSeq, ackSeq
	s.nextSeq = max(ackSeq, maxSeq) + 1
	s.syncedSeq = s.nextSeq - 1
	if s.stats.Corrupt > 0 || s.stats.TornTailBytes > 0 {
		s.log.Warn("Spool recovered from damage",
			zap.Int64("corrupt_regions", s.stats.Corrupt),
			zap.Int64("torn_tail_bytes", s.stats.TornTailBytes),
			zap.String("copies", filepath.Join(s.opts.Dir, corruptDir)))
	}
	s.log.Info("Spool opened", zap.String("dir", s.opts.Dir),
		zap.Int64("records", s.records), zap.Int64("bytes", s.used))
	return syncDir(s.opts.Dir)
}

// recovered is what recoverSegment found in one file.
type recovered struct {
	seg     *segment // nil if the file held nothing left to deliver
	lastSeq uint64
	count   int64 // intact records
	acked   int64 // of which at or before the cursor
}

// recoverSegment checks one segment file and repairs it in place. It never
// fails: a file it cannot read is left alone and counted as damage.
func (s *Spool) recoverSegment(path string, chain int, firstSeq, ackSeq uint64) recovered {
	log := s.log.With(zap.String("segment", filepath.Base(path)))
	f, err := os.Open(path)
	if err != nil {
		log.Error("Cannot open spool segment; ignoring it", zap.Error(err))
		s.stats.Corrupt++
		return recovered{}
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		log.Error("Cannot stat spool segment; ignoring it", zap.Error(err))
		s.stats.Corrupt++
		return recovered{}
	}
	size := fi.Size()
	if size < segfmt.HeaderSize {
		// Created but never (fully) written: nothing to deliver.
		s.stats.TornTailBytes += size
		s.removeFile(path)
		return recovered{}
	}
	var hdr [segfmt.HeaderSize]byte
	if _, err := f.ReadAt(hdr[:], 0); err != nil {
		log.Error("Cannot read spool segment; ignoring it", zap.Error(err))
		s.stats.Corrupt++
		return recovered{}
	}
	version := segfmt.HeaderVersion(hdr[:])
	hdrOK := version != 0

	g := &segment{path: path, firstSeq: firstSeq, chain: chain, version: version}
	if !hdrOK {
		g.version = segfmt.SalvageVersion(f, size)
	}
	var r recovered
	scan, err := segfmt.Scan(f, size, version, func(fr *segfmt.Frame) {
		fsz := fr.Size()
		if g.count == 0 {
			g.firstTime = fr.Time
		}
		g.count++
		g.frameBytes += fsz
		g.lastSeq, g.lastTime = fr.Seq, fr.Time
		g.maxSev = max(g.maxSev, fr.Sev)
		if fr.Seq <= ackSeq {
			g.readN++
			g.readBytes += fsz
			g.ackedN++
			g.ackedBytes += fsz
			g.ackTime = fr.Time
		}
		r.lastSeq = max(r.lastSeq, fr.Seq)
	})
	r.count, r.acked = g.count, g.ackedN
	if err != nil {
		log.Error("Cannot read spool segment to its end; keeping what was read", zap.Error(err))
		scan.Regions++
	}
	if !hdrOK && scan.Regions == 0 {
		scan.Regions++
	}
	s.stats.Corrupt += scan.Regions
	if scan.TornAt >= 0 && (hdrOK || g.count > 0) {
		// (A file with neither header nor frames is one damaged region.)
		s.stats.TornTailBytes += size - scan.TornAt
	}
	live := g.count > g.ackedN

	switch {
	case scan.Regions > 0:
		log.Warn("Spool segment damaged; keeping a copy and its intact records",
			zap.Int64("regions", scan.Regions), zap.Int64("records", g.count))
		s.copyAside(path, f)
		if !live {
			s.removeFile(path)
			return r
		}
		n, err := s.rewriteSegment(path, f, size, version, chain)
		if err != nil {
			// The damaged file stays; the reader skips the damage again.
			log.Error("Cannot rewrite damaged spool segment", zap.Error(err))
			n = size
		} else {
			g.version = segfmt.Version
		}
		g.size = n
	case !live:
		s.removeFile(path)
		return r
	case scan.TornAt >= 0:
		log.Warn("Spool segment has a torn tail; truncating it", zap.Int64("bytes", size-scan.TornAt))
		if err := os.Truncate(path, scan.TornAt); err != nil {
			log.Error("Cannot truncate spool segment", zap.Error(err))
			g.size = size
		} else {
			g.size = scan.TornAt
		}
	default:
		g.size = size
	}
	g.flushed = g.size
	r.seg = g
	return r
}

// rewriteSegment replaces the segment at path, of format version (0: its
// header is damaged), by a copy holding only its intact records, in the
// current format, and returns the new size.
func (s *Spool) rewriteSegment(path string, f io.ReaderAt, size int64, version int, chain int) (int64, error) {
	var n int64
	err := durable.Replace(path, filePerm, func(out io.Writer) error {
		buf := segfmt.AppendHeader(make([]byte, 0, writeBufSize), chain)
		var werr error
		flush := func() {
			if werr == nil && len(buf) > 0 {
				var w int
				w, werr = out.Write(buf)
				n += int64(w)
			}
			buf = buf[:0]
		}
		var w segfmt.GroupWriter
		_, err := segfmt.Scan(f, size, version, func(fr *segfmt.Frame) {
			buf, _ = w.Add(buf, fr.Seq, fr.Sev, fr.Time, fr.Shared, fr.Payload, nil)
			if len(buf) >= writeBufSize {
				w.Close(buf)
				flush()
				w.Reset()
			}
		})
		w.Close(buf)
		flush()
		return errors.Join(err, werr)
	})
	if err != nil {
		return 0, err
	}
	return n, nil
}

// copyAside keeps a copy of a damaged segment in corrupt/, keeping only the
// newest maxCorruptCopies.
func (s *Spool) copyAside(path string, src io.ReaderAt) {
	dir := filepath.Join(s.opts.Dir, corruptDir)
	err := os.MkdirAll(dir, dirPerm)
	if err == nil {
		dst := filepath.Join(dir, fmt.Sprintf("%020d-%s", time.Now().UnixNano(), filepath.Base(path)))
		err = copyFile(dst, src)
	}
	if err != nil {
		s.log.Error("Cannot keep a copy of a damaged spool segment", zap.Error(err))
		return
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for i := 0; i < len(entries)-maxCorruptCopies; i++ {
		_ = os.Remove(filepath.Join(dir, entries[i].Name())) // names sort by time
	}
}

func copyFile(dst string, src io.ReaderAt) error {
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, filePerm)
	if err != nil {
		return err
	}
	_, err = io.Copy(out, io.NewSectionReader(src, 0, 1<<62))
	return errors.Join(err, out.Close())
}

func (s *Spool) removeFile(path string) {
	if err := os.Remove(path); err != nil && !os.IsNotExist(err) {
		s.log.Warn("Cannot delete spool file", zap.Error(err))
	}
}
