// Package loghub locates the Loghub-2k corpus of real system logs that tests
// and benchmarks read in place: 2,000-line samples of 16 systems with their
// ground-truth templates. The corpus's licence (free for research use, with
// citation) keeps it out of this repository; it is read from
// ../shared/corpora/loghub-2k beside the checkout, or from FLEETLOG_LOGHUB_DIR,
// and a caller skips with a clear message when it is absent.
package loghub

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// EnvDir names the variable that overrides where the corpus is read from.
const EnvDir = "FLEETLOG_LOGHUB_DIR"

// ErrAbsent is returned by Dir when the corpus cannot be found.
var ErrAbsent = errors.New("loghub-2k corpus not found")

// Dir returns the corpus folder: $FLEETLOG_LOGHUB_DIR, or
// ../shared/corpora/loghub-2k beside the module root found above the working
// directory.
func Dir() (string, error) {
	if d := os.Getenv(EnvDir); d != "" {
		if isCorpus(d) {
			return d, nil
		}
		return "", fmt.Errorf("%w in %s=%s", ErrAbsent, EnvDir, d)
	}
	wd, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("find loghub-2k: %w", err)
	}
	for d := wd; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			// The first go.mod up may be a nested module (bench, tools); keep
			// looking upwards for a checkout with shared/ beside it.
			c := filepath.Join(filepath.Dir(d), "shared", "corpora", "loghub-2k")
			if isCorpus(c) {
				return c, nil
			}
		}
		if filepath.Dir(d) == d {
			break
		}
	}
	return "", fmt.Errorf("%w: expected ../shared/corpora/loghub-2k beside the checkout, or set %s", ErrAbsent, EnvDir)
}

func isCorpus(d string) bool {
	_, err := os.Stat(filepath.Join(d, "OpenSSH_2k.log"))
	return err == nil
}

// Require returns the corpus folder, or skips tb with the reason.
func Require(tb testing.TB) string {
	tb.Helper()
	d, err := Dir()
	if err != nil {
		tb.Skipf("skipping: %v (real logs are read in place, never copied into the project)", err)
	}
	return d
}

// Systems lists the systems in the corpus ("Android", "Apache", ...), sorted.
func Systems(dir string) ([]string, error) {
	m, err := filepath.Glob(filepath.Join(dir, "*_2k.log"))
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, len(m))
	for _, p := range m {
		out = append(out, strings.TrimSuffix(filepath.Base(p), "_2k.log"))
	}
	sort.Strings(out)
	return out, nil
}

// Lines returns the raw lines of one system's sample, without line endings.
func Lines(dir, system string) ([]string, error) {
	b, err := os.ReadFile(filepath.Join(dir, system+"_2k.log"))
	if err != nil {
		return nil, fmt.Errorf("read %s sample: %w", system, err)
	}
	var out []string
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		out = append(out, strings.TrimRight(sc.Text(), "\r"))
	}
	return out, sc.Err()
}

// AllLines returns the raw lines of every system's sample, the systems in
// Systems' order.
func AllLines(dir string) ([]string, error) {
	systems, err := Systems(dir)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, s := range systems {
		lines, err := Lines(dir, s)
		if err != nil {
			return nil, err
		}
		out = append(out, lines...)
	}
	return out, nil
}

// Structured is one line of a system's ground truth: the parsed content and
// its template.
type Structured struct {
	LineID   string
	Content  string
	EventID  string
	Template string
	// Fields holds every column by its header name (Level, Component, ...,
	// which differ per system).
	Fields map[string]string
}

// ReadStructured returns a system's *_structured.csv rows in line order.
func ReadStructured(dir, system string) ([]Structured, error) {
	f, err := os.Open(filepath.Join(dir, system+"_2k.log_structured.csv"))
	if err != nil {
		return nil, fmt.Errorf("open %s ground truth: %w", system, err)
	}
	defer f.Close()
	r := csv.NewReader(f)
	r.FieldsPerRecord = -1
	r.LazyQuotes = true
	head, err := r.Read()
	if err != nil {
		return nil, fmt.Errorf("read %s ground truth header: %w", system, err)
	}
	var out []Structured
	for {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("read %s ground truth: %w", system, err)
		}
		s := Structured{Fields: make(map[string]string, len(head))}
		for i, h := range head {
			if i < len(rec) {
				s.Fields[h] = rec[i]
			}
		}
		s.LineID, s.Content, s.EventID, s.Template = s.Fields["LineId"], s.Fields["Content"], s.Fields["EventId"], s.Fields["EventTemplate"]
		out = append(out, s)
	}
}
