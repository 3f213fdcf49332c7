package alertconnector

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/config/configoptional"

	"github.com/fleetlog/fleetlog/internal/pki"
)

// Real peers: Debian's prometheus-alertmanager and rsyslogd with its gtls
// driver, both installed by .ci/run. Each test skips with a message when its
// peer is not installed.

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func findBinary(t *testing.T, name, pkg string, paths ...string) string {
	t.Helper()
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	for _, p := range paths {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	t.Skipf("%s not installed (Debian package %s; .ci/run installs it)", name, pkg)
	return ""
}

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) { s.mu.Lock(); defer s.mu.Unlock(); return s.b.Write(p) }
func (s *syncBuf) String() string              { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// startPeer runs a peer until the test ends.
func startPeer(t *testing.T, name string, args ...string) (stop func()) {
	t.Helper()
	cmd := exec.Command(name, args...)
	out := &syncBuf{}
	cmd.Stdout, cmd.Stderr = out, out
	require.NoError(t, cmd.Start())
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			_ = cmd.Process.Kill()
			<-done
		})
	}
	t.Cleanup(func() {
		stop()
		if t.Failed() {
			t.Logf("---- %s output ----\n%s", filepath.Base(name), out.String())
		}
	})
	return stop
}

type amAlert struct {
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations"`
	StartsAt    time.Time         `json:"startsAt"`
	EndsAt      time.Time         `json:"endsAt"`
	Status      struct {
		State string `json:"state"`
	} `json:"status"`
	GeneratorURL string `json:"generatorURL"`
}

func getAlerts(base string) ([]amAlert, error) {
	resp, err := http.Get(base + "/api/v2/alerts")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET /api/v2/alerts: %s", resp.Status)
	}
	var out []amAlert
	return out, json.NewDecoder(resp.Body).Decode(&out)
}

func startAlertmanager(t *testing.T, bin string, port int, dir string) func() {
	conf := filepath.Join(dir, "alertmanager.yml")
	require.NoError(t, os.WriteFile(conf, []byte(`route:
  receiver: blackhole
  group_wait: 1s
receivers:
  - name: blackhole
`), 0o600))
	stop := startPeer(t, bin, "--config.file="+conf, "--storage.path="+filepath.Join(dir, "data"),
		fmt.Sprintf("--web.listen-address=127.0.0.1:%d", port), "--cluster.listen-address=", "--log.level=warn")
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	require.Eventually(t, func() bool { _, err := getAlerts(base); return err == nil }, 20*time.Second, 100*time.Millisecond, "alertmanager did not start")
	return stop
}

// TestAlertmanagerPeer: an alert fires while Alertmanager is down, waits in
// the outbox, reaches Alertmanager once it is up, and resolves there.
func TestAlertmanagerPeer(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Alertmanager")
	}
	bin := findBinary(t, "prometheus-alertmanager", "prometheus-alertmanager", "/usr/bin/prometheus-alertmanager")
	dir := t.TempDir()
	port := freePort(t)
	base := fmt.Sprintf("http://127.0.0.1:%d", port)

	rules := filepath.Join(dir, "rules.yaml")
	require.NoError(t, os.WriteFile(rules, []byte(`rules:
  - name: disk_full
    type: match
    severity: critical
    description: A disk is full.
    window: 2s
    match: {body_contains: ["No space left on device"]}
`), 0o600))
	cfg := createDefaultConfig().(*Config)
	cfg.RulesFile = rules
	cfg.TickInterval = 50 * time.Millisecond
	cfg.Notify.Outbox.Directory = filepath.Join(dir, "outbox")
	cfg.Notify.GeneratorURL = "http://gateway.test/alerts"
	out := defaultHTTPOutput()
	out.HTTP.Endpoint = base
	out.Retry.InitialInterval = 100 * time.Millisecond
	out.Retry.MaxInterval = 300 * time.Millisecond
	cfg.Notify.Alertmanager = configoptional.Some(out)
	h := newHarness(t, cfg)

	require.NoError(t, h.c.ConsumeLogs(context.Background(), batch("edge-3", "write /data/x: No space left on device")))
	require.Eventually(t, func() bool {
		return h.sum(t, "otelcol_connector_alert_notifications_retries", "output", "alertmanager") > 0
	}, 10*time.Second, 20*time.Millisecond, "delivery fails while Alertmanager is down")
	assert.EqualValues(t, 1, h.sum(t, "otelcol_connector_alert_notifications_queued", "output", "alertmanager"))

	// Matching records keep the alert firing (its window is 2s) for as long
	// as Alertmanager takes to start and the outbox to deliver.
	stopFeeding := make(chan struct{})
	fed := make(chan struct{})
	go func() {
		defer close(fed)
		tick := time.NewTicker(200 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stopFeeding:
				return
			case <-tick.C:
				_ = h.c.ConsumeLogs(context.Background(), batch("edge-3", "write /data/x: No space left on device"))
			}
		}
	}()
	startAlertmanager(t, bin, port, dir)
	var got []amAlert
	ok := assert.Eventually(t, func() bool {
		var err error
		got, err = getAlerts(base)
		return err == nil && len(got) == 1
	}, 15*time.Second, 100*time.Millisecond, "the queued alert reaches Alertmanager")
	close(stopFeeding)
	<-fed
	require.True(t, ok)
	a := got[0]
	assert.Equal(t, "disk_full", a.Labels["alertname"])
	assert.Equal(t, "edge-3", a.Labels["device_id"])
	assert.Equal(t, "edge-3", a.Labels["device"])
	assert.Equal(t, "eu", a.Labels["fleet"])
	assert.Equal(t, "critical", a.Labels["severity"])
	assert.Equal(t, "active", a.Status.State)
	assert.Contains(t, a.Annotations["evidence"], "fleetlogctl archive query --dir /var/lib/fleetlog/archive --device edge-3")
	assert.Equal(t, "1", a.Annotations["count"], "the count when it fired")
	assert.True(t, strings.HasPrefix(a.GeneratorURL, "http://gateway.test/alerts?"), a.GeneratorURL)
	assert.True(t, a.EndsAt.After(time.Now().Add(time.Hour)), "held firing between repeats: %s", a.EndsAt)

	// Two seconds without a match resolve it; Alertmanager no longer lists it.
	require.Eventually(t, func() bool {
		got, err := getAlerts(base)
		return err == nil && len(got) == 0
	}, 15*time.Second, 100*time.Millisecond, "the resolve reaches Alertmanager")
	// Alertmanager has the resolve before the output has its answer.
	require.Eventually(t, func() bool {
		return h.sum(t, "otelcol_connector_alert_notifications_queued", "output", "alertmanager") == 0
	}, 5*time.Second, 20*time.Millisecond)
	assert.EqualValues(t, 2, h.sum(t, "otelcol_connector_alert_notifications_sent", "output", "alertmanager"))
	assert.Zero(t, h.sum(t, "otelcol_connector_alert_notifications_failed", "output", "alertmanager"))
}

// rsyslogTLS is a real rsyslogd listening with imtcp over TLS (gtls) on
// loopback and writing what it receives to a file.
type rsyslogTLS struct {
	addr, caFile, outFile string
}

func startRsyslogTLS(t *testing.T) *rsyslogTLS {
	t.Helper()
	if testing.Short() {
		t.Skip("starts rsyslogd")
	}
	bin := findBinary(t, "rsyslogd", "rsyslog", "/usr/sbin/rsyslogd")
	gtls, _ := filepath.Glob("/usr/lib/*/rsyslog/lmnsd_gtls.so")
	if len(gtls) == 0 {
		t.Skip("rsyslog's gtls driver not installed (Debian package rsyslog-gnutls; .ci/run installs it)")
	}
	dir := t.TempDir()
	res, err := pki.Init(filepath.Join(dir, "pki"), pki.InitOptions{})
	require.NoError(t, err)
	port := freePort(t)
	outFile := filepath.Join(dir, "siem.log")
	conf := filepath.Join(dir, "rsyslog.conf")
	require.NoError(t, os.WriteFile(conf, fmt.Appendf(nil, `
global(workDirectory="%s"
       DefaultNetstreamDriver="gtls"
       DefaultNetstreamDriverCAFile="%s"
       DefaultNetstreamDriverCertFile="%s"
       DefaultNetstreamDriverKeyFile="%s")
module(load="imtcp" StreamDriver.Name="gtls" StreamDriver.Mode="1" StreamDriver.AuthMode="anon")
input(type="imtcp" address="127.0.0.1" port="%d" gnutlsPriorityString="NORMAL:-VERS-ALL:+VERS-TLS1.3")
*.* action(type="omfile" file="%s" template="RSYSLOG_SyslogProtocol23Format")
`, dir, res.CACert, res.GatewayCert, res.GatewayKey, port, outFile), 0o600))
	// rsyslog 8.2302's anon mode offers no TLS 1.3 suite unless given a
	// priority string; the output insists on TLS 1.3.
	startPeer(t, bin, "-n", "-f", conf, "-i", filepath.Join(dir, "rsyslogd.pid"))
	return &rsyslogTLS{addr: fmt.Sprintf("127.0.0.1:%d", port), caFile: res.CACert, outFile: outFile}
}

// output is a syslog output to the peer.
func (r *rsyslogTLS) output() SyslogOutputConfig {
	s := defaultSyslogOutput()
	s.Endpoint = r.addr
	s.TLS.CAFile = r.caFile
	s.Hostname = "gw-test"
	s.Retry.InitialInterval = 100 * time.Millisecond
	s.Retry.MaxInterval = 300 * time.Millisecond
	return s
}

// TestRsyslogTLSPeer: the syslog output reaches rsyslog's imtcp over TLS
// (gtls driver) as RFC 5424 with a CEF message.
func TestRsyslogTLSPeer(t *testing.T) {
	peer := startRsyslogTLS(t)
	outFile := peer.outFile
	cfg := createDefaultConfig().(*Config)
	cfg.Pack = []string{"identity_spoof_attempt"}
	cfg.Notify.Outbox.Directory = filepath.Join(t.TempDir(), "outbox")
	cfg.Notify.Syslog = configoptional.Some(peer.output())
	h := newHarness(t, cfg)

	ld := batch("edge-5", "hello from someone else")
	ld.ResourceLogs().At(0).Resource().Attributes().PutBool("fleet.identity.mismatch", true)
	require.NoError(t, h.c.ConsumeLogs(context.Background(), ld))
	var line string
	require.Eventually(t, func() bool {
		b, _ := os.ReadFile(outFile)
		line = string(b)
		return strings.Contains(line, "CEF:0")
	}, 20*time.Second, 100*time.Millisecond, "the CEF event reaches rsyslog's output file")
	assert.Contains(t, line, " gw-test fleetlog - identity_spoof_attempt - ")
	assert.Contains(t, line, "CEF:0|fleetlog|fleetlog-gateway|")
	assert.Contains(t, line, "|identity_spoof_attempt|Records claimed another device")
	assert.Contains(t, line, "act=firing")
	assert.Contains(t, line, "dvchost=edge-5")
	assert.Contains(t, line, "cs1Label=fleet cs1=eu")
	// authpriv.crit: <10*8+2>.
	assert.True(t, strings.HasPrefix(line, "<82>1 "), line)
	require.Eventually(t, func() bool {
		return h.sum(t, "otelcol_connector_alert_notifications_sent", "output", "syslog") == 1
	}, 5*time.Second, 20*time.Millisecond)
}
