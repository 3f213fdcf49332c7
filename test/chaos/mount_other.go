//go:build !linux

package main

import "errors"

var errNoTmpfs = errors.New("needs Linux to mount a small tmpfs")

func mountTmpfs(string, string) error   { return errNoTmpfs }
func remountTmpfs(string, string) error { return errNoTmpfs }
func unmount(string)                    {}
