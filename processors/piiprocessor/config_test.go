package piiprocessor

import (
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/confmaptest"

	"github.com/fleetlog/fleetlog/internal/pii"
	"github.com/fleetlog/fleetlog/processors/piiprocessor/internal/metadata"
)

func ptr[T any](v T) *T { return &v }

func loadConfig(t *testing.T, name string) (*Config, error) {
	t.Helper()
	cm, err := confmaptest.LoadConf(filepath.Join("testdata", "config.yaml"))
	require.NoError(t, err)
	sub, err := cm.Sub(component.NewIDWithName(metadata.Type, name).String())
	require.NoError(t, err)
	cfg := createDefaultConfig()
	if err := sub.Unmarshal(cfg); err != nil {
		return nil, err
	}
	return cfg, confmap.Validate(cfg)
}

func TestLoadConfig(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		want *Config
	}{
		{name: "", want: createDefaultConfig()},
		{name: "custom", want: &Config{
			engineConfig: pii.Config{
				Action:   pii.ActionMask,
				HashKey:  "correct-horse-battery-staple",
				Profiles: []string{"hipaa"},
				Detectors: map[string]DetectorConfig{
					"email":       {Action: ptr(pii.ActionHash)},
					"ipv4":        {Enabled: ptr(true)},
					"credit_card": {Action: ptr(pii.ActionDropRecord)},
					"phone":       {Enabled: ptr(false)},
				},
				CustomRules: []RuleConfig{{Name: "employee_id", Pattern: `EMP-(\d{6})`, Group: 1, Context: []string{"employee", "staff"}}},
			},
			Mode:             ModeRedact,
			Scope:            ScopeConfig{Body: true, Attributes: true, ResourceAttributes: true},
			AllowedKeys:      []string{"trace_id", "span_id"},
			BlockedKeys:      []string{"cookie"},
			SummaryAttribute: "pii.redactions",
		}},
		{name: "profiles", want: func() *Config {
			c := createDefaultConfig()
			c.Profiles = []string{"eu", "hipaa"}
			return c
		}()},
		{name: "gateway", want: func() *Config {
			c := createDefaultConfig()
			c.Mode = ModeDetect
			return c
		}()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg, err := loadConfig(t, tt.name)
			require.NoError(t, err)
			assert.Equal(t, tt.want, cfg)
			_, err = cfg.NewEngine()
			require.NoError(t, err)
		})
	}
}

func TestConfigErrorsNameTheKey(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		want    error
		message string
	}{
		{name: "unknown_detector", want: ErrUnknownDetector, message: "'detectors::emails'"},
		{name: "no_hash_key", want: ErrNoHashKey, message: "'hash_key'"},
		{name: "bad_pattern", want: ErrRulePattern, message: "'custom_rules::0::pattern'"},
		{name: "bad_group", want: ErrRuleGroup, message: "'custom_rules::0::group'"},
		{name: "rule_shadows_builtin", want: ErrRuleName, message: "'custom_rules::0::name'"},
		{name: "both_lists", want: ErrKeyInBothLists, message: "'blocked_keys'"},
		{name: "unknown_profile", want: ErrUnknownProfile, message: "'profiles::1': \"mars\": unknown profile (known: us, eu, uk, ca, au, hipaa, pci)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := loadConfig(t, tt.name)
			require.ErrorIs(t, err, tt.want)
			assert.ErrorContains(t, err, tt.message)
		})
	}
}

func TestConfigRejectsUnknownEnums(t *testing.T) {
	t.Parallel()
	for name, raw := range map[string]map[string]any{
		"mode":            {"mode": "audit"},
		"action":          {"action": "erase"},
		"detector action": {"detectors": map[string]any{"email": map[string]any{"action": "erase"}}},
		"unknown key":     {"detectorz": map[string]any{}},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			cfg := createDefaultConfig()
			err := confmapFromRaw(raw).Unmarshal(cfg)
			require.Error(t, err)
		})
	}
}

func confmapFromRaw(raw map[string]any) *confmap.Conf { return confmap.NewFromStringMap(raw) }

func TestConfigMarshalsEveryKey(t *testing.T) {
	t.Parallel()
	cfg, err := loadConfig(t, "custom")
	require.NoError(t, err)
	conf := confmap.New()
	require.NoError(t, conf.Marshal(cfg))
	for _, key := range []string{"action", "hash_key", "profiles", "detectors::email::action", "custom_rules", "mode", "scope::body", "allowed_keys"} {
		assert.True(t, conf.IsSet(key), key)
	}
	assert.NotEqual(t, "correct-horse-battery-staple", conf.Get("hash_key"), "the hash key is written out")

	back := createDefaultConfig()
	require.NoError(t, conf.Unmarshal(back))
	cfg.HashKey, back.HashKey = "", ""
	assert.Equal(t, cfg, back)
}
