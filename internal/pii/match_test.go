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
		systems, err := loghub.Systems(dir)
		if err != nil {
			t.Fatal(err)
		}
		for _, sys := range systems {
			real, err := loghub.Lines(dir, sys)
			if err != nil {
				t.Fatal(err)
			}
			lines = append(lines, real...)
		}
	}
	all := map[string]bool{}
	for _, n := range Builtin() {
		all[n] = true
	}
	for _, opts := range []Options{{}, {Enabled: all}} {
		e := mustNew(t, opts)
		for _, s := range lines {
			for i := 0; i < len(s); i++ {
				c, tr := s[i], e.trigger[s[i]]
				var spared bool
				switch {
				case wordByte[c] && wordStart(s, i):
					spared = tr == tDigit && e.notNumber(s, i) || tr == tLower && !e.lowerStart(s, i)
					if f, ok := e.atWord(s, i, tr); spared && (ok || f.id == skipSpan) {
						t.Errorf("%q at %d: atWord finds %v where the shortcut spares it", s, i, f)
					}
				case tr == tDash && idleDash(s, i):
					if f, ok := e.at(s, i, 0, tr); ok {
						t.Errorf("%q at %d: at finds %v where idleDash spares it", s, i, f)
					}
				}
			}
		}
	}
}
