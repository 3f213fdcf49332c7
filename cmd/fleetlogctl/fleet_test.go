package main

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/extension/extensiontest"

	"github.com/fleetlog/fleetlog/extensions/fleetcontrolextension"
	"github.com/fleetlog/fleetlog/internal/pki"
)

// startGateway runs a real fleet_control extension on loopback and returns
// its admin URL and certificate directory.
func startGateway(t *testing.T) (string, string) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "pki")
	res, err := pki.Init(dir, pki.InitOptions{})
	require.NoError(t, err)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())

	f := fleetcontrolextension.NewFactory()
	cfg := f.CreateDefaultConfig()
	require.NoError(t, confmap.NewFromStringMap(map[string]any{
		"admin": map[string]any{
			"endpoint": addr,
			"tls":      map[string]any{"cert_file": res.GatewayCert, "key_file": res.GatewayKey, "client_ca_file": res.GatewayCA, "min_version": "1.3"},
		},
		"storage":       map[string]any{"directory": filepath.Join(t.TempDir(), "fleet")},
		"remote_config": map[string]any{"signing_key_file": res.ConfigKey},
	}).Unmarshal(cfg))
	ext, err := f.Create(context.Background(), extensiontest.NewNopSettings(f.Type()), cfg)
	require.NoError(t, err)
	require.NoError(t, ext.Start(context.Background(), componenttest.NewNopHost()))
	t.Cleanup(func() { require.NoError(t, ext.Shutdown(context.Background())) })
	return "https://" + addr, dir
}

func TestFleetCommands(t *testing.T) {
	url, dir := startGateway(t)
	_, err := pki.IssueOperator(dir, pki.OperatorOptions{Name: "alice"})
	require.NoError(t, err)
	opDir := filepath.Join(dir, "operators", "alice")
	fleet := func(args ...string) (string, error) {
		return run(t, append([]string{"fleet", "--gateway", url, "--cert-dir", opDir}, args...)...)
	}
	frag := filepath.Join(t.TempDir(), "glob.yaml")
	require.NoError(t, os.WriteFile(frag, []byte("receivers:\n  spool:\n    files:\n      app:\n        include: [/var/log/app/*.log]\n"), 0o600))
	noPII := filepath.Join(t.TempDir(), "nopii.yaml")
	require.NoError(t, os.WriteFile(noPII, []byte("processors:\n  pii:\n    action: none\n"), 0o600))

	out, err := fleet("list")
	require.NoError(t, err)
	assert.Contains(t, out, "DEVICE")

	_, err = fleet("config", "set", "--fleet", "atms", "nopii", noPII)
	assert.ErrorContains(t, err, "processors::pii::action (locked)")

	out, err = fleet("config", "set", "--fleet", "atms", "--label", "ring=canary", "--canary", "atm-1", "--max-failure-rate", "0.2", "glob", frag)
	require.NoError(t, err)
	assert.Contains(t, out, "assignment glob set")
	assert.Contains(t, out, "stage first")

	out, err = fleet("config", "list")
	require.NoError(t, err)
	assert.Contains(t, out, "fleet=atms ring=canary")

	out, err = fleet("--output", "json", "config", "status", "glob")
	require.NoError(t, err)
	assert.Contains(t, out, `"max_failure_rate": 0.2`)
	assert.Contains(t, out, `"canary": [`)

	_, err = fleet("show", "atm-404")
	assert.ErrorContains(t, err, "not found")

	out, err = fleet("config", "delete", "glob")
	require.NoError(t, err)
	assert.Contains(t, out, "deleted")
	_, err = fleet("config", "status", "glob")
	assert.ErrorContains(t, err, "not found")

	// A device's certificate is no operator's.
	_, err = pki.IssueDevice(dir, pki.DeviceOptions{DeviceID: "atm-1", Fleet: "atms"})
	require.NoError(t, err)
	_, err = run(t, "fleet", "--gateway", url, "--cert-dir", filepath.Join(dir, "devices", "atm-1"), "list")
	assert.ErrorContains(t, err, "operator certificate")
}

func TestFleetFlagErrors(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		wantErr string
	}{
		{name: "no selector", args: []string{"fleet", "config", "set", "x", "-"}, wantErr: "select devices"},
		{name: "bad label", args: []string{"fleet", "config", "set", "--label", "ring", "x", "-"}, wantErr: `--label "ring"`},
		{name: "bad output", args: []string{"fleet", "--output", "xml", "list"}, wantErr: `--output "xml"`},
		{name: "no certificate", args: []string{"fleet", "--cert-dir", "/nonexistent", "list"}, wantErr: "--cert-dir"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := run(t, tt.args...)
			assert.ErrorContains(t, err, tt.wantErr)
		})
	}
}
