package integration

import (
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestGatewayArchive checks that what devices deliver lands in the gateway's
// signed archive, that `fleetlogctl archive` finds and verifies it, and that
// verify catches a changed byte.
func TestGatewayArchive(t *testing.T) {
	f := startFleet(t)
	ctl := binary(t, "fleetlogctl")
	archiveDir := filepath.Join(filepath.Dir(f.certs), "gateway-data", "archive")
	pubkey := filepath.Join(f.certs, "archive-pub.pem")

	// One record through the real agent, one from an OTLP client over mTLS.
	viaAgent := newMarker("archive-agent")
	appendLine(t, filepath.Join(f.logDir, "app.log"), "2026-11-24T10:00:00Z WARN "+viaAgent)
	direct := newMarker("archive-direct")
	tlsCfg := deviceTLS(t, f.certs)
	// Export returns once the gateway acknowledged, which it does only after
	// the archive wrote: the record must be there without waiting.
	require.NoError(t, export(t, f.gatewayAddr, tlsCfg, direct))
	out, err := run(t, ctl, "archive", "query", "--dir", archiveDir, "--contains", direct)
	require.NoError(t, err, out)
	assert.Contains(t, out, direct, "acknowledged but not in the archive")

	var rec map[string]any
	eventually(t, "the agent's record in the archive", func() bool {
		out, err := run(t, ctl, "archive", "query", "--dir", archiveDir, "--device", deviceID, "--contains", viaAgent)
		if err != nil || !strings.Contains(out, viaAgent) {
			return false
		}
		return json.Unmarshal([]byte(strings.SplitN(out, "\n", 2)[0]), &rec) == nil
	}, f.gateway, f.agent)
	assert.Equal(t, deviceID, rec["resource"].(map[string]any)["device.id"])
	assert.Equal(t, "app.log", rec["attributes"].(map[string]any)["log.file.name"])
	for _, k := range []string{"time", "observed_time", "severity", "body"} {
		assert.Contains(t, rec, k)
	}

	out, err = run(t, ctl, "archive", "verify", "--dir", archiveDir, "--pubkey", pubkey)
	require.NoError(t, err, out)
	assert.Contains(t, out, "is intact")

	st, err := os.Stat(archiveDir)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o700), st.Mode().Perm())

	// Stop the gateway, change one byte of what it stored, and verify again.
	f.agent.stop(t)
	f.gateway.stop(t)
	segments, err := filepath.Glob(filepath.Join(archiveDir, "*", "*", "*", "seg-*.fla"))
	require.NoError(t, err)
	require.NotEmpty(t, segments)
	data, err := os.ReadFile(segments[0])
	require.NoError(t, err)
	data[40] ^= 0x20
	require.NoError(t, os.WriteFile(segments[0], data, 0o600))
	out, err = run(t, ctl, "archive", "verify", "--dir", archiveDir, "--pubkey", pubkey)
	var exitErr *exec.ExitError
	require.True(t, errors.As(err, &exitErr), out)
	assert.Equal(t, 1, exitErr.ExitCode())
	assert.Contains(t, out, "NOT intact: segment "+strings.TrimPrefix(segments[0], archiveDir+"/")+", frame 1: modified")
}

// startArchiveGateway starts a gateway from the shipped config and dev
// overlay on dataDir, and returns it with its OTLP address.
func startArchiveGateway(t *testing.T, certs, dataDir string) (*process, string) {
	t.Helper()
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	health := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	root := repoRoot(t)
	gw := start(t, "gateway", binary(t, "fleetlog"), map[string]string{
		"FLEETLOG_LISTEN":       addr,
		"FLEETLOG_TLS_DIR":      filepath.Join(certs, "gateway"),
		"FLEETLOG_DATA_DIR":     dataDir,
		"FLEETLOG_METRICS_PORT": fmt.Sprint(freePort(t)),
		"FLEETLOG_HEALTH_ADDR":  health,
	}, "--config", filepath.Join(root, "distributions/gateway/config.yaml"),
		"--config", filepath.Join(root, "distributions/gateway/dev.yaml"))
	waitHealthy(t, gw, health)
	return gw, addr
}

// TestGatewayArchiveSurvivesKill kills the gateway after it acknowledged
// records, leaves a torn write at the end of its open segment, restarts it and
// expects every acknowledged record in an archive that verifies.
func TestGatewayArchiveSurvivesKill(t *testing.T) {
	ctl := binary(t, "fleetlogctl")
	dir := t.TempDir()
	certs := filepath.Join(dir, "certs")
	issueFleet(t, certs, []string{deviceID})
	tlsCfg := deviceTLS(t, certs)
	dataDir := filepath.Join(dir, "gateway-data")
	archiveDir := filepath.Join(dataDir, "archive")
	tag := newMarker("kill")

	gw, addr := startArchiveGateway(t, certs, dataDir)
	const before = 10
	for i := range before {
		require.NoError(t, export(t, addr, tlsCfg, fmt.Sprintf("%s acked %d", tag, i)))
	}
	require.NoError(t, gw.Cmd.Process.Kill())
	<-gw.Done
	segments, err := filepath.Glob(filepath.Join(archiveDir, "*", "*", "*", "seg-*.fla"))
	require.NoError(t, err)
	require.Len(t, segments, 1)
	// What a crash in the middle of a write leaves: the start of a frame.
	f, err := os.OpenFile(segments[0], os.O_WRONLY|os.O_APPEND, 0)
	require.NoError(t, err)
	_, err = f.Write([]byte("FLA1\x00\x00\x00\x00\x00\x00\x00\x0b\x00\x00"))
	require.NoError(t, err)
	require.NoError(t, f.Close())

	gw, addr = startArchiveGateway(t, certs, dataDir)
	require.NoError(t, export(t, addr, tlsCfg, tag+" after restart"))
	gw.stop(t)
	assert.Contains(t, gw.Out.String(), "Cut an incomplete write")

	out, err := run(t, ctl, "archive", "verify", "--dir", archiveDir, "--pubkey", filepath.Join(certs, "archive-pub.pem"))
	require.NoError(t, err, out)
	assert.Contains(t, out, "records     11 ")
	out, err = run(t, ctl, "archive", "query", "--dir", archiveDir, "--contains", tag, "--output", "text")
	require.NoError(t, err, out)
	for i := range before {
		assert.Contains(t, out, fmt.Sprintf("%s acked %d\n", tag, i), "an acknowledged record is missing")
	}
	assert.Contains(t, out, tag+" after restart")
}

// deviceTLS is the mTLS client configuration of deviceID's certificate.
func deviceTLS(t *testing.T, certs string) *tls.Config {
	t.Helper()
	return &tls.Config{
		RootCAs:      loadPool(t, filepath.Join(certs, "gateway", "ca.pem")),
		ServerName:   "localhost",
		Certificates: []tls.Certificate{loadKeyPair(t, filepath.Join(certs, "devices", deviceID))},
	}
}
