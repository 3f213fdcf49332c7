package alertconnector

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/confmaptest"

	"github.com/fleetlog/fleetlog/connectors/alertconnector/internal/metadata"
	"github.com/fleetlog/fleetlog/internal/alert"
)

func load(t *testing.T, name string) *Config {
	t.Helper()
	cm, err := confmaptest.LoadConf(filepath.Join("testdata", "config.yaml"))
	require.NoError(t, err)
	sub, err := cm.Sub(component.NewIDWithName(metadata.Type, name).String())
	require.NoError(t, err)
	cfg := createDefaultConfig().(*Config)
	require.NoError(t, sub.Unmarshal(cfg))
	return cfg
}

func TestLoadConfig(t *testing.T) {
	def := load(t, "")
	require.NoError(t, confmap.Validate(def))
	assert.Equal(t, createDefaultConfig(), def)
	assert.False(t, def.Notify.Slack.HasValue(), "an output is off unless configured")

	full := load(t, "full")
	assert.Equal(t, []string{"auth_brute_force", "firmware_change", "device_silent"}, full.Pack)
	assert.Equal(t, "/etc/fleetlog/alert-rules.yaml", full.RulesFile)
	assert.Equal(t, 30*time.Second, full.ReloadInterval)
	assert.Equal(t, 5000, full.Limits.MaxGroups)
	assert.Equal(t, time.Hour, full.Notify.RepeatInterval)
	assert.Equal(t, defaultMaxEntries, full.Notify.Outbox.MaxEntries)
	require.True(t, full.Notify.Slack.HasValue())
	assert.Equal(t, 30, full.Notify.Slack.Get().RateLimitPerMinute)
	assert.Equal(t, defaultSendTimeout, full.Notify.Slack.Get().HTTP.Timeout, "defaults under a configured output")
	assert.Equal(t, defaultMaxElapsed, full.Notify.Alertmanager.Get().Retry.MaxElapsedTime)
	require.True(t, full.Notify.Syslog.HasValue())
	assert.Equal(t, "1.3", full.Notify.Syslog.Get().TLS.MinVersion)
	assert.Equal(t, defaultSyslogFacility, full.Notify.Syslog.Get().Facility)
	assert.True(t, full.Notify.Syslog.Get().Checkpoints)
	require.Len(t, full.Notify.Silences, 1)

	// The example's rules file lives under /etc: point it at a real one.
	rules := filepath.Join(t.TempDir(), "rules.yaml")
	b, err := os.ReadFile(filepath.Join("testdata", "rules.yaml"))
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(rules, b, 0o600))
	full.RulesFile = rules
	require.NoError(t, confmap.Validate(full))
}

func TestValidateNamesTheKey(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	require.NoError(t, os.WriteFile(bad, []byte("rules: [{name: x, type: threshold, count: 0, window: 1m, match: {body_contains: [a]}}]"), 0o600))
	dup := filepath.Join(dir, "dup.yaml")
	require.NoError(t, os.WriteFile(dup, []byte("rules: [{name: oom_kill, type: match, match: {body_contains: [a]}}]"), 0o600))
	for _, tt := range []struct {
		name string
		mod  func(*Config)
		want string
		is   error
	}{
		{"tick", func(c *Config) { c.TickInterval = 0 }, "'tick_interval' must be positive", errTickInterval},
		{"pack", func(c *Config) { c.Pack = []string{"nope"} }, "'pack': unknown pack rule", alert.ErrUnknownPackRule},
		{"rules file missing", func(c *Config) { c.RulesFile = filepath.Join(dir, "none.yaml") }, "'rules_file': read rules", os.ErrNotExist},
		{"rule key", func(c *Config) { c.RulesFile = bad }, "'rules::0' (x): 'count' must be positive", alert.ErrPositive},
		{"duplicate with pack", func(c *Config) { c.RulesFile = dup; c.Pack = []string{"oom_kill"} }, "'rules::1::name': duplicate rule name", alert.ErrDuplicateName},
		{"no outbox", func(c *Config) {
			c.Notify.Slack = defaultConfigured(func(h *HTTPOutputConfig) { h.HTTP.Endpoint = "http://x" })
		}, "'notify::outbox::directory' is required", errNoOutbox},
		{"no endpoint", func(c *Config) {
			c.Notify.Outbox.Directory = dir
			c.Notify.Alertmanager = defaultConfigured(func(*HTTPOutputConfig) {})
		}, "'notify::alertmanager': 'http::endpoint' is required", errNoEndpoint},
		{"syslog endpoint", func(c *Config) {
			c.Notify.Outbox.Directory = dir
			s := defaultSyslogOutput()
			c.Notify.Syslog = someSyslog(s)
		}, "'notify::syslog::endpoint' must be host:port", errSyslogEndpoint},
		{"silence time", func(c *Config) {
			c.Notify.Silences = []SilenceConfig{{Matchers: map[string]string{"alertname": "x"}, StartsAt: time.Now(), EndsAt: time.Now().Add(-time.Hour)}}
		}, "'notify::silences::0::ends_at' must be after 'starts_at'", errSilenceOrder},
		{"silence matchers", func(c *Config) { c.Notify.Silences = []SilenceConfig{{}} }, "'notify::silences::0::matchers'", errNoMatchers},
		{"queue", func(c *Config) { c.Notify.QueueSize = -1 }, "'notify::queue_size' must not be negative", errNegative},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg := createDefaultConfig().(*Config)
			tt.mod(cfg)
			err := cfg.Validate()
			require.Error(t, err)
			assert.ErrorContains(t, err, tt.want)
			assert.ErrorIs(t, err, tt.is)
		})
	}
}

func defaultConfigured(mod func(*HTTPOutputConfig)) configoptional.Optional[HTTPOutputConfig] {
	h := defaultHTTPOutput()
	mod(&h)
	return configoptional.Some(h)
}

func someSyslog(s SyslogOutputConfig) configoptional.Optional[SyslogOutputConfig] {
	return configoptional.Some(s)
}
