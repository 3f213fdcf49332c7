//go:build !unix

package spool

import (
	"fmt"
	"os"
	"path/filepath"
)

const lockName = "LOCK"

// lockDir only creates the lock file: without flock, a second process is
// not kept out on this platform.
func lockDir(dir string) (*os.File, error) {
	f, err := os.OpenFile(filepath.Join(dir, lockName), os.O_RDWR|os.O_CREATE, filePerm)
	if err != nil {
		return nil, fmt.Errorf("open lock file: %w", err)
	}
	return f, nil
}

func unlockDir(f *os.File) error { return f.Close() }
