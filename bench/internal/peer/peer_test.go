package peer

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestAbsentPeers(t *testing.T) {
	t.Parallel()
	_, err := Rsyslog("/nonexistent/rsyslogd")
	assert.ErrorIs(t, err, ErrAbsent)
	assert.ErrorContains(t, err, "Debian package rsyslog")
	_, err = SyslogNG("/nonexistent/syslog-ng")
	assert.ErrorIs(t, err, ErrAbsent)
	assert.ErrorContains(t, err, "syslog-ng-core")
}

// An unpacked syslog-ng package runs with its own library and module
// paths; an installed one needs none.
func TestSyslogNGUnpacked(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	bin := filepath.Join(root, "usr/sbin/syslog-ng")
	require.NoError(t, os.MkdirAll(filepath.Dir(bin), 0o755))
	require.NoError(t, os.WriteFile(bin, []byte("#!/bin/sh\n"), 0o755))
	require.NoError(t, os.MkdirAll(filepath.Join(root, "usr/lib/syslog-ng/3.38"), 0o755))

	p, err := SyslogNG(bin)
	require.NoError(t, err)
	assert.Equal(t, []string{"LD_LIBRARY_PATH=" + filepath.Join(root, "usr/lib/syslog-ng")}, p.env)
	assert.Equal(t, []string{"--module-path=" + filepath.Join(root, "usr/lib/syslog-ng/3.38")}, p.args)
	assert.Equal(t, []string{"--syntax-only", "-f", "x.conf"}, p.syntax("x.conf"))
}

func TestRenderNamesAMissingParameter(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "t.tmpl"), []byte("port {{.Port}} {{.Nope}}\n"), 0o600))
	p := &Peer{Name: "test", Template: "t.tmpl"}
	err := p.Render(dir, filepath.Join(dir, "out.conf"), Params{Port: 6514})
	assert.ErrorContains(t, err, "Nope")

	require.NoError(t, os.WriteFile(filepath.Join(dir, "t.tmpl"), []byte("port {{.Port}} file {{.LogFile}}\n"), 0o600))
	require.NoError(t, p.Render(dir, filepath.Join(dir, "out.conf"), Params{Port: 6514, LogFile: "/var/log/x.log"}))
	b, err := os.ReadFile(filepath.Join(dir, "out.conf"))
	require.NoError(t, err)
	assert.Equal(t, "port 6514 file /var/log/x.log\n", string(b))
}
