//go:build !unix

package fleetstate // import "github.com/fleetlog/fleetlog/internal/fleetstate"

// pidAlive cannot tell on this platform; a candidate of another process is
// then always taken for one that process left behind.
func pidAlive(int) bool { return false }
