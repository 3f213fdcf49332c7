package integration

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestDemo runs `make run`'s script as an operator would: it waits for the
// summary, presses Ctrl-C (SIGINT) and expects both roles to be gone.
func TestDemo(t *testing.T) {
	root := repoRoot(t)
	binDir := filepath.Dir(binary(t, "fleetlog"))
	ports := map[string]int{}
	env := map[string]string{
		"FLEETLOG_BIN_DIR":  binDir,
		"FLEETLOG_DEMO_DIR": filepath.Join(t.TempDir(), "demo"),
	}
	for _, name := range []string{"GATEWAY_PORT", "GATEWAY_ADMIN_PORT", "SYSLOG_PORT", "GATEWAY_METRICS_PORT", "AGENT_METRICS_PORT", "GATEWAY_HEALTH_PORT", "AGENT_HEALTH_PORT"} {
		ports[name] = freePort(t)
		env["FLEETLOG_DEMO_"+name] = fmt.Sprint(ports[name])
	}
	demo := start(t, "demo", "bash", env, filepath.Join(root, "scripts", "demo.sh"))
	eventually(t, "the demo's summary", func() bool {
		return strings.Contains(demo.Out.String(), "press Ctrl-C to stop")
	}, demo)

	out := demo.Out.String()
	assert.Contains(t, out, "accepted 12 records from demo-device-01 over mTLS and stored 12")
	assert.Contains(t, out, "[demo-device-01] 2026-11-24T09:00:07.781Z INFO  kiosk-ui   session ended")
	assert.Contains(t, out, "sudo: ops : TTY=pts/0")
	// File lines carry the level they state, read on the device.
	assert.Contains(t, out, "ERROR [demo-device-01] 2026-11-24T09:00:04.900Z ERROR auth")
	assert.Contains(t, out, "DEBUG [demo-device-01] 2026-11-24T09:00:06.442Z DEBUG config")
	assert.Contains(t, out, "WARN  [demo-device-01] 2026-11-24T09:00:02.551Z WARN  network")
	assert.NotContains(t, out, "sk_live_4eC39HqLyjWDarjtT1zdp7dc", "the demo's secret must be redacted on the device")
	assert.NotContains(t, out, "maria.lopez@example.com", "the demo's email must be redacted on the device")

	require.NoError(t, demo.Cmd.Process.Signal(os.Interrupt))
	select {
	case <-demo.Done:
	case <-time.After(waitTimeout):
		t.Fatal("the demo did not stop within 30s of Ctrl-C")
	}
	var exitErr *exec.ExitError
	require.ErrorAs(t, demo.Err, &exitErr)
	assert.Equal(t, 130, exitErr.Sys().(syscall.WaitStatus).ExitStatus(), "Ctrl-C exits 130")
	assert.Contains(t, demo.Out.String(), "stopping agent and gateway")
	for _, name := range []string{"GATEWAY_PORT", "GATEWAY_HEALTH_PORT", "AGENT_HEALTH_PORT"} {
		conn, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", ports[name]), time.Second)
		if err == nil {
			conn.Close()
		}
		assert.Error(t, err, "%s still listening after Ctrl-C", name)
	}
}
