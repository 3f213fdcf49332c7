package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fleetlog/fleetlog/internal/archive"
	"github.com/fleetlog/fleetlog/internal/e2e"
	"github.com/fleetlog/fleetlog/internal/spoolstamp"
)

// TestDevicesEveryAckedRecordIsArchived runs the simulator against the real
// gateway with a few devices for a few seconds, with bursts and reconnects,
// and finds every record the gateway acknowledged in its archive, once.
func TestDevicesEveryAckedRecordIsArchived(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the gateway binary (make test builds it)")
	}
	root, err := filepath.Abs(filepath.Join("..", ".."))
	require.NoError(t, err)
	bin := e2e.BinDir(root)
	gateway := filepath.Join(bin, "fleetlog")
	if _, err := os.Stat(gateway); err != nil {
		t.Fatalf("%s is missing: run 'make build' (or 'make test', which builds first)", gateway)
	}
	work := t.TempDir()
	o := defaultDeviceOptions()
	o.bin, o.root, o.workDir = gateway, root, work
	o.devices, o.rate, o.maxRate = 6, 3000, 2000
	o.ramp, o.warmup, o.window = time.Second, time.Second, 3*time.Second
	o.maxRecords = 512
	o.reconnectEvery, o.burstEvery, o.burstFor = 2*time.Second, 2*time.Second, time.Second
	o.out, o.chart = filepath.Join(work, "fleet.md"), filepath.Join(work, "fleet.svg")
	var out bytes.Buffer
	run, err := runDevices(o, &out)
	t.Log(out.String())
	require.NoError(t, err)

	acked := map[string]uint64{}
	var total uint64
	for _, d := range run.devices {
		acked[d.SpoolID] = d.Acked()
		total += d.Acked()
	}
	require.Positive(t, total)
	assert.Positive(t, run.stats.Reconnects.Load(), "devices reconnected during the run")

	// seen[spool][seq] counts the records of each acknowledged sequence number.
	seen := map[string]map[uint64]int{}
	_, err = archive.Query(filepath.Join(run.dataDir, "archive"), archive.Filter{}, func(r *archive.Record) error {
		id, seq, ok := spoolstamp.Read(r.Scope.Attributes(), r.Attributes)
		if !ok {
			return nil // the alert connector's own records
		}
		if seq <= acked[id] {
			if seen[id] == nil {
				seen[id] = map[uint64]int{}
			}
			seen[id][seq]++
		}
		return nil
	})
	require.NoError(t, err)
	for _, d := range run.devices {
		got := seen[d.SpoolID]
		require.Len(t, got, int(d.Acked()), "device %s: acknowledged records missing from the archive", d.ID)
		for seq, n := range got {
			require.Equal(t, 1, n, "device %s: record %d stored %d times", d.ID, seq, n)
		}
	}
	md, err := os.ReadFile(o.out)
	require.NoError(t, err)
	assert.Contains(t, string(md), "records/s into the archive")
	svg, err := os.ReadFile(o.chart)
	require.NoError(t, err)
	assert.Contains(t, string(svg), "<polyline")
}
