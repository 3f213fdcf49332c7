package main

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestChaosShort runs the short variant of every scenario against the
// built binaries (make test builds them first; FLEETLOG_BIN_DIR points at
// them). It checks what the archive guarantees: no line missing, no
// spooled record stored twice, recovery within a minute, no crash. Lines
// read again at intake after an agent crash (new records for the same
// line) are logged; `make chaos` counts them as failures.
func TestChaosShort(t *testing.T) {
	if testing.Short() {
		t.Skip("fault suite: needs the built binaries (make test)")
	}
	root, err := filepath.Abs(filepath.Join("..", ".."))
	require.NoError(t, err)
	bin := os.Getenv("FLEETLOG_BIN_DIR")
	if bin == "" {
		bin = filepath.Join(root, "bin")
	}
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
