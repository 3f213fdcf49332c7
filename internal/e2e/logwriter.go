package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"
)

// LogWriter appends numbered lines "<Prefix><number> <padding>" to
// Dir/app.log, renaming the file to app.log.<k> every RotateEvery lines
// (rename rotation: the agent must follow app.log* to read a renamed file
// to its end, also across its own restarts).
type LogWriter struct {
	Dir         string
	Prefix      string
	Total       int
	RotateEvery int // 0: never
	// Chunk lines are written at once, then the writer sleeps Pause.
	Chunk int
	Pause time.Duration

	written   atomic.Int64
	rotations int
	inFile    int
}

// Written is how many lines are written so far.
func (w *LogWriter) Written() int { return int(w.written.Load()) }

// Path is the live file.
func (w *LogWriter) Path() string { return filepath.Join(w.Dir, "app.log") }

// Run writes the lines from Written() up to Total; it returns early only on
// an error or when ctx is done. Raise Total and Run again to write more.
func (w *LogWriter) Run(ctx context.Context) error {
	chunk := max(w.Chunk, 1)
	f, err := os.OpenFile(w.Path(), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	defer func() { f.Close() }()
	var b strings.Builder
	for i := w.Written(); i < w.Total; {
		b.Reset()
		end := min(i+chunk, w.Total)
		if w.RotateEvery > 0 {
			end = min(end, i+w.RotateEvery-w.inFile)
		}
		for ; i < end; i++ {
			fmt.Fprintf(&b, "%s%07d payload of the fault suite, padded to a realistic log line length\n", w.Prefix, i)
		}
		if _, err := f.WriteString(b.String()); err != nil {
			return fmt.Errorf("write %s: %w", w.Path(), err)
		}
		w.inFile += strings.Count(b.String(), "\n")
		w.written.Store(int64(i))
		if w.RotateEvery > 0 && w.inFile >= w.RotateEvery {
			w.rotations++
			if err := f.Close(); err != nil {
				return err
			}
			if err := os.Rename(w.Path(), fmt.Sprintf("%s.%d", w.Path(), w.rotations)); err != nil {
				return fmt.Errorf("rotate %s: %w", w.Path(), err)
			}
			if f, err = os.OpenFile(w.Path(), os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600); err != nil {
				return err
			}
			w.inFile = 0
		}
		if w.Pause > 0 {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(w.Pause):
			}
		} else if ctx.Err() != nil {
			return ctx.Err()
		}
	}
	return nil
}
