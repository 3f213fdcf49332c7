package integration

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fleetlog/fleetlog/internal/archive"
	"github.com/fleetlog/fleetlog/internal/fleetapi"
	"github.com/fleetlog/fleetlog/internal/fleetproto"
)

// TestWitnessCatchesRollback: an agent keeps the archive checkpoints the
// gateway hands out; the operator puts an earlier copy of the archive
// directory back and restarts the gateway, whose archive refuses records,
// naming the device and the diagnosis, and raises the alert at the webhook;
// the device keeps its records meanwhile, and with the newest copy back they
// all arrive.
func TestWitnessCatchesRollback(t *testing.T) {
	const device = "atm-01"
	root := repoRoot(t)
	dir := t.TempDir()
	certs := filepath.Join(dir, "certs")
	issueFleet(t, certs, []string{device}, "--fleet", "atms", "--site", "north")
	out, err := run(t, binary(t, "fleetlogctl"), "certs", "issue", "--dir", certs, "--operator", "ops")
	require.NoError(t, err, out)

	gwData := filepath.Join(dir, "gateway-data")
	archiveDir := filepath.Join(gwData, "archive")
	gwAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	adminAddr := fmt.Sprintf("localhost:%d", freePort(t))
	gwHealth := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	hk, hookAddr := startHook(t)
	gwOverlay := filepath.Join(dir, "gateway.yaml")
	require.NoError(t, os.WriteFile(gwOverlay, fmt.Appendf(nil, `
extensions:
  fleet_control:
    storage: {flush_interval: 200ms}
connectors:
  alert:
    tick_interval: 200ms
    notify:
      webhook:
        http: {endpoint: "http://%s/hook"}
        retry_on_failure: {initial_interval: 200ms, max_interval: 500ms}
exporters:
  archive:
    checkpoint_interval: 300ms
`, hookAddr), 0o600))
	gwEnv := map[string]string{
		"FLEETLOG_LISTEN":       gwAddr,
		"FLEETLOG_ADMIN_LISTEN": adminAddr,
		"FLEETLOG_TLS_DIR":      filepath.Join(certs, "gateway"),
		"FLEETLOG_DATA_DIR":     gwData,
		"FLEETLOG_METRICS_PORT": fmt.Sprint(freePort(t)),
		"FLEETLOG_HEALTH_ADDR":  gwHealth,
	}
	gwArgs := []string{"--config", filepath.Join(root, "distributions/gateway/config.yaml"), "--config", gwOverlay}
	startGateway := func() *process {
		gw := start(t, "gateway", binary(t, "fleetlog"), gwEnv, gwArgs...)
		waitHealthy(t, gw, gwHealth)
		return gw
	}
	gateway := startGateway()

	agentData := filepath.Join(dir, "agent")
	logs := filepath.Join(agentData, "logs")
	require.NoError(t, os.MkdirAll(logs, 0o700))
	agentHealth := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	agent := start(t, device, binary(t, "fleetlog-agent"), map[string]string{
		"FLEETLOG_GATEWAY":           strings.Replace(gwAddr, "127.0.0.1", "localhost", 1),
		"FLEETLOG_CONTROL_URL":       "https://" + adminAddr + "/v1/opamp",
		"FLEETLOG_CONTROL_HEARTBEAT": "1s",
		"FLEETLOG_TLS_DIR":           filepath.Join(certs, "devices", device),
		"FLEETLOG_DATA_DIR":          filepath.Join(agentData, "data"),
		"FLEETLOG_DEVICE_ID":         device,
		"FLEETLOG_LOG_GLOB":          filepath.Join(logs, "*.log"),
		"FLEETLOG_SYSLOG_ADDR":       fmt.Sprintf("127.0.0.1:%d", freePort(t)),
		"FLEETLOG_METRICS_PORT":      fmt.Sprint(freePort(t)),
		"FLEETLOG_HEALTH_ADDR":       agentHealth,
	}, "--config", filepath.Join(root, "distributions/agent/config.yaml"))
	waitHealthy(t, agent, agentHealth)

	// The largest tree the agent holds a checkpoint of, from its file.
	witnessFile := filepath.Join(agentData, "data", "remote", fleetproto.WitnessFile)
	held := func() uint64 {
		if _, err := os.Stat(witnessFile); err != nil {
			return 0
		}
		cps, err := archive.ReadCheckpointsFile(witnessFile)
		require.NoError(t, err, "the agent's checkpoints read as verify --checkpoint reads them")
		var largest uint64
		for _, cp := range cps {
			largest = max(largest, cp.Size)
		}
		return largest
	}
	ops := filepath.Join(certs, "operators", "ops")
	api, err := fleetapi.NewClient("https://"+adminAddr, filepath.Join(ops, "ca.pem"), filepath.Join(ops, "cert.pem"), filepath.Join(ops, "key.pem"))
	require.NoError(t, err)
	// The largest tree the gateway's registry knows the device holds.
	reported := func() uint64 {
		d, err := api.Device(context.Background(), device)
		if err != nil || d.Status == nil {
			return 0
		}
		var largest uint64
		for _, n := range d.Status.Checkpoints {
			if cp, err := archive.ParseCheckpoint([]byte(n)); err == nil {
				largest = max(largest, cp.Size)
			}
		}
		return largest
	}
	logFile := filepath.Join(logs, "app.log")
	writeLines := func(from, n int) {
		for i := from; i < from+n; i++ {
			appendLine(t, logFile, fmt.Sprintf("2026-11-24T10:00:%02dZ INFO witness line %d", i, i))
		}
	}

	writeLines(0, 5)
	eventually(t, "the agent holds a checkpoint of its 5 records", func() bool { return held() >= 5 }, gateway, agent)
	gateway.stop(t)
	// A backup of the gateway's data: archive, fleet registry, outboxes.
	backup := filepath.Join(dir, "gateway-data-backup")
	copyTree(t, gwData, backup)

	gateway = startGateway()
	writeLines(5, 5)
	eventually(t, "the agent holds a checkpoint of 10 records", func() bool { return held() >= 10 }, gateway, agent)
	eventually(t, "the gateway knows the device holds it", func() bool { return reported() >= 10 }, gateway, agent)
	gateway.stop(t)

	// The operator puts the earlier copy back.
	newest := filepath.Join(dir, "archive-newest")
	require.NoError(t, os.Rename(archiveDir, newest))
	copyTree(t, filepath.Join(backup, "archive"), archiveDir)
	refused := startGateway()
	writeLines(10, 3) // the device keeps these while the archive refuses
	eventually(t, "the alert archive_witness_inconsistent for the device at the webhook", func() bool {
		for _, m := range hk.find("archive_witness_inconsistent", "firing") {
			if m.n["device"] == device {
				return true
			}
		}
		return false
	}, refused, agent)
	msg := refused.Out.String()
	for _, line := range strings.Split(msg, "\n") {
		if strings.Contains(line, "The archive refuses records") {
			t.Logf("the refusal: %s", line)
		}
	}
	assert.Contains(t, msg, "The archive refuses records")
	assert.Contains(t, msg, "inconsistent with checkpoints devices hold")
	assert.Contains(t, msg, "device "+device+": ")
	assert.Contains(t, msg, string(archive.RolledBack))
	refused.stop(t)

	// What the refusal tells the operator to run, with the device's file.
	ctl := binary(t, "fleetlogctl")
	pub := filepath.Join(certs, "archive-pub.pem")
	out, err = run(t, ctl, "archive", "verify", "--dir", archiveDir, "--pubkey", pub, "--checkpoint", witnessFile)
	assert.Error(t, err, out)
	assert.Contains(t, out, string(archive.RolledBack))
	out, err = run(t, ctl, "archive", "verify", "--dir", newest, "--pubkey", pub, "--checkpoint", witnessFile)
	assert.NoError(t, err, out)

	// The newest copy back: the archive takes records again and the lines
	// the device kept arrive.
	require.NoError(t, os.RemoveAll(archiveDir))
	require.NoError(t, os.Rename(newest, archiveDir))
	gateway = startGateway()
	eventually(t, "the agent holds a checkpoint of 13 records", func() bool { return held() >= 13 }, gateway, agent)
	out, err = run(t, ctl, "archive", "query", "--dir", archiveDir, "--contains", "witness line", "--count")
	require.NoError(t, err, out)
	assert.Equal(t, "13", strings.TrimSpace(out), "every line once")
	gateway.stop(t)

	// The whole data directory put back, registry included: the registry
	// knows only the device's older checkpoints and the gateway starts; the
	// device's next report shows the newer ones and raises the alert.
	require.NoError(t, os.RemoveAll(gwData))
	copyTree(t, backup, gwData)
	gateway = startGateway()
	eventually(t, "the alert archive_witness_inconsistent in the archive", func() bool {
		out, err := run(t, ctl, "archive", "query", "--dir", archiveDir, "--attr", "alert.rule=archive_witness_inconsistent")
		return err == nil && strings.Contains(out, `"alert.device.id":"`+device+`"`)
	}, gateway, agent)
	assert.Contains(t, gateway.Out.String(), "The archive is inconsistent with a checkpoint a device holds")
}

// copyTree copies a directory as a backup would (cp -a).
func copyTree(t *testing.T, from, to string) {
	t.Helper()
	out, err := exec.Command("cp", "-a", from, to).CombinedOutput()
	require.NoError(t, err, string(out))
}
