package alert

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseFileExample(t *testing.T) {
	rules, err := ParseFile(filepath.Join("testdata", "rules.yaml"))
	require.NoError(t, err)
	require.Len(t, rules, 5)
	assert.Equal(t, KindThreshold, rules[0].Type)
	assert.Equal(t, Duration(5*time.Minute), rules[0].Window)
	assert.Equal(t, SeverityWarning, rules[1].Severity, "default severity")
	assert.Equal(t, "02:00", rules[2].Maintenance.Start)
	_, err = NewEngine(rules)
	require.NoError(t, err)
}

func TestParseErrorsNameTheKey(t *testing.T) {
	for _, tt := range []struct {
		name, yaml, want string
		is               error
	}{
		{"unknown key", "rules: [{name: a, type: match, bogus: 1}]", "field bogus not found", nil},
		{"unknown type", "rules: [{name: a, type: often}]", "unknown rule type", ErrUnknownKind},
		{"no name", "rules: [{type: match, match: {body_contains: [x]}}]", "'name' is required", ErrNoName},
		{"bad name", "rules: [{name: 'a b', type: match, match: {body_contains: [x]}}]", "'name' may hold", ErrBadName},
		{"duplicate", "rules: [{name: a, type: match, match: {body_contains: [x]}}, {name: a, type: match, match: {body_contains: [y]}}]", "'rules::1::name'", ErrDuplicateName},
		{"regex", "rules: [{name: a, type: match, match: {body_regex: '(?<x'}}]", "'match::body_regex'", ErrRegex},
		{"severity", "rules: [{name: a, type: match, match: {severity_at_least: loud}}]", "'match::severity_at_least'", ErrLogSeverity},
		{"no selector", "rules: [{name: a, type: match}]", "'match' must select", ErrNoSelector},
		{"threshold count", "rules: [{name: a, type: threshold, window: 1m, match: {body_contains: [x]}}]", "'count' must be positive", ErrPositive},
		{"threshold window", "rules: [{name: a, type: threshold, count: 3, match: {body_contains: [x]}}]", "'window' must be positive", ErrPositive},
		{"absence for", "rules: [{name: a, type: absence}]", "'for' must be positive", ErrPositive},
		{"absence source", "rules: [{name: a, type: absence, for: 1m, source: pings}]", `'source' must be records or heartbeats, not "pings"`, ErrSource},
		{"source on match", "rules: [{name: a, type: match, source: heartbeats, match: {body_contains: [x]}}]", "'source' is not allowed for this rule type match", ErrNotForKind},
		{"absence count", "rules: [{name: a, type: absence, for: 1m, count: 2}]", "'count' is not allowed", ErrNotForKind},
		{"change attribute", "rules: [{name: a, type: change}]", "'attribute' is required", ErrMissing},
		{"maintenance", "rules: [{name: a, type: change, attribute: x, maintenance: {start: '25:00', end: '01:00'}}]", "'maintenance::start'", ErrClock},
		{"pattern similarity", "rules: [{name: a, type: new_pattern, similarity: 2}]", "'similarity'", nil},
		{"alert severity", "rules: [{name: a, type: absence, for: 1m, severity: loud}]", "unknown severity", ErrUnknownSeverity},
		{"duration", "rules: [{name: a, type: absence, for: soon}]", "invalid duration", nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.yaml))
			require.Error(t, err)
			assert.ErrorContains(t, err, tt.want)
			if tt.is != nil {
				assert.ErrorIs(t, err, tt.is)
			}
		})
	}
}

func TestParseEmpty(t *testing.T) {
	rules, err := Parse(nil)
	require.NoError(t, err)
	assert.Empty(t, rules)
}

func TestPack(t *testing.T) {
	all, err := Pack("all")
	require.NoError(t, err)
	assert.Len(t, all, 10)
	assert.Equal(t, []string{"archive_witness_inconsistent", "auth_brute_force", "crash_loop", "device_silent", "device_unreachable", "firmware_change",
		"identity_spoof_attempt", "oom_kill", "pii_leaked_from_agent", "sudo_by_unknown_user"}, PackNames())
	some, err := Pack("oom_kill", "device_silent")
	require.NoError(t, err)
	assert.Len(t, some, 2)
	_, err = Pack("nope")
	assert.ErrorIs(t, err, ErrUnknownPackRule)
}
