package spool

import (
	"errors"
	"fmt"
	"math"
	"os"
	"time"

	"go.uber.org/zap"

	"github.com/fleetlog/fleetlog/internal/durable"
)

// syncTo makes the records up to seq durable per the policy, unless an
// earlier sync already covered them: concurrent callers under FsyncAlways
// thus share one fsync (group commit). Files are synced without the spool
// lock held, so appends go on meanwhile. final is Close's last sync, which
// runs after closed is set.
func (s *Spool) syncTo(seq uint64, final bool) error {
	s.syncMu.Lock()
	defer s.syncMu.Unlock()
	if s.syncErr != nil && !final {
		return s.syncErr
	}
	if s.syncedSeq >= seq && !final {
		return nil
	}
	s.mu.Lock()
	if s.closed && !final {
		s.mu.Unlock()
		return ErrClosed
	}
	target := s.nextSeq - 1
	var errs []error
	for i := range s.chains {
		if err := s.flushLocked(&s.chains[i]); err != nil {
			errs = append(errs, err)
		}
	}
	var files []segFile
	if s.dirty {
		for i := range s.chains {
			if f := s.chains[i].wf; f != nil {
				files = append(files, f)
			}
		}
	}
	closing := s.toClose
	s.toClose = nil
	dirDirty, cursorDirty := s.dirDirty, s.cursorDirty
	s.dirty, s.dirDirty, s.cursorDirty = false, false, false
	cur := s.cur
	s.mu.Unlock()

	if s.opts.Fsync != FsyncNever {
		for _, f := range append(files, closing...) {
			// A file closed meanwhile was deleted: nothing left to sync.
			if err := f.Sync(); err != nil && !errors.Is(err, os.ErrClosed) {
				err = fmt.Errorf("sync segment: %w", err)
				if s.syncErr == nil {
					s.syncErr = err
				}
				errs = append(errs, err)
			}
		}
		if dirDirty {
			if err := syncDir(s.opts.Dir); err != nil {
				errs = append(errs, err)
			}
		}
		if cursorDirty && cur != nil {
			if err := cur.sync(); err != nil {
				errs = append(errs, err)
			}
		}
	}
	for _, f := range closing {
		_ = f.Close()
	}
	if len(errs) > 0 {
		s.mu.Lock()
		s.dirty, s.dirDirty, s.cursorDirty = true, true, true
		s.mu.Unlock()
		return errors.Join(errs...)
	}
	s.syncedSeq = max(s.syncedSeq, target)
	if s.opts.Fsync != FsyncNever {
		s.durableSeq.Store(s.syncedSeq)
	}
	return nil
}

// syncLoop is the FsyncInterval group commit; it stops on Close.
func (s *Spool) syncLoop() {
	defer s.wg.Done()
	t := time.NewTicker(s.opts.FsyncInterval)
	defer t.Stop()
	for {
		select {
		case <-s.done:
			return
		case <-t.C:
			if err := s.syncTo(math.MaxUint64, false); err != nil && !errors.Is(err, ErrClosed) {
				s.log.Warn("Spool sync failed", zap.Error(err))
			}
		}
	}
}

// syncDir makes file creations and deletions in dir durable.
func syncDir(dir string) error { return durable.SyncDir(dir) }
