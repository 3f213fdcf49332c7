package spoolreceiver

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// appWriter is a program's log handle: opened once with O_APPEND and kept
// open across rotations, as a real writer does.
type appWriter struct {
	path string
	f    *os.File
}

func openAppWriter(t *testing.T, path string) *appWriter {
	t.Helper()
	f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	require.NoError(t, err)
	w := &appWriter{path: path, f: f}
	t.Cleanup(func() { _ = w.f.Close() })
	return w
}

func (w *appWriter) lines(t *testing.T, from, to int) {
	t.Helper()
	_, err := w.f.WriteString(numberedLines(from, to, textLine))
	require.NoError(t, err)
}

// rotateRename renames the file away and has the writer reopen its path
// (what a program does on SIGHUP after logrotate's default scheme).
func rotateRename(t *testing.T, w *appWriter, rotated string) {
	t.Helper()
	require.NoError(t, os.Rename(w.path, rotated))
	require.NoError(t, w.f.Close())
	f, err := os.OpenFile(w.path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	require.NoError(t, err)
	w.f = f
}

// rotateCopyTruncate copies the file aside and truncates it in place
// (logrotate's copytruncate); the writer keeps appending through its
// O_APPEND handle, from offset zero.
func rotateCopyTruncate(t *testing.T, w *appWriter, rotated string) {
	t.Helper()
	data, err := os.ReadFile(w.path)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(rotated, data, 0o600))
	require.NoError(t, os.Truncate(w.path, 0))
}

// TestFileRotationLosesNothing tails app.log while it is rotated four
// times, once while the receiver is stopped: every line arrives at least
// once, and the test counts the duplicates.
//
// With a glob on app.log alone, each round waits until its lines are
// delivered before rotating: once a rotation takes lines out of the glob,
// no reader of app.log can see the ones it had not read yet. That is the
// rotation scheme's limit, not the receiver's. With app.log.1 in the glob
// as well, the rotation comes right after the writes, and the lines not
// read yet are read from app.log.1 (fingerprints match it to the file
// already being read, so it is not read again from the start); logrotate
// then shifts app.log.1 out of the glob at the next rotation, so the test
// waits only for the lines of app.log.1 before that.
//
// With copytruncate, a poll that finds app.log empty just after the
// truncate lets fileconsumer read its previous handle once more, at the
// previous offset, while the writer refills the file: part of the new
// content then arrives twice, the first copy starting inside a line. So
// copytruncate may deliver, per rotation, one fragment that is the tail of
// a line also delivered whole.
func TestFileRotationLosesNothing(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name      string
		rotate    func(*testing.T, *appWriter, string)
		glob      []string // names in dir
		fragments bool
	}{
		{name: "rename", rotate: rotateRename, glob: []string{"app.log"}},
		{name: "copytruncate", rotate: rotateCopyTruncate, glob: []string{"app.log"}, fragments: true},
		{name: "rename_first_rotated_included", rotate: rotateRename, glob: []string{"app.log", "app.log.1"}},
		{name: "copytruncate_first_rotated_included", rotate: rotateCopyTruncate, glob: []string{"app.log", "app.log.1"}, fragments: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			app := filepath.Join(dir, "app.log")
			cfg := testConfig(t, "")
			fc := NewFileConfig()
			for _, name := range tc.glob {
				fc.Include = append(fc.Include, filepath.Join(dir, name))
			}
			fc.PollInterval = 20 * time.Millisecond
			cfg.Files = map[string]*FileConfig{"app": fc}
			next := &sink{}
			r := startReceiver(t, cfg, next)
			counts := func() map[string]int {
				c := map[string]int{}
				for _, b := range next.bodies() {
					c[b]++
				}
				return c
			}
			waitLines := func(n int) {
				waitFor(t, fmt.Sprintf("lines up to %d", n), func() bool {
					c := counts()
					for i := range n {
						if c[textLine(i)] == 0 {
							return false
						}
					}
					return true
				})
			}

			// Rounds of different sizes: the first file is shorter than the
			// fingerprint (1000 bytes), the later ones longer.
			bounds := []int{0, 40, 240, 300, 700, 760}
			rotations := len(bounds) - 2
			rotatedIncluded := len(tc.glob) > 1
			w := openAppWriter(t, app)
			for round := 1; round < len(bounds); round++ {
				w.lines(t, bounds[round-1], bounds[round])
				if round > rotations {
					break
				}
				rotated := app + "." + strconv.Itoa(round)
				if rotatedIncluded {
					// app.log.1 holds the lines up to the previous round;
					// logrotate moves it on to app.log.2, out of the glob.
					waitLines(bounds[round-1])
					if round > 1 {
						require.NoError(t, os.Rename(app+".1", app+".1."+strconv.Itoa(round)))
					}
					rotated = app + ".1"
				} else {
					waitLines(bounds[round])
				}
				if round == 2 {
					// Rotated while the receiver is down: its saved
					// checkpoint must not make it skip the new content.
					require.NoError(t, r.Shutdown(context.Background()))
					tc.rotate(t, w, rotated)
					r = startReceiver(t, cfg, next)
					continue
				}
				tc.rotate(t, w, rotated)
			}
			waitLines(bounds[len(bounds)-1])
			time.Sleep(200 * time.Millisecond) // late duplicates, if any, show up

			total := bounds[len(bounds)-1]
			c := counts()
			var missing []int
			dups := 0
			for i := range total {
				line := textLine(i)
				if c[line] == 0 {
					missing = append(missing, i)
				}
				dups += max(c[line]-1, 0)
				delete(c, line)
			}
			fragments := 0
			for body, n := range c { // what is left is not a whole line
				fragments += n
				assert.True(t, tc.fragments && isLineTail(body, total), "record %q is not a line", body)
			}
			t.Logf("%s: %d lines, %d rotations: %d missing, %d duplicates, %d fragments",
				tc.name, total, rotations, len(missing), dups, fragments)
			assert.Empty(t, missing, "lines never delivered")
			assert.LessOrEqual(t, fragments, rotations)
		})
	}
}

// isLineTail reports whether s is the end of one of the lines 0..n-1.
func isLineTail(s string, n int) bool {
	for i := range n {
		if strings.HasSuffix(textLine(i), s) {
			return true
		}
	}
	return false
}
