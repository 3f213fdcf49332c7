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
	var b strings.Builder
	for i := from; i < to; i++ {
		fmt.Fprintf(&b, "line %d\n", i)
	}
	_, err := w.f.WriteString(b.String())
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

// TestFileRotationLosesNothing tails app.log with a glob that matches only
// that name while the file is rotated four times, once while the receiver
// is stopped: every line arrives at least once, and the test counts the
// duplicates.
//
// Each round waits until its lines are delivered before rotating: once a
// rotation takes lines out of the glob (into app.log.N), no reader of
// app.log can see the ones it had not read yet. That is the rotation
// scheme's limit, not the receiver's: include the rotated names in the glob
// to cover it (fingerprints keep them from being read twice).
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
		fragments bool
	}{
		{name: "rename", rotate: rotateRename},
		{name: "copytruncate", rotate: rotateCopyTruncate, fragments: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			app := filepath.Join(dir, "app.log")
			cfg := testConfig(t, "")
			fc := NewFileConfig()
			fc.Include = []string{app}
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

			// Rounds of different sizes: the first file is shorter than the
			// fingerprint (1000 bytes), the later ones longer.
			bounds := []int{0, 40, 240, 300, 700, 760}
			rotations := len(bounds) - 2
			w := openAppWriter(t, app)
			for round := 1; round < len(bounds); round++ {
				w.lines(t, bounds[round-1], bounds[round])
				want := bounds[round]
				waitFor(t, fmt.Sprintf("lines up to %d", want), func() bool {
					c := counts()
					for i := range want {
						if c["line "+strconv.Itoa(i)] == 0 {
							return false
						}
					}
					return true
				})
				rotated := app + "." + strconv.Itoa(round)
				switch {
				case round == 2:
					// Rotated while the receiver is down: its saved
					// checkpoint must not make it skip the new content.
					require.NoError(t, r.Shutdown(context.Background()))
					tc.rotate(t, w, rotated)
					r = startReceiver(t, cfg, next)
				case round <= rotations:
					tc.rotate(t, w, rotated)
				}
			}
			time.Sleep(200 * time.Millisecond) // late duplicates, if any, show up

			total := bounds[len(bounds)-1]
			c := counts()
			var missing []int
			dups := 0
			for i := range total {
				line := "line " + strconv.Itoa(i)
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
		if strings.HasSuffix("line "+strconv.Itoa(i), s) {
			return true
		}
	}
	return false
}
