package pii

import (
	"testing"

	"github.com/fleetlog/fleetlog/internal/loghub"
)

// TestRealLogs runs every detector over the 32,000 real lines of
// Loghub-2k and counts, per detector, the lines it changes. Those lines hold
// no secret and no national identifier, so every finding is a false
// positive, except e-mail addresses, which are real (Mac and Linux logs carry
// a few accounts). A detector on by default must find nothing else: that is
// what decides the default set.
func TestRealLogs(t *testing.T) {
	t.Parallel()
	dir := loghub.Require(t)
	systems, err := loghub.Systems(dir)
	if err != nil {
		t.Fatal(err)
	}
	all := map[string]bool{}
	for _, n := range Builtin() {
		all[n] = true
	}
	e := mustNew(t, Options{Enabled: all})
	tally := e.NewTally()
	lines := map[string]int{}
	total := 0
	for _, sys := range systems {
		ls, err := loghub.Lines(dir, sys)
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range ls {
			total++
			seen := map[string]bool{}
			for _, f := range e.Scan(l, tally.buf[:0]) {
				name := e.Name(f)
				if !seen[name] {
					seen[name] = true
					lines[name]++
				}
				if DefaultEnabled(name) && name != Email {
					t.Errorf("%s: default detector %s fires on a real line: %q in %q", sys, name, l[f.Start:f.End], l)
				}
			}
		}
	}
	t.Logf("lines changed per detector, all detectors on, %d real lines:", total)
	for _, n := range Builtin() {
		t.Logf("  %-16s %5d  (default %v)", n, lines[n], DefaultEnabled(n))
	}
}
