package main

import (
	"fmt"
	"os"
	"syscall"
)

// mountTmpfs mounts a tmpfs of size (e.g. "16m") at dir. It needs root.
func mountTmpfs(dir, size string) error {
	if os.Geteuid() != 0 {
		return errNotRoot
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size="+size+",mode=0700"); err != nil {
		return fmt.Errorf("mount a tmpfs at %s: %w", dir, err)
	}
	return nil
}

// remountTmpfs changes the size of the tmpfs at dir.
func remountTmpfs(dir, size string) error {
	if err := syscall.Mount("tmpfs", dir, "tmpfs", syscall.MS_REMOUNT, "size="+size+",mode=0700"); err != nil {
		return fmt.Errorf("remount the tmpfs at %s: %w", dir, err)
	}
	return nil
}

func unmount(dir string) { _ = syscall.Unmount(dir, syscall.MNT_DETACH) }
