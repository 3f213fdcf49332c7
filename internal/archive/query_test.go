package archive

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/plog"
)

var update = flag.Bool("update", false, "rewrite golden files and the fuzz seed corpus")

// queryArchive holds, in order: a segment of the previous day, a segment
// with dev-a and dev-b (atms, kiosks), and an open segment with dev-b
// records older than the sealed ones, to show sorting is per segment.
func queryArchive(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	_, key := newKey(t)
	clock := &fakeClock{now: testEpoch}
	w, _ := openWriter(t, dir, key, clock)
	appendLogs(t, w, makeLogs("dev-a", "atms", "yesterday", testEpoch.Add(-24*time.Hour), 4))
	require.NoError(t, w.Seal())
	// Appended newest first: the query sorts them by time.
	appendLogs(t, w, makeLogs("dev-b", "kiosks", "b", testEpoch.Add(30*time.Second), 6))
	appendLogs(t, w, makeLogs("dev-a", "atms", "a", testEpoch, 6))
	require.NoError(t, w.Seal())
	appendLogs(t, w, makeLogs("dev-b", "kiosks", "late", testEpoch.Add(-time.Minute), 3))
	require.NoError(t, w.Close())
	return dir
}

func TestQueryGolden(t *testing.T) {
	dir := queryArchive(t)
	tests := []struct {
		name        string
		filter      Filter
		wantSkipped int
	}{
		{name: "all"},
		{name: "since-until", filter: Filter{Since: testEpoch.Add(2 * time.Second), Until: testEpoch.Add(32 * time.Second)}, wantSkipped: 1},
		{name: "device", filter: Filter{Device: "dev-b"}, wantSkipped: 1},
		{name: "fleet", filter: Filter{Fleet: "atms"}},
		{name: "severity-warn", filter: Filter{MinSeverity: plog.SeverityNumberWarn}},
		{name: "contains", filter: Filter{Contains: "a 3"}},
		{name: "attr", filter: Filter{Attrs: map[string]string{"app": "pos", "fleet.name": "kiosks"}}, wantSkipped: 1},
		{name: "combined", filter: Filter{Since: testEpoch, Device: "dev-a", MinSeverity: plog.SeverityNumberInfo, Attrs: map[string]string{"app": "kiosk"}}, wantSkipped: 1},
		{name: "none", filter: Filter{Device: "dev-z"}, wantSkipped: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got bytes.Buffer
			st, err := Query(dir, tt.filter, func(r *Record) error {
				line, err := json.Marshal(r)
				if err != nil {
					return err
				}
				got.Write(line)
				got.WriteByte('\n')
				got.WriteString("# " + r.Text() + "\n")
				return nil
			})
			require.NoError(t, err)
			assert.Equal(t, tt.wantSkipped, st.Skipped)
			golden := filepath.Join("testdata", "query", tt.name+".jsonl")
			if *update {
				require.NoError(t, os.MkdirAll(filepath.Dir(golden), 0o755))
				require.NoError(t, os.WriteFile(golden, got.Bytes(), 0o644))
			}
			want, err := os.ReadFile(golden)
			require.NoError(t, err)
			assert.Equal(t, string(want), got.String())
		})
	}
}

func TestParseSeverity(t *testing.T) {
	for in, want := range map[string]plog.SeverityNumber{
		"warn": plog.SeverityNumberWarn, "ERROR": plog.SeverityNumberError, "Info2": plog.SeverityNumberInfo2,
		"warning": plog.SeverityNumberWarn, "17": plog.SeverityNumberError,
	} {
		got, err := ParseSeverity(in)
		require.NoError(t, err, in)
		assert.Equal(t, want, got, in)
	}
	for _, bad := range []string{"", "loud", "0", "25"} {
		_, err := ParseSeverity(bad)
		assert.ErrorContains(t, err, "unknown severity", bad)
	}
}
