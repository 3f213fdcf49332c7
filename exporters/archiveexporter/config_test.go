package archiveexporter

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/confmaptest"

	"github.com/fleetlog/fleetlog/exporters/archiveexporter/internal/metadata"
)

func TestLoadConfig(t *testing.T) {
	cm, err := confmaptest.LoadConf(filepath.Join("testdata", "config.yaml"))
	require.NoError(t, err)

	full := createDefaultConfig().(*Config)
	full.Directory = "/var/lib/fleetlog/archive"
	full.SigningKeyFile = "/etc/fleetlog/tls/archive-key.pem"
	full.GatewayID = "gw-eu-1"
	full.MaxSegmentSize = 16 << 20
	full.MaxSegmentAge = 15 * time.Minute
	full.Fsync = FsyncSeal
	full.Retention = Retention(400 * 24 * time.Hour)
	full.RetentionCheckInterval = 10 * time.Minute
	full.KeyEpoch = 12 * time.Hour
	full.CheckpointInterval = 30 * time.Second
	full.CheckpointCopyFile = "/mnt/witness/gw-eu-1.checkpoints"
	full.TimeoutConfig.Timeout = 10 * time.Second

	minimal := createDefaultConfig().(*Config)
	minimal.Directory = "/var/lib/fleetlog/archive"
	minimal.SigningKeyFile = "/etc/fleetlog/tls/archive-key.pem"
	minimal.Retention = Retention(400 * 24 * time.Hour)

	tests := []struct {
		id      component.ID
		want    *Config
		wantErr string
	}{
		{id: component.NewID(metadata.Type), want: minimal},
		{id: component.NewIDWithName(metadata.Type, "full"), want: full},
		{id: component.NewIDWithName(metadata.Type, "bad_fsync"), wantErr: `'fsync': unknown policy "sometimes"`},
		{id: component.NewIDWithName(metadata.Type, "bad_retention"), wantErr: `'retention': "forever" is neither days`},
		{id: component.NewIDWithName(metadata.Type, "bad_key_epoch"), wantErr: `'key_epoch' must be at least 1m0s`},
	}
	for _, tt := range tests {
		t.Run(tt.id.String(), func(t *testing.T) {
			sub, err := cm.Sub(tt.id.String())
			require.NoError(t, err)
			cfg := createDefaultConfig()
			err = sub.Unmarshal(cfg)
			if err == nil && tt.want == nil {
				err = confmap.Validate(cfg)
			}
			if tt.wantErr != "" {
				require.ErrorContains(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			require.NoError(t, confmap.Validate(cfg))
			assert.Equal(t, tt.want, cfg)
		})
	}
}

func TestDefaultConfig(t *testing.T) {
	cfg := createDefaultConfig().(*Config)
	assert.Equal(t, int64(64<<20), cfg.MaxSegmentSize)
	assert.Equal(t, time.Hour, cfg.MaxSegmentAge)
	assert.Equal(t, FsyncAlways, cfg.Fsync)
	assert.Zero(t, cfg.Retention, "keep forever")
	assert.Equal(t, 24*time.Hour, cfg.KeyEpoch)
	assert.Equal(t, time.Minute, cfg.CheckpointInterval)
	assert.False(t, cfg.QueueConfig.HasValue(), "no in-memory queue: acknowledge only what is written")
	assert.ErrorIs(t, cfg.Validate(), ErrNoDirectory)
	assert.ErrorIs(t, cfg.Validate(), ErrNoSigningKey)
}

func TestValidate(t *testing.T) {
	valid := func() *Config {
		c := createDefaultConfig().(*Config)
		c.Directory, c.SigningKeyFile = "/a", "/k.pem"
		return c
	}
	tests := []struct {
		name   string
		mutate func(*Config)
		want   error
	}{
		{"segment too small", func(c *Config) { c.MaxSegmentSize = 100 }, ErrSegmentSize},
		{"zero age", func(c *Config) { c.MaxSegmentAge = 0 }, ErrSegmentAge},
		{"negative retention", func(c *Config) { c.Retention = -1 }, ErrRetention},
		{"retention within one segment", func(c *Config) { c.Retention = Retention(time.Minute) }, ErrRetentionTooTight},
		{"zero retention check", func(c *Config) { c.RetentionCheckInterval = 0 }, ErrRetentionCheck},
		{"key epoch too short", func(c *Config) { c.KeyEpoch = time.Second }, ErrKeyEpoch},
		{"zero checkpoint interval", func(c *Config) { c.CheckpointInterval = 0 }, ErrCheckpointEvery},
		{"checkpoints rarer than epochs", func(c *Config) { c.KeyEpoch, c.CheckpointInterval = time.Hour, 2*time.Hour }, ErrCheckpointEvery},
	}
	require.NoError(t, valid().Validate())
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := valid()
			tt.mutate(c)
			assert.ErrorIs(t, c.Validate(), tt.want)
		})
	}
}

func TestRetentionText(t *testing.T) {
	var r Retention
	require.NoError(t, r.UnmarshalText([]byte("400d")))
	assert.Equal(t, Retention(400*24*time.Hour), r)
	assert.Equal(t, "400d", r.String())
	require.NoError(t, r.UnmarshalText([]byte("36h")))
	assert.Equal(t, "36h0m0s", r.String())
	assert.Error(t, r.UnmarshalText([]byte("-3d")))
}
