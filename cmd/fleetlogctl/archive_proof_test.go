package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/fleetlog/fleetlog/internal/archive"
)

func TestArchiveCheckpointProveAndCheck(t *testing.T) {
	dir, pub := writeArchive(t)
	tmp := t.TempDir()

	note, err := run(t, "archive", "checkpoint", "--dir", dir)
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(note, "fleetlog.archive/"), note)
	assert.Contains(t, note, "\n2\n")
	saved := filepath.Join(tmp, "saved.note")
	require.NoError(t, os.WriteFile(saved, []byte(note), 0o600))

	out, err := run(t, "archive", "verify", "--dir", dir, "--pubkey", pub, "--checkpoint", saved)
	require.NoError(t, err)
	assert.Contains(t, out, "and 1 saved elsewhere match")
	_, err = run(t, "archive", "verify", "--dir", dir, "--pubkey", pub, "--checkpoint", filepath.Join(tmp, "none.note"))
	assert.ErrorContains(t, err, "--checkpoint: ")

	proof, err := run(t, "archive", "prove", "--dir", dir, "--contains", "door", "--device", "atm-2")
	require.NoError(t, err)
	proofFile := filepath.Join(tmp, "proof.json")
	require.NoError(t, os.WriteFile(proofFile, []byte(proof), 0o600))
	out, err = run(t, "archive", "check-proof", "--proof", proofFile, "--pubkey", pub)
	require.NoError(t, err)
	assert.Contains(t, out, "record 1 is in the tree of 2 records")
	assert.Contains(t, out, `"body":"door opened on atm-2"`)

	// A record that is not in the log, under the same proof.
	var p archive.InclusionProof
	require.NoError(t, json.Unmarshal([]byte(proof), &p))
	ld := plog.NewLogs()
	ld.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords().AppendEmpty().Body().SetStr("never archived")
	var m plog.ProtoMarshaler
	p.Record, err = m.MarshalLogs(ld)
	require.NoError(t, err)
	forged, err := json.Marshal(&p)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(proofFile, forged, 0o600))
	_, err = run(t, "archive", "check-proof", "--proof", proofFile, "--pubkey", pub)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "the proof does NOT hold")

	_, err = run(t, "archive", "prove", "--dir", dir, "--contains", "never archived")
	require.ErrorIs(t, err, archive.ErrNoRecord)
}

func TestArchiveVerifyCatchesRollback(t *testing.T) {
	dir, pub := writeArchive(t)
	backup := dir + ".backup"
	out, err := exec.Command("cp", "-a", dir, backup).CombinedOutput()
	require.NoError(t, err, string(out))

	// More records are written and a checkpoint of them leaves the gateway.
	w, _, err := archive.Open(archive.Options{Dir: dir, GatewayID: "gw", MaxSegmentSize: 1 << 20, MaxSegmentAge: time.Hour})
	require.NoError(t, err)
	ld := plog.NewLogs()
	ld.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords().AppendEmpty().Body().SetStr("evidence")
	_, err = w.Append(ld)
	require.NoError(t, err)
	require.NoError(t, w.Seal())
	require.NoError(t, w.Close())
	note, err := run(t, "archive", "checkpoint", "--dir", dir)
	require.NoError(t, err)
	saved := filepath.Join(t.TempDir(), "saved.note")
	require.NoError(t, os.WriteFile(saved, []byte(note), 0o600))

	// Then the archive is put back as it was.
	require.NoError(t, os.RemoveAll(dir))
	require.NoError(t, os.Rename(backup, dir))
	_, err = run(t, "archive", "verify", "--dir", dir, "--pubkey", pub)
	require.NoError(t, err, "the rolled-back archive alone is consistent")
	_, err = run(t, "archive", "verify", "--dir", dir, "--pubkey", pub, "--checkpoint", saved)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "NOT intact")
	assert.Contains(t, err.Error(), "rolled back: checkpoint "+saved+" ")
	assert.Contains(t, err.Error(), "covers 3 records, the archive holds 2")
}

func TestArchiveProofFlagErrors(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		wantErr string
	}{
		{name: "prove without a record", args: []string{"archive", "prove", "--dir", "x"}, wantErr: "give --leaf or --contains"},
		{name: "prove with both", args: []string{"archive", "prove", "--dir", "x", "--leaf", "1", "--contains", "a"}, wantErr: "either --leaf or"},
		{name: "prove bad checkpoint", args: []string{"archive", "prove", "--dir", "x", "--leaf", "1", "--checkpoint", "/nonexistent"}, wantErr: "--checkpoint"},
		{name: "check-proof without key", args: []string{"archive", "check-proof", "--proof", "x"}, wantErr: `"pubkey" not set`},
		{name: "checkpoint of nothing", args: []string{"archive", "checkpoint", "--dir", "/nonexistent"}, wantErr: "has no checkpoint"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := run(t, tt.args...)
			assert.ErrorContains(t, err, tt.wantErr)
		})
	}
}
