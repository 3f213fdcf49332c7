package fleetcontrolextension

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/confmap/confmaptest"

	"github.com/fleetlog/fleetlog/extensions/fleetcontrolextension/internal/metadata"
)

func TestLoadConfig(t *testing.T) {
	t.Parallel()
	cm, err := confmaptest.LoadConf(filepath.Join("testdata", "config.yaml"))
	require.NoError(t, err)
	tests := []struct {
		name    string
		wantErr error
		check   func(t *testing.T, cfg *Config)
	}{
		{name: "", check: func(t *testing.T, cfg *Config) {
			assert.Equal(t, "0.0.0.0:4320", cfg.Admin.NetAddr.Endpoint)
			assert.Equal(t, "/etc/fleetlog/tls/ca.pem", cfg.Admin.TLS.Get().ClientCAFile)
			assert.Equal(t, 2*time.Minute, cfg.SilentAfter)
			assert.Equal(t, 10*time.Minute, cfg.Degraded.AckAge)
			assert.Equal(t, defaultSpoolFillRatio, cfg.Degraded.SpoolFillRatio, "defaults stay")
			assert.Equal(t, defaultFlushInterval, cfg.Storage.FlushInterval)
			assert.Equal(t, []string{"receivers::spool::max_size"}, cfg.RemoteConfig.AllowedKeys)
			assert.Equal(t, time.Duration(0), cfg.Admin.WriteTimeout, "no write timeout for WebSockets")
			//lint:ignore SA1019 Unmarshal folds the keepalive default into the field ToServer reads
			assert.Equal(t, defaultIdleTimeout, cfg.Admin.IdleTimeout)
		}},
		{name: "no_tls", wantErr: ErrNoTLS},
		{name: "no_client_ca", wantErr: ErrNoClientCA},
		{name: "tls12", wantErr: ErrTLSVersion},
		{name: "bad_ratio", wantErr: ErrSpoolFillRatio},
		{name: "no_directory", wantErr: ErrNoDirectory},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg := NewFactory().CreateDefaultConfig()
			sub, err := cm.Sub(component.NewIDWithName(metadata.Type, tt.name).String())
			require.NoError(t, err)
			require.NoError(t, sub.Unmarshal(cfg))
			err = cfg.(*Config).Validate()
			if tt.wantErr != nil {
				assert.ErrorIs(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			tt.check(t, cfg.(*Config))
		})
	}
}
