//go:build !unix

package spool

import "os"

// lockDir only creates the lock file: without flock, a second process is
// not kept out on this platform.
func lockDir(dir string) (*os.File, error) { return openLockFile(dir) }

func unlockDir(f *os.File) error { return f.Close() }
