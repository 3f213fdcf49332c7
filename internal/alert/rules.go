package alert

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"
	"time"

	"go.opentelemetry.io/collector/pdata/plog"
	"go.yaml.in/yaml/v3"

	"github.com/fleetlog/fleetlog/internal/drain"
	"github.com/fleetlog/fleetlog/internal/fleetattr"
)

// Kind is a rule's kind.
type Kind string

// The rule kinds.
const (
	KindMatch      Kind = "match"
	KindThreshold  Kind = "threshold"
	KindAbsence    Kind = "absence"
	KindChange     Kind = "change"
	KindNewPattern Kind = "new_pattern"
)

var kinds = []Kind{KindMatch, KindThreshold, KindAbsence, KindChange, KindNewPattern}

// UnmarshalText accepts the kind names.
func (k *Kind) UnmarshalText(b []byte) error {
	for _, v := range kinds {
		if string(b) == string(v) {
			*k = v
			return nil
		}
	}
	return fmt.Errorf("%w %q: use one of %v", ErrUnknownKind, b, kinds)
}

// Severity is an alert's severity.
type Severity string

// The alert severities.
const (
	SeverityInfo     Severity = "info"
	SeverityWarning  Severity = "warning"
	SeverityCritical Severity = "critical"
)

var severities = []Severity{SeverityInfo, SeverityWarning, SeverityCritical}

// UnmarshalText accepts the severity names.
func (s *Severity) UnmarshalText(b []byte) error {
	for _, v := range severities {
		if string(b) == string(v) {
			*s = v
			return nil
		}
	}
	return fmt.Errorf("%w %q: use one of %v", ErrUnknownSeverity, b, severities)
}

// Duration is a time.Duration written as "5m" in YAML.
type Duration time.Duration

// UnmarshalText parses a Go duration.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

// The sources of an absence rule.
const (
	SourceRecords    = "records"
	SourceHeartbeats = "heartbeats"
)

// Errors of rule validation; messages name the YAML key.
var (
	ErrUnknownKind     = errors.New("unknown rule type")
	ErrUnknownSeverity = errors.New("unknown severity")
	ErrNoName          = errors.New("'name' is required")
	ErrDuplicateName   = errors.New("duplicate rule name")
	ErrBadName         = errors.New("'name' may hold only letters, digits, '_', '-' and '.'")
	ErrNoSelector      = errors.New("'match' must select something")
	ErrRegex           = errors.New("invalid RE2 pattern")
	ErrLogSeverity     = errors.New("unknown log severity")
	ErrPositive        = errors.New("must be positive")
	ErrMissing         = errors.New("is required for this rule type")
	ErrNotForKind      = errors.New("is not allowed for this rule type")
	ErrClock           = errors.New("must be HH:MM (UTC)")
	ErrSource          = errors.New("must be records or heartbeats")
)

// Match selects records. Every field set must hold (AND); a list holds when
// any of its items does.
type Match struct {
	// SeverityAtLeast is the lowest log severity: trace, debug, info, warn,
	// error or fatal (default: any).
	SeverityAtLeast string `yaml:"severity_at_least"`
	// BodyContains holds when the body contains any of the strings.
	BodyContains []string `yaml:"body_contains"`
	// BodyRegex is an RE2 pattern the body must match.
	BodyRegex string `yaml:"body_regex"`
	// Attributes must equal (record attribute, else resource attribute).
	Attributes map[string]string `yaml:"attributes"`
	// AttributesExist must be present on the record or its resource.
	AttributesExist []string `yaml:"attributes_exist"`
	// PIIDetected holds for records on which the gateway's pii processor
	// found something (its summary attribute, PIIAttribute, is present).
	PIIDetected bool `yaml:"pii_detected"`
	// IdentityMismatch holds for records whose claimed identity the gateway
	// overrode (fleet.identity.mismatch).
	IdentityMismatch bool `yaml:"identity_mismatch"`
	// Fleets, Sites and Devices restrict the rule to these identities.
	Fleets  []string `yaml:"fleets"`
	Sites   []string `yaml:"sites"`
	Devices []string `yaml:"devices"`
}

// Window is a daily time window in UTC.
type Window struct {
	Start string `yaml:"start"` // "02:00"
	End   string `yaml:"end"`   // "04:00"; before Start means across midnight
}

// Rule is one alert rule as written in YAML.
type Rule struct {
	Name        string   `yaml:"name"`
	Type        Kind     `yaml:"type"`
	Severity    Severity `yaml:"severity"`
	Description string   `yaml:"description"`
	Match       Match    `yaml:"match"`
	// GroupBy are the attribute names whose values split a rule's alerts
	// (match and threshold; default [device.id]).
	GroupBy []string `yaml:"group_by"`
	// Count and Window: threshold fires at Count matches within Window and
	// resolves after Window without a match; match resolves after Window
	// (default 5m) without a match.
	Count  int      `yaml:"count"`
	Window Duration `yaml:"window"`
	// For: absence fires when a device sent nothing for For. Source says
	// what counts: "records" (default), the device's log records, or
	// "heartbeats", its reports to the gateway's fleet registry
	// (fleet_control), which an agent sends even when it has nothing to log.
	For    Duration `yaml:"for"`
	Source string   `yaml:"source"`
	// Attribute and Maintenance: change watches Attribute per device and
	// does not fire inside the daily Maintenance window.
	Attribute   string  `yaml:"attribute"`
	Maintenance *Window `yaml:"maintenance"`
	// Learning, Similarity, Depth and MaxTemplates tune new_pattern: no
	// alert until Learning (default 24h) after a fleet's first record.
	Learning     Duration `yaml:"learning"`
	Similarity   float64  `yaml:"similarity"`
	Depth        int      `yaml:"depth"`
	MaxTemplates int      `yaml:"max_templates"`
	// ResolveAfter resolves change and new_pattern alerts after this long
	// without a new event of the group (default 1h).
	ResolveAfter Duration `yaml:"resolve_after"`
}

// File is a rules file.
type File struct {
	Rules []Rule `yaml:"rules"`
}

// Defaults.
const (
	DefaultMatchWindow  = 5 * time.Minute
	DefaultLearning     = 24 * time.Hour
	DefaultResolveAfter = time.Hour
)

// PIIAttribute is the prefix of the summary attributes the gateway's pii
// processor writes on a record with a finding (its summary_attribute
// option): PIIAttribute+".count" and PIIAttribute+".detectors".
const PIIAttribute = "fleet.gateway.pii"

// ParseFile reads and validates a rules file.
func ParseFile(path string) ([]*Rule, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read rules: %w", err)
	}
	rules, err := Parse(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return rules, nil
}

// Parse decodes and validates rules YAML. Unknown keys are errors.
func Parse(b []byte) ([]*Rule, error) {
	var f File
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	// An empty file is no rules.
	if err := dec.Decode(&f); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("parse rules: %w", err)
	}
	out := make([]*Rule, 0, len(f.Rules))
	for i := range f.Rules {
		out = append(out, &f.Rules[i])
	}
	return out, ValidateAll(out)
}

// ValidateAll checks every rule and that names are unique. Each error names
// the rule ('rules::3' or its name) and the key.
func ValidateAll(rules []*Rule) error {
	seen := map[string]bool{}
	var errs []error
	for i, r := range rules {
		if err := r.Validate(); err != nil {
			errs = append(errs, fmt.Errorf("'rules::%d' (%s): %w", i, r.Name, err))
			continue
		}
		if seen[r.Name] {
			errs = append(errs, fmt.Errorf("'rules::%d::name': %w %q", i, ErrDuplicateName, r.Name))
		}
		seen[r.Name] = true
	}
	return errors.Join(errs...)
}

// Validate checks one rule; it names the YAML key that is wrong.
func (r *Rule) Validate() error {
	if r.Name == "" {
		return ErrNoName
	}
	for _, c := range r.Name {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.') {
			return ErrBadName
		}
	}
	if r.Type == "" {
		return fmt.Errorf("'type' %w", ErrMissing)
	}
	if r.Severity == "" {
		r.Severity = SeverityWarning
	}
	if err := r.Match.validate(); err != nil {
		return err
	}
	not := func(key string, set bool) error {
		if set {
			return fmt.Errorf("'%s' %w %s", key, ErrNotForKind, r.Type)
		}
		return nil
	}
	patternSet := r.Learning != 0 || r.Similarity != 0 || r.Depth != 0 || r.MaxTemplates != 0
	if err := not("source", r.Type != KindAbsence && r.Source != ""); err != nil {
		return err
	}
	switch r.Type {
	case KindMatch, KindThreshold:
		if r.Type == KindThreshold {
			if r.Count < 1 {
				return fmt.Errorf("'count' %w", ErrPositive)
			}
			if r.Window <= 0 {
				return fmt.Errorf("'window' %w", ErrPositive)
			}
		} else if err := not("count", r.Count != 0); err != nil {
			return err
		}
		if r.Window < 0 {
			return fmt.Errorf("'window' %w", ErrPositive)
		}
		if !r.Match.selects() {
			return ErrNoSelector
		}
		return errors.Join(not("for", r.For != 0), not("attribute", r.Attribute != ""),
			not("maintenance", r.Maintenance != nil), not("learning", patternSet), not("resolve_after", r.ResolveAfter != 0))
	case KindAbsence:
		if r.For <= 0 {
			return fmt.Errorf("'for' %w", ErrPositive)
		}
		if r.Source != "" && r.Source != SourceRecords && r.Source != SourceHeartbeats {
			return fmt.Errorf("'source' %w, not %q", ErrSource, r.Source)
		}
		return errors.Join(not("count", r.Count != 0), not("window", r.Window != 0), not("group_by", r.GroupBy != nil),
			not("attribute", r.Attribute != ""), not("maintenance", r.Maintenance != nil), not("learning", patternSet),
			not("resolve_after", r.ResolveAfter != 0), not("match::body_contains", len(r.Match.BodyContains) > 0),
			not("match::body_regex", r.Match.BodyRegex != ""))
	case KindChange:
		if r.Attribute == "" {
			return fmt.Errorf("'attribute' %w", ErrMissing)
		}
		if r.Maintenance != nil {
			if _, err := parseClock(r.Maintenance.Start); err != nil {
				return fmt.Errorf("'maintenance::start' %w", err)
			}
			if _, err := parseClock(r.Maintenance.End); err != nil {
				return fmt.Errorf("'maintenance::end' %w", err)
			}
		}
		if r.ResolveAfter < 0 {
			return fmt.Errorf("'resolve_after' %w", ErrPositive)
		}
		return errors.Join(not("count", r.Count != 0), not("window", r.Window != 0), not("for", r.For != 0),
			not("group_by", r.GroupBy != nil), not("learning", patternSet))
	case KindNewPattern:
		if r.Learning < 0 {
			return fmt.Errorf("'learning' %w", ErrPositive)
		}
		if r.ResolveAfter < 0 {
			return fmt.Errorf("'resolve_after' %w", ErrPositive)
		}
		if err := r.drainConfig().Validate(); err != nil {
			return err
		}
		return errors.Join(not("count", r.Count != 0), not("window", r.Window != 0), not("for", r.For != 0),
			not("group_by", r.GroupBy != nil), not("attribute", r.Attribute != ""), not("maintenance", r.Maintenance != nil))
	default:
		return fmt.Errorf("'type' %w %q", ErrUnknownKind, r.Type)
	}
}

func (r *Rule) drainConfig() drain.Config {
	return drain.Config{Depth: r.Depth, Similarity: r.Similarity, MaxTemplates: r.MaxTemplates}.WithDefaults()
}

func (m *Match) selects() bool {
	return m.SeverityAtLeast != "" || len(m.BodyContains) > 0 || m.BodyRegex != "" || len(m.Attributes) > 0 ||
		len(m.AttributesExist) > 0 || m.PIIDetected || m.IdentityMismatch || len(m.Fleets) > 0 || len(m.Sites) > 0 ||
		len(m.Devices) > 0
}

func (m *Match) validate() error {
	if m.SeverityAtLeast != "" {
		if _, err := ParseLogSeverity(m.SeverityAtLeast); err != nil {
			return fmt.Errorf("'match::severity_at_least': %w", err)
		}
	}
	if m.BodyRegex != "" {
		if _, err := regexp.Compile(m.BodyRegex); err != nil {
			return fmt.Errorf("'match::body_regex': %w: %w", ErrRegex, err)
		}
	}
	for i, s := range m.BodyContains {
		if s == "" {
			return fmt.Errorf("'match::body_contains::%d' is empty", i)
		}
	}
	return nil
}

// ParseLogSeverity reads trace, debug, info, warn, error or fatal (any case)
// as the lowest SeverityNumber of that range.
func ParseLogSeverity(s string) (plog.SeverityNumber, error) {
	switch strings.ToLower(s) {
	case "trace":
		return plog.SeverityNumberTrace, nil
	case "debug":
		return plog.SeverityNumberDebug, nil
	case "info":
		return plog.SeverityNumberInfo, nil
	case "warn", "warning":
		return plog.SeverityNumberWarn, nil
	case "error":
		return plog.SeverityNumberError, nil
	case "fatal":
		return plog.SeverityNumberFatal, nil
	}
	return 0, fmt.Errorf("%w %q: use trace, debug, info, warn, error or fatal", ErrLogSeverity, s)
}

// parseClock reads "HH:MM" as minutes after midnight.
func parseClock(s string) (int, error) {
	t, err := time.Parse("15:04", s)
	if err != nil {
		return 0, ErrClock
	}
	return t.Hour()*60 + t.Minute(), nil
}

// identity keys, for the default group and the evidence command.
var (
	keyDevice   = fleetattr.DeviceID
	keyFleet    = fleetattr.FleetName
	keySite     = fleetattr.FleetSite
	keyMismatch = fleetattr.IdentityMismatch
)
