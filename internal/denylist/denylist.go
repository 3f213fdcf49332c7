// Package denylist reads the file of device IDs that the gateway refuses
// (fleet_identity on the OTLP receiver, fleet_control on the admin listener).
package denylist

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
)

// maxLineBytes bounds one line of the file; a device ID is at most 128 bytes.
const maxLineBytes = 64 * 1024

// Set is an immutable set of denied device IDs. The zero value and nil are empty.
type Set map[string]struct{}

// Contains reports whether id is denied.
func (s Set) Contains(id string) bool {
	_, ok := s[id]
	return ok
}

// Parse reads one device ID per line. Blank lines are ignored, '#' starts a
// comment that runs to the end of the line, and surrounding space is trimmed.
// Anything else on a line is an ID: an entry that names no device simply never
// matches, and refusing the whole file over one odd line would lift every
// other denial with it.
func Parse(r io.Reader) (Set, error) {
	set := Set{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), maxLineBytes)
	for sc.Scan() {
		line, _, _ := strings.Cut(sc.Text(), "#")
		if id := strings.TrimSpace(line); id != "" {
			set[id] = struct{}{}
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	return set, nil
}

// Load reads the deny list at path. A file that does not exist is an empty
// list, and found reports whether it existed.
func Load(path string) (set Set, found bool, err error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return Set{}, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("open deny list: %w", err)
	}
	defer f.Close()
	set, err = Parse(f)
	if err != nil {
		return nil, true, fmt.Errorf("read deny list %s: %w", path, err)
	}
	return set, true, nil
}
