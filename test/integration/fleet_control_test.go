package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"google.golang.org/grpc"

	"github.com/fleetlog/fleetlog/internal/fleetapi"
)

// fcSilentAfter is the gateway's silent_after in this test.
const fcSilentAfter = 4 * time.Second

// deviceSink is the gateway's downstream: it keeps each record's body by the
// device.id the gateway stamped on it.
type deviceSink struct {
	plogotlp.UnimplementedGRPCServer
	addr  string
	mu    sync.Mutex
	lines map[string][]string
}

func startDeviceSink(t *testing.T) *deviceSink {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	s := &deviceSink{addr: l.Addr().String(), lines: map[string][]string{}}
	srv := grpc.NewServer()
	plogotlp.RegisterGRPCServer(srv, s)
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.Serve(l) }()
	t.Cleanup(func() { srv.Stop(); <-done })
	return s
}

func (s *deviceSink) Export(_ context.Context, req plogotlp.ExportRequest) (plogotlp.ExportResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, rl := range req.Logs().ResourceLogs().All() {
		dev, _ := rl.Resource().Attributes().Get("device.id")
		for _, sl := range rl.ScopeLogs().All() {
			for _, lr := range sl.LogRecords().All() {
				s.lines[dev.AsString()] = append(s.lines[dev.AsString()], lr.Body().AsString())
			}
		}
	}
	return plogotlp.NewExportResponse(), nil
}

// devicesWith returns the devices that delivered a line containing sub.
func (s *deviceSink) devicesWith(sub string) map[string]bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]bool{}
	for dev, lines := range s.lines {
		for _, l := range lines {
			if strings.Contains(l, sub) {
				out[dev] = true
				break
			}
		}
	}
	return out
}

// cutProxy forwards TCP to a target until cut, then refuses: the network
// between one agent and the gateway's OTLP port failing, while its OpAMP
// connection still works.
type cutProxy struct {
	ln    net.Listener
	mu    sync.Mutex
	conns []net.Conn
	cut   bool
}

func startCutProxy(t *testing.T, target string) *cutProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	p := &cutProxy{ln: ln}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			p.mu.Lock()
			if p.cut {
				p.mu.Unlock()
				c.Close()
				continue
			}
			up, err := net.Dial("tcp", target)
			if err != nil {
				p.mu.Unlock()
				c.Close()
				continue
			}
			p.conns = append(p.conns, c, up)
			p.mu.Unlock()
			wg.Add(2)
			go func() { defer wg.Done(); _, _ = io.Copy(up, c); up.Close() }()
			go func() { defer wg.Done(); _, _ = io.Copy(c, up); c.Close() }()
		}
	}()
	t.Cleanup(func() { p.ln.Close(); p.cutNow(); wg.Wait() })
	return p
}

func (p *cutProxy) cutNow() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cut = true
	for _, c := range p.conns {
		c.Close()
	}
}

// fcAgent is one device of the fleet.
type fcAgent struct {
	id, fleet string
	env       map[string]string
	args      []string
	health    string
	logFile   string
	proc      *process
}

// TestFleetControl runs a gateway with fleet_control and 20 agents (the
// agent-only binary), each with its own certificate, in two fleets, and
// checks what the issue's operator needs: all 20 healthy; a killed agent
// silent within silent_after; an agent whose data the network refuses
// degraded; a fragment adding a file glob reaching only the selected fleet,
// whose lines arrive; a fragment turning pii off refused by the gateway; an
// agent holding another config key refusing the gateway's signature; and a
// fragment that cannot start rolled back, the agent delivering again.
func TestFleetControl(t *testing.T) {
	if testing.Short() {
		t.Skip("starts 21 collectors")
	}
	began := time.Now()
	// 80 ports at once: freePort may hand out one twice (it closes what it
	// found), so each is taken only once here.
	used := map[int]bool{}
	freePort := func(t *testing.T) int {
		for {
			if p := freePort(t); !used[p] {
				used[p] = true
				return p
			}
		}
	}
	root := repoRoot(t)
	dir := t.TempDir()
	ctl := binary(t, "fleetlogctl")
	agentBin := binary(t, "fleetlog-agent")
	certs := filepath.Join(dir, "certs")
	var atms, kiosks []string
	for i := 1; i <= 10; i++ {
		atms = append(atms, fmt.Sprintf("atm-%02d", i))
		kiosks = append(kiosks, fmt.Sprintf("kiosk-%02d", i))
	}
	issueFleet(t, certs, atms, "--fleet", "atms", "--site", "north")
	for _, k := range kiosks {
		out, err := run(t, ctl, "certs", "issue", "--dir", certs, "--device", k, "--fleet", "kiosks", "--site", "mall")
		require.NoError(t, err, out)
	}
	out, err := run(t, ctl, "certs", "issue", "--dir", certs, "--operator", "ops")
	require.NoError(t, err, out)
	// atm-09 holds the config key of another fleet: it must refuse what
	// this gateway signs.
	other := filepath.Join(dir, "other-pki")
	out, err = run(t, ctl, "certs", "init", "--dir", other)
	require.NoError(t, err, out)
	otherPub, err := os.ReadFile(filepath.Join(other, "config-pub.pem"))
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(certs, "devices", "atm-09", "config-pub.pem"), otherPub, 0o644))

	sink := startDeviceSink(t)
	gwAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	adminAddr := fmt.Sprintf("localhost:%d", freePort(t))
	gwHealth := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	// Both tiers let a fragment add a syslog input, for the rollback below.
	keys := "      allowed_keys: [receivers::spool::files, receivers::spool::syslog]\n"
	gwOverlay := filepath.Join(dir, "gateway.yaml")
	require.NoError(t, os.WriteFile(gwOverlay, fmt.Appendf(nil, `
extensions:
  fleet_control:
    silent_after: %s
    storage: {flush_interval: 500ms}
    degraded: {ack_age: 3s}
    remote_config:
%sexporters:
  otlp_grpc/sink:
    endpoint: %s
    tls: {insecure: true}
    compression: none
    sending_queue: {enabled: false}
    retry_on_failure: {enabled: false}
service:
  pipelines:
    logs:
      processors: [memory_limiter, fleet_metadata]
    logs/archive:
      exporters: [otlp_grpc/sink]
`, fcSilentAfter, keys, sink.addr), 0o600))
	gateway := start(t, "gateway", binary(t, "fleetlog"), map[string]string{
		"FLEETLOG_LISTEN":       gwAddr,
		"FLEETLOG_ADMIN_LISTEN": adminAddr,
		"FLEETLOG_TLS_DIR":      filepath.Join(certs, "gateway"),
		"FLEETLOG_DATA_DIR":     filepath.Join(dir, "gateway-data"),
		"FLEETLOG_METRICS_PORT": fmt.Sprint(freePort(t)),
		"FLEETLOG_HEALTH_ADDR":  gwHealth,
	}, "--config", filepath.Join(root, "distributions/gateway/config.yaml"), "--config", gwOverlay)
	waitHealthy(t, gateway, gwHealth)

	agentOverlay := filepath.Join(dir, "agent.yaml")
	require.NoError(t, os.WriteFile(agentOverlay, []byte(`
extensions:
  fleet_agent:
    remote_config:
`+keys+`receivers:
  spool:
    batch: {timeout: 100ms}
    retry_on_failure: {initial_interval: 100ms, max_interval: 500ms}
    files:
      logs: {poll_interval: 100ms}
`), 0o600))
	proxy := startCutProxy(t, gwAddr)
	_, proxyPort, _ := net.SplitHostPort(proxy.ln.Addr().String())
	const cutOff = "atm-10" // its OTLP traffic goes through the proxy
	agents := map[string]*fcAgent{}
	for _, id := range append(append([]string(nil), atms...), kiosks...) {
		data := filepath.Join(dir, "agents", id)
		logs := filepath.Join(data, "logs")
		require.NoError(t, os.MkdirAll(logs, 0o700))
		otlp := strings.Replace(gwAddr, "127.0.0.1", "localhost", 1)
		if id == cutOff {
			otlp = "localhost:" + proxyPort
		}
		a := &fcAgent{id: id, fleet: strings.SplitN(id, "-", 2)[0] + "s", health: fmt.Sprintf("127.0.0.1:%d", freePort(t)), logFile: filepath.Join(logs, "app.log")}
		a.env = map[string]string{
			"FLEETLOG_GATEWAY":           otlp,
			"FLEETLOG_CONTROL_URL":       "https://" + adminAddr + "/v1/opamp",
			"FLEETLOG_CONTROL_HEARTBEAT": "1s",
			"FLEETLOG_TLS_DIR":           filepath.Join(certs, "devices", id),
			"FLEETLOG_DATA_DIR":          filepath.Join(data, "data"),
			"FLEETLOG_DEVICE_ID":         id,
			"FLEETLOG_LOG_GLOB":          filepath.Join(logs, "*.log"),
			"FLEETLOG_SYSLOG_ADDR":       fmt.Sprintf("127.0.0.1:%d", freePort(t)),
			"FLEETLOG_METRICS_PORT":      fmt.Sprint(freePort(t)),
			"FLEETLOG_HEALTH_ADDR":       a.health,
		}
		a.args = []string{"--config", filepath.Join(root, "distributions/agent/config.yaml"), "--config", agentOverlay,
			"--config", "fleet:" + filepath.Join(data, "data", "remote")}
		agents[id] = a
	}
	startAgent := func(a *fcAgent) { a.proc = start(t, a.id, agentBin, a.env, a.args...) }
	for _, id := range append(append([]string(nil), atms...), kiosks...) {
		startAgent(agents[id])
	}
	procs := []*process{gateway}
	for _, a := range agents {
		procs = append(procs, a.proc)
	}
	for _, a := range agents {
		waitHealthy(t, a.proc, a.health)
	}

	fleet := func(args ...string) (string, error) {
		return run(t, ctl, append([]string{"fleet", "--gateway", "https://" + adminAddr, "--cert-dir", filepath.Join(certs, "operators", "ops")}, args...)...)
	}
	devices := func(filter ...string) map[string]fleetapi.Device {
		out, err := fleet(append([]string{"list", "--output", "json"}, filter...)...)
		if err != nil {
			t.Logf("fleet list: %v: %s", err, out)
			return nil
		}
		var list []fleetapi.Device
		require.NoError(t, json.Unmarshal([]byte(out), &list), out)
		m := map[string]fleetapi.Device{}
		for _, d := range list {
			m[d.ID] = d
		}
		return m
	}
	var last map[string]fleetapi.Device
	eventually(t, "all 20 devices healthy in the registry", func() bool {
		last = devices()
		healthy := 0
		for _, d := range last {
			if d.State == fleetapi.StateHealthy {
				healthy++
			}
		}
		return healthy == 20
	}, procs...)
	assert.Equal(t, "atms", last["atm-01"].Fleet, "fleet from the certificate")
	assert.Equal(t, "mall", last["kiosk-01"].Site, "site from the certificate")
	t.Logf("20 devices healthy %s after the start", time.Since(began).Round(time.Second))

	// A killed agent goes silent within silent_after.
	killed := agents["kiosk-10"]
	killed.proc.Kill()
	killedAt := time.Now()
	procs = without(procs, killed.proc)
	eventually(t, "the killed agent silent", func() bool {
		d, ok := devices()["kiosk-10"]
		return ok && d.State == fleetapi.StateSilent
	}, procs...)
	silentIn := time.Since(killedAt)
	assert.Less(t, silentIn, fcSilentAfter+3*time.Second, "silent within silent_after (%s) and a poll", fcSilentAfter)
	t.Logf("killed agent silent after %s (silent_after %s)", silentIn.Round(100*time.Millisecond), fcSilentAfter)

	// The network refuses one agent's data: its spool fills and waits; it is degraded.
	proxy.cutNow()
	require.NoError(t, os.WriteFile(agents[cutOff].logFile, []byte("line while the gateway is unreachable\n"), 0o600))
	var degraded fleetapi.Device
	eventually(t, "the cut-off agent degraded", func() bool {
		degraded = devices()[cutOff]
		return degraded.State == fleetapi.StateDegraded
	}, procs...)
	t.Logf("%s degraded: %v", cutOff, degraded.Reasons)
	assert.Contains(t, strings.Join(degraded.Reasons, " "), "undelivered")

	// A fragment that turns pii off is refused by the gateway, naming the key.
	noPII := filepath.Join(dir, "no-pii.yaml")
	require.NoError(t, os.WriteFile(noPII, []byte("service:\n  pipelines:\n    logs:\n      processors: [fleet_metadata]\n"), 0o600))
	out, err = fleet("config", "set", "--fleet", "atms", "no-pii", noPII)
	require.Error(t, err)
	assert.Contains(t, out, "service::pipelines::logs::processors (locked)")

	// A fragment adding a file glob, for the atms fleet only.
	extra := filepath.Join(dir, "extra")
	require.NoError(t, os.MkdirAll(extra, 0o700))
	glob := filepath.Join(dir, "glob.yaml")
	require.NoError(t, os.WriteFile(glob, fmt.Appendf(nil, "receivers:\n  spool:\n    files:\n      extra:\n        include: [%q]\n        poll_interval: 100ms\n", filepath.Join(extra, "*.log")), 0o600))
	out, err = fleet("config", "set", "--fleet", "atms", "--max-failure-rate", "0.5", "extra-glob", glob)
	require.NoError(t, err, out)
	// Written at once: an agent confirms a new configuration only after a
	// batch was delivered with it, and reads a new input from the start.
	require.NoError(t, os.WriteFile(filepath.Join(extra, "new.log"), []byte("line from the new glob\n"), 0o600))
	// atm-09 refuses (another key) and atm-10 cannot confirm delivery: the
	// other eight apply it.
	var status fleetapi.Assignment
	eventually(t, "the glob applied on the atms fleet", func() bool {
		out, err := fleet("config", "status", "extra-glob", "--output", "json")
		if err != nil || json.Unmarshal([]byte(out), &status) != nil {
			return false
		}
		return status.Counts.Applied >= 8
	}, procs...)
	assert.Equal(t, 10, status.Counts.Selected, "only the atms fleet")
	eventually(t, "lines from the new glob", func() bool {
		return len(sink.devicesWith("line from the new glob")) >= 8
	}, procs...)
	from := sink.devicesWith("line from the new glob")
	for dev := range from {
		assert.True(t, strings.HasPrefix(dev, "atm-"), "%s delivered the new glob", dev)
	}
	assert.False(t, from["atm-09"], "atm-09 refused the fragment")
	var refused fleetapi.Device
	eventually(t, "atm-09 refusing the signature", func() bool {
		refused = devices()["atm-09"]
		return refused.Assignment != nil && refused.Assignment.Outcome == fleetapi.OutcomeFailed
	}, procs...)
	assert.Contains(t, refused.Assignment.Error, "signature")
	assert.Equal(t, fleetapi.StateDegraded, refused.State)
	now := devices()
	for _, k := range kiosks[:9] {
		assert.Nil(t, now[k].Assignment, "%s is not selected", k)
		assert.Equal(t, fleetapi.StateHealthy, now[k].State, k)
	}
	require.NoError(t, os.WriteFile(agents["atm-09"].logFile, []byte("atm-09 still delivers\n"), 0o600))
	eventually(t, "atm-09 still delivering", func() bool { return sink.devicesWith("atm-09 still delivers")["atm-09"] }, procs...)
	t.Logf("extra-glob: %+v", status.Counts)

	// A fragment that validates but cannot start (its syslog port is taken):
	// the agent exits, and restarted, as systemd restarts it, runs its last
	// good configuration, reports the rollback, and delivers.
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer taken.Close()
	broken := filepath.Join(dir, "broken.yaml")
	require.NoError(t, os.WriteFile(broken, fmt.Appendf(nil, "receivers:\n  spool:\n    syslog:\n      extra:\n        protocol: rfc5424\n        tcp:\n          listen_address: %s\n", taken.Addr()), 0o600))
	out, err = fleet("config", "set", "--device", "atm-01", "broken", broken)
	require.NoError(t, err, out)
	a1 := agents["atm-01"]
	select {
	case <-a1.proc.Done:
	case <-time.After(waitTimeout):
		t.Fatal("atm-01 kept running a configuration that cannot start")
	}
	procs = without(procs, a1.proc)
	startAgent(a1)
	procs = append(procs, a1.proc)
	waitHealthy(t, a1.proc, a1.health)
	require.NoError(t, os.WriteFile(a1.logFile, []byte("atm-01 delivers after the rollback\n"), 0o600))
	eventually(t, "atm-01 delivering after the rollback", func() bool {
		return sink.devicesWith("atm-01 delivers after the rollback")["atm-01"]
	}, procs...)
	var rolled fleetapi.Device
	eventually(t, "the rollback in the registry", func() bool {
		rolled = devices()["atm-01"]
		return rolled.Assignment != nil && rolled.Assignment.Name == "broken" && rolled.Assignment.Outcome == fleetapi.OutcomeFailed
	}, procs...)
	assert.Contains(t, rolled.Assignment.Error, "rolled_back")
	t.Logf("atm-01: %s (%v)", rolled.State, rolled.Reasons)
	t.Logf("done in %s", time.Since(began).Round(time.Second))
}

func without(procs []*process, p *process) []*process {
	out := procs[:0:0]
	for _, q := range procs {
		if q != p {
			out = append(out, q)
		}
	}
	return out
}
