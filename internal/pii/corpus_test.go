package pii

import (
	"testing"

	"github.com/fleetlog/fleetlog/internal/pii/piitest"
)

// TestCorpus requires every labelled secret gone and every benign token
// kept with the default configuration.
func TestCorpus(t *testing.T) {
	t.Parallel()
	e, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	tally := e.NewTally()
	entries := piitest.LoadCorpus(t)
	s := piitest.Score(entries, func(line string) string {
		out, _, _ := e.Redact(line, tally)
		return out
	})
	t.Logf("pii on %d corpus lines: %s", len(entries), s)
	byTag := map[string][]piitest.CorpusEntry{}
	var tags []string
	for _, entry := range entries {
		if byTag[entry.Tag] == nil {
			tags = append(tags, entry.Tag)
		}
		byTag[entry.Tag] = append(byTag[entry.Tag], entry)
	}
	for _, tag := range tags {
		t.Logf("  %-16s %3d lines: %s", tag, len(byTag[tag]), piitest.Score(byTag[tag], func(line string) string {
			out, _, _ := e.Redact(line, tally)
			return out
		}))
	}
	for _, m := range s.Missed {
		t.Errorf("secret survived: %s", m)
	}
	for _, m := range s.Mangled {
		t.Errorf("benign token lost: %s", m)
	}
	if s.FalsePositiveLines != 0 {
		t.Errorf("%d secret-free lines were changed", s.FalsePositiveLines)
	}
}
