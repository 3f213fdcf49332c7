package fleetmetadataprocessor

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/confmaptest"

	"github.com/fleetlog/fleetlog/processors/fleetmetadataprocessor/internal/metadata"
)

func TestLoadConfig(t *testing.T) {
	t.Parallel()
	cm, err := confmaptest.LoadConf(filepath.Join("testdata", "config.yaml"))
	require.NoError(t, err)

	agent := createDefaultConfig()
	agent.Device = DeviceConfig{Fleet: "atms", Region: "eu-west"}
	agent.Labels = map[string]string{"owner": "branch-ops"}
	agent.DeviceFile = DeviceFileConfig{Path: "/etc/fleetlog/device.yaml", CheckInterval: 30 * time.Second}
	gateway := createDefaultConfig()
	gateway.Mode = ModeGateway
	gateway.Gateway = GatewayConfig{ID: "gw-eu-1", RejectMismatch: true, MaxConcurrentBatches: 16, MaxPendingRecords: 50000}

	tests := []struct {
		name    string
		want    *Config
		wantErr error
		key     string
	}{
		{name: "agent", want: agent},
		{name: "gateway", want: gateway},
		{name: "bad_mode", wantErr: ErrMode, key: "'mode'"},
		{name: "bad_interval", wantErr: ErrCheckInterval, key: "'device_file.check_interval'"},
		{name: "gateway_with_device", wantErr: ErrAgentOnlyOption, key: "'device'"},
		{name: "agent_with_gateway", wantErr: ErrGatewayOnlyOption, key: "'gateway'"},
		{name: "empty_label", wantErr: ErrEmptyLabelKey, key: "'labels'"},
		{name: "negative_concurrency", wantErr: ErrMaxConcurrent, key: "'gateway.max_concurrent_batches'"},
		{name: "negative_pending", wantErr: ErrMaxPending, key: "'gateway.max_pending_records'"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg := NewFactory().CreateDefaultConfig()
			sub, err := cm.Sub(component.NewIDWithName(metadata.Type, tt.name).String())
			require.NoError(t, err)
			err = sub.Unmarshal(cfg)
			if err == nil {
				err = confmap.Validate(cfg)
			}
			if tt.wantErr != nil {
				require.ErrorIs(t, err, tt.wantErr)
				assert.ErrorContains(t, err, tt.key)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, cfg)
		})
	}
}
