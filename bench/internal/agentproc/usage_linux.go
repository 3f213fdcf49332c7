package agentproc

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"time"
)

// clockTicks is USER_HZ, the unit of utime and stime in /proc/PID/stat. It
// is 100 on every Linux architecture Go supports; reading it with
// sysconf(_SC_CLK_TCK) would need cgo.
const clockTicks = 100

// Usage is a process's resource use at one moment.
type Usage struct {
	// CPU is user plus system time of all threads so far.
	CPU time.Duration
	// RSS is the resident set now (VmRSS); PeakRSS its high-water mark
	// since start (VmHWM). Both in bytes.
	RSS, PeakRSS int64
	// AnonRSS and FileRSS split RSS now: anonymous memory (heap, stacks,
	// runtime) and file-backed pages (mostly the binary's own text and
	// read-only data, which the kernel can drop and read back).
	AnonRSS, FileRSS int64
	// DiskWrite is what the process has caused to be written to the
	// storage layer so far (write_bytes of /proc/PID/io): file data once
	// the kernel writes it back, whether or not the process fsyncs it.
	DiskWrite int64
	// ReadCalls and WriteCalls count the process's read and write system
	// calls so far (syscr and syscw of /proc/PID/io: read, readv, recv...
	// and write, writev, send...), sockets and files alike.
	ReadCalls, WriteCalls int64
}

// ReadUsage reads pid's usage from /proc.
func ReadUsage(pid int) (Usage, error) {
	var u Usage
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return u, fmt.Errorf("read stat: %w", err)
	}
	if u.CPU, err = parseStatCPU(stat); err != nil {
		return u, err
	}
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return u, fmt.Errorf("read status: %w", err)
	}
	if u.RSS, err = statusKiB(status, "VmRSS:"); err != nil {
		return u, err
	}
	for _, f := range []struct {
		key string
		v   *int64
	}{{"VmHWM:", &u.PeakRSS}, {"RssAnon:", &u.AnonRSS}, {"RssFile:", &u.FileRSS}} {
		if *f.v, err = statusKiB(status, f.key); err != nil {
			return u, err
		}
	}
	io, err := os.ReadFile(fmt.Sprintf("/proc/%d/io", pid))
	if err != nil {
		return u, fmt.Errorf("read io: %w", err)
	}
	for _, f := range []struct {
		key string
		v   *int64
	}{{"write_bytes:", &u.DiskWrite}, {"syscr:", &u.ReadCalls}, {"syscw:", &u.WriteCalls}} {
		if *f.v, err = ioField(io, f.key); err != nil {
			return u, err
		}
	}
	return u, nil
}

// ioField returns a "key: 123" value of /proc/PID/io.
func ioField(io []byte, key string) (int64, error) {
	for _, line := range bytes.Split(io, []byte("\n")) {
		if v, ok := bytes.CutPrefix(line, []byte(key)); ok {
			n, err := strconv.ParseInt(string(bytes.TrimSpace(v)), 10, 64)
			if err != nil {
				return 0, fmt.Errorf("parse io: %s %w", key, err)
			}
			return n, nil
		}
	}
	return 0, fmt.Errorf("parse io: no %s", key)
}

// parseStatCPU returns utime+stime from a /proc/PID/stat line. The command
// name (field 2) may hold spaces and parentheses, so fields are counted
// from the last ')'.
func parseStatCPU(stat []byte) (time.Duration, error) {
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, fmt.Errorf("parse stat: no command name")
	}
	// After ')' come fields 3 (state) onwards; utime and stime are 14 and 15.
	fields := bytes.Fields(stat[i+1:])
	if len(fields) < 13 {
		return 0, fmt.Errorf("parse stat: %d fields", len(fields)+2)
	}
	var ticks int64
	for _, f := range fields[11:13] {
		v, err := strconv.ParseInt(string(f), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("parse stat: %w", err)
		}
		ticks += v
	}
	return time.Duration(ticks) * time.Second / clockTicks, nil
}

// statusKiB returns a "Key:   123 kB" value of /proc/PID/status in bytes.
func statusKiB(status []byte, key string) (int64, error) {
	i := bytes.Index(status, []byte(key))
	if i < 0 {
		return 0, fmt.Errorf("parse status: no %s", key)
	}
	line := status[i+len(key):]
	if j := bytes.IndexByte(line, '\n'); j >= 0 {
		line = line[:j]
	}
	fields := bytes.Fields(line)
	if len(fields) != 2 || string(fields[1]) != "kB" {
		return 0, fmt.Errorf("parse status: %s %q", key, line)
	}
	v, err := strconv.ParseInt(string(fields[0]), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("parse status: %w", err)
	}
	return v << 10, nil
}
