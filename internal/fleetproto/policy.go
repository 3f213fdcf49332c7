package fleetproto

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"
)

// KeySeparator separates the levels of a configuration key path, as in the
// collector's confmap ("receivers::spool::files").
const KeySeparator = "::"

// DefaultAllowedKeys are the configuration keys a remote fragment may set
// when the gateway's configuration names no others: what to collect (the
// spool's file inputs), stricter redaction (pii profiles and custom rules),
// the device's labels, and the agent's log level. A pattern covers the key
// and everything under it; "*" matches one level.
var DefaultAllowedKeys = []string{
	"receivers::spool::files",
	"processors::pii::profiles",
	"processors::pii::custom",
	"processors::fleet_metadata::labels",
	"service::telemetry::logs::level",
}

// LockedKeys can never be set by a fragment, even when allowed: they would
// turn off mutual TLS or change where records go (exporters), change the
// pipelines (and so take pii out), or change the extensions (among them the
// control plane itself). A gateway may unlock one explicitly
// (Policy.Unlocked).
var LockedKeys = []string{
	"exporters",
	"extensions",
	"service::pipelines",
	"service::extensions",
	"processors::pii::action",
	"processors::pii::allowed_keys",
}

// ErrKeyNotAllowed is returned for a fragment that sets a key outside the
// policy.
var ErrKeyNotAllowed = errors.New("remote config: key not allowed")

// Policy decides which keys a fragment may set.
type Policy struct {
	// Allowed key patterns; nil means DefaultAllowedKeys.
	Allowed []string
	// Unlocked names LockedKeys patterns the gateway's operator chose to
	// allow; each must also be covered by Allowed.
	Unlocked []string
}

// ParseFragment decodes a YAML fragment into a configuration map.
func ParseFragment(b []byte) (map[string]any, error) {
	var m map[string]any
	if err := yaml.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("remote config: parse fragment: %w", err)
	}
	return m, nil
}

// Check returns an error naming every key of the fragment that the policy
// does not allow, sorted.
func (p Policy) Check(fragment map[string]any) error {
	allowed := p.Allowed
	if allowed == nil {
		allowed = DefaultAllowedKeys
	}
	var bad []string
	for _, k := range LeafKeys(fragment) {
		switch {
		case matchesAny(k, LockedKeys) && !matchesAny(k, p.Unlocked):
			bad = append(bad, k+" (locked)")
		case !matchesAny(k, allowed):
			bad = append(bad, k)
		}
	}
	if len(bad) > 0 {
		return fmt.Errorf("%w: %s", ErrKeyNotAllowed, strings.Join(bad, ", "))
	}
	return nil
}

// LeafKeys returns the key path of every leaf of a configuration map (a
// scalar, a list, or an empty map), sorted.
func LeafKeys(m map[string]any) []string {
	var out []string
	var walk func(prefix string, v any)
	walk = func(prefix string, v any) {
		sub, ok := v.(map[string]any)
		if !ok || len(sub) == 0 {
			out = append(out, prefix)
			return
		}
		for k, vv := range sub {
			walk(prefix+KeySeparator+k, vv)
		}
	}
	for k, v := range m {
		walk(k, v)
	}
	sort.Strings(out)
	return out
}

// matchesAny reports whether key is covered by one of the patterns: equal to
// it or below it, with "*" matching one level.
func matchesAny(key string, patterns []string) bool {
	parts := strings.Split(key, KeySeparator)
	return slices.ContainsFunc(patterns, func(p string) bool {
		pp := strings.Split(p, KeySeparator)
		if len(pp) > len(parts) {
			return false
		}
		for i := range pp {
			if pp[i] != "*" && pp[i] != parts[i] {
				return false
			}
		}
		return true
	})
}
