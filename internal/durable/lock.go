package durable

import (
	"errors"
	"fmt"
	"os"
)

// ErrLocked is returned by Lock when another process (or another Lock in
// this one) holds the lock.
var ErrLocked = errors.New("locked by another process")

// LockFile is a held lock; Unlock releases it.
type LockFile struct {
	f *os.File
}

// Lock creates path (mode perm) if missing and takes an exclusive lock on it
// without waiting: ErrLocked if it is held. The lock belongs to the open file,
// so a second Lock of the same path in the same process is refused as well,
// and the kernel releases it when the process dies. Where the platform has no
// flock, Lock only creates the file and keeps no one out.
func Lock(path string, perm os.FileMode) (*LockFile, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, perm)
	if err != nil {
		return nil, fmt.Errorf("open lock file: %w", err)
	}
	if err := lockFile(f); err != nil {
		_ = f.Close()
		if errors.Is(err, ErrLocked) {
			return nil, err
		}
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	return &LockFile{f: f}, nil
}

// Unlock releases the lock; it is safe to call twice and on nil.
func (l *LockFile) Unlock() error {
	if l == nil || l.f == nil {
		return nil
	}
	unlockFile(l.f)
	err := l.f.Close()
	l.f = nil
	return err
}
