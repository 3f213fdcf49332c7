package pii

import (
	"strings"
	"testing"

	"github.com/fleetlog/fleetlog/internal/pii/evalcorpus"
	"github.com/fleetlog/fleetlog/internal/pii/piitest"
)

// FuzzRedact checks, for any input, with every detector on: no panic,
// nothing the detectors match is left in the output, and redacting the
// output again changes nothing. Seeds: testdata/fuzz/FuzzRedact and the
// labelled corpus.
func FuzzRedact(f *testing.F) {
	for _, e := range piitest.LoadCorpus(f) {
		f.Add(e.Line)
	}
	all := map[string]bool{}
	for _, n := range Builtin() {
		all[n] = true
	}
	engines := []*Engine{
		mustNew(f, Options{Enabled: all}),
		mustNew(f, Options{DefaultAction: ActionHash, HashKey: []byte("fuzz"), Rules: []Rule{{Name: "num", Pattern: `n(\d+)`, Group: 1, Context: []string{"id"}}}}),
	}
	f.Fuzz(func(t *testing.T, in string) {
		for _, e := range engines {
			tally := e.NewTally()
			once, _, _ := e.Redact(in, tally)
			if left := e.Scan(once, nil); len(left) > 0 {
				t.Fatalf("output %q still matches %s at %d:%d", once, e.Name(left[0]), left[0].Start, left[0].End)
			}
			if twice, _, _ := e.Redact(once, tally); twice != once {
				t.Fatalf("not idempotent:\n once %q\ntwice %q", once, twice)
			}
		}
	})
}

// FuzzVendorToken checks vendor_token alone and in the default set: no
// panic, nothing left that it matches, redacting twice equals redacting
// once. Seeds: testdata/fuzz/FuzzVendorToken and gitleaks' declared cases.
func FuzzVendorToken(f *testing.F) {
	cases, err := evalcorpus.GitleaksCases()
	if err != nil {
		f.Fatal(err)
	}
	for _, c := range cases {
		for _, l := range c.Lines {
			f.Add(l)
		}
		for _, l := range c.FP {
			f.Add(l)
		}
	}
	only := map[string]bool{}
	for _, name := range Builtin() {
		only[name] = name == VendorToken
	}
	engines := []*Engine{mustNew(f, Options{Enabled: only}), mustNew(f, Options{})}
	f.Fuzz(func(t *testing.T, in string) {
		for _, e := range engines {
			tally := e.NewTally()
			once, _, _ := e.Redact(in, tally)
			if left := e.Scan(once, nil); len(left) > 0 {
				t.Fatalf("output %q still matches %s at %d:%d", once, e.Name(left[0]), left[0].Start, left[0].End)
			}
			if twice, _, _ := e.Redact(once, tally); twice != once {
				t.Fatalf("not idempotent:\n once %q\ntwice %q", once, twice)
			}
		}
	})
}

// FuzzLineRedactor feeds the lines of any input through a LineRedactor:
// no panic, one output line per input line, and a second pass over the
// output changes nothing (a masked key's lines stay masked, and nothing
// else is taken for key material the second time).
func FuzzLineRedactor(f *testing.F) {
	f.Add("ssh_key=-----BEGIN RSA PRIVATE KEY-----\n" + pemLine + "\nJun 14 15:16:01 combo sshd(pam_unix)[19939]: check pass; user unknown")
	f.Add("-----BEGIN PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\n\n" + pemLine + "\nAB==\n-----END PRIVATE KEY----- x\ny")
	e := mustNew(f, Options{})
	f.Fuzz(func(t *testing.T, in string) {
		lines := strings.Split(in, "\n")
		once := make([]string, len(lines))
		r := e.NewLineRedactor(e.NewTally())
		for i, l := range lines {
			once[i], _, _ = r.Redact(l)
		}
		r = e.NewLineRedactor(e.NewTally())
		for i, l := range once {
			if twice, _, _ := r.Redact(l); twice != l {
				t.Fatalf("line %d not idempotent:\n once %q\ntwice %q", i, l, twice)
			}
		}
	})
}

// FuzzScanShortcuts checks, for any input, that the single pass gives what
// the checks it stands for give: the keyword starts scanBuiltin notes
// select the rules a keyword scan of the line selects, and no shortcut of
// its loop spares a call that finds something. Seeds: the labelled corpus
// and gitleaks' declared cases.
func FuzzScanShortcuts(f *testing.F) {
	for _, e := range piitest.LoadCorpus(f) {
		f.Add(e.Line)
	}
	cases, err := evalcorpus.GitleaksCases()
	if err != nil {
		f.Fatal(err)
	}
	for _, c := range cases {
		for _, l := range c.Lines {
			f.Add(l)
		}
	}
	all := map[string]bool{}
	for _, n := range Builtin() {
		all[n] = true
	}
	engines := []*Engine{
		mustNew(f, Options{}),
		mustNew(f, Options{Profiles: []string{"us", "eu", "uk", "ca", "au", "pci"}}),
		mustNew(f, Options{Enabled: all}),
	}
	f.Fuzz(func(t *testing.T, in string) {
		for _, e := range engines {
			checkKeywordStarts(t, e, in)
			checkShortcuts(t, e, in)
		}
	})
}
