// Package durable writes files so that a crash leaves either the old content
// or the new one, and takes the advisory locks that keep a second process out
// of a directory. The spool, the file checkpoints, the archive and the
// certificate tooling share it, so they all give the same guarantee:
//
//   - WriteFile and Replace write a temporary file beside the target (a name
//     of its own, so two writers never share one), give it its mode before any
//     byte is written (a private key is never readable by others, not even
//     for a moment), fsync it, rename it over the target, and fsync the
//     directory, without which the rename itself may be lost in a crash.
//   - Lock takes an exclusive flock that the kernel drops when the process
//     dies, so a crash never leaves a stale lock.
//
// The standard library has the pieces but no such write (os.WriteFile
// truncates in place), hence this package.
package durable // import "github.com/fleetlog/fleetlog/internal/durable"

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// TempSuffix ends the name of every temporary file WriteFile and Replace
// create; the name also starts with a dot. A crash may leave one behind,
// which its owner may delete when it next opens the directory (IsTemp).
const TempSuffix = ".tmp"

// IsTemp reports whether name (a base name) is one of the temporary files
// WriteFile and Replace create.
func IsTemp(name string) bool {
	return strings.HasPrefix(name, ".") && strings.HasSuffix(name, TempSuffix)
}

// WriteFile replaces path by data with mode perm, durably and atomically
// (see the package comment).
func WriteFile(path string, data []byte, perm os.FileMode) error {
	return Replace(path, perm, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
}

// Replace is WriteFile for content produced by write, which may write in as
// many pieces as it likes. If write fails, path is left as it was.
func Replace(path string, perm os.FileMode, write func(io.Writer) error) error {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	f, err := os.CreateTemp(dir, "."+base+".*"+TempSuffix)
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	tmp := f.Name()
	// CreateTemp makes the file 0600; set the caller's mode before the
	// content is there.
	err = f.Chmod(perm)
	if err == nil {
		err = write(f)
	}
	if err == nil {
		err = f.Sync()
	}
	err = errors.Join(err, f.Close())
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("write %s: %w", path, err)
	}
	return SyncDir(dir)
}

// SyncDir makes the creation, deletion and renaming of files in dir durable.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync directory %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync directory %s: %w", dir, err)
	}
	return nil
}

// PrivateDir creates dir (and its parents) with mode perm and sets dir itself
// to perm, whatever the umask or an earlier run left.
func PrivateDir(dir string, perm os.FileMode) error {
	if err := os.MkdirAll(dir, perm); err != nil {
		return fmt.Errorf("create %s: %w", dir, err)
	}
	if err := os.Chmod(dir, perm); err != nil {
		return fmt.Errorf("restrict %s: %w", dir, err)
	}
	return nil
}

// IsDiskFull reports whether err says the file system has no room left for
// this writer (ENOSPC, or EDQUOT for a quota): a condition that passes when
// space is freed, unlike a damaged or unreadable file.
func IsDiskFull(err error) bool {
	return errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT)
}
