//go:build !linux

package fleetagentextension // import "github.com/fleetlog/fleetlog/extensions/fleetagentextension"

// uptimeSeconds is not known on this platform.
func uptimeSeconds() float64 { return 0 }
