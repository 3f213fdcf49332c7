package fleetidentityextension

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/confmaptest"

	"github.com/fleetlog/fleetlog/extensions/fleetidentityextension/internal/metadata"
)

func TestLoadConfig(t *testing.T) {
	t.Parallel()
	cm, err := confmaptest.LoadConf(filepath.Join("testdata", "config.yaml"))
	require.NoError(t, err)

	tests := []struct {
		id      component.ID
		want    *Config
		wantErr error
		wantKey string
	}{
		{id: component.NewID(metadata.Type), want: createDefaultConfig()},
		{
			id: component.NewIDWithName(metadata.Type, "denylist"),
			want: &Config{DenyList: DenyListConfig{
				Path:          "/etc/fleetlog/tls/denied-devices.txt",
				CheckInterval: 30 * time.Second,
			}},
		},
		{
			id: component.NewIDWithName(metadata.Type, "grpc_server"),
			want: &Config{
				DenyList:   DenyListConfig{CheckInterval: defaultCheckInterval},
				GRPCServer: GRPCServerConfig{StreamWorkers: 256, WindowSize: 1 << 20},
			},
		},
		{id: component.NewIDWithName(metadata.Type, "bad_interval"), wantErr: ErrCheckInterval, wantKey: "deny_list.check_interval"},
		{id: component.NewIDWithName(metadata.Type, "bad_window"), wantErr: ErrWindowSize, wantKey: "grpc_server.window_size"},
	}
	for _, tt := range tests {
		t.Run(tt.id.String(), func(t *testing.T) {
			t.Parallel()
			cfg := NewFactory().CreateDefaultConfig()
			sub, err := cm.Sub(tt.id.String())
			require.NoError(t, err)
			require.NoError(t, sub.Unmarshal(cfg))
			err = confmap.Validate(cfg)
			if tt.wantErr != nil {
				require.ErrorIs(t, err, tt.wantErr)
				assert.ErrorContains(t, err, tt.wantKey)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, cfg)
		})
	}
}
