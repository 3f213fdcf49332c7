package piiprocessor // import "github.com/fleetlog/fleetlog/processors/piiprocessor"

import (
	"errors"
	"fmt"
	"regexp"
	"strings"

	"go.opentelemetry.io/collector/config/configopaque"

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
	ErrNoHashKey       = errors.New("'hash_key' is required when an action is hash")
	ErrKeyInBothLists  = errors.New("key is in both 'allowed_keys' and 'blocked_keys'")
	ErrSummaryKey      = errors.New("'summary_attribute' must not contain white space")
	ErrUnknownDetector = pii.ErrUnknownDetector
	ErrRuleName        = pii.ErrRuleName
	ErrRulePattern     = pii.ErrRulePattern
	ErrRuleGroup       = pii.ErrRuleGroup
)

// Config is the pii processor's configuration. The fleetlogctl redact and
// leakscan commands read the same YAML.
type Config struct {
	// Mode is redact (default) or detect; detect counts findings in the
	// component metrics and changes nothing, for re-checking what an
	// upstream processor already redacted.
	Mode Mode `mapstructure:"mode"`
	// Action is what happens to a match of a detector without its own
	// action: mask (default), hash, drop_attribute or drop_record.
	Action pii.Action `mapstructure:"action"`
	// HashKey keys the HMAC-SHA256 behind the hash action. Required when any
	// detector hashes; use ${env:...} or ${file:...} rather than a literal.
	HashKey configopaque.String `mapstructure:"hash_key"`
	// Detectors turns built-in detectors on or off and sets their action,
	// keyed by detector name. Detectors left out keep their defaults.
	Detectors map[string]DetectorConfig `mapstructure:"detectors"`
	// CustomRules are extra detectors defined by RE2 patterns.
	CustomRules []RuleConfig `mapstructure:"custom_rules"`
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
type DetectorConfig struct {
	// Enabled turns the detector on or off; unset keeps its default
	// (ipv4, ipv6 and phone are off, the rest on).
	Enabled *bool `mapstructure:"enabled"`
	// Action overrides the processor's 'action' for this detector.
	Action *pii.Action `mapstructure:"action"`
}

// RuleConfig is a custom detector.
type RuleConfig struct {
	// Name appears in [REDACTED:<name>] and in metrics.
	Name string `mapstructure:"name"`
	// Pattern is an RE2 regular expression.
	Pattern string `mapstructure:"pattern"`
	// Group is the capture group to redact (default 0, the whole match).
	Group int `mapstructure:"group"`
	// Context, when not empty, are keywords one of which must appear
	// (case-insensitively) within 64 bytes of a match for it to count.
	Context []string `mapstructure:"context"`
	// Action overrides the processor's 'action' for this rule.
	Action *pii.Action `mapstructure:"action"`
}

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
		Mode:   ModeRedact,
		Action: pii.ActionMask,
		Scope:  ScopeConfig{Body: true, Attributes: true},
	}
}

// Validate checks the configuration; its errors name the offending key.
func (cfg *Config) Validate() error {
	var errs []error
	if cfg.Mode != ModeRedact && cfg.Mode != ModeDetect {
		errs = append(errs, fmt.Errorf("'mode' %w, not %q", ErrUnknownMode, cfg.Mode))
	}
	hashes := cfg.Action == pii.ActionHash
	for name, d := range cfg.Detectors {
		if !pii.IsBuiltin(name) {
			errs = append(errs, fmt.Errorf("'detectors::%s': %w (known: %s)", name, ErrUnknownDetector, strings.Join(pii.Builtin(), ", ")))
		}
		hashes = hashes || d.Action != nil && *d.Action == pii.ActionHash
	}
	names := map[string]bool{}
	for i, r := range cfg.CustomRules {
		key := fmt.Sprintf("'custom_rules::%d", i)
		if r.Name == "" || pii.IsBuiltin(r.Name) || names[r.Name] {
			errs = append(errs, fmt.Errorf("%s::name': %w", key, ErrRuleName))
		}
		names[r.Name] = true
		hashes = hashes || r.Action != nil && *r.Action == pii.ActionHash
		if err := checkPattern(r); err != nil {
			errs = append(errs, fmt.Errorf("%s::%w", key, err))
		}
	}
	if hashes && cfg.HashKey == "" {
		errs = append(errs, ErrNoHashKey)
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

// checkPattern reports a bad pattern or group against its own key.
func checkPattern(r RuleConfig) error {
	re, err := regexp.Compile(r.Pattern)
	if err != nil {
		return fmt.Errorf("pattern': %w: %w", ErrRulePattern, err)
	}
	if r.Group < 0 || r.Group > re.NumSubexp() {
		return fmt.Errorf("group': %d: %w", r.Group, ErrRuleGroup)
	}
	return nil
}

// Options translates the configuration into engine options.
func (cfg *Config) Options() pii.Options {
	opts := pii.Options{
		Enabled:       map[string]bool{},
		Actions:       map[string]pii.Action{},
		DefaultAction: cfg.Action,
		HashKey:       []byte(cfg.HashKey),
	}
	for name, d := range cfg.Detectors {
		if d.Enabled != nil {
			opts.Enabled[name] = *d.Enabled
		}
		if d.Action != nil {
			opts.Actions[name] = *d.Action
		}
	}
	for _, r := range cfg.CustomRules {
		act := cfg.Action
		if r.Action != nil {
			act = *r.Action
		}
		opts.Rules = append(opts.Rules, pii.Rule{Name: r.Name, Pattern: r.Pattern, Group: r.Group, Context: r.Context, Action: act})
	}
	return opts
}

// NewEngine builds the detection engine the configuration describes.
func (cfg *Config) NewEngine() (*pii.Engine, error) {
	return pii.New(cfg.Options())
}
