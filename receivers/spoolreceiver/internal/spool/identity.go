package spool

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"go.uber.org/zap"

	"github.com/fleetlog/fleetlog/internal/durable"
	"github.com/fleetlog/fleetlog/internal/spoolstamp"
)

// The identity file names the spool: a random identity made with the spool
// directory, which the receiver stamps on every record next to the record's
// sequence number so that the archive can store each record once (see
// internal/spoolstamp). A spool directory made anew (a re-installed agent)
// has a new identity.
//
// The archive skips a stamped record whose sequence number is at or below
// the highest it stored for the identity, so the identity must change
// whenever the sequence numbers might restart below numbers already
// delivered, or new records would be taken for re-deliveries and skipped.
// After a process crash the page cache keeps every write, so the cursor and
// the segments on disk cover every sequence number handed out. After a
// machine crash (power loss, kernel panic: the boot changes) writes not yet
// synced may be gone, and a cursor update can be lost while the deletion of
// the segment it covered was not. Open therefore keeps the identity only
// when the last run closed the spool cleanly or ran in the same boot, and
// the cursor was intact; otherwise it makes a new one (records still in the
// spool are then delivered under the new identity: a re-delivery of them
// is stored again, which is a duplicate, never a loss).
const identityName = "identity"

// identityState is the identity file's content.
type identityState struct {
	ID string `json:"id"`
	// Boot is the boot the last Open ran in ("" when unknown).
	Boot string `json:"boot_id"`
	// Clean is set by Close after its final sync succeeded.
	Clean bool `json:"closed_cleanly"`
}

// identitySize is the identity file's fixed length: the file is
// rewritten in place, which needs no free space on a full disk, and a write
// torn by a crash leaves a file that does not parse, which only makes a new
// identity.
const identitySize = 256

// openIdentity loads, rotates or creates the identity and marks the spool
// open (not closed cleanly) in the current boot. cursorFound is false when
// recovery found no intact cursor. Failing to record the state does not
// stop the spool: the file is removed instead, so that the next Open makes
// a new identity, which is always safe.
func (s *Spool) openIdentity(cursorFound bool) error {
	path := filepath.Join(s.opts.Dir, identityName)
	boot := bootID()
	var st identityState
	data, err := os.ReadFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		s.log.Warn("Cannot read the spool identity; the spool takes a new identity", zap.Error(err))
	default:
		if jerr := json.Unmarshal(data, &st); jerr != nil || !spoolstamp.ValidID(st.ID) {
			s.log.Warn("Spool identity file is damaged; the spool takes a new identity")
			st = identityState{}
		}
	}
	if st.ID != "" {
		continuous := st.Clean || (boot != "" && st.Boot == boot)
		if !continuous || !cursorFound {
			s.log.Warn("The spool may have lost its last writes (the machine restarted without closing it, or its cursor was damaged); records are numbered under a new spool identity so that none is taken for a re-delivery",
				zap.String("old_identity", st.ID))
			st.ID = ""
		}
	}
	if st.ID == "" {
		if st.ID, err = spoolstamp.NewID(); err != nil {
			return err
		}
	}
	st.Boot, st.Clean = boot, false
	s.identity = st
	s.saveIdentity(st)
	return nil
}

// markClean records that the spool was closed with everything synced.
func (s *Spool) markClean() {
	st := s.identity
	st.Clean = true
	s.saveIdentity(st)
}

// saveIdentity writes st, or removes the file when that fails.
func (s *Spool) saveIdentity(st identityState) {
	path := filepath.Join(s.opts.Dir, identityName)
	err := writeIdentity(path, st)
	if err == nil {
		return
	}
	rmErr := os.Remove(path)
	if rmErr == nil || errors.Is(rmErr, fs.ErrNotExist) {
		rmErr = syncDir(s.opts.Dir)
	}
	s.log.Warn("Cannot write the spool identity; the next start takes a new identity", zap.Error(errors.Join(err, rmErr)))
}

// writeIdentity rewrites the identity file in place, or creates it
// (durable.WriteFile).
func writeIdentity(path string, st identityState) error {
	data, err := json.Marshal(st)
	if err != nil {
		return fmt.Errorf("encode spool identity: %w", err)
	}
	if len(data) >= identitySize {
		return fmt.Errorf("spool identity too long: %d bytes", len(data))
	}
	buf := make([]byte, identitySize)
	copy(buf, data)
	for i := len(data); i < identitySize-1; i++ {
		buf[i] = ' '
	}
	buf[identitySize-1] = '\n'

	f, err := os.OpenFile(path, os.O_WRONLY, filePerm)
	if errors.Is(err, fs.ErrNotExist) {
		return durable.WriteFile(path, buf, filePerm)
	}
	if err != nil {
		return fmt.Errorf("write spool identity: %w", err)
	}
	_, err = f.WriteAt(buf, 0)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write spool identity: %w", err)
	}
	return nil
}

// ID returns the spool's identity (see the identity file above).
func (s *Spool) ID() string { return s.identity.ID }
