package main

import (
	"bytes"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func run(t *testing.T, args ...string) (string, error) {
	t.Helper()
	cmd := newRootCmd()
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	cmd.SetArgs(args)
	err := cmd.Execute()
	return out.String(), err
}

func TestCertsInitAndIssue(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "pki")
	out, err := run(t, "certs", "init", "--dir", dir, "--host", "gw.local", "--host", "10.0.0.1")
	require.NoError(t, err)
	assert.Contains(t, out, filepath.Join(dir, "gateway", "archive-key.pem"))
	assert.Contains(t, out, filepath.Join(dir, "archive-pub.pem"))
	assert.Contains(t, out, filepath.Join(dir, "gateway", "config-key.pem"))
	assert.Contains(t, out, filepath.Join(dir, "config-pub.pem"))

	out, err = run(t, "certs", "issue", "--dir", dir, "--device", "gw-17", "--fleet", "iot", "--site", "plant-2")
	require.NoError(t, err)
	assert.Contains(t, out, filepath.Join(dir, "devices", "gw-17", "cert.pem"))
	assert.Contains(t, out, filepath.Join(dir, "devices", "gw-17", "config-pub.pem"))

	out, err = run(t, "certs", "issue", "--dir", dir, "--operator", "alice")
	require.NoError(t, err)
	assert.Contains(t, out, filepath.Join(dir, "operators", "alice", "cert.pem"))
}

func TestCertsFlagErrors(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		wantErr string
	}{
		{name: "init without dir", args: []string{"certs", "init"}, wantErr: `"dir" not set`},
		{name: "issue without device", args: []string{"certs", "issue", "--dir", "x"}, wantErr: "one of --device or --operator"},
		{name: "issue both", args: []string{"certs", "issue", "--dir", "x", "--device", "d", "--operator", "o"}, wantErr: "exclude each other"},
		{name: "operator with fleet", args: []string{"certs", "issue", "--dir", "x", "--operator", "o", "--fleet", "f"}, wantErr: "not an operator's"},
		{name: "issue bad device", args: []string{"certs", "issue", "--dir", "x", "--device", "a/b"}, wantErr: `device "a/b"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := run(t, tt.args...)
			assert.ErrorContains(t, err, tt.wantErr)
		})
	}
}
