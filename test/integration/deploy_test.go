package integration

import (
	"bytes"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"
)

// TestKubernetesManifests parses every manifest and checks the contract the
// role configs rely on: TLS from Secrets, the environment variables set, and
// the ConfigMaps the README tells operators to create.
func TestKubernetesManifests(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(repoRoot(t), "deploy", "kubernetes", "*.yaml"))
	require.NoError(t, err)
	kinds := map[string]map[string]any{}
	for _, f := range files {
		data, err := os.ReadFile(f)
		require.NoError(t, err)
		dec := yaml.NewDecoder(bytes.NewReader(data))
		for {
			var doc map[string]any
			err := dec.Decode(&doc)
			if errors.Is(err, io.EOF) {
				break
			}
			require.NoError(t, err, f)
			require.Contains(t, doc, "apiVersion", f)
			require.Contains(t, doc, "kind", f)
			name := doc["metadata"].(map[string]any)["name"].(string)
			kinds[doc["kind"].(string)+"/"+name] = doc
		}
	}
	for _, want := range []string{"Namespace/fleetlog", "DaemonSet/fleetlog-agent", "Deployment/fleetlog-gateway", "Service/fleetlog-gateway", "PersistentVolumeClaim/fleetlog-gateway-data",
		"Deployment/fleetlog-intake", "Service/fleetlog-intake", "HorizontalPodAutoscaler/fleetlog-intake", "Deployment/fleetlog-archiver", "PersistentVolumeClaim/fleetlog-archiver-data"} {
		require.Contains(t, kinds, want)
	}
	assert.Equal(t, "fleetlog-intake", dig(t, kinds["HorizontalPodAutoscaler/fleetlog-intake"], "spec", "scaleTargetRef", "name"))
	assert.Equal(t, "Recreate", dig(t, kinds["Deployment/fleetlog-archiver"], "spec", "strategy", "type"), "one writer per archive")

	common := []string{"FLEETLOG_TLS_DIR", "FLEETLOG_METRICS_PORT", "FLEETLOG_HEALTH_ADDR"}
	kafka := []string{"FLEETLOG_KAFKA_BROKERS", "FLEETLOG_KAFKA_TOPIC", "FLEETLOG_KAFKA_TLS_DIR"}
	workloads := []struct {
		workload string
		secrets  []string
		env      []string
	}{
		{"DaemonSet/fleetlog-agent", []string{"fleetlog-agent-tls"}, append([]string{"FLEETLOG_DATA_DIR"}, common...)},
		{"Deployment/fleetlog-gateway", []string{"fleetlog-gateway-tls", "fleetlog-archive-key"}, append([]string{"FLEETLOG_DATA_DIR"}, common...)},
		{"Deployment/fleetlog-intake", []string{"fleetlog-intake-tls", "fleetlog-kafka-tls"}, append(append([]string{"FLEETLOG_LISTEN", "FLEETLOG_GATEWAY_ID"}, kafka...), common...)},
		{"Deployment/fleetlog-archiver", []string{"fleetlog-archiver-tls", "fleetlog-kafka-tls"}, append(append([]string{"FLEETLOG_DATA_DIR", "FLEETLOG_KAFKA_GROUP"}, kafka...), common...)},
	}
	for _, w := range workloads {
		workload := w.workload
		t.Run(workload, func(t *testing.T) {
			pod := dig(t, kinds[workload], "spec", "template", "spec").(map[string]any)
			var secrets []string
			for _, v := range pod["volumes"].([]any) {
				if s, ok := v.(map[string]any)["secret"]; ok {
					name := s.(map[string]any)["secretName"].(string)
					secrets = append(secrets, name)
					if name == "fleetlog-archive-key" || name == "fleetlog-archiver-tls" {
						assert.Equal(t, true, s.(map[string]any)["optional"], "%s is deleted after the first start", name)
					}
				}
			}
			for _, secret := range w.secrets {
				assert.Contains(t, secrets, secret)
			}
			container := pod["containers"].([]any)[0].(map[string]any)
			env := map[string]bool{}
			for _, e := range container["env"].([]any) {
				env[e.(map[string]any)["name"].(string)] = true
			}
			for _, v := range w.env {
				assert.True(t, env[v], "%s sets %s", workload, v)
			}
			sc := container["securityContext"].(map[string]any)
			assert.Equal(t, false, sc["allowPrivilegeEscalation"])
			assert.Equal(t, true, sc["readOnlyRootFilesystem"])
		})
	}
}

// TestHAProxyExampleConfig checks the shipped HAProxy example with HAProxy's
// own parser (its gateway names need not resolve here).
func TestHAProxyExampleConfig(t *testing.T) {
	haproxy, err := exec.LookPath("haproxy")
	require.NoError(t, err, "haproxy is needed (apt-get install -y haproxy)")
	out, err := exec.Command(haproxy, "-c", "-f", filepath.Join(repoRoot(t), "deploy", "haproxy", "haproxy.cfg")).CombinedOutput()
	require.NoError(t, err, string(out))
	assert.Contains(t, string(out), "Configuration file is valid")
}

func dig(t *testing.T, v any, path ...string) any {
	t.Helper()
	for _, p := range path {
		m, ok := v.(map[string]any)
		require.True(t, ok, "no map at %s", p)
		v = m[p]
	}
	return v
}

// TestSystemdUnits runs systemd-analyze verify on the shipped units, pointed
// at the built binary, and checks the hardening the units promise.
func TestSystemdUnits(t *testing.T) {
	analyze, err := exec.LookPath("systemd-analyze")
	require.NoError(t, err, "systemd-analyze is needed (apt-get install -y systemd)")
	fleetlog := binary(t, "fleetlog")
	units, err := filepath.Glob(filepath.Join(repoRoot(t), "deploy", "systemd", "*.service"))
	require.NoError(t, err)
	require.Len(t, units, 2)
	for _, unit := range units {
		t.Run(filepath.Base(unit), func(t *testing.T) {
			data, err := os.ReadFile(unit)
			require.NoError(t, err)
			text := string(data)
			for _, directive := range []string{"User=fleetlog", "ProtectSystem=strict", "StateDirectory=", "StateDirectoryMode=0700", "NoNewPrivileges=yes", "CapabilityBoundingSet=\n", "UMask=0077", "LoadCredential=key.pem:"} {
				assert.Contains(t, text, directive)
			}
			// verify insists that ExecStart names an executable on this machine.
			local := regexp.MustCompile(`(?m)^ExecStart=/usr/bin/fleetlog`).ReplaceAllString(text, "ExecStart="+fleetlog)
			require.NotEqual(t, text, local)
			path := filepath.Join(t.TempDir(), filepath.Base(unit))
			require.NoError(t, os.WriteFile(path, []byte(local), 0o600))
			out, err := exec.Command(analyze, "verify", path).CombinedOutput()
			// Only warnings about this unit count: the host's own units are not ours.
			var ours []string
			for _, line := range strings.Split(string(out), "\n") {
				if strings.Contains(line, filepath.Base(unit)) {
					ours = append(ours, line)
				}
			}
			assert.NoError(t, err, string(out))
			assert.Empty(t, ours)
		})
	}
}

// TestSystemdGatewayMovesArchiveKey runs the gateway unit's ExecStartPre,
// with its paths moved under a temporary root: before the archive has keys
// the first key moves into the state directory, 0600, and its source is
// gone; once the archive has keys nothing is moved. The gateway's
// signing_key_file is where the key went.
func TestSystemdGatewayMovesArchiveKey(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(repoRoot(t), "deploy", "systemd", "fleetlog-gateway.service"))
	require.NoError(t, err)
	unit := string(data)
	pre := regexp.MustCompile(`(?m)^ExecStartPre=\+/bin/sh -c '(.*)'$`).FindStringSubmatch(unit)
	require.NotNil(t, pre, "the unit moves the key as root")
	assert.NotContains(t, unit, "LoadCredential=archive-key.pem", "a credential would keep a copy the archive cannot erase")
	assert.Regexp(t, `(?m)^ExecStart=.* --set=exporters::archive::signing_key_file=/var/lib/fleetlog-gateway/archive-key.pem$`, unit)

	root := t.TempDir()
	etc, state := filepath.Join(root, "etc"), filepath.Join(root, "state")
	require.NoError(t, os.MkdirAll(etc, 0o700))
	require.NoError(t, os.MkdirAll(state, 0o700))
	who, err := exec.Command("id", "-un").Output()
	require.NoError(t, err)
	group, err := exec.Command("id", "-gn").Output()
	require.NoError(t, err)
	script := strings.NewReplacer("/etc/fleetlog/tls", etc, "/var/lib/fleetlog-gateway", state,
		"-o fleetlog -g fleetlog", "-o "+strings.TrimSpace(string(who))+" -g "+strings.TrimSpace(string(group))).Replace(pre[1])
	runPre := func() {
		out, err := exec.Command("/bin/sh", "-c", script).CombinedOutput()
		require.NoError(t, err, string(out))
	}
	src, dst := filepath.Join(etc, "archive-key.pem"), filepath.Join(state, "archive-key.pem")

	runPre() // no key at all: nothing to do
	assert.NoFileExists(t, dst)

	require.NoError(t, os.WriteFile(src, []byte("first key"), 0o600))
	runPre()
	assert.NoFileExists(t, src, "the source is shredded")
	fi, err := os.Stat(dst)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm())
	got, err := os.ReadFile(dst)
	require.NoError(t, err)
	assert.Equal(t, "first key", string(got))

	// The archive took the key and erased it at the end of its first epoch;
	// a key put back in /etc is not moved over anything.
	require.NoError(t, os.Remove(dst))
	require.NoError(t, os.MkdirAll(filepath.Join(state, "archive", "keys"), 0o700))
	require.NoError(t, os.WriteFile(filepath.Join(state, "archive", "keys", "state.json"), []byte("{}"), 0o600))
	require.NoError(t, os.WriteFile(src, []byte("another key"), 0o600))
	runPre()
	assert.FileExists(t, src)
	assert.NoFileExists(t, dst)
}
