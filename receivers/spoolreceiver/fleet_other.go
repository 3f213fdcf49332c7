//go:build !linux

package spoolreceiver // import "github.com/fleetlog/fleetlog/receivers/spoolreceiver"

// freeBytes is not known on this platform.
func freeBytes(string) int64 { return 0 }
