package pii

import (
	"errors"
	"fmt"
	"regexp"
	"strings"

	"go.opentelemetry.io/collector/config/configopaque"
)

// Config is the detection part of the pii processor's configuration, which
// the fleetlogctl redact and leakscan commands read too. The processor
// embeds it and adds what only a pipeline needs (mode, scope, key lists).
type Config struct {
	// Action is what happens to a match of a detector without its own
	// action: mask (default), hash, drop_attribute or drop_record.
	Action Action `mapstructure:"action"`
	// HashKey keys the HMAC-SHA256 behind the hash action. Required when any
	// detector hashes; use ${env:...} or ${file:...} rather than a literal.
	HashKey configopaque.String `mapstructure:"hash_key"`
	// Profiles, when set, keep only the national identifiers of the named
	// profiles (us, eu, uk, ca, au, hipaa, pci) and turn on their other
	// detectors on top of the default set; empty (default) keeps the
	// default set, every region's identifiers included.
	Profiles []string `mapstructure:"profiles"`
	// Detectors turns built-in detectors on or off and sets their action,
	// keyed by detector name, after Profiles. Detectors left out keep their
	// defaults.
	Detectors map[string]DetectorConfig `mapstructure:"detectors"`
	// CustomRules are extra detectors defined by RE2 patterns.
	CustomRules []RuleConfig `mapstructure:"custom_rules"`
}

// DetectorConfig overrides one built-in detector's defaults.
type DetectorConfig struct {
	// Enabled turns the detector on or off; unset keeps its default
	// (ipv4, ipv6 and phone are off unless a profile turns them on, the
	// rest on).
	Enabled *bool `mapstructure:"enabled"`
	// Action overrides the configuration's 'action' for this detector.
	Action *Action `mapstructure:"action"`
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
	// Action overrides the configuration's 'action' for this rule.
	Action *Action `mapstructure:"action"`
}

// ErrConfigHashKey is returned by Config.Validate when an action is hash
// and 'hash_key' is empty.
var ErrConfigHashKey = errors.New("'hash_key' is required when an action is hash")

// DefaultConfig returns the configuration of the default detectors, all
// masking.
func DefaultConfig() Config { return Config{Action: ActionMask} }

// Validate checks the configuration; its errors name the offending key.
func (cfg *Config) Validate() error {
	var errs []error
	hashes := cfg.Action == ActionHash
	for i, p := range cfg.Profiles {
		if ProfileDetectors(p) == nil {
			errs = append(errs, fmt.Errorf("'profiles::%d': %q: %w (known: %s)", i, p, ErrUnknownProfile, strings.Join(Profiles(), ", ")))
		}
	}
	for name, d := range cfg.Detectors {
		if !IsBuiltin(name) {
			errs = append(errs, fmt.Errorf("'detectors::%s': %w (known: %s)", name, ErrUnknownDetector, strings.Join(Builtin(), ", ")))
		}
		hashes = hashes || d.Action != nil && *d.Action == ActionHash
	}
	names := map[string]bool{}
	for i, r := range cfg.CustomRules {
		key := fmt.Sprintf("'custom_rules::%d", i)
		if r.Name == "" || IsBuiltin(r.Name) || names[r.Name] {
			errs = append(errs, fmt.Errorf("%s::name': %w", key, ErrRuleName))
		}
		names[r.Name] = true
		hashes = hashes || r.Action != nil && *r.Action == ActionHash
		if err := checkPattern(r); err != nil {
			errs = append(errs, fmt.Errorf("%s::%w", key, err))
		}
	}
	if hashes && cfg.HashKey == "" {
		errs = append(errs, ErrConfigHashKey)
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
func (cfg *Config) Options() Options {
	opts := Options{
		Profiles:      cfg.Profiles,
		Enabled:       map[string]bool{},
		Actions:       map[string]Action{},
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
		opts.Rules = append(opts.Rules, Rule{Name: r.Name, Pattern: r.Pattern, Group: r.Group, Context: r.Context, Action: act})
	}
	return opts
}

// NewEngine builds the detection engine the configuration describes.
func (cfg *Config) NewEngine() (*Engine, error) {
	return New(cfg.Options())
}
