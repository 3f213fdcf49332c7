//go:build !linux

package edgeruntimeextension // import "github.com/fleetlog/fleetlog/extensions/edgeruntimeextension"

// releaseBinaryPages releases nothing: only Linux's smaps and madvise are
// used to find and drop the binary's pages.
func releaseBinaryPages() (int64, error) { return 0, nil }

// residentBytes is unknown off Linux.
func residentBytes() int64 { return 0 }
