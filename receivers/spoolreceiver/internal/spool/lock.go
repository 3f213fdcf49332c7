package spool

import (
	"errors"
	"path/filepath"

	"github.com/fleetlog/fleetlog/internal/durable"
)

const lockName = "LOCK"

// lockDir takes an exclusive lock on dir's lock file: a second Open, in this
// process or another, gets ErrLocked; the kernel drops the lock if the
// process dies.
func lockDir(dir string) (*durable.LockFile, error) {
	l, err := durable.Lock(filepath.Join(dir, lockName), filePerm)
	if errors.Is(err, durable.ErrLocked) {
		return nil, ErrLocked
	}
	return l, err
}
