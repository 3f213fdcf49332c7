package integration

import (
	"crypto/tls"
	"encoding/json"
	"errors"
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
	tlsCfg := &tls.Config{
		RootCAs:      loadPool(t, filepath.Join(f.certs, "gateway", "ca.pem")),
		ServerName:   "localhost",
		Certificates: []tls.Certificate{loadKeyPair(t, filepath.Join(f.certs, "devices", deviceID))},
	}
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
