package fleetagentextension

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/confmaptest"

	"github.com/fleetlog/fleetlog/extensions/fleetagentextension/internal/metadata"
)

func TestLoadConfig(t *testing.T) {
	t.Parallel()
	cm, err := confmaptest.LoadConf(filepath.Join("testdata", "config.yaml"))
	require.NoError(t, err)

	readme := createDefaultConfig()
	readme.Endpoint = "https://gateway.example:4320/v1/opamp"
	readme.TLS.CAFile = "/etc/fleetlog/tls/ca.pem"
	readme.TLS.CertFile = "/etc/fleetlog/tls/cert.pem"
	readme.TLS.KeyFile = "/etc/fleetlog/tls/key.pem"
	readme.Directory = "/var/lib/fleetlog/remote"
	readme.RemoteConfig.PublicKeyFile = "/etc/fleetlog/tls/config-pub.pem"
	readme.RemoteConfig.DeliveryTimeout = 2 * time.Minute
	reportOnly := createDefaultConfig()
	reportOnly.Endpoint = "https://gateway.example:4320/v1/opamp"
	reportOnly.RemoteConfig.Enabled = false

	fromGateway := createDefaultConfig()
	fromGateway.Gateway = "gw.example:4317"
	fromGateway.RemoteConfig.Enabled = false
	none := createDefaultConfig()
	none.Endpoint = "none"
	none.Gateway = "gw.example:4317"

	tests := []struct {
		name    string
		want    *Config
		wantErr error
		key     string
	}{
		{name: "", want: createDefaultConfig()},
		{name: "readme", want: readme},
		{name: "report_only", want: reportOnly},
		{name: "from_gateway", want: fromGateway},
		{name: "none", want: none},
		{name: "bad_gateway", wantErr: ErrGateway, key: "'gateway'"},
		{name: "http", wantErr: ErrEndpoint, key: "'endpoint'"},
		{name: "tls12", wantErr: ErrMinVersion, key: "'tls::min_version'"},
		{name: "insecure", wantErr: ErrInsecure, key: "'tls::insecure'"},
		{name: "fast", wantErr: ErrHeartbeat, key: "'heartbeat'"},
		{name: "no_timeout", wantErr: ErrDeliveryTimeout, key: "'remote_config::delivery_timeout'"},
		{name: "no_key", wantErr: ErrRemoteConfig, key: "'remote_config::public_key_file'"},
		{name: "empty_pattern", wantErr: ErrKeyPattern, key: "'remote_config'"},
	}
	for _, tt := range tests {
		id := component.NewIDWithName(metadata.Type, tt.name)
		t.Run(id.String(), func(t *testing.T) {
			t.Parallel()
			cfg := NewFactory().CreateDefaultConfig()
			sub, err := cm.Sub(id.String())
			require.NoError(t, err)
			require.NoError(t, sub.Unmarshal(cfg))
			err = confmap.Validate(cfg)
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

func TestEndpoint(t *testing.T) {
	t.Parallel()
	tests := []struct{ endpoint, gateway, want string }{
		{"", "", ""},
		{"", "gw.example:4317", "https://gw.example:4320/v1/opamp"},
		{"", "[::1]:4317", "https://[::1]:4320/v1/opamp"},
		{"https://c.example:9/v1/opamp", "gw.example:4317", "https://c.example:9/v1/opamp"},
		{"none", "gw.example:4317", ""},
	}
	for _, tt := range tests {
		cfg := &Config{Endpoint: tt.endpoint, Gateway: tt.gateway}
		assert.Equal(t, tt.want, cfg.endpoint(), "%+v", tt)
	}
}
