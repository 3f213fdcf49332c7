package pii

import (
	"errors"
	"strings"
	"testing"
)

func TestConfigValidateNamesTheKey(t *testing.T) {
	t.Parallel()
	hash := ActionHash
	tests := []struct {
		name string
		cfg  Config
		want error
		key  string
	}{
		{"unknown detector", Config{Detectors: map[string]DetectorConfig{"emails": {}}}, ErrUnknownDetector, "'detectors::emails'"},
		{"unknown profile", Config{Profiles: []string{"eu", "mars"}}, ErrUnknownProfile, "'profiles::1': \"mars\": unknown profile (known: us, eu, uk, ca, au, hipaa, pci)"},
		{"hash without key", Config{Detectors: map[string]DetectorConfig{Email: {Action: &hash}}}, ErrConfigHashKey, "'hash_key'"},
		{"bad pattern", Config{CustomRules: []RuleConfig{{Name: "x", Pattern: "("}}}, ErrRulePattern, "'custom_rules::0::pattern'"},
		{"bad group", Config{CustomRules: []RuleConfig{{Name: "x", Pattern: "a", Group: 1}}}, ErrRuleGroup, "'custom_rules::0::group'"},
		{"shadowing name", Config{CustomRules: []RuleConfig{{Name: Email, Pattern: "a"}}}, ErrRuleName, "'custom_rules::0::name'"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := tt.cfg.Validate()
			if !errors.Is(err, tt.want) || err == nil || !strings.Contains(err.Error(), tt.key) {
				t.Errorf("Validate() = %v, want %v naming %s", err, tt.want, tt.key)
			}
		})
	}
	good := Config{Profiles: []string{"us", "uk", "pci"}}
	if err := good.Validate(); err != nil {
		t.Fatal(err)
	}
	if _, err := good.NewEngine(); err != nil {
		t.Fatal(err)
	}
}
