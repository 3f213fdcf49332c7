//go:build !unix

package durable

import "os"

// Without flock the lock file is only created (see Lock).
func lockFile(*os.File) error { return nil }

func unlockFile(*os.File) {}
