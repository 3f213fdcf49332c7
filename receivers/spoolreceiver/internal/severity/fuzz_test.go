package severity

import (
	"testing"
)

// FuzzSniff checks that Sniff never panics, agrees with sniffReference,
// returns only its own levels
// with a number in the range their name says, and reads nothing past
// Window: a line's result does not change with what follows the window.
// The seed corpus is in testdata/fuzz/FuzzSniff.
func FuzzSniff(f *testing.F) {
	for _, s := range []string{
		"2026-11-24T09:00:04.900Z ERROR auth login failed",
		`{"level":"info","msg":"x"}`,
		`{"level":30}`,
		"<34>1 2003-10-11T22:14:15.003Z host su - - - x",
		"E1201 10:00:00.123456 1 x.go:1] boom",
		"03-17 16:13:38.811  1702  2395 D Tag: x",
		"[Sun Dec 04 04:47:44 2005] [error] x",
		"sshd[1]: error: x",
	} {
		f.Add([]byte(s))
	}
	known := map[Level]bool{}
	for _, w := range wordList {
		if l, kind := lookup([]byte(w), new([maxWord]byte)); kind != kindKey {
			known[l] = true
		}
	}
	for _, l := range byPRI {
		known[l] = true
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		got := Sniff(line)
		if want := sniffReference(line); got != want {
			t.Fatalf("Sniff(%q) = %+v, the reference %+v", line, got, want)
		}
		if got != (Level{}) && !known[got] {
			t.Fatalf("Sniff(%q) = %+v: not one of its levels", line, got)
		}
		if len(line) > Window {
			other := append(append([]byte{}, line[:Window]...), 'x', '\n')
			if again := Sniff(other); again != got {
				t.Fatalf("Sniff depends on bytes past the window: %+v then %+v for %q", got, again, line)
			}
		}
	})
}
