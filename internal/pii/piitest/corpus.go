// Package piitest holds the labelled corpus the pii engine, the pii
// processor and its benchmarks are measured on.
package piitest

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// CorpusPath is the corpus file, found relative to this source file so that
// tests in any package can read it.
func CorpusPath(tb testing.TB) string {
	tb.Helper()
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		tb.Fatal("cannot locate the corpus")
	}
	return filepath.Join(filepath.Dir(file), "..", "testdata", "corpus", "corpus.jsonl")
}

// CorpusEntry is one labelled line of testdata/corpus/corpus.jsonl.
type CorpusEntry struct {
	Tag     string   `json:"tag"`
	Line    string   `json:"line"`
	Secrets []string `json:"secrets"`
	Keep    []string `json:"keep"`
}

// LoadCorpus reads internal/pii/testdata/corpus/corpus.jsonl from any
// package directory of the module.
func LoadCorpus(tb testing.TB) []CorpusEntry {
	tb.Helper()
	f, err := os.Open(CorpusPath(tb))
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

// Score runs redact over every line and compares with the labels.
func Score(entries []CorpusEntry, redact func(string) string) CorpusScore {
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

// String is the one-line summary printed by the corpus tests.
func (s CorpusScore) String() string {
	return fmt.Sprintf("recall %s secrets, keep %s benign tokens, false-positive lines %s",
		ratio(s.SecretsGone, s.Secrets), ratio(s.KeepsKept, s.Keeps), ratio(s.FalsePositiveLines, s.CleanLines))
}

func ratio(n, of int) string {
	if of == 0 {
		return "n/a"
	}
	return fmt.Sprintf("%.1f%% (%d/%d)", 100*float64(n)/float64(of), n, of)
}

// Lines returns the corpus lines.
func Lines(entries []CorpusEntry) []string {
	out := make([]string, len(entries))
	for i, e := range entries {
		out[i] = e.Line
	}
	return out
}
