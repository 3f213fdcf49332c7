package alertconnector // import "github.com/fleetlog/fleetlog/connectors/alertconnector"

import (
	"errors"
	"fmt"
	"net"
	"time"

	"go.opentelemetry.io/collector/config/confighttp"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/config/configretry"
	"go.opentelemetry.io/collector/config/configtls"

	"github.com/fleetlog/fleetlog/internal/alert"
)

// Defaults.
const (
	defaultReloadInterval = 10 * time.Second
	defaultTickInterval   = time.Second
	defaultArchiveDir     = "/var/lib/fleetlog/archive"
	defaultQueueSize      = 1000
	defaultRepeatInterval = 4 * time.Hour
	defaultMaxEntries     = 10000
	defaultSendTimeout    = 10 * time.Second
	defaultSyslogFacility = 10 // authpriv
	defaultMaxElapsed     = 24 * time.Hour
)

// Config is the alert connector's configuration.
type Config struct {
	// RulesFile is a YAML rules file (default = none), re-read when it
	// changes; a file that fails validation keeps the rules in force.
	RulesFile string `mapstructure:"rules_file"`
	// Pack enables shipped rules by name, or all of them with "all"
	// (default = none).
	Pack []string `mapstructure:"pack"`
	// ReloadInterval is how often RulesFile is checked for a change
	// (default = 10s; 0 = never).
	ReloadInterval time.Duration `mapstructure:"reload_interval"`
	// TickInterval is how often windows are closed, absences checked and
	// metrics updated (default = 1s).
	TickInterval time.Duration `mapstructure:"tick_interval"`
	// ArchiveDir is the archive directory named in each alert's evidence
	// command (default = /var/lib/fleetlog/archive).
	ArchiveDir string `mapstructure:"archive_dir"`
	// Limits bound the engine's memory.
	Limits LimitsConfig `mapstructure:"limits"`
	// Notify configures notifications; without an output, alerts are only
	// written as records.
	Notify NotifyConfig `mapstructure:"notify"`
}

// LimitsConfig bounds the rule engine's state.
type LimitsConfig struct {
	// MaxGroups per rule (default = 10000).
	MaxGroups int `mapstructure:"max_groups"`
	// MaxDevices tracked for absence and change (default = 100000).
	MaxDevices int `mapstructure:"max_devices"`
	// MaxFleets with a template miner per new_pattern rule (default = 1000).
	MaxFleets int `mapstructure:"max_fleets"`
}

// NotifyConfig configures notifications.
type NotifyConfig struct {
	// Outbox is where undelivered notifications wait, per output.
	Outbox OutboxConfig `mapstructure:"outbox"`
	// QueueSize bounds notifications between evaluation and the outbox
	// (default = 1000); when full the oldest is dropped and counted.
	QueueSize int `mapstructure:"queue_size"`
	// RepeatInterval re-sends a still-firing alert (default = 4h; 0 = never).
	RepeatInterval time.Duration `mapstructure:"repeat_interval"`
	// GeneratorURL is the base of Alertmanager's generatorURL (default =
	// none).
	GeneratorURL string `mapstructure:"generator_url"`
	// Silences suppress matching notifications (records are still written).
	Silences []SilenceConfig `mapstructure:"silences"`

	Webhook      configoptional.Optional[HTTPOutputConfig]   `mapstructure:"webhook"`
	Slack        configoptional.Optional[HTTPOutputConfig]   `mapstructure:"slack"`
	Alertmanager configoptional.Optional[HTTPOutputConfig]   `mapstructure:"alertmanager"`
	Syslog       configoptional.Optional[SyslogOutputConfig] `mapstructure:"syslog"`
}

// OutboxConfig is the durable outbox.
type OutboxConfig struct {
	// Directory holds one subdirectory per output (required with an
	// output); created 0700, entries 0600.
	Directory string `mapstructure:"directory"`
	// MaxEntries per output (default = 10000); beyond, the oldest is
	// dropped and counted.
	MaxEntries int `mapstructure:"max_entries"`
}

// SilenceConfig is one silence.
type SilenceConfig struct {
	// Matchers are label values that must all be equal (alertname,
	// device.id, fleet.name, severity, ...).
	Matchers map[string]string `mapstructure:"matchers"`
	// StartsAt and EndsAt are RFC 3339 times (default = always, forever).
	StartsAt time.Time `mapstructure:"starts_at"`
	EndsAt   time.Time `mapstructure:"ends_at"`
	// Comment says why.
	Comment string `mapstructure:"comment"`
}

// HTTPOutputConfig is a webhook, Slack or Alertmanager output.
type HTTPOutputConfig struct {
	// HTTP is the client: endpoint (for Alertmanager its base URL, the
	// connector posts to /api/v2/alerts), tls, headers, timeout, proxy.
	HTTP confighttp.ClientConfig `mapstructure:"http"`
	// RateLimitPerMinute bounds deliveries (default = 0, none); the rest
	// waits in the outbox.
	RateLimitPerMinute int `mapstructure:"rate_limit_per_minute"`
	// Retry is the retry policy; max_elapsed_time (default = 24h, 0 =
	// forever) gives up on a notification.
	Retry configretry.BackOffConfig `mapstructure:"retry_on_failure"`
}

// SyslogOutputConfig is an RFC 5424 over TLS (RFC 5425) output with CEF
// messages.
type SyslogOutputConfig struct {
	// Endpoint is host:port of the syslog/SIEM TLS listener (required).
	Endpoint string `mapstructure:"endpoint"`
	// TLS is the client TLS (default = system roots, TLS 1.3 minimum).
	TLS configtls.ClientConfig `mapstructure:"tls"`
	// Facility is the syslog facility number (default = 10, authpriv).
	Facility int `mapstructure:"facility"`
	// Hostname is the HOSTNAME header field (default = the host's name).
	Hostname string `mapstructure:"hostname"`
	// Timeout bounds a connection and a write (default = 10s).
	Timeout time.Duration `mapstructure:"timeout"`
	// RateLimitPerMinute bounds deliveries (default = 0, none).
	RateLimitPerMinute int `mapstructure:"rate_limit_per_minute"`
	// Retry is the retry policy, as for HTTP outputs.
	Retry configretry.BackOffConfig `mapstructure:"retry_on_failure"`
	// Checkpoints sends every new archive checkpoint too, as a CEF event
	// (default = false).
	Checkpoints bool `mapstructure:"checkpoints"`
}

// Errors of Validate.
var (
	errNoOutbox       = errors.New("'notify::outbox::directory' is required when an output is configured")
	errNegative       = errors.New("must not be negative")
	errTickInterval   = errors.New("'tick_interval' must be positive")
	errNoEndpoint     = errors.New("'http::endpoint' is required")
	errSyslogEndpoint = errors.New("'notify::syslog::endpoint' must be host:port")
	errFacility       = errors.New("'notify::syslog::facility' must be 0-23")
	errSilenceOrder   = errors.New("must be after 'starts_at'")
	errNoMatchers     = errors.New("'matchers' must name at least one label")
)

func defaultHTTPOutput() HTTPOutputConfig {
	c := HTTPOutputConfig{HTTP: confighttp.NewDefaultClientConfig(), Retry: configretry.NewDefaultBackOffConfig()}
	c.HTTP.Timeout = defaultSendTimeout
	c.Retry.MaxElapsedTime = defaultMaxElapsed
	return c
}

func defaultSyslogOutput() SyslogOutputConfig {
	c := SyslogOutputConfig{Facility: defaultSyslogFacility, Timeout: defaultSendTimeout, Retry: configretry.NewDefaultBackOffConfig()}
	c.TLS.MinVersion = "1.3"
	c.Retry.MaxElapsedTime = defaultMaxElapsed
	return c
}

// Validate checks the configuration; rules are loaded and validated too,
// so that a bad rules file fails at start with the rule and key named.
func (c *Config) Validate() error {
	if c.TickInterval <= 0 {
		return errTickInterval
	}
	if c.ReloadInterval < 0 {
		return fmt.Errorf("'reload_interval' %w", errNegative)
	}
	for key, v := range map[string]int{"limits::max_groups": c.Limits.MaxGroups, "limits::max_devices": c.Limits.MaxDevices,
		"limits::max_fleets": c.Limits.MaxFleets, "notify::queue_size": c.Notify.QueueSize, "notify::outbox::max_entries": c.Notify.Outbox.MaxEntries} {
		if v < 0 {
			return fmt.Errorf("'%s' %w", key, errNegative)
		}
	}
	if c.Notify.RepeatInterval < 0 {
		return fmt.Errorf("'notify::repeat_interval' %w", errNegative)
	}
	if _, err := c.loadRules(); err != nil {
		return err
	}
	n := &c.Notify
	outputs := 0
	for name, o := range map[string]configoptional.Optional[HTTPOutputConfig]{"webhook": n.Webhook, "slack": n.Slack, "alertmanager": n.Alertmanager} {
		if !o.HasValue() {
			continue
		}
		outputs++
		h := o.Get()
		if h.HTTP.Endpoint == "" {
			return fmt.Errorf("'notify::%s': %w", name, errNoEndpoint)
		}
		if h.RateLimitPerMinute < 0 {
			return fmt.Errorf("'notify::%s::rate_limit_per_minute' %w", name, errNegative)
		}
		if err := h.Retry.Validate(); err != nil {
			return fmt.Errorf("'notify::%s::retry_on_failure': %w", name, err)
		}
	}
	if n.Syslog.HasValue() {
		outputs++
		s := n.Syslog.Get()
		if _, _, err := net.SplitHostPort(s.Endpoint); err != nil || s.Endpoint == "" {
			return errSyslogEndpoint
		}
		if s.Facility < 0 || s.Facility > 23 {
			return errFacility
		}
		if s.RateLimitPerMinute < 0 {
			return fmt.Errorf("'notify::syslog::rate_limit_per_minute' %w", errNegative)
		}
		if err := s.TLS.Validate(); err != nil {
			return fmt.Errorf("'notify::syslog::tls': %w", err)
		}
		if err := s.Retry.Validate(); err != nil {
			return fmt.Errorf("'notify::syslog::retry_on_failure': %w", err)
		}
	}
	if outputs > 0 && n.Outbox.Directory == "" {
		return errNoOutbox
	}
	for i, s := range n.Silences {
		if len(s.Matchers) == 0 {
			return fmt.Errorf("'notify::silences::%d::matchers': %w", i, errNoMatchers)
		}
		if !s.StartsAt.IsZero() && !s.EndsAt.IsZero() && !s.EndsAt.After(s.StartsAt) {
			return fmt.Errorf("'notify::silences::%d::ends_at' %w", i, errSilenceOrder)
		}
	}
	return nil
}

// loadRules reads the pack rules and the rules file, validated together.
func (c *Config) loadRules() ([]*alert.Rule, error) {
	var rules []*alert.Rule
	if len(c.Pack) > 0 {
		p, err := alert.Pack(c.Pack...)
		if err != nil {
			return nil, fmt.Errorf("'pack': %w", err)
		}
		rules = append(rules, p...)
	}
	if c.RulesFile != "" {
		f, err := alert.ParseFile(c.RulesFile)
		if err != nil {
			return nil, fmt.Errorf("'rules_file': %w", err)
		}
		rules = append(rules, f...)
	}
	if err := alert.ValidateAll(rules); err != nil {
		return nil, fmt.Errorf("rules: %w", err)
	}
	return rules, nil
}
