//go:build !linux

package spool

// bootID is unknown here: the identity is kept only across clean closes.
func bootID() string { return "" }
