//go:build !linux

package spool

func statDisk(string) (free, size int64, err error) { return 0, 0, errNoStatfs }
