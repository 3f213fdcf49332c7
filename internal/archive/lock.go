package archive

import (
	"errors"
	"fmt"
	"path/filepath"

	"github.com/fleetlog/fleetlog/internal/durable"
)

// lockDir takes an exclusive advisory lock on dir/.lock; the kernel releases
// it when the process dies, so a crash never leaves a stale lock.
func lockDir(dir string) (*durable.LockFile, error) {
	l, err := durable.Lock(filepath.Join(dir, lockFile), privateFilePerm)
	if errors.Is(err, durable.ErrLocked) {
		return nil, fmt.Errorf("%w: %s", ErrLocked, dir)
	}
	if err != nil {
		return nil, fmt.Errorf("lock archive %s: %w", dir, err)
	}
	return l, nil
}
