package alertconnector

import (
	"context"
	"crypto/ed25519"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/connector/connectortest"
	"go.opentelemetry.io/collector/consumer/consumertest"

	"github.com/fleetlog/fleetlog/connectors/alertconnector/internal/metadata"
	"github.com/fleetlog/fleetlog/internal/archive"
)

// checkpointsStandIn stands in for fleet_control's side: the newest
// checkpoint the archive published.
type checkpointsStandIn struct {
	component.StartFunc
	component.ShutdownFunc
	mu     sync.Mutex
	newest []byte
}

func (c *checkpointsStandIn) NewestCheckpoint() []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.newest
}

func (c *checkpointsStandIn) publish(note []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.newest = note
}

// TestRsyslogKeepsCheckpoints: with `notify::syslog::checkpoints`, every
// checkpoint a real archive signs reaches a real rsyslog over TLS; the
// file rsyslog writes reads as checkpoints, and the archive verifies
// against them, as an operator would check it against what the SIEM kept.
func TestRsyslogKeepsCheckpoints(t *testing.T) {
	peer := startRsyslogTLS(t)
	pub, key, err := ed25519.GenerateKey(nil)
	require.NoError(t, err)
	dir := filepath.Join(t.TempDir(), "archive")
	w, _, err := archive.Open(archive.Options{Dir: dir, Key: key, GatewayID: "gw-test"})
	require.NoError(t, err)
	sign := func(bodies ...string) []byte {
		_, err := w.Append(batch("atm-1", bodies...))
		require.NoError(t, err)
		require.NoError(t, w.Checkpoint())
		return w.LatestCheckpointNote()
	}

	cfg := createDefaultConfig().(*Config)
	cfg.Pack = []string{"identity_spoof_attempt"}
	cfg.TickInterval = 50 * time.Millisecond
	cfg.Notify.Outbox.Directory = filepath.Join(t.TempDir(), "outbox")
	out := peer.output()
	out.Checkpoints = true
	cfg.Notify.Syslog = configoptional.Some(out)
	conn, err := NewFactory().CreateLogsToLogs(context.Background(), connectortest.NewNopSettings(metadata.Type), cfg, &consumertest.LogsSink{})
	require.NoError(t, err)
	src := &checkpointsStandIn{}
	require.NoError(t, conn.Start(context.Background(), hostWith{component.MustNewID("fleet_control"): src}))
	t.Cleanup(func() { require.NoError(t, conn.Shutdown(context.Background())) })

	kept := func() []*archive.Checkpoint {
		cps, err := archive.ReadCheckpointsFile(peer.outFile)
		if err != nil {
			return nil
		}
		return cps
	}
	first := sign("one", "two")
	src.publish(first)
	require.Eventually(t, func() bool { return len(kept()) == 1 }, 20*time.Second, 50*time.Millisecond, "the checkpoint reaches rsyslog")
	second := sign("three")
	src.publish(second)
	require.Eventually(t, func() bool { return len(kept()) == 2 }, 20*time.Second, 50*time.Millisecond)
	time.Sleep(200 * time.Millisecond) // four ticks: an unchanged checkpoint is not sent again
	cps := kept()
	require.Len(t, cps, 2)
	assert.Equal(t, first, cps[0].Note)
	assert.Equal(t, second, cps[1].Note)
	assert.Equal(t, uint64(3), cps[1].Size)
	assert.Regexp(t, `siem\.log:[0-9]+$`, cps[1].Name, "named by its line")

	require.NoError(t, w.Close())
	_, err = archive.VerifyArchive(dir, archive.VerifyOptions{Keys: []ed25519.PublicKey{pub}, Checkpoints: cps})
	require.NoError(t, err, "the archive extends every checkpoint the SIEM kept")
}
