package integration

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestDemo runs `make run`'s script end to end in its one-shot mode.
func TestDemo(t *testing.T) {
	root := repoRoot(t)
	binDir := filepath.Dir(binary(t, "fleetlog"))
	ctx, cancel := context.WithTimeout(context.Background(), 2*waitTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", filepath.Join(root, "scripts", "demo.sh"))
	cmd.Env = append(os.Environ(),
		"FLEETLOG_BIN_DIR="+binDir,
		"FLEETLOG_DEMO_DIR="+filepath.Join(t.TempDir(), "demo"),
		"FLEETLOG_DEMO_ONESHOT=1",
		fmt.Sprintf("FLEETLOG_DEMO_GATEWAY_PORT=%d", freePort(t)),
		fmt.Sprintf("FLEETLOG_DEMO_SYSLOG_PORT=%d", freePort(t)),
		fmt.Sprintf("FLEETLOG_DEMO_GATEWAY_METRICS_PORT=%d", freePort(t)),
		fmt.Sprintf("FLEETLOG_DEMO_AGENT_METRICS_PORT=%d", freePort(t)),
		fmt.Sprintf("FLEETLOG_DEMO_GATEWAY_HEALTH_PORT=%d", freePort(t)),
		fmt.Sprintf("FLEETLOG_DEMO_AGENT_HEALTH_PORT=%d", freePort(t)),
	)
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, string(out))
	assert.Contains(t, string(out), "accepted 12 records from demo-device-01 over mTLS and stored 12")
	assert.Contains(t, string(out), "[demo-device-01] 2026-11-24T09:00:07.781Z INFO  kiosk-ui   session ended")
	assert.Contains(t, string(out), "sudo: ops : TTY=pts/0")
	assert.NotContains(t, string(out), "sk_live_4eC39HqLyjWDarjtT1zdp7dc", "the demo's secret must be redacted on the device")
	assert.NotContains(t, string(out), "maria.lopez@example.com", "the demo's email must be redacted on the device")
	assert.Contains(t, string(out), "stopping agent and gateway")
}
