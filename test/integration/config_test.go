package integration

import (
	"context"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestShippedConfigsValidate checks every role config, alone and with each of
// its environment overlays, with the real binary's own validation.
func TestShippedConfigsValidate(t *testing.T) {
	root := repoRoot(t)
	fleetlog := binary(t, "fleetlog")
	for _, role := range []string{"agent", "gateway", "intake", "archiver"} {
		base := filepath.Join(root, "distributions", role, "config.yaml")
		overlays, err := filepath.Glob(filepath.Join(root, "distributions", role, "*.yaml"))
		require.NoError(t, err)
		for _, overlay := range overlays {
			if filepath.Base(overlay) == "builder-config.yaml" {
				continue // the role's slim build manifest, not a collector config
			}
			args := []string{"validate", "--config", base}
			if overlay != base {
				args = append(args, "--config", overlay)
			}
			t.Run(role+"/"+filepath.Base(overlay), func(t *testing.T) {
				t.Parallel()
				out, err := run(t, fleetlog, args...)
				assert.NoError(t, err, out)
			})
		}
	}
}

// TestMalformedConfigFailsAtStartup starts the agent with its shipped config
// and a broken overlay: the process must exit non-zero and name the key.
func TestMalformedConfigFailsAtStartup(t *testing.T) {
	root := repoRoot(t)
	fleetlog := binary(t, "fleetlog")
	tests := []struct {
		file string
		want []string
	}{
		{file: "unknown-key.yaml", want: []string{"otlp_grpc", "endpiont"}},
		{file: "bad-tls-version.yaml", want: []string{"otlp_grpc", "0.9"}},
		{file: "wrong-type.yaml", want: []string{"batch", "send_batch_size"}},
		{file: "undefined-receiver.yaml", want: []string{`"journald"`, "not configured"}},
		{file: "not-yaml.yaml", want: []string{"not valid YAML", "yaml: line 2"}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
			defer cancel()
			cmd := exec.CommandContext(ctx, fleetlog,
				"--config", filepath.Join(root, "distributions/agent/config.yaml"),
				"--config", filepath.Join("testdata", "badconfig", tt.file))
			cmd.Env = []string{"FLEETLOG_DATA_DIR=" + t.TempDir(), "FLEETLOG_METRICS_PORT=0", "FLEETLOG_HEALTH_ADDR=127.0.0.1:0"}
			out, err := cmd.CombinedOutput()
			require.NoError(t, ctx.Err(), "fleetlog kept running with a broken config")
			var exitErr *exec.ExitError
			require.ErrorAs(t, err, &exitErr, string(out))
			for _, w := range tt.want {
				assert.Contains(t, string(out), w)
			}
		})
	}
}
