package spool

import (
	"time"

	"go.uber.org/zap"
)

// DefaultMinFree in Options.MinFree asks for the default free space to
// keep: the larger of 5% of the filesystem and 256MiB, like journald's
// keep-free settings, so that the spool never takes the last room other
// programs of the device (and the logs the agent tails) need; but at most
// half the filesystem, so that a small one still holds a spool.
const DefaultMinFree = -1

const (
	defaultMinFreeBytes   = 256 << 20
	defaultMinFreePercent = 5
	// diskCheckEvery is how often free space is read besides at each new
	// segment: often enough to follow other programs' use of the disk, and
	// cheap (one statfs).
	diskCheckEvery = time.Second
	// minFsSegment is the smallest segment the filesystem's size caps
	// SegmentSize to: a segment must hold a 1MiB line.
	minFsSegment = 2 << 20
)

// defaultMinFree is DefaultMinFree's value for a filesystem of size bytes.
func defaultMinFree(size int64) int64 {
	return min(max(size/100*defaultMinFreePercent, defaultMinFreeBytes), size/2)
}

// initDisk reads the filesystem's size and free space once at Open, resolves
// MinFree, and caps SegmentSize to an eighth of the filesystem, so that
// delivered segments can always be deleted to make room even when the disk
// fills (the segment being written cannot be).
func (s *Spool) initDisk() {
	free, size, err := statDisk(s.opts.Dir)
	if err != nil {
		if s.opts.MinFree != 0 {
			s.log.Warn("Cannot read free space; min free is not applied", zap.Error(err))
		}
		s.diskLimit = -1
		return
	}
	s.fsSize = size
	switch {
	case s.opts.MinFree == DefaultMinFree:
		s.minFree = defaultMinFree(size)
	case s.opts.MinFree > 0:
		s.minFree = s.opts.MinFree
	}
	if free < s.minFree {
		s.log.Warn("Free space is below min_free: the spool counts as full until there is more",
			zap.Int64("free", free), zap.Int64("min_free", s.minFree), zap.Int64("filesystem", size))
	}
	s.opts.SegmentSize = min(s.opts.SegmentSize, max(size/8, minFsSegment))
	s.refreshDiskLocked(free)
}

// refreshDiskLocked sets the limit that free space puts on s.used: what the
// spool has on disk, plus what is free, less min free. Buffered bytes are
// counted in s.used but not yet on the disk.
func (s *Spool) refreshDiskLocked(free int64) {
	s.fsFree = free
	if s.minFree <= 0 {
		s.diskLimit = -1
		return
	}
	var pending int64
	for i := range s.chains {
		pending += int64(len(s.chains[i].wbuf))
	}
	limit := max(s.used-pending+free-s.minFree, 0)
	if limit > s.diskLimit && s.diskLimit >= 0 {
		s.signalSpaceLocked()
	}
	s.diskLimit = limit
}

// checkDiskLocked reads free space again (at a new segment).
func (s *Spool) checkDiskLocked() {
	if s.fsSize == 0 {
		return
	}
	if free, _, err := statDisk(s.opts.Dir); err == nil {
		s.refreshDiskLocked(free)
	}
}

// limitLocked is the most s.used may reach: MaxSize, or less when free space
// is short.
func (s *Spool) limitLocked() int64 {
	if s.diskLimit < 0 {
		return s.opts.MaxSize
	}
	return min(s.opts.MaxSize, s.diskLimit)
}

// diskLoop reads free space every diskCheckEvery until Close, waking
// appenders that wait for room when there is more.
func (s *Spool) diskLoop() {
	defer s.wg.Done()
	t := time.NewTicker(diskCheckEvery)
	defer t.Stop()
	for {
		select {
		case <-s.done:
			return
		case <-t.C:
			free, _, err := statDisk(s.opts.Dir)
			if err != nil {
				continue
			}
			s.mu.Lock()
			if !s.closed {
				s.refreshDiskLocked(free)
			}
			s.mu.Unlock()
		}
	}
}
