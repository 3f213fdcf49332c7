package spool

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"go.uber.org/zap"
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
		if strings.HasPrefix(name, ".") && strings.HasSuffix(name, tmpSuffix) {
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

const tmpSuffix = ".tmp"

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
	if size < segHeaderSize {
		// Created but never (fully) written: nothing to deliver.
		s.stats.TornTailBytes += size
		s.removeFile(path)
		return recovered{}
	}
	var hdr [segHeaderSize]byte
	if _, err := f.ReadAt(hdr[:], 0); err != nil {
		log.Error("Cannot read spool segment; ignoring it", zap.Error(err))
		s.stats.Corrupt++
		return recovered{}
	}
	hdrOK := validSegHeader(hdr[:])

	g := &segment{path: path, firstSeq: firstSeq, chain: chain}
	var r recovered
	scan, err := scanSegment(f, size, hdrOK, func(fr *frame) {
		fsz := fr.size()
		if g.count == 0 {
			g.firstTime = fr.time
		}
		g.count++
		g.frameBytes += fsz
		g.lastSeq, g.lastTime = fr.seq, fr.time
		g.maxSev = max(g.maxSev, fr.sev)
		if fr.seq <= ackSeq {
			g.readN++
			g.readBytes += fsz
			g.ackedN++
			g.ackedBytes += fsz
			g.ackTime = fr.time
		}
		r.lastSeq = max(r.lastSeq, fr.seq)
	})
	r.count, r.acked = g.count, g.ackedN
	if err != nil {
		log.Error("Cannot read spool segment to its end; keeping what was read", zap.Error(err))
		scan.regions++
	}
	if !hdrOK && scan.regions == 0 {
		scan.regions++
	}
	s.stats.Corrupt += scan.regions
	if scan.tornAt >= 0 && (hdrOK || g.count > 0) {
		// (A file with neither header nor frames is one damaged region.)
		s.stats.TornTailBytes += size - scan.tornAt
	}
	live := g.count > g.ackedN

	switch {
	case scan.regions > 0:
		log.Warn("Spool segment damaged; keeping a copy and its intact records",
			zap.Int64("regions", scan.regions), zap.Int64("records", g.count))
		s.copyAside(path, f)
		if !live {
			s.removeFile(path)
			return r
		}
		n, err := s.rewriteSegment(path, f, size, hdrOK, chain)
		if err != nil {
			// The damaged file stays; the reader skips the damage again.
			log.Error("Cannot rewrite damaged spool segment", zap.Error(err))
			n = size
		}
		g.size = n
	case !live:
		s.removeFile(path)
		return r
	case scan.tornAt >= 0:
		log.Warn("Spool segment has a torn tail; truncating it", zap.Int64("bytes", size-scan.tornAt))
		if err := os.Truncate(path, scan.tornAt); err != nil {
			log.Error("Cannot truncate spool segment", zap.Error(err))
			g.size = size
		} else {
			g.size = scan.tornAt
		}
	default:
		g.size = size
	}
	g.flushed = g.size
	r.seg = g
	return r
}

// scanResult describes the damage scanSegment met.
type scanResult struct {
	regions int64 // damaged regions followed by an intact frame
	tornAt  int64 // start of damage running to the end, or -1
}

// scanSegment calls fn for each intact frame of the segment in f.
func scanSegment(f io.ReaderAt, size int64, hdrOK bool, fn func(*frame)) (scanResult, error) {
	var sr segReader
	return scanSegmentWith(&sr, f, size, hdrOK, fn)
}

func scanSegmentWith(sr *segReader, f io.ReaderAt, size int64, hdrOK bool, fn func(*frame)) (scanResult, error) {
	res := scanResult{tornAt: -1}
	start := int64(segHeaderSize)
	if !hdrOK {
		start = 0 // salvage frames after a damaged header
	}
	sr.reset(f, start, size)
	for {
		fr, skipped, st, at, err := sr.next()
		if err != nil {
			return res, err
		}
		if skipped > 0 {
			res.regions++
		}
		switch st {
		case scanEnd:
			return res, nil
		case scanTorn:
			res.tornAt = at
			return res, nil
		}
		fn(&fr)
		sr.advance()
	}
}

// rewriteSegment replaces the segment at path by a copy holding only its
// intact frames, and returns the new size.
func (s *Spool) rewriteSegment(path string, f io.ReaderAt, size int64, hdrOK bool, chain int) (int64, error) {
	tmp := filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+tmpSuffix)
	out, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, filePerm)
	if err != nil {
		return 0, fmt.Errorf("create: %w", err)
	}
	buf := appendSegHeader(make([]byte, 0, writeBufSize), chain)
	var werr error
	n := int64(0)
	flush := func() {
		if werr == nil && len(buf) > 0 {
			_, werr = out.Write(buf)
			n += int64(len(buf))
		}
		buf = buf[:0]
	}
	_, err = scanSegment(f, size, hdrOK, func(fr *frame) {
		r := Record{Severity: fr.sev, Time: fr.time, Payload: fr.payload}
		buf = appendFrame(buf, fr.seq, &r)
		if len(buf) >= writeBufSize {
			flush()
		}
	})
	flush()
	err = errors.Join(err, werr)
	if err == nil {
		err = out.Sync()
	}
	err = errors.Join(err, out.Close())
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		_ = os.Remove(tmp)
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
