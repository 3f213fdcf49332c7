package main

import (
	"bytes"
	"net"
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
	run := runSmallFleet(t, "", 3000)
	md, err := os.ReadFile(run.opts.out)
	require.NoError(t, err)
	assert.Contains(t, string(md), "records/s into the archive")
	assert.Contains(t, string(md), "gateway CPU µs per accepted export")
	assert.Positive(t, run.cpuPerExport(), "the gateway's CPU per acknowledged export")
	assert.Positive(t, run.recordsPerExport())
	reads, writes := run.callsPerExport()
	assert.Positive(t, reads, "an export is read")
	assert.Positive(t, writes, "and answered")
	svg, err := os.ReadFile(run.opts.chart)
	require.NoError(t, err)
	assert.Contains(t, string(svg), "<polyline")
}

// TestDevicesRefusedBatchesAreSentAgain runs the same fleet against a
// gateway that may hold only one record at a time, so that batches are
// refused as busy, and finds every record the gateway acknowledged in its
// archive, once: a refused batch is sent again, and only once it is
// acknowledged does the device go on.
func TestDevicesRefusedBatchesAreSentAgain(t *testing.T) {
	overlay := filepath.Join(t.TempDir(), "busy.yaml")
	require.NoError(t, os.WriteFile(overlay, []byte(`processors:
  fleet_metadata:
    gateway:
      max_pending_records: 1
`), 0o600))
	run := runSmallFleet(t, overlay, 12000)
	// About 24 exports a second for 3 seconds, each held for milliseconds:
	// some arrive while another is held.
	assert.Positive(t, run.stats.Failed.Load(), "batches were refused as busy")
	for _, e := range run.stats.Errors() {
		assert.Contains(t, e.Message, "gateway busy", "the only errors are busy refusals")
	}
}

// runSmallFleet runs 6 devices sending rate records/s in all for a few
// seconds against the real gateway (with overlay, if not empty), with
// bursts and reconnects, and checks that every record the gateway
// acknowledged is in its archive, once.
func runSmallFleet(t *testing.T, overlay string, rate float64) *deviceRun {
	t.Helper()
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
	o.bin, o.root, o.workDir, o.overlay = gateway, root, work, overlay
	o.devices, o.rate, o.maxRate = 6, rate, rate*2/3
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
	return run
}

// TestEstablishedOnCountsTheListenersConnections counts, through the
// kernel, the connections a loopback listener holds and only those.
func TestEstablishedOnCountsTheListenersConnections(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	_, port, err := net.SplitHostPort(ln.Addr().String())
	require.NoError(t, err)
	n, err := establishedOn(port)
	require.NoError(t, err)
	assert.Zero(t, n, "a listening socket is not a connection")
	for range 3 {
		c, err := net.Dial("tcp", ln.Addr().String())
		require.NoError(t, err)
		defer c.Close()
	}
	// The kernel completes the handshakes without Accept.
	assert.Eventually(t, func() bool {
		n, err := establishedOn(port)
		return err == nil && n == 3
	}, 10*time.Second, 10*time.Millisecond)
}

// The per-export figures divide by the exports the gateway acknowledged:
// those sent less those that failed.
func TestPerExport(t *testing.T) {
	r := &deviceRun{
		requestsInWindow: 1200, failedInWindow: 200, archived: 40_000,
		gatewayCPU: 300 * time.Millisecond, gatewayReads: 4000, gatewayWrites: 3000,
	}
	assert.Equal(t, int64(1000), r.acceptedInWindow())
	assert.InDelta(t, 40, r.recordsPerExport(), 1e-9)
	assert.Equal(t, 300*time.Microsecond, r.cpuPerExport())
	reads, writes := r.callsPerExport()
	assert.InDelta(t, 4, reads, 1e-9)
	assert.InDelta(t, 3, writes, 1e-9)

	none := &deviceRun{requestsInWindow: 5, failedInWindow: 5}
	assert.Zero(t, none.cpuPerExport())
	assert.Zero(t, none.recordsPerExport())
}
