package e2e

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/fleetlog/fleetlog/internal/archive"
	"github.com/fleetlog/fleetlog/internal/spoolstamp"
)

// StoredRecords counts the records an archive directory holds, from the
// frame headers alone (no decompression): cheap enough to poll.
func StoredRecords(dir string) (int64, error) {
	var n int64
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if d.IsDir() || !strings.HasSuffix(d.Name(), ".fla") {
			return nil
		}
		data, err := os.ReadFile(p)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		frames, _, _ := archive.ParseFrames(data)
		for _, f := range frames {
			n += int64(f.Records)
		}
		return nil
	})
	return n, err
}

// LineCounts is what an archive holds of numbered lines.
type LineCounts struct {
	// Count[i] is how often line i is stored.
	Count map[int]int
	// Other counts records that are not numbered lines.
	Other int
	// SameStamp counts copies of a line stored again with the spool stamp
	// of a copy before it: one spooled record stored twice, which the
	// archive's de-duplication should have skipped. Other copies are the
	// line read and spooled again (a new record).
	SameStamp int

	stamps map[int]stamp
}

type stamp struct {
	id  string
	seq uint64
}

// CountLines reads every record of the archive in dir and counts the
// bodies "<prefix><number>..." by number.
func CountLines(dir, prefix string) (LineCounts, error) {
	c := LineCounts{Count: map[int]int{}, stamps: map[int]stamp{}}
	_, err := archive.Query(dir, archive.Filter{}, func(r *archive.Record) error {
		body := r.Body.AsString()
		rest, ok := strings.CutPrefix(body, prefix)
		if ok {
			end := strings.IndexFunc(rest, func(r rune) bool { return r < '0' || r > '9' })
			if end < 0 {
				end = len(rest)
			}
			if n, err := strconv.Atoi(rest[:end]); err == nil {
				c.Count[n]++
				if id, seq, ok := spoolstamp.Read(r.Scope.Attributes(), r.Attributes); ok {
					st := stamp{id, seq}
					if prev, seen := c.stamps[n]; seen && prev == st {
						c.SameStamp++
					} else if !seen {
						c.stamps[n] = st
					}
				}
				return nil
			}
		}
		c.Other++
		return nil
	})
	return c, err
}

// Tally compares the counts with lines 0..written-1.
func (c LineCounts) Tally(written int) (distinct, missing, duplicates int) {
	for i := range written {
		switch n := c.Count[i]; {
		case n == 0:
			missing++
		default:
			distinct++
			duplicates += n - 1
		}
	}
	return distinct, missing, duplicates
}

// FirstMissing returns up to n line numbers below written that are missing.
func (c LineCounts) FirstMissing(written, n int) []int {
	var out []int
	for i := 0; i < written && len(out) < n; i++ {
		if c.Count[i] == 0 {
			out = append(out, i)
		}
	}
	return out
}

// FirstDuplicates returns up to n line numbers below written stored more
// than once.
func (c LineCounts) FirstDuplicates(written, n int) []int {
	var out []int
	for i := 0; i < written && len(out) < n; i++ {
		if c.Count[i] > 1 {
			out = append(out, i)
		}
	}
	return out
}
