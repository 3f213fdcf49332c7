package integration

import (
	"crypto/tls"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestPIIRedactedAtTheEdge tails a line full of secrets on the agent and
// checks what the gateway stores: placeholders, never the secrets, and a
// gateway that found nothing left to redact.
func TestPIIRedactedAtTheEdge(t *testing.T) {
	f := startFleet(t)
	secrets := []string{
		"alice.smith@example.com",
		"4111 1111 1111 1111",
		"ghp_" + strings.Repeat("Ab3", 12),
		"hunter2-pii-test",
	}
	marker := newMarker("pii")
	line := marker + " checkout user=" + secrets[0] + " card=" + secrets[1] + " token " + secrets[2] +
		" password=" + secrets[3] + " request_id=123e4567-e89b-12d3-a456-426614174000 upstream=db.internal:5432"
	appendLine(t, filepath.Join(f.logDir, "app.log"), line)
	f.waitAtGateway(t, marker)

	out := f.gateway.Out.String()
	for _, s := range secrets {
		assert.NotContains(t, out, s)
	}
	for _, want := range []string{
		"user=[REDACTED:email]", "card=[REDACTED:credit_card]", "token [REDACTED:github_token]",
		"password=[REDACTED:kv_secret]", "request_id=123e4567-e89b-12d3-a456-426614174000", "upstream=db.internal:5432",
	} {
		assert.Contains(t, out, want)
	}
	assert.Equal(t, 1.0, counter(t, f.agentMetrics, "otelcol_processor_pii_detections", `detector="email"`))
	assert.Equal(t, 1.0, counter(t, f.agentMetrics, "otelcol_processor_pii_detections", `detector="github_token"`))
	assert.Zero(t, counter(t, f.gatewayMetrics, "otelcol_processor_pii_detections"), "nothing may slip past the agent")

	t.Run("gateway re-check counts and redacts what slipped through", func(t *testing.T) {
		ca := loadPool(t, filepath.Join(f.certs, "gateway", "ca.pem"))
		device := loadKeyPair(t, filepath.Join(f.certs, "devices", deviceID))
		slipped := newMarker("slipped") + " mail bob@example.org"
		require.NoError(t, export(t, f.gatewayAddr, &tls.Config{RootCAs: ca, ServerName: "localhost", Certificates: []tls.Certificate{device}}, slipped))
		f.waitAtGateway(t, strings.Fields(slipped)[0]+" mail [REDACTED:email]")
		assert.NotContains(t, f.gateway.Out.String(), "bob@example.org")
		eventually(t, "gateway email detection counted", func() bool {
			return counter(t, f.gatewayMetrics, "otelcol_processor_pii_detections", `detector="email"`) == 1
		}, f.gateway)
	})

	t.Run("leakscan finds nothing in what the gateway wrote", func(t *testing.T) {
		stored := filepath.Join(t.TempDir(), "gateway.log")
		require.NoError(t, os.WriteFile(stored, []byte(f.gateway.Out.String()), 0o600))
		out, err := run(t, binary(t, "fleetlogctl"), "leakscan", stored)
		require.NoError(t, err, out)
	})
}

// TestRedactBinary pipes lines through the built fleetlogctl redact.
func TestRedactBinary(t *testing.T) {
	cmd := exec.Command(binary(t, "fleetlogctl"), "redact")
	cmd.Stdin = strings.NewReader("one bob@example.com\ntwo\nthree Authorization: Bearer abc.def.ghi\n")
	out, err := cmd.Output()
	require.NoError(t, err)
	assert.Equal(t, "one [REDACTED:email]\ntwo\nthree Authorization: Bearer [REDACTED:auth_header]\n", string(out))
}

// TestLeakscanBinaryExitStatus checks the exit statuses CI relies on.
func TestLeakscanBinaryExitStatus(t *testing.T) {
	ctl := binary(t, "fleetlogctl")
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "clean.log"), []byte("all good v1.2.3\n"), 0o600))
	require.NoError(t, exec.Command(ctl, "leakscan", dir).Run())

	require.NoError(t, os.WriteFile(filepath.Join(dir, "leak.log"), []byte("x\napi_key=s3cr3t-value\n"), 0o600))
	out, err := exec.Command(ctl, "leakscan", dir).Output()
	var exit *exec.ExitError
	require.ErrorAs(t, err, &exit)
	assert.Equal(t, 1, exit.ExitCode())
	assert.Equal(t, filepath.Join(dir, "leak.log")+":2:kv_secret\n", string(out))

	err = exec.Command(ctl, "leakscan", filepath.Join(dir, "missing")).Run()
	require.ErrorAs(t, err, &exit)
	assert.Equal(t, 2, exit.ExitCode())
}
