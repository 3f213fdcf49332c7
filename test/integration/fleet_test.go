package integration

import (
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/plog"
)

const deviceID = "it-device-01"

// fleet is a gateway and one agent started from the shipped role configs
// with their dev overlays, as `make run` starts them.
type fleet struct {
	certs          string
	gateway, agent *process
	gatewayAddr    string
	gatewayMetrics int
	agentMetrics   int
	syslogAddr     string
	logDir         string
}

func startFleet(t *testing.T) *fleet {
	t.Helper()
	return startFleetWithAgent(t, "fleetlog")
}

// startFleetWithAgent starts a gateway from bin/fleetlog and an agent from
// bin/<agentBin>, both with the shipped role configs and dev overlays.
func startFleetWithAgent(t *testing.T, agentBin string) *fleet {
	t.Helper()
	root := repoRoot(t)
	fleetlog := binary(t, "fleetlog")
	dir := t.TempDir()
	f := &fleet{
		certs:          filepath.Join(dir, "certs"),
		gatewayAddr:    fmt.Sprintf("127.0.0.1:%d", freePort(t)),
		gatewayMetrics: freePort(t),
		agentMetrics:   freePort(t),
		syslogAddr:     fmt.Sprintf("127.0.0.1:%d", freePort(t)),
		logDir:         filepath.Join(dir, "logs"),
	}
	require.NoError(t, os.MkdirAll(f.logDir, 0o700))
	issueFleet(t, f.certs, []string{deviceID}, "--fleet", "it", "--site", "lab")

	gwHealth := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	f.gateway = start(t, "gateway", fleetlog, map[string]string{
		"FLEETLOG_LISTEN":       f.gatewayAddr,
		"FLEETLOG_TLS_DIR":      filepath.Join(f.certs, "gateway"),
		"FLEETLOG_DATA_DIR":     filepath.Join(dir, "gateway-data"),
		"FLEETLOG_METRICS_PORT": fmt.Sprint(f.gatewayMetrics),
		"FLEETLOG_HEALTH_ADDR":  gwHealth,
	}, "--config", filepath.Join(root, "distributions/gateway/config.yaml"),
		"--config", filepath.Join(root, "distributions/gateway/dev.yaml"))
	waitHealthy(t, f.gateway, gwHealth)

	agentHealth := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	f.agent = start(t, "agent", binary(t, agentBin), map[string]string{
		// The certificate is for localhost; dial by name so it verifies.
		"FLEETLOG_GATEWAY":      strings.Replace(f.gatewayAddr, "127.0.0.1", "localhost", 1),
		"FLEETLOG_TLS_DIR":      filepath.Join(f.certs, "devices", deviceID),
		"FLEETLOG_DATA_DIR":     filepath.Join(dir, "agent-data"),
		"FLEETLOG_DEVICE_ID":    deviceID,
		"FLEETLOG_LOG_GLOB":     filepath.Join(f.logDir, "*.log"),
		"FLEETLOG_SYSLOG_ADDR":  f.syslogAddr,
		"FLEETLOG_METRICS_PORT": fmt.Sprint(f.agentMetrics),
		"FLEETLOG_HEALTH_ADDR":  agentHealth,
	}, "--config", filepath.Join(root, "distributions/agent/config.yaml"),
		"--config", filepath.Join(root, "distributions/agent/dev.yaml"))
	waitHealthy(t, f.agent, agentHealth)
	return f
}

// waitAtGateway waits until the gateway's exporter has written a record
// containing marker.
func (f *fleet) waitAtGateway(t *testing.T, marker string) {
	t.Helper()
	eventually(t, fmt.Sprintf("%q at the gateway", marker), func() bool {
		return strings.Contains(f.gateway.Out.String(), marker)
	}, f.gateway, f.agent)
}

// TestAgentToGateway runs the agent role from both binaries: bin/fleetlog
// and the agent-only bin/fleetlog-agent, which link their own GC and memory
// limit defaults.
func TestAgentToGateway(t *testing.T) {
	for _, tc := range []struct {
		agentBin   string
		gogc       int
		memLimitMi int
	}{{"fleetlog", 100, 32}, {"fleetlog-agent", 50, 18}} {
		t.Run(tc.agentBin, func(t *testing.T) { testAgentToGateway(t, tc.agentBin, tc.gogc, tc.memLimitMi) })
	}
}

func testAgentToGateway(t *testing.T, agentBin string, gogc, memLimitMi int) {
	f := startFleetWithAgent(t, agentBin)
	sent := 0

	t.Run("tailed file line arrives", func(t *testing.T) {
		marker := newMarker("file")
		appendLine(t, filepath.Join(f.logDir, "app.log"), "2026-11-24T10:00:00Z INFO "+marker)
		sent++
		f.waitAtGateway(t, marker)
		out := f.gateway.Out.String()
		assert.Contains(t, out, "device.id: Str("+deviceID+")")
		assert.Contains(t, out, "log.file.name: Str(app.log)")
	})

	t.Run("syslog over TCP and UDP arrives", func(t *testing.T) {
		host, port, _ := strings.Cut(f.syslogAddr, ":")
		for _, proto := range []string{"-T", "-d"} {
			marker := newMarker("syslog" + proto)
			out, err := run(t, "logger", "--rfc5424", proto, "-n", host, "-P", port, "-t", "it", marker)
			require.NoError(t, err, out)
			sent++
			f.waitAtGateway(t, marker)
		}
	})

	t.Run("secrets are redacted before they leave the device", func(t *testing.T) {
		marker := newMarker("redact")
		appendLine(t, filepath.Join(f.logDir, "app.log"), marker+" login password=hunter2-very-secret")
		sent++
		f.waitAtGateway(t, marker)
		assert.NotContains(t, f.gateway.Out.String(), "hunter2-very-secret")
	})

	t.Run("agent sized its runtime and released start-up memory", func(t *testing.T) {
		// The lines above arrived after the release: the agent runs on from
		// the binary's pages mapped again.
		out := f.agent.Out.String()
		if os.Getenv("GOMAXPROCS") == "" && os.Getenv("GOGC") == "" && os.Getenv("GOMEMLIMIT") == "" {
			assert.Contains(t, out, fmt.Sprintf(`"gomaxprocs": 1, "gogc": %d, "gomemlimit": %d`, gogc, memLimitMi<<20))
		}
		assert.Contains(t, out, "released start-up memory")
		assert.Contains(t, out, `"when": "pipelines started"`)
	})

	t.Run("gateway metric counts what the agent sent", func(t *testing.T) {
		eventually(t, "gateway accepted == agent sent", func() bool {
			agentSent := counter(t, f.agentMetrics, "otelcol_exporter_sent_log_records")
			accepted := counter(t, f.gatewayMetrics, "otelcol_receiver_accepted_log_records")
			return agentSent == float64(sent) && accepted == agentSent
		}, f.gateway, f.agent)
		assert.Zero(t, counter(t, f.gatewayMetrics, "otelcol_receiver_refused_log_records"))
	})

	t.Run("gateway refuses clients the fleet CA did not certify", func(t *testing.T) {
		before := counter(t, f.gatewayMetrics, "otelcol_receiver_accepted_log_records")
		ca := loadPool(t, filepath.Join(f.certs, "gateway", "ca.pem"))
		device := loadKeyPair(t, filepath.Join(f.certs, "devices", deviceID))

		otherCA := filepath.Join(t.TempDir(), "other")
		issueFleet(t, otherCA, []string{deviceID})
		impostor := loadKeyPair(t, filepath.Join(otherCA, "devices", deviceID))

		refused := []struct {
			name string
			tls  *tls.Config
		}{
			{name: "no client certificate", tls: &tls.Config{RootCAs: ca, ServerName: "localhost"}},
			{name: "certificate from another CA", tls: &tls.Config{RootCAs: ca, ServerName: "localhost", Certificates: []tls.Certificate{impostor}}},
			{name: "fleet certificate over TLS 1.2", tls: &tls.Config{RootCAs: ca, ServerName: "localhost", Certificates: []tls.Certificate{device}, MaxVersion: tls.VersionTLS12}},
		}
		for _, tt := range refused {
			t.Run(tt.name, func(t *testing.T) {
				err := export(t, f.gatewayAddr, tt.tls, "refused-"+tt.name)
				require.Error(t, err)
			})
		}
		assert.Equal(t, before, counter(t, f.gatewayMetrics, "otelcol_receiver_accepted_log_records"),
			"a refused client must not get a record in")

		// The same client code with the device's certificate gets through, so
		// the refusals above are about the certificate and nothing else.
		require.NoError(t, export(t, f.gatewayAddr, &tls.Config{RootCAs: ca, ServerName: "localhost", Certificates: []tls.Certificate{device}}, "accepted-direct"))
		f.waitAtGateway(t, "accepted-direct")
		assert.Equal(t, before+1, counter(t, f.gatewayMetrics, "otelcol_receiver_accepted_log_records"))
	})
}

// newMarker returns a unique token of letters only: long digit runs look like
// card numbers to the redaction rules.
func newMarker(prefix string) string {
	const letters = "abcdefghijklmnopqrstuvwxyz"
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = letters[int(b[i])%len(letters)]
	}
	return prefix + "-marker-" + string(b)
}

func appendLine(t *testing.T, path, line string) {
	t.Helper()
	file, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600)
	require.NoError(t, err)
	_, err = file.WriteString(line + "\n")
	require.NoError(t, err)
	require.NoError(t, file.Close())
}

func loadPool(t *testing.T, path string) *x509.CertPool {
	t.Helper()
	pem, err := os.ReadFile(path)
	require.NoError(t, err)
	pool := x509.NewCertPool()
	require.True(t, pool.AppendCertsFromPEM(pem))
	return pool
}

func loadKeyPair(t *testing.T, dir string) tls.Certificate {
	t.Helper()
	cert, err := tls.LoadX509KeyPair(filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem"))
	require.NoError(t, err)
	return cert
}

// export sends one log record to addr over OTLP/gRPC with the given TLS config.
func export(t *testing.T, addr string, cfg *tls.Config, body string) error {
	t.Helper()
	logs := plog.NewLogs()
	logs.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords().AppendEmpty().Body().SetStr(body)
	return exportLogs(t, addr, cfg, logs)
}
