package pii

import (
	"testing"

	"github.com/fleetlog/fleetlog/internal/loghub"
	"github.com/fleetlog/fleetlog/internal/pii/piitest"
)

// TestShortcutsAgree checks the cheap checks scanBuiltin runs before it
// calls atWord or at (notNumber, lowerStart, idleDash) against the calls
// they spare: wherever a shortcut says there is nothing, the check finds
// nothing, on the labelled corpus and real lines, in the default set and
// with every detector on.
func TestShortcutsAgree(t *testing.T) {
	t.Parallel()
	lines := piitest.Lines(piitest.LoadCorpus(t))
	if dir, err := loghub.Dir(); err == nil {
		real, err := loghub.AllLines(dir)
		if err != nil {
			t.Fatal(err)
		}
		lines = append(lines, real...)
	}
	all := map[string]bool{}
	for _, n := range Builtin() {
		all[n] = true
	}
	// Every national identifier without the detectors of digit runs of any
	// length (IPv4, phone), which turn notNumber off.
	national := Options{Profiles: []string{"us", "eu", "uk", "ca", "au", "pci"}}
	for _, opts := range []Options{{}, national, {Enabled: all}} {
		e := mustNew(t, opts)
		for _, s := range lines {
			checkShortcuts(t, e, s)
		}
	}
}

// checkShortcuts fails t where a shortcut of scanBuiltin spares a call
// that finds something in s.
func checkShortcuts(t testing.TB, e *Engine, s string) {
	t.Helper()
	for i := 0; i < len(s); i++ {
		c, tr := s[i], e.trigger[s[i]]
		switch {
		case tr&tDigit != 0 && wordStart(s, i) && e.notNumber(s, i):
			if f, ok := e.numberAt(s, i); ok {
				t.Errorf("%q at %d: numberAt finds %v where notNumber spares it", s, i, f)
			}
		case wordByte[c] && wordStart(s, i):
			spared := tr == tLower && !e.lowerStart(s, i)
			if f, ok := e.atWord(s, i, tr); spared && (ok || f.id == skipSpan) {
				t.Errorf("%q at %d: atWord finds %v where lowerStart spares it", s, i, f)
			}
		case tr == tDash && idleDash(s, i):
			if f, ok := e.at(s, i, 0, tr); ok {
				t.Errorf("%q at %d: at finds %v where idleDash spares it", s, i, f)
			}
		}
	}
}
