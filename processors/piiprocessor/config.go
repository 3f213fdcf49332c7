package piiprocessor // import "github.com/fleetlog/fleetlog/processors/piiprocessor"

import (
	"errors"
	"fmt"
	"strings"

	"go.opentelemetry.io/collector/confmap"

	"github.com/fleetlog/fleetlog/internal/pii"
)

// Mode says whether the processor changes what it finds.
type Mode string

const (
	// ModeRedact applies the detectors' actions.
	ModeRedact Mode = "redact"
	// ModeDetect only counts what it finds and leaves records as they are.
	ModeDetect Mode = "detect"
)

// UnmarshalText implements encoding.TextUnmarshaler.
func (m *Mode) UnmarshalText(text []byte) error {
	switch Mode(text) {
	case ModeRedact, ModeDetect:
		*m = Mode(text)
		return nil
	}
	return fmt.Errorf("%w, not %q", ErrUnknownMode, text)
}

// Sentinel errors of Config.Validate. Those about detectors and rules are
// the engine's own.
var (
	ErrUnknownMode     = errors.New("must be redact or detect")
	ErrNoHashKey       = pii.ErrConfigHashKey
	ErrKeyInBothLists  = errors.New("key is in both 'allowed_keys' and 'blocked_keys'")
	ErrSummaryKey      = errors.New("'summary_attribute' must not contain white space")
	ErrUnknownDetector = pii.ErrUnknownDetector
	ErrRuleName        = pii.ErrRuleName
	ErrRulePattern     = pii.ErrRulePattern
	ErrRuleGroup       = pii.ErrRuleGroup
	ErrUnknownProfile  = pii.ErrUnknownProfile
)

// engineConfig names pii.Config so that Config can embed it as an
// unexported field: its keys stay at the top level of the YAML (squash), its
// fields and methods are promoted, and confmap.Validate, which walks only
// exported fields, does not validate it a second time under a "config" path.
// Marshal writes it out, since confmap's encoder skips unexported fields.
type engineConfig = pii.Config

// Config is the pii processor's configuration: the detection settings that
// fleetlogctl redact and leakscan read too (action, hash_key, detectors,
// custom_rules), and the processor's own.
type Config struct {
	engineConfig `mapstructure:",squash"`

	// Mode is redact (default) or detect; detect counts findings in the
	// component metrics and changes nothing, for re-checking what an
	// upstream processor already redacted.
	Mode Mode `mapstructure:"mode"`
	// Scope says which parts of a record are scanned.
	Scope ScopeConfig `mapstructure:"scope"`
	// AllowedKeys are attribute and map-body keys whose values are never
	// touched (trace ids, request ids). Matched case-insensitively.
	AllowedKeys []string `mapstructure:"allowed_keys"`
	// BlockedKeys are attribute and map-body keys whose values are always
	// replaced by [REDACTED:blocked_key]. Matched case-insensitively.
	BlockedKeys []string `mapstructure:"blocked_keys"`
	// SummaryAttribute, when set (default ""), names the log attributes
	// <name>.count (number of redactions) and <name>.detectors (the
	// detectors that fired) added to every record with a finding.
	SummaryAttribute string `mapstructure:"summary_attribute"`

	// prevent unkeyed literal initialization
	_ struct{}
}

// DetectorConfig overrides one built-in detector's defaults.
type DetectorConfig = pii.DetectorConfig

// RuleConfig is a custom detector.
type RuleConfig = pii.RuleConfig

// ScopeConfig selects what is scanned.
type ScopeConfig struct {
	// Body scans the log body: strings, and maps and slices recursively
	// (default true).
	Body bool `mapstructure:"body"`
	// Attributes scans log record attributes (default true).
	Attributes bool `mapstructure:"attributes"`
	// ResourceAttributes scans resource attributes (default false: they
	// describe the device and are set by configuration).
	ResourceAttributes bool `mapstructure:"resource_attributes"`
}

func createDefaultConfig() *Config {
	return &Config{
		engineConfig: pii.DefaultConfig(),
		Mode:         ModeRedact,
		Scope:        ScopeConfig{Body: true, Attributes: true},
	}
}

// Marshal implements confmap.Marshaler: the detection settings, then the
// processor's own.
func (cfg Config) Marshal(conf *confmap.Conf) error {
	if err := conf.Marshal(&cfg.engineConfig); err != nil {
		return err
	}
	type own Config // the same fields, without this method
	return conf.Marshal(own(cfg))
}

// Validate checks the configuration; its errors name the offending key.
func (cfg *Config) Validate() error {
	var errs []error
	if cfg.Mode != ModeRedact && cfg.Mode != ModeDetect {
		errs = append(errs, fmt.Errorf("'mode' %w, not %q", ErrUnknownMode, cfg.Mode))
	}
	if err := cfg.engineConfig.Validate(); err != nil {
		errs = append(errs, err)
	}
	allowed := map[string]bool{}
	for _, k := range cfg.AllowedKeys {
		allowed[strings.ToLower(k)] = true
	}
	for _, k := range cfg.BlockedKeys {
		if allowed[strings.ToLower(k)] {
			errs = append(errs, fmt.Errorf("%q: %w", k, ErrKeyInBothLists))
		}
	}
	if strings.ContainsAny(cfg.SummaryAttribute, " \t\n") {
		errs = append(errs, ErrSummaryKey)
	}
	return errors.Join(errs...)
}
