package integration

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// hook is a local webhook receiver: it keeps every notification the
// gateway's generic JSON webhook output posts, with its arrival time.
type hook struct {
	mu  sync.Mutex
	got []hookMsg
}

type hookMsg struct {
	at time.Time
	n  map[string]any
}

func (h *hook) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	var n map[string]any
	if json.Unmarshal(b, &n) != nil {
		http.Error(w, "bad json", http.StatusBadRequest)
		return
	}
	h.mu.Lock()
	h.got = append(h.got, hookMsg{at: time.Now(), n: n})
	h.mu.Unlock()
}

// startHook serves a hook on loopback until the test ends and returns it
// with its address.
func startHook(t *testing.T) (*hook, string) {
	t.Helper()
	hk := &hook{}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := &http.Server{Handler: hk, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return hk, ln.Addr().String()
}

// find returns the notifications of rule in state status.
func (h *hook) find(rule, status string) []hookMsg {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []hookMsg
	for _, m := range h.got {
		if m.n["rule"] == rule && m.n["status"] == status {
			out = append(out, m)
		}
	}
	return out
}

func amAlerts(t *testing.T, base string) []map[string]any {
	resp, err := http.Get(base + "/api/v2/alerts")
	if err != nil {
		return nil
	}
	defer resp.Body.Close()
	var out []map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return out
}

// TestAlertsEndToEnd runs a gateway from the shipped config with an
// overlay that adds Alertmanager and a webhook, and the real agent tailing a
// file: a burst of failed logins fires one grouped alert, which waits in the
// outbox until Alertmanager starts; a firmware change fires; a killed agent
// fires absence. It also measures the latency from a log line written on the
// device to the notification at the webhook.
func TestAlertsEndToEnd(t *testing.T) {
	am, err := exec.LookPath("prometheus-alertmanager")
	if err != nil {
		t.Skip("prometheus-alertmanager not installed (.ci/run installs the Debian package)")
	}
	root := repoRoot(t)
	fleetlog := binary(t, "fleetlog")
	dir := t.TempDir()
	certs := filepath.Join(dir, "certs")
	const dev = "it-alert-01"
	issueFleet(t, certs, []string{dev}, "--fleet", "it", "--site", "lab")

	hk, hookAddr := startHook(t)

	amPort := freePort(t)
	amBase := fmt.Sprintf("http://127.0.0.1:%d", amPort)
	rules := filepath.Join(dir, "rules.yaml")
	require.NoError(t, os.WriteFile(rules, []byte(`rules:
  # device_silent of the pack waits 15m; the test cannot.
  - name: device_silent_fast
    type: absence
    severity: warning
    for: 4s
  - name: latency_probe
    type: match
    severity: info
    window: 300ms
    match: {body_contains: ["LATENCY-PROBE"]}
`), 0o600))
	overlay := filepath.Join(dir, "gateway-alerts.yaml")
	require.NoError(t, os.WriteFile(overlay, fmt.Appendf(nil, `
connectors:
  alert:
    pack: [auth_brute_force, firmware_change, identity_spoof_attempt]
    rules_file: %s
    tick_interval: 100ms
    notify:
      repeat_interval: 1h
      webhook:
        http: {endpoint: "http://%s/hook"}
      alertmanager:
        http: {endpoint: "%s"}
        retry_on_failure: {initial_interval: 200ms, max_interval: 500ms}
`, rules, hookAddr, amBase), 0o600))

	gwAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	gwHealth := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	gwMetrics := freePort(t)
	gw := start(t, "gateway", fleetlog, map[string]string{
		"FLEETLOG_LISTEN":       gwAddr,
		"FLEETLOG_TLS_DIR":      filepath.Join(certs, "gateway"),
		"FLEETLOG_DATA_DIR":     filepath.Join(dir, "gateway-data"),
		"FLEETLOG_METRICS_PORT": fmt.Sprint(gwMetrics),
		"FLEETLOG_HEALTH_ADDR":  gwHealth,
	}, "--config", filepath.Join(root, "distributions/gateway/config.yaml"), "--config", overlay)
	waitHealthy(t, gw, gwHealth)

	logDir := filepath.Join(dir, "logs")
	require.NoError(t, os.MkdirAll(logDir, 0o700))
	logFile := filepath.Join(logDir, "auth.log")
	startAgent := func(firmware string) *process {
		health := fmt.Sprintf("127.0.0.1:%d", freePort(t))
		p := start(t, "agent", fleetlog, map[string]string{
			"FLEETLOG_GATEWAY":          strings.Replace(gwAddr, "127.0.0.1", "localhost", 1),
			"FLEETLOG_TLS_DIR":          filepath.Join(certs, "devices", dev),
			"FLEETLOG_DATA_DIR":         filepath.Join(dir, "agent-data"),
			"FLEETLOG_DEVICE_ID":        dev,
			"FLEETLOG_FIRMWARE_VERSION": firmware,
			"FLEETLOG_LOG_GLOB":         filepath.Join(logDir, "*.log"),
			"FLEETLOG_SYSLOG_ADDR":      fmt.Sprintf("127.0.0.1:%d", freePort(t)),
			"FLEETLOG_METRICS_PORT":     fmt.Sprint(freePort(t)),
			"FLEETLOG_HEALTH_ADDR":      health,
		}, "--config", filepath.Join(root, "distributions/agent/config.yaml"))
		waitHealthy(t, p, health)
		return p
	}
	agent := startAgent("1.0.0")

	t.Run("burst of failed logins fires one grouped alert", func(t *testing.T) {
		for i := range 40 {
			appendLine(t, logFile, fmt.Sprintf("%s sshd[%d]: Failed password for invalid user admin from 203.0.113.%d port %d ssh2",
				time.Now().UTC().Format(time.RFC3339), 2000+i, i, 40000+i))
		}
		eventually(t, "auth_brute_force at the webhook", func() bool {
			return len(hk.find("auth_brute_force", "firing")) > 0
		}, gw, agent)
		time.Sleep(time.Second) // would a second one come?
		got := hk.find("auth_brute_force", "firing")
		require.Len(t, got, 1, "exactly one grouped alert")
		n := got[0].n
		assert.Equal(t, dev, n["device"])
		assert.Equal(t, "it", n["fleet"])
		assert.Equal(t, float64(20), n["count"])
		assert.Contains(t, n["evidence"], "fleetlogctl archive query --dir "+filepath.Join(dir, "gateway-data", "archive")+" --device "+dev)
	})

	outer := t
	t.Run("the outbox delivers to Alertmanager once it is up", func(t *testing.T) {
		assert.Empty(t, amAlerts(t, amBase), "Alertmanager is not running yet")
		conf := filepath.Join(dir, "alertmanager.yml")
		require.NoError(t, os.WriteFile(conf, []byte("route: {receiver: blackhole}\nreceivers: [{name: blackhole}]\n"), 0o600))
		// Started for the whole test, not this step.
		amProc := start(outer, "alertmanager", am, nil, "--config.file="+conf, "--storage.path="+filepath.Join(dir, "am-data"),
			fmt.Sprintf("--web.listen-address=127.0.0.1:%d", amPort), "--cluster.listen-address=", "--log.level=warn")
		eventually(t, "auth_brute_force in Alertmanager", func() bool {
			for _, a := range amAlerts(t, amBase) {
				if a["labels"].(map[string]any)["alertname"] == "auth_brute_force" {
					return true
				}
			}
			return false
		}, gw, amProc)
		var brute int
		for _, a := range amAlerts(t, amBase) {
			l := a["labels"].(map[string]any)
			if l["alertname"] == "auth_brute_force" {
				brute++
				assert.Equal(t, dev, l["device_id"])
			}
		}
		assert.Equal(t, 1, brute)
	})

	t.Run("firmware change fires", func(t *testing.T) {
		agent.stop(t)
		agent = startAgent("1.0.1")
		appendLine(t, logFile, "booted firmware 1.0.1 "+newMarker("fw"))
		eventually(t, "firmware_change at the webhook", func() bool {
			return len(hk.find("firmware_change", "firing")) == 1
		}, gw, agent)
		n := hk.find("firmware_change", "firing")[0].n
		assert.Equal(t, `device.firmware.version changed from "1.0.0" to "1.0.1"`, n["summary"])
		eventually(t, "firmware_change in Alertmanager", func() bool {
			return slices.ContainsFunc(amAlerts(t, amBase), func(a map[string]any) bool {
				return a["labels"].(map[string]any)["alertname"] == "firmware_change"
			})
		}, gw)
	})

	t.Run("alert latency from log line to notification", func(t *testing.T) {
		var lat []time.Duration
		for i := range 20 {
			before := len(hk.find("latency_probe", "firing"))
			written := time.Now()
			appendLine(t, logFile, fmt.Sprintf("LATENCY-PROBE %d", i))
			eventually(t, "latency probe", func() bool { return len(hk.find("latency_probe", "firing")) > before }, gw, agent)
			got := hk.find("latency_probe", "firing")
			lat = append(lat, got[len(got)-1].at.Sub(written))
			// Let it resolve (300ms quiet) so the next probe fires anew.
			eventually(t, "latency probe resolved", func() bool { return len(hk.find("latency_probe", "resolved")) > before }, gw)
		}
		slices.Sort(lat)
		p50, p99 := lat[len(lat)/2], lat[len(lat)-1]
		t.Logf("alert latency, log line written to webhook notification, %d probes: p50 %s, p99 (max) %s, min %s",
			len(lat), p50.Round(time.Millisecond), p99.Round(time.Millisecond), lat[0].Round(time.Millisecond))
		assert.Less(t, p99, 5*time.Second, "goal: p99 ≤ 5s")
	})

	t.Run("killing the agent fires absence", func(t *testing.T) {
		agent.Kill()
		eventually(t, "device_silent_fast at the webhook", func() bool {
			return len(hk.find("device_silent_fast", "firing")) == 1
		}, gw)
		n := hk.find("device_silent_fast", "firing")[0].n
		assert.Equal(t, dev, n["device"])
		assert.Contains(t, n["summary"], "no record from "+dev)
	})

	t.Run("alerts are archived", func(t *testing.T) {
		// The archive's open segment is readable by query.
		out, err := run(t, binary(t, "fleetlogctl"), "archive", "query", "--dir", filepath.Join(dir, "gateway-data", "archive"),
			"--attr", "alert.rule=auth_brute_force", "-o", "text")
		require.NoError(t, err, out)
		assert.Contains(t, out, "[FIRING] auth_brute_force on "+dev)
		assert.GreaterOrEqual(t, counter(t, gwMetrics, "otelcol_connector_alert_notifications_sent", `output="alertmanager"`), 2.0)
	})
}
