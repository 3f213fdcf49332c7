package pii

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// CorpusEntry is one labelled line of testdata/corpus/corpus.jsonl.
type CorpusEntry struct {
	Tag     string   `json:"tag"`
	Line    string   `json:"line"`
	Secrets []string `json:"secrets"`
	Keep    []string `json:"keep"`
}

func loadCorpus(tb testing.TB) []CorpusEntry {
	tb.Helper()
	f, err := os.Open(filepath.Join("testdata", "corpus", "corpus.jsonl"))
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	var out []CorpusEntry
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var e CorpusEntry
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			tb.Fatal(err)
		}
		out = append(out, e)
	}
	if err := sc.Err(); err != nil {
		tb.Fatal(err)
	}
	return out
}

// CorpusScore is what a redactor did to the corpus.
type CorpusScore struct {
	Secrets, SecretsGone int
	Keeps, KeepsKept     int
	// FalsePositiveLines are lines without secrets that were changed.
	CleanLines, FalsePositiveLines int
	Missed, Mangled                []string // tag: item (for failure messages)
}

// Recall is the share of secrets removed.
func (s CorpusScore) Recall() float64 { return float64(s.SecretsGone) / float64(s.Secrets) }

// KeepRate is the share of benign tokens that survived.
func (s CorpusScore) KeepRate() float64 { return float64(s.KeepsKept) / float64(s.Keeps) }

// FalsePositiveRate is the share of secret-free lines that were changed.
func (s CorpusScore) FalsePositiveRate() float64 {
	return float64(s.FalsePositiveLines) / float64(s.CleanLines)
}

func scoreCorpus(entries []CorpusEntry, redact func(string) string) CorpusScore {
	var s CorpusScore
	for _, e := range entries {
		out := redact(e.Line)
		for _, secret := range e.Secrets {
			s.Secrets++
			if strings.Contains(out, secret) {
				s.Missed = append(s.Missed, e.Tag+": "+e.Line)
			} else {
				s.SecretsGone++
			}
		}
		for _, k := range e.Keep {
			s.Keeps++
			if strings.Contains(out, k) {
				s.KeepsKept++
			} else {
				s.Mangled = append(s.Mangled, e.Tag+": "+k+" in "+out)
			}
		}
		if len(e.Secrets) == 0 {
			s.CleanLines++
			if out != e.Line {
				s.FalsePositiveLines++
			}
		}
	}
	return s
}

// TestCorpus requires every labelled secret gone and every benign token
// kept with the default configuration.
func TestCorpus(t *testing.T) {
	t.Parallel()
	e, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	tally := e.NewTally()
	entries := loadCorpus(t)
	s := scoreCorpus(entries, func(line string) string {
		out, _, _ := e.Redact(line, tally)
		return out
	})
	t.Logf("pii corpus: %d lines, recall %.1f%% (%d/%d secrets), keep %.1f%% (%d/%d benign tokens), false-positive lines %.1f%% (%d/%d)",
		len(entries), 100*s.Recall(), s.SecretsGone, s.Secrets, 100*s.KeepRate(), s.KeepsKept, s.Keeps,
		100*s.FalsePositiveRate(), s.FalsePositiveLines, s.CleanLines)
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
