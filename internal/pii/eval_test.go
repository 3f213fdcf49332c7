package pii

import (
	"flag"
	"fmt"
	"sort"
	"strings"
	"testing"

	"github.com/fleetlog/fleetlog/internal/loghub"
	"github.com/fleetlog/fleetlog/internal/pii/evalcorpus"
)

var evalVerbose = flag.Bool("pii.eval.verbose", false, "TestEvaluation: list every miss, every lost look-alike and every changed real line")

// tally counts hits of a class.
type tally struct{ n, ok int }

func (t tally) rate() float64 { return float64(t.ok) / float64(max(t.n, 1)) }

func (t tally) String() string { return fmt.Sprintf("%.4f (%d/%d)", t.rate(), t.ok, t.n) }

type tallies map[string]*tally

func (m tallies) add(key string, ok bool) {
	t := m[key]
	if t == nil {
		t = &tally{}
		m[key] = t
	}
	t.n++
	if ok {
		t.ok++
	}
}

func (m tallies) log(t *testing.T, title string, onlyBelow float64) {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	t.Logf("%s:", title)
	for _, k := range keys {
		if m[k].rate() <= onlyBelow {
			t.Logf("  %-34s %s", k, m[k])
		}
	}
}

// evalEngine is the default configuration: what a user gets.
func evalEngine(t testing.TB) *Engine { return mustNew(t, Options{}) }

// TestEvaluation measures the default configuration on the evaluation
// corpus (package evalcorpus: public secret-scanner and recognizer test
// data written into real Loghub lines in 15 contexts, look-alikes, and the
// 32,000 untouched real lines) and logs recall per kind and context, keep
// rate per look-alike kind, and the share of real lines changed.
// -pii.eval.verbose lists each miss.
func TestEvaluation(t *testing.T) {
	dir := loghub.Require(t)
	c, err := evalcorpus.Build(dir)
	if err != nil {
		t.Fatal(err)
	}
	e := evalEngine(t)
	tl := e.NewTally()
	red := func(s string) string {
		out, _, _ := e.Redact(s, tl)
		return out
	}

	all, byContext, byKind, bySource := &tally{}, tallies{}, tallies{}, tallies{}
	var missed []string
	for _, en := range c.Secrets {
		out := red(en.Line)
		for _, s := range en.Secrets {
			ok := !strings.Contains(out, s)
			all.n++
			if ok {
				all.ok++
			} else {
				missed = append(missed, fmt.Sprintf("%s/%s: %q -> %q", en.Kind, en.Context, s, out))
			}
			byContext.add(en.Context, ok)
			byKind.add(en.Kind, ok)
			bySource.add(en.Source, ok)
		}
	}

	keep, keepByKind, keepByContext := &tally{}, tallies{}, tallies{}
	var lost []string
	for _, en := range c.LookAlikes {
		out := red(en.Line)
		for _, k := range en.Keep {
			ok := strings.Contains(out, k)
			keep.n++
			if ok {
				keep.ok++
			} else {
				lost = append(lost, fmt.Sprintf("%s/%s: %q -> %q", en.Kind, en.Context, k, out))
			}
			keepByKind.add(en.Kind, ok)
			keepByContext.add(en.Context, ok)
		}
	}

	declared := &tally{}
	for _, en := range c.DeclaredFP {
		out := red(en.Line)
		declared.n++
		if strings.Contains(out, en.Keep[0]) {
			declared.ok++
		}
	}

	var changed []string
	for _, l := range c.Clean {
		if out := red(l); out != l {
			changed = append(changed, fmt.Sprintf("%q -> %q", l, out))
		}
	}
	unchanged := tally{n: len(c.Clean), ok: len(c.Clean) - len(changed)}

	t.Logf("recall %s; keep %s; real lines changed %.4f%% (%d/%d); gitleaks' declared false positives kept %s",
		all, keep, 100*(1-unchanged.rate()), len(changed), len(c.Clean), declared)
	bySource.log(t, "recall by source", 1)
	byContext.log(t, "recall by context", 1)
	byKind.log(t, "recall by kind (kinds below 1 only)", 0.9999)
	keepByKind.log(t, "keep by look-alike kind", 1)
	keepByContext.log(t, "keep by context", 1)
	if *evalVerbose {
		for _, m := range missed {
			t.Log("missed:", m)
		}
		for _, m := range lost {
			t.Log("lost:", m)
		}
		for _, m := range changed {
			t.Log("changed:", m)
		}
	}

	// The targets hold for the whole default set, and for what
	// vendor_token adds: the gitleaks-sourced secrets, and no look-alike
	// or real line taken for a vendor token.
	vendorLost, vendorChanged := 0, 0
	for _, m := range lost {
		if strings.Contains(m, "[REDACTED:"+VendorToken+"]") {
			vendorLost++
		}
	}
	for _, m := range changed {
		if strings.Contains(m, "[REDACTED:"+VendorToken+"]") {
			vendorChanged++
		}
	}
	if g := bySource["gitleaks"]; g == nil || g.rate() < evalRecall {
		t.Errorf("recall of gitleaks' secrets %v below %.2f", g, evalRecall)
	}
	if vendorLost > 0 || vendorChanged > 0 {
		t.Errorf("vendor_token took %d look-alikes and changed %d real lines", vendorLost, vendorChanged)
	}
	if all.rate() < evalRecall {
		t.Errorf("recall %s below %.2f", all, evalRecall)
	}
	if keep.rate() < evalKeep {
		t.Errorf("keep %s below %.3f", keep, evalKeep)
	}
	if r := 1 - unchanged.rate(); r > evalChanged {
		t.Errorf("%.4f%% of real lines changed, above %.2f%%", 100*r, 100*evalChanged)
	}
}

// The targets for the default configuration.
const (
	evalRecall  = 0.95
	evalKeep    = 0.998
	evalChanged = 0.001
)
