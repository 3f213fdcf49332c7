package alert

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

func FuzzParseRules(f *testing.F) {
	b, err := os.ReadFile(filepath.Join("testdata", "rules.yaml"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	f.Add(packYAML)
	f.Add([]byte("rules: [{name: a, type: threshold, count: 1, window: 1s, match: {body_regex: 'x+'}}]"))
	f.Fuzz(func(t *testing.T, b []byte) {
		rules, err := Parse(b)
		if err != nil {
			return
		}
		// What validates must compile and run.
		e, err := NewEngine(rules)
		if err != nil {
			t.Fatalf("validated rules do not compile: %v", err)
		}
		r := ParseLine("Dec 10 06:55:46 host sshd[1]: Failed password for root", 2026, map[string]string{"device.id": "d"})
		e.Observe(t0, one(&r))
		e.Tick(t0.Add(48 * time.Hour))
	})
}

func FuzzParseLine(f *testing.F) {
	f.Add("Dec 10 06:55:46 LabSZ sshd[24200]: Failed password for root")
	f.Add(`{"time":"2026-11-24T10:00:00Z","severity_number":17,"body":{"a":[1,2]},"attributes":{"a":1.5},"resource":{"device.id":"d9"}}`)
	f.Add("2026-11-24T10:00:00Z hello")
	f.Fuzz(func(t *testing.T, line string) {
		r := ParseLine(line, 2026, nil)
		if r.Attrs == nil {
			t.Fatal("nil attrs")
		}
	})
}
