//go:build unix

package fleetstate // import "github.com/fleetlog/fleetlog/internal/fleetstate"

import (
	"errors"
	"syscall"
)

// pidAlive reports whether a process with pid exists.
func pidAlive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}
