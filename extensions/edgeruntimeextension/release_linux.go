package edgeruntimeextension // import "github.com/fleetlog/fleetlog/extensions/edgeruntimeextension"

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// mapping is one region of /proc/self/smaps.
type mapping struct {
	start, end uintptr
	perms      string
	path       string
	rss, anon  int64 // bytes
	swap       int64 // bytes of the mapping's own (anonymous) pages swapped out
}

// releasable reports whether dropping m's page-table entries is lossless: a
// private, read-only mapping of exe whose pages are all still the file's own
// (no anonymous copy-on-write page, in memory or swapped out, such as the
// relocations a PIE build's loader writes before making them read-only, or a
// debugger's breakpoint). A later access maps the same bytes again from the
// page cache, or from disk.
func (m mapping) releasable(exe string) bool {
	return m.path == exe && len(m.perms) == 4 && m.perms[0] == 'r' && m.perms[1] == '-' && m.perms[3] == 'p' &&
		m.anon == 0 && m.swap == 0
}

// releaseBinaryPages drops the process's mappings of the executable's
// read-only pages with MADV_DONTNEED and returns how many resident bytes
// that unmapped.
//
// This is written here rather than taken from a library because none
// offers it: the Go runtime leaves its binary's mappings to the kernel.
// MADV_PAGEOUT would also evict the pages from the page cache, but the
// kernel only honours it for the file's owner, and the agent runs as an
// unprivileged user; MADV_DONTNEED works for any private mapping.
func releaseBinaryPages() (int64, error) {
	exe, err := os.Readlink("/proc/self/exe")
	if err != nil {
		return 0, fmt.Errorf("find the executable: %w", err)
	}
	exe = strings.TrimSuffix(exe, deletedMark) // replaced on disk while running
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		return 0, fmt.Errorf("read mappings: %w", err)
	}
	maps, err := parseSmaps(f)
	f.Close()
	if err != nil {
		return 0, fmt.Errorf("read mappings: %w", err)
	}
	var released int64
	var errs []error
	for _, m := range maps {
		if !m.releasable(exe) {
			continue
		}
		if _, _, errno := unix.Syscall(unix.SYS_MADVISE, m.start, m.end-m.start, unix.MADV_DONTNEED); errno != 0 {
			// Locked memory (mlock) refuses; the other mappings may not.
			errs = append(errs, fmt.Errorf("madvise %x-%x: %w", m.start, m.end, errno))
			continue
		}
		released += m.rss
	}
	return released, errors.Join(errs...)
}

// deletedMark is what the kernel appends to the path of a file that was
// replaced or removed while mapped.
const deletedMark = " (deleted)"

// parseSmaps reads the regions of an smaps file with their Rss and
// Anonymous sizes. A path the kernel marks " (deleted)" (the binary was
// replaced on disk while running) keeps its name without the mark.
func parseSmaps(r io.Reader) ([]mapping, error) {
	var maps []mapping
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	for sc.Scan() {
		line := sc.Bytes()
		if name, value, ok := bytes.Cut(line, []byte(":")); ok && !bytes.ContainsAny(name, " -") {
			if len(maps) == 0 {
				continue
			}
			m := &maps[len(maps)-1]
			switch string(name) {
			case "Rss":
				m.rss = kB(value)
			case "Anonymous":
				m.anon = kB(value)
			case "Swap":
				m.swap = kB(value)
			}
			continue
		}
		fields := strings.Fields(string(line))
		if len(fields) < 5 {
			return nil, fmt.Errorf("unexpected smaps line %q", line)
		}
		lo, hi, ok := strings.Cut(fields[0], "-")
		start, err1 := strconv.ParseUint(lo, 16, 64)
		end, err2 := strconv.ParseUint(hi, 16, 64)
		if !ok || err1 != nil || err2 != nil || end < start {
			return nil, fmt.Errorf("unexpected smaps range %q", fields[0])
		}
		m := mapping{start: uintptr(start), end: uintptr(end), perms: fields[1]}
		if len(fields) >= 6 {
			m.path = strings.TrimSuffix(strings.Join(fields[5:], " "), deletedMark)
		}
		maps = append(maps, m)
	}
	return maps, sc.Err()
}

// kB parses an smaps size (" 1234 kB") into bytes; anything else is 0.
func kB(value []byte) int64 {
	f := bytes.Fields(value)
	if len(f) != 2 || string(f[1]) != "kB" {
		return 0
	}
	n, err := strconv.ParseInt(string(f[0]), 10, 64)
	if err != nil {
		return 0
	}
	return n << 10
}

// residentBytes is the process's resident set (VmRSS), or 0 if unknown.
func residentBytes() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for line := range bytes.Lines(b) {
		if v, ok := bytes.CutPrefix(line, []byte("VmRSS:")); ok {
			return kB(v)
		}
	}
	return 0
}
