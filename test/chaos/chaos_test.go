package main

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fleetlog/fleetlog/internal/e2e"
)

// TestChaosShort runs the short variant of every scenario against the
// built binaries (make test builds them first; FLEETLOG_BIN_DIR points at
// them). It checks what the tiers guarantee: no line missing, no spooled
// record stored twice, at most one batch per file (100 lines) read again
// at intake after an agent crash, recovery within a minute, no crash.
// `make chaos` fails on any line read again.
func TestChaosShort(t *testing.T) {
	if testing.Short() {
		t.Skip("fault suite: needs the built binaries (make test)")
	}
	root, err := filepath.Abs(filepath.Join("..", ".."))
	require.NoError(t, err)
	bin := e2e.BinDir(root)
	if _, err := os.Stat(filepath.Join(bin, "fleetlog-agent")); err != nil {
		t.Fatalf("%s is missing: run 'make build' (or 'make test', which builds first)", filepath.Join(bin, "fleetlog-agent"))
	}
	logw := &testWriter{t: t}
	res, err := runSuite(context.Background(), suiteConfig{
		Short: true, Root: root, BinDir: bin, Work: t.TempDir(), MaxRecovery: time.Minute, Log: logw,
	})
	require.NoError(t, err)
	t.Logf("\n%s", formatTable(res))
	for _, r := range res {
		if r.Skip != "" {
			t.Logf("%s skipped: %s", r.Name, r.Skip)
			continue
		}
		t.Run(r.Name, func(t *testing.T) {
			require.NoError(t, r.Err)
			assert.Empty(t, r.Crash)
			assert.Zero(t, r.Missing, "%v", r.Notes)
			assert.Zero(t, r.SameStamp, "spooled records stored twice: %v", r.Notes)
			assert.LessOrEqual(t, r.Recovery, time.Minute)
			if reread := r.Duplicates - r.SameStamp; reread > 0 {
				t.Logf("%d lines read again at intake after an agent crash", reread)
				assert.LessOrEqual(t, reread, maxReread(r.Written, short.RotateEvery),
					"more than one batch per file read again: %v", r.Notes)
			}
		})
	}
}

// testWriter sends the suite's progress lines to the test log.
type testWriter struct{ t *testing.T }

func (w *testWriter) Write(p []byte) (int, error) {
	w.t.Log(string(p[:max(len(p)-1, 0)]))
	return len(p), nil
}

// maxReread is what a restart may read again at intake: the batch (100
// lines) each file reader was spooling when the agent died, for every file
// the scenario wrote (written lines, rotated every rotateEvery).
func maxReread(written, rotateEvery int) int {
	const stanzaBatch = 100
	return stanzaBatch * (written/rotateEvery + 1)
}
