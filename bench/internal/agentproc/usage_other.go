//go:build !linux

package agentproc

import (
	"errors"
	"time"
)

// Usage is a process's resource use at one moment.
type Usage struct {
	CPU              time.Duration
	RSS, PeakRSS     int64
	AnonRSS, FileRSS int64
	DiskWrite        int64
	ReadCalls        int64
	WriteCalls       int64
}

// ReadUsage needs /proc: the benchmarks run on Linux only.
func ReadUsage(int) (Usage, error) {
	return Usage{}, errors.New("agent usage is read from /proc: Linux only")
}
