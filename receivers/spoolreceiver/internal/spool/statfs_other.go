//go:build !linux

package spool

import "errors"

// errNoStatfs is returned by statDisk where the platform cannot tell free
// space; min free is then not applied.
var errNoStatfs = errors.New("free space cannot be read on this platform")

func statDisk(string) (free, size int64, err error) { return 0, 0, errNoStatfs }
