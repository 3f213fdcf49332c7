package integration

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

// newE2ERig starts a relay-fronted gateway and agent from internal/e2e on
// the built binaries, stopped when the test ends.
func newE2ERig(t *testing.T, opts e2e.RigOptions) *e2e.Rig {
	t.Helper()
	binary(t, "fleetlog-agent")
	opts.Root = repoRoot(t)
	opts.BinDir = filepath.Dir(binary(t, "fleetlog"))
	if opts.Dir == "" {
		opts.Dir = t.TempDir()
	}
	r, err := e2e.NewRig(opts)
	require.NoError(t, err)
	t.Cleanup(func() {
		if t.Failed() {
			for _, p := range []*e2e.Process{r.Gateway, r.Agent} {
				if p != nil {
					t.Logf("---- %s output ----\n%s", p.Name, e2e.Tail(p.Out.String(), 40))
				}
			}
		}
		assert.NoError(t, r.Close())
	})
	return r
}

// waitStored waits until the archive holds at least n records.
func waitStored(t *testing.T, r *e2e.Rig, n int64, what string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	err := e2e.Wait(ctx, 100*time.Millisecond, func() bool {
		got, err := e2e.StoredRecords(r.ArchiveDir())
		return err == nil && got >= n
	}, r.Gateway, r.Agent)
	require.NoError(t, err, what)
}

// TestArchiveStoresEachLineOnce: the agent SIGKILLed while a batch it sent
// was written but not yet acknowledged, the same with the gateway SIGKILLed,
// and an acknowledgement lost on the way: the batch comes again each time
// and every line is in the archive exactly once, the re-deliveries counted.
// (Lines are written, and their file checkpoint saved, before each fault:
// a file re-read after an agent crash makes new records, which this does
// not cover.)
func TestArchiveStoresEachLineOnce(t *testing.T) {
	const prefix = "once-"
	r := newE2ERig(t, e2e.RigOptions{})
	require.NoError(t, r.StartGateway())
	require.NoError(t, r.StartAgent())
	w := &e2e.LogWriter{Dir: r.LogDir, Prefix: prefix, RotateEvery: 12_000, Chunk: 1_000, Pause: 20 * time.Millisecond}
	write := func(total int) {
		t.Helper()
		w.Total = total
		require.NoError(t, w.Run(context.Background()))
	}
	// heldBatch writes lines up to total while the gateway's replies are
	// held, until the gateway wrote a batch the agent has no answer for.
	heldBatch := func(total int) {
		t.Helper()
		stored, err := e2e.StoredRecords(r.ArchiveDir())
		require.NoError(t, err)
		r.Relay.SetMode(e2e.HoldReplies)
		write(total)
		waitStored(t, r, stored+1, "a batch written while its reply is held")
		// Past the end of the file input's poll: its checkpoint is saved.
		time.Sleep(time.Second)
	}
	duplicates := func() float64 {
		n, err := e2e.Counter(r.GatewayMetrics, "otelcol_archive_records_duplicate")
		require.NoError(t, err)
		return n
	}

	write(20_000)
	waitStored(t, r, 20_000, "20,000 lines")

	// The agent killed with its batch written and unacknowledged.
	heldBatch(30_000)
	r.Agent.Kill()
	r.Relay.SetMode(e2e.Refuse)
	r.Relay.SetMode(e2e.Pass)
	require.NoError(t, r.StartAgent())
	waitStored(t, r, 30_000, "30,000 lines")
	assert.Positive(t, duplicates(), "the batch sent again by the restarted agent is counted")

	// The acknowledgement lost on the way: the same agent sends it again.
	before := duplicates()
	heldBatch(40_000)
	r.Relay.SetMode(e2e.Refuse)
	r.Relay.SetMode(e2e.Pass)
	waitStored(t, r, 40_000, "40,000 lines")
	assert.Greater(t, duplicates(), before, "the batch sent again is counted")

	// The gateway killed after writing, before the agent saw the reply.
	heldBatch(50_000)
	r.Gateway.Kill()
	r.Relay.SetMode(e2e.Refuse)
	require.NoError(t, r.StartGateway())
	r.Relay.SetMode(e2e.Pass)
	waitStored(t, r, 50_000, "50,000 lines")
	// A quiet moment for any late re-delivery.
	time.Sleep(time.Second)

	counts, err := e2e.CountLines(r.ArchiveDir(), prefix)
	require.NoError(t, err)
	distinct, missing, dups := counts.Tally(w.Total)
	t.Logf("lines written %d, distinct in the archive %d, missing %d, duplicates %d", w.Total, distinct, missing, dups)
	assert.Zero(t, missing, "first missing: %v", counts.FirstMissing(w.Total, 10))
	assert.Zero(t, dups, "first duplicates: %v", counts.FirstDuplicates(w.Total, 10))
	assert.Empty(t, r.Crashed())

	st, err := os.Stat(filepath.Join(r.AgentData(), "spool", "identity"))
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), st.Mode().Perm())
}
