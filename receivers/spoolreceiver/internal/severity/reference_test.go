package severity

import (
	"testing"

	"github.com/fleetlog/fleetlog/internal/loghub"
)

// sniffReference is Sniff as first written, one loop for every word: the
// reference the faster Sniff must agree with.
func sniffReference(line []byte) Level {
	truncated := len(line) > Window
	if truncated {
		line = line[:Window]
	}
	n := len(line)
	if n == 0 {
		return Level{}
	}
	if line[0] == '<' {
		if l, ok := pri(line); ok {
			return l
		}
	}
	if l, ok := glog(line); ok {
		return l
	}
	var lower [maxWord]byte
	// first stays true until the first word of letters: only numbers,
	// timestamps and punctuation came before.
	first := true
	for i := 0; i < n; {
		if class[line[i]] == clsOther {
			i++
			continue
		}
		// A word: letters, digits and underscores. seen is the union of
		// their classes.
		start := i
		var seen uint8
		for i < n {
			c := class[line[i]]
			if c == clsOther {
				break
			}
			seen |= c
			i++
		}
		if i == n && truncated {
			// The word may go on past the window: it cannot be judged.
			return Level{}
		}
		if seen&clsDigit != 0 {
			// A number or a timestamp ("24T09", "120Z"): not a word of the
			// message, so the first word is still to come.
			continue
		}
		wasFirst := first
		first = false
		size := i - start
		if size == 1 {
			if l, ok := android(line, start, wasFirst); ok {
				return l
			}
			continue
		}
		if size > maxWord || !candidate[size][firstIndex(line[start])] {
			continue
		}
		allCaps := seen&(clsLower|clsUscore) == 0
		if !allCaps && !wasFirst && !mayQualify(line, i) {
			// A lowercase word in the message, followed by a space: neither
			// a key nor a bracketed or tagged level.
			continue
		}
		l, kind := lookup(line[start:i], &lower)
		switch kind {
		case kindKey:
			if l, ok := value(line, i, truncated, &lower); ok {
				return l
			}
		case kindLead:
			if wasFirst && i < n && line[i] == ':' {
				return l
			}
		case kindLevel, kindCaps:
			if allCaps && (start == 0 || line[start-1] != '.') {
				// "ERROR", "WARNING:root:", but not a Java package's ".INFO".
				return l
			}
			if kind == kindCaps {
				continue
			}
			if wasFirst || bracketed(line, start, i) || tagged(line, start, i) {
				return l
			}
		}
	}
	return Level{}
}

func TestSniffAgreesWithReference(t *testing.T) {
	dir := loghub.Require(t)
	systems, err := loghub.Systems(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, sys := range systems {
		lines, err := loghub.Lines(dir, sys)
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range lines {
			b := []byte(l)
			for _, cut := range []int{len(b), min(len(b), Window), min(len(b), Window+1), len(b) / 2} {
				if got, want := Sniff(b[:cut]), sniffReference(b[:cut]); got != want {
					t.Fatalf("%s: Sniff(%q) = %+v, the reference %+v", sys, b[:cut], got, want)
				}
			}
		}
	}
}
