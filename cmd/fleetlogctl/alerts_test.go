package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestAlertsTestFiles(t *testing.T) {
	dir := t.TempDir()
	rules := filepath.Join(dir, "rules.yaml")
	require.NoError(t, os.WriteFile(rules, []byte(`rules:
  - name: brute
    type: threshold
    count: 3
    window: 1m
    match: {body_contains: ["Failed password"]}
`), 0o600))
	var lines []string
	for i := range 5 {
		lines = append(lines, fmt.Sprintf("Dec 10 06:55:%02d host sshd[1]: Failed password for root from 10.0.0.1 port 22 ssh2", i))
	}
	lines = append(lines, "Dec 10 07:10:00 host sshd[1]: Accepted password for alice",
		`{"time":"2026-12-10T07:11:00Z","body":"kernel: Out of memory: Killed process 7","resource":{"device.id":"json-dev"}}`)
	log := filepath.Join(dir, "edge-1.log")
	require.NoError(t, os.WriteFile(log, []byte(strings.Join(lines, "\n")+"\n"), 0o600))

	out, err := run(t, "alerts", "test", "--rules", rules, "--pack", "oom_kill", "--year", "2026", log)
	require.NoError(t, err)
	assert.Equal(t, `2026-12-10T06:55:02Z FIRING   brute                    edge-1           3 matching records within 1m0s
2026-12-10T07:10:00Z RESOLVED brute                    edge-1           3 matching records within 1m0s
2026-12-10T07:11:00Z FIRING   oom_kill                 json-dev         kernel: Out of memory: Killed process 7
7 records, 2 alerts fired
  brute                        fired 1, resolved 1
  oom_kill                     fired 1, resolved 0
`, out)

	out, err = run(t, "alerts", "test", "--rules", rules, "--device", "d9", "-o", "json", "--fail", "--year", "2026", log)
	require.Error(t, err)
	assert.Equal(t, 1, exitCode(err))
	first := strings.SplitN(out, "\n", 2)[0]
	var a map[string]any
	require.NoError(t, json.Unmarshal([]byte(first), &a))
	assert.Equal(t, "firing", a["status"])
	assert.Equal(t, "d9", a["device"])
	assert.Equal(t, float64(3), a["count"])
	assert.Equal(t, "2026-12-10T06:55:00Z", a["first_record"])
}

func TestAlertsTestArchive(t *testing.T) {
	dir, _ := writeArchive(t)
	rules := filepath.Join(t.TempDir(), "rules.yaml")
	require.NoError(t, os.WriteFile(rules, []byte("rules: [{name: door, type: match, match: {body_contains: [door], attributes: {app: vault}}}]\n"), 0o600))
	out, err := run(t, "alerts", "test", "--rules", rules, "--archive", dir, "--since", "2026-11-24T09:30:00Z")
	require.NoError(t, err)
	assert.Contains(t, out, "2026-11-24T10:00:00Z FIRING   door                     atm-2            door opened on atm-2\n")
	assert.Contains(t, out, "1 records, 1 alerts fired")
}

func TestAlertsTestErrors(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	require.NoError(t, os.WriteFile(bad, []byte("rules: [{name: x, type: absence}]"), 0o600))
	for _, tt := range []struct {
		name string
		args []string
		want string
	}{
		{"no input", []string{"--pack", "all"}, "give FILE arguments or --archive"},
		{"no rules", []string{"x.log"}, "no rules"},
		{"bad pack", []string{"--pack", "nope", "x.log"}, "--pack: unknown pack rule"},
		{"bad rule", []string{"--rules", bad, "x.log"}, "'rules::0' (x): 'for' must be positive"},
		{"missing file", []string{"--pack", "all", "/nonexistent.log"}, "no such file"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := run(t, append([]string{"alerts", "test"}, tt.args...)...)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.want)
			assert.Equal(t, 2, exitCode(err))
		})
	}
}

// TestAlertsEngineWithoutConnectorFramework: fleetlogctl runs the alert
// engine without linking the collector's connector framework or the
// gateway's connector.
func TestAlertsEngineWithoutConnectorFramework(t *testing.T) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go not on PATH")
	}
	out, err := exec.Command(goBin, "list", "-deps", ".").CombinedOutput()
	require.NoError(t, err, string(out))
	for _, dep := range strings.Fields(string(out)) {
		assert.False(t, strings.HasPrefix(dep, "go.opentelemetry.io/collector/connector"), dep)
		assert.False(t, strings.HasPrefix(dep, "github.com/fleetlog/fleetlog/connectors/"), dep)
	}
	assert.Contains(t, strings.Fields(string(out)), "github.com/fleetlog/fleetlog/internal/alert")
}
