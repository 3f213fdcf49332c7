package edgeruntimeextension

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/stanza/operator/helper"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/confmaptest"

	"github.com/fleetlog/fleetlog/extensions/edgeruntimeextension/internal/metadata"
)

func TestLoadConfig(t *testing.T) {
	t.Parallel()
	cm, err := confmaptest.LoadConf(filepath.Join("testdata", "config.yaml"))
	require.NoError(t, err)

	tests := []struct {
		id      component.ID
		want    *Config
		wantErr error
		key     string
	}{
		{id: component.NewID(metadata.Type), want: &Config{ReleaseStartupMemory: true, ReleaseStartupMemoryAfter: 15 * time.Second}},
		{
			id:   component.NewIDWithName(metadata.Type, "small"),
			want: &Config{MaxProcs: 1, GCPercent: 50, MemoryLimit: 24 << 20, ReleaseStartupMemory: true, ReleaseStartupMemoryAfter: time.Minute},
		},
		{id: component.NewIDWithName(metadata.Type, "off"), want: &Config{ReleaseStartupMemoryAfter: 15 * time.Second}},
		{
			id:   component.NewIDWithName(metadata.Type, "readme"),
			want: &Config{MaxProcs: 1, MemoryLimit: 32 << 20, ReleaseStartupMemory: true, ReleaseStartupMemoryAfter: 15 * time.Second},
		},
		{id: component.NewIDWithName(metadata.Type, "bad_procs"), wantErr: ErrMaxProcs, key: "max_procs"},
		{id: component.NewIDWithName(metadata.Type, "bad_gc"), wantErr: ErrGCPercent, key: "gc_percent"},
		{id: component.NewIDWithName(metadata.Type, "tiny_limit"), wantErr: ErrMemoryLimit, key: "memory_limit"},
		{id: component.NewIDWithName(metadata.Type, "negative_after"), wantErr: ErrSettle, key: "release_startup_memory_after"},
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
				assert.ErrorContains(t, err, tt.key)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, cfg)
		})
	}
}

func TestDefaultGCPercentComesFromTheBuild(t *testing.T) {
	t.Parallel()
	assert.Zero(t, createDefaultConfig().GCPercent, "a build that links no value keeps the runtime's")
	for _, tt := range []struct {
		linked string
		want   int
	}{{"", 0}, {"50", 50}, {"abc", 0}, {"5", 0}, {"-1", 0}} {
		assert.Equal(t, tt.want, parseGCPercent(tt.linked), "linked %q", tt.linked)
	}
}

func TestDefaultMemoryLimitComesFromTheBuild(t *testing.T) {
	t.Parallel()
	assert.Zero(t, createDefaultConfig().MemoryLimit, "a build that links no value sets no limit")
	for _, tt := range []struct {
		linked string
		want   helper.ByteSize
	}{{"", 0}, {"18", 18 << 20}, {"32", 32 << 20}, {"abc", 0}, {"7", 0}, {"-1", 0}, {"18MiB", 0}} {
		assert.Equal(t, tt.want, parseMemoryLimitMiB(tt.linked), "linked %q", tt.linked)
	}
}
