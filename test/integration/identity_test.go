package integration

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"
)

// Devices of the identity tests. deviceC is on the deny list before the
// gateway starts; deviceB is added while it runs.
const (
	identityDeviceA = "it-dev-a"
	identityDeviceB = "it-dev-b"
	identityDeviceC = "it-dev-c"
	identityGateway = "it-gateway"
)

// identityGateway is a gateway from the shipped config, its dev overlay and
// testdata/identity-gateway.yaml, with certificates for three devices.
type identityFixture struct {
	certs, denyList    string
	grpcAddr           string
	httpAddr, httpAuth string
	metrics            int
	gateway            *process
	ca                 *tls.Config
	devA, devB, devC   tls.Certificate
}

func startIdentityGateway(t *testing.T) *identityFixture {
	t.Helper()
	root := repoRoot(t)
	fleetlog := binary(t, "fleetlog")
	dir := t.TempDir()
	f := &identityFixture{
		certs:    filepath.Join(dir, "certs"),
		grpcAddr: fmt.Sprintf("127.0.0.1:%d", freePort(t)),
		httpAddr: fmt.Sprintf("127.0.0.1:%d", freePort(t)),
		httpAuth: fmt.Sprintf("127.0.0.1:%d", freePort(t)),
		metrics:  freePort(t),
	}
	issueFleet(t, f.certs, []string{identityDeviceA, identityDeviceB, identityDeviceC}, "--fleet", "it", "--site", "lab")
	f.denyList = filepath.Join(dir, "denied-devices.txt")
	require.NoError(t, os.WriteFile(f.denyList, []byte("# lost in transit\n"+identityDeviceC+"\n"), 0o600))

	health := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	f.gateway = start(t, "gateway", fleetlog, map[string]string{
		"FLEETLOG_LISTEN":        f.grpcAddr,
		"FLEETLOG_TLS_DIR":       filepath.Join(f.certs, "gateway"),
		"FLEETLOG_DATA_DIR":      filepath.Join(dir, "gateway-data"),
		"FLEETLOG_METRICS_PORT":  fmt.Sprint(f.metrics),
		"FLEETLOG_HEALTH_ADDR":   health,
		"FLEETLOG_GATEWAY_ID":    identityGateway,
		"FLEETLOG_DENY_LIST":     f.denyList,
		"IT_OTLP_HTTP_ADDR":      f.httpAddr,
		"IT_OTLP_HTTP_AUTH_ADDR": f.httpAuth,
	}, "--config", filepath.Join(root, "distributions/gateway/config.yaml"),
		"--config", filepath.Join(root, "distributions/gateway/dev.yaml"),
		"--config", filepath.Join("testdata", "identity-gateway.yaml"))
	waitHealthy(t, f.gateway, health)

	f.ca = &tls.Config{RootCAs: loadPool(t, filepath.Join(f.certs, "gateway", "ca.pem")), ServerName: "localhost"}
	f.devA = loadKeyPair(t, filepath.Join(f.certs, "devices", identityDeviceA))
	f.devB = loadKeyPair(t, filepath.Join(f.certs, "devices", identityDeviceB))
	f.devC = loadKeyPair(t, filepath.Join(f.certs, "devices", identityDeviceC))
	return f
}

// tlsAs returns the client TLS config of a device holding cert.
func (f *identityFixture) tlsAs(cert tls.Certificate) *tls.Config {
	cfg := f.ca.Clone()
	cfg.Certificates = []tls.Certificate{cert}
	return cfg
}

// resourceOf returns the resource attributes the gateway's debug exporter
// printed for the record whose body contains marker.
func (f *identityFixture) resourceOf(t *testing.T, marker string) string {
	t.Helper()
	eventually(t, fmt.Sprintf("%q at the gateway", marker), func() bool {
		return strings.Contains(f.gateway.Out.String(), marker)
	}, f.gateway)
	out := f.gateway.Out.String()
	out = out[:strings.Index(out, marker)]
	start := strings.LastIndex(out, "Resource attributes:")
	require.GreaterOrEqual(t, start, 0, "no resource printed before %q", marker)
	block := out[start:]
	if end := strings.Index(block, "ScopeLogs #"); end >= 0 {
		block = block[:end]
	}
	return block
}

// claimingLogs is one record whose resource claims device.id = claim.
func claimingLogs(claim, body string) plog.Logs {
	logs := plog.NewLogs()
	rl := logs.ResourceLogs().AppendEmpty()
	rl.Resource().Attributes().PutStr("device.id", claim)
	rl.ScopeLogs().AppendEmpty().LogRecords().AppendEmpty().Body().SetStr(body)
	return logs
}

// postLogs sends logs over OTLP/HTTP (protobuf) and returns the status code.
func postLogs(t *testing.T, addr string, cfg *tls.Config, logs plog.Logs) (int, string) {
	t.Helper()
	body, err := plogotlp.NewExportRequestFromLogs(logs).MarshalProto()
	require.NoError(t, err)
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: cfg}}
	defer client.CloseIdleConnections()
	url := "https://" + strings.Replace(addr, "127.0.0.1", "localhost", 1) + "/v1/logs"
	resp, err := client.Post(url, "application/x-protobuf", bytes.NewReader(body))
	require.NoError(t, err)
	defer resp.Body.Close()
	msg, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(msg)
}

func TestDeviceIdentity(t *testing.T) {
	f := startIdentityGateway(t)

	t.Run("agent claiming another device is stored as its certificate's device", func(t *testing.T) {
		root := repoRoot(t)
		dir := t.TempDir()
		logDir := filepath.Join(dir, "logs")
		require.NoError(t, os.MkdirAll(logDir, 0o700))
		health := fmt.Sprintf("127.0.0.1:%d", freePort(t))
		agent := start(t, "agent", binary(t, "fleetlog"), map[string]string{
			"FLEETLOG_GATEWAY":      strings.Replace(f.grpcAddr, "127.0.0.1", "localhost", 1),
			"FLEETLOG_TLS_DIR":      filepath.Join(f.certs, "devices", identityDeviceA),
			"FLEETLOG_DATA_DIR":     filepath.Join(dir, "agent-data"),
			"FLEETLOG_DEVICE_ID":    identityDeviceB, // the lie
			"FLEETLOG_SITE":         "elsewhere",
			"FLEETLOG_REGION":       "eu-west",
			"FLEETLOG_DEVICE_FILE":  filepath.Join(dir, "device.yaml"),
			"FLEETLOG_LOG_GLOB":     filepath.Join(logDir, "*.log"),
			"FLEETLOG_SYSLOG_ADDR":  fmt.Sprintf("127.0.0.1:%d", freePort(t)),
			"FLEETLOG_METRICS_PORT": fmt.Sprint(freePort(t)),
			"FLEETLOG_HEALTH_ADDR":  health,
		}, "--config", filepath.Join(root, "distributions/agent/config.yaml"),
			"--config", filepath.Join(root, "distributions/agent/dev.yaml"))
		waitHealthy(t, agent, health)

		marker := newMarker("spoof")
		appendLine(t, filepath.Join(logDir, "app.log"), "2026-11-24T10:00:00Z INFO "+marker)
		res := f.resourceOf(t, marker)
		assert.Contains(t, res, "device.id: Str("+identityDeviceA+")")
		assert.Contains(t, res, "fleet.claimed.device.id: Str("+identityDeviceB+")")
		assert.Contains(t, res, "fleet.identity.mismatch: Bool(true)")
		assert.Contains(t, res, "fleet.site: Str(lab)", "the certificate's site wins")
		assert.Contains(t, res, "fleet.claimed.fleet.site: Str(elsewhere)", "the overridden site is kept as claimed")
		assert.Contains(t, res, "fleet.name: Str(it)")
		assert.Contains(t, res, "fleet.region: Str(eu-west)", "what only the device knows is kept")
		assert.Contains(t, res, "host.name: Str(")
		assert.Contains(t, res, "os.type: Str(linux)")
		assert.Contains(t, res, "fleet.gateway.id: Str("+identityGateway+")")
		assert.Contains(t, res, "fleet.gateway.received_time: Str(")
		eventually(t, "the mismatch counted", func() bool {
			return counter(t, f.metrics, "otelcol_processor_fleet_metadata_identity_mismatches") >= 1
		}, f.gateway)
	})

	t.Run("honest device over gRPC is not marked", func(t *testing.T) {
		marker := newMarker("honest")
		require.NoError(t, exportLogs(t, f.grpcAddr, f.tlsAs(f.devA), claimingLogs(identityDeviceA, marker)))
		res := f.resourceOf(t, marker)
		assert.Contains(t, res, "device.id: Str("+identityDeviceA+")")
		assert.NotContains(t, res, "fleet.identity.mismatch")
	})

	t.Run("fleet claimed by a device whose certificate names none is not stored", func(t *testing.T) {
		const dev = "it-dev-unfiled"
		out, err := run(t, binary(t, "fleetlogctl"), "certs", "issue", "--dir", f.certs, "--device", dev)
		require.NoError(t, err, out)
		marker := newMarker("unfiled")
		logs := claimingLogs(dev, marker)
		logs.ResourceLogs().At(0).Resource().Attributes().PutStr("fleet.name", "payments")
		require.NoError(t, exportLogs(t, f.grpcAddr, f.tlsAs(loadKeyPair(t, filepath.Join(f.certs, "devices", dev))), logs))
		res := f.resourceOf(t, marker)
		assert.Contains(t, res, "device.id: Str("+dev+")")
		assert.Contains(t, res, "fleet.claimed.fleet.name: Str(payments)")
		assert.NotContains(t, res, "-> fleet.name:", "the claim is not stored as the fleet")
		assert.NotContains(t, res, "fleet.identity.mismatch")
	})

	t.Run("device on the deny list is refused at connect", func(t *testing.T) {
		err := exportLogs(t, f.grpcAddr, f.tlsAs(f.devC), claimingLogs(identityDeviceC, "denied-c"))
		require.Error(t, err)
		assert.Equal(t, codes.PermissionDenied, status.Code(err), err)
		eventually(t, "the refusal counted", func() bool {
			return counter(t, f.metrics, "otelcol_fleet_identity_refused_requests", `reason="denied"`) >= 1
		}, f.gateway)
	})

	t.Run("device added to the deny list while the gateway runs is refused", func(t *testing.T) {
		require.NoError(t, exportLogs(t, f.grpcAddr, f.tlsAs(f.devB), claimingLogs(identityDeviceB, newMarker("before-deny"))))
		appendLine(t, f.denyList, identityDeviceB+" # stolen")
		// Until the gateway polls the file, B still gets through.
		var refused string
		eventually(t, "device B refused", func() bool {
			refused = newMarker("after-deny")
			err := exportLogs(t, f.grpcAddr, f.tlsAs(f.devB), claimingLogs(identityDeviceB, refused))
			return status.Code(err) == codes.PermissionDenied
		}, f.gateway)
		still := newMarker("still-fine")
		require.NoError(t, exportLogs(t, f.grpcAddr, f.tlsAs(f.devA), claimingLogs(identityDeviceA, still)))
		f.resourceOf(t, still)
		assert.NotContains(t, f.gateway.Out.String(), refused)
		assert.NotContains(t, f.gateway.Out.String(), "denied-c")
	})

	t.Run("certificate from another CA is refused", func(t *testing.T) {
		other := filepath.Join(t.TempDir(), "other")
		issueFleet(t, other, []string{identityDeviceA})
		impostor := loadKeyPair(t, filepath.Join(other, "devices", identityDeviceA))
		require.Error(t, exportLogs(t, f.grpcAddr, f.tlsAs(impostor), claimingLogs(identityDeviceA, "impostor-grpc")))

		client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: f.tlsAs(impostor)}}
		_, err := client.Post("https://localhost"+f.httpAddr[strings.LastIndex(f.httpAddr, ":"):]+"/v1/logs", "application/x-protobuf", nil)
		require.Error(t, err, "the TLS handshake fails")
		assert.NotContains(t, f.gateway.Out.String(), "impostor-grpc")
	})

	t.Run("OTLP/HTTP with the middleware is attributed like gRPC", func(t *testing.T) {
		marker := newMarker("http")
		code, msg := postLogs(t, f.httpAddr, f.tlsAs(f.devA), claimingLogs(identityDeviceB, marker))
		require.Equal(t, http.StatusOK, code, msg)
		res := f.resourceOf(t, marker)
		assert.Contains(t, res, "device.id: Str("+identityDeviceA+")")
		assert.Contains(t, res, "fleet.claimed.device.id: Str("+identityDeviceB+")")
		assert.Contains(t, res, "fleet.identity.mismatch: Bool(true)")

		code, msg = postLogs(t, f.httpAddr, f.tlsAs(f.devC), claimingLogs(identityDeviceC, "denied-http"))
		assert.Equal(t, http.StatusForbidden, code, msg)
	})

	t.Run("OTLP/HTTP with fleet_identity as auth is refused", func(t *testing.T) {
		code, msg := postLogs(t, f.httpAuth, f.tlsAs(f.devA), claimingLogs(identityDeviceA, "http-auth-refused"))
		assert.Equal(t, http.StatusUnauthorized, code, msg)
		assert.Contains(t, msg, "middlewares")
		assert.NotContains(t, f.gateway.Out.String(), "http-auth-refused")
	})
}

// exportLogs sends logs to addr over OTLP/gRPC with the given TLS config.
func exportLogs(t *testing.T, addr string, cfg *tls.Config, logs plog.Logs) error {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(credentials.NewTLS(cfg)))
	require.NoError(t, err)
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err = plogotlp.NewGRPCClient(conn).Export(ctx, plogotlp.NewExportRequestFromLogs(logs))
	return err
}
