package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/fleetlog/fleetlog/internal/archive"
	"github.com/fleetlog/fleetlog/internal/pki"
)

// writeArchive signs an archive with the key `certs init` made: one sealed
// segment and one open one, records from two devices.
func writeArchive(t *testing.T) (dir, pub string) {
	t.Helper()
	certs := filepath.Join(t.TempDir(), "pki")
	_, err := run(t, "certs", "init", "--dir", certs)
	require.NoError(t, err)
	key, err := pki.LoadEd25519PrivateKey(filepath.Join(certs, "gateway", "archive-key.pem"))
	require.NoError(t, err)
	dir = filepath.Join(t.TempDir(), "archive")
	w, _, err := archive.Open(archive.Options{Dir: dir, Key: key, GatewayID: "gw", MaxSegmentSize: 1 << 20, MaxSegmentAge: time.Hour})
	require.NoError(t, err)
	base := time.Date(2026, 11, 24, 9, 0, 0, 0, time.UTC)
	for i, dev := range []string{"atm-1", "atm-2"} {
		ld := plog.NewLogs()
		rl := ld.ResourceLogs().AppendEmpty()
		rl.Resource().Attributes().PutStr("device.id", dev)
		lr := rl.ScopeLogs().AppendEmpty().LogRecords().AppendEmpty()
		lr.SetTimestamp(pcommon.NewTimestampFromTime(base.Add(time.Duration(i) * time.Hour)))
		lr.SetSeverityNumber(plog.SeverityNumberWarn)
		lr.Body().SetStr("door opened on " + dev)
		lr.Attributes().PutStr("app", "vault")
		_, err := w.Append(ld)
		require.NoError(t, err)
		if i == 0 {
			require.NoError(t, w.Seal())
		}
	}
	require.NoError(t, w.Checkpoint())
	require.NoError(t, w.Close())
	return dir, filepath.Join(certs, "archive-pub.pem")
}

func TestArchiveVerify(t *testing.T) {
	dir, pub := writeArchive(t)
	out, err := run(t, "archive", "verify", "--dir", dir, "--pubkey", pub)
	require.NoError(t, err)
	assert.Contains(t, out, "is intact")
	assert.Contains(t, out, "1 sealed, 0 deleted")
	assert.Contains(t, out, "records     2 (2 frames)")
	assert.Contains(t, out, "time range  2026-11-24T09:00:00.000000000Z to 2026-11-24T10:00:00.000000000Z")
	assert.Contains(t, out, "tree        2 records, root ")
	assert.Contains(t, out, "checkpoints 3 of the archive's and 0 saved elsewhere match")

	out, err = run(t, "archive", "verify", "--dir", filepath.Dir(dir), "--pubkey", pub)
	require.NoError(t, err)
	assert.Contains(t, out, "holds no segments (is it the archive directory")

	// Flip one byte of the sealed segment.
	segs, err := filepath.Glob(filepath.Join(dir, "*", "*", "*", "*.fla"))
	require.NoError(t, err)
	require.Len(t, segs, 2)
	data, err := os.ReadFile(segs[0])
	require.NoError(t, err)
	data[30] ^= 1
	require.NoError(t, os.Chmod(segs[0], 0o600))
	require.NoError(t, os.WriteFile(segs[0], data, 0o600))
	_, err = run(t, "archive", "verify", "--dir", dir, "--pubkey", pub)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "NOT intact: segment "+strings.TrimPrefix(segs[0], dir+"/")+", frame 1: modified")
}

func TestArchiveQuery(t *testing.T) {
	dir, _ := writeArchive(t)
	out, err := run(t, "archive", "query", "--dir", dir, "--device", "atm-2")
	require.NoError(t, err)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	require.Len(t, lines, 1)
	var rec map[string]any
	require.NoError(t, json.Unmarshal([]byte(lines[0]), &rec))
	assert.Equal(t, "2026-11-24T10:00:00.000000000Z", rec["time"])
	assert.Equal(t, "WARN", rec["severity"])
	assert.Equal(t, "door opened on atm-2", rec["body"])
	assert.Equal(t, map[string]any{"app": "vault"}, rec["attributes"])
	assert.Equal(t, map[string]any{"device.id": "atm-2"}, rec["resource"])
	for _, k := range []string{"observed_time"} {
		assert.Contains(t, rec, k)
	}

	out, err = run(t, "archive", "query", "--dir", dir, "--output", "text", "--since", "2026-11-24T09:30:00Z", "--severity", "warn", "--attr", "app=vault", "--contains", "door")
	require.NoError(t, err)
	assert.Equal(t, "2026-11-24T10:00:00.000000000Z WARN  [atm-2] door opened on atm-2\n", out)

	out, err = run(t, "archive", "query", "--dir", dir, "--until", "2026-11-24", "--fleet", "x")
	require.NoError(t, err)
	assert.Empty(t, out)
}

func TestArchiveFlagErrors(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		wantErr string
	}{
		{name: "verify without key", args: []string{"archive", "verify", "--dir", "x"}, wantErr: `"pubkey" not set`},
		{name: "verify bad key", args: []string{"archive", "verify", "--dir", "x", "--pubkey", "/nonexistent.pem"}, wantErr: "--pubkey"},
		{name: "verify missing dir", args: []string{"archive", "verify", "--dir", "/nonexistent", "--pubkey", "/nonexistent.pem"}, wantErr: "--pubkey"},
		{name: "query bad since", args: []string{"archive", "query", "--dir", "x", "--since", "yesterday"}, wantErr: `--since: "yesterday" is not RFC 3339`},
		{name: "query bad severity", args: []string{"archive", "query", "--dir", "x", "--severity", "loud"}, wantErr: "--severity: unknown severity"},
		{name: "query bad attr", args: []string{"archive", "query", "--dir", "x", "--attr", "novalue"}, wantErr: `--attr "novalue": want key=value`},
		{name: "query bad output", args: []string{"archive", "query", "--dir", "x", "--output", "xml"}, wantErr: `--output "xml"`},
		{name: "query missing dir", args: []string{"archive", "query", "--dir", "/nonexistent"}, wantErr: "/nonexistent"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := run(t, tt.args...)
			assert.ErrorContains(t, err, tt.wantErr)
		})
	}
}

func TestParseQueryTime(t *testing.T) {
	now := time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
	for in, want := range map[string]time.Time{
		"":                     {},
		"2026-11-20T08:00:00Z": time.Date(2026, 11, 20, 8, 0, 0, 0, time.UTC),
		"2026-11-20":           time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC),
		"90m":                  now.Add(-90 * time.Minute),
		"7d":                   now.Add(-7 * 24 * time.Hour),
	} {
		got, err := parseQueryTime(in, now)
		require.NoError(t, err, in)
		assert.True(t, want.Equal(got), "%s: %s", in, got)
	}
}
