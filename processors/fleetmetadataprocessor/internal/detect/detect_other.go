//go:build !linux

package detect

import "runtime"

// osType is the os.type resource attribute value; the semantic conventions'
// values match GOOS for the systems Go supports.
const osType = runtime.GOOS

// DefaultPaths is empty outside Linux: the device ID and OS version come from
// configuration, the environment or the device file there.
func DefaultPaths() Paths {
	return Paths{}
}
