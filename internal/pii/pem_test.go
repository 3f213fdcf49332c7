package pii

import (
	"strings"
	"testing"

	"github.com/fleetlog/fleetlog/internal/loghub"
)

// pemLine is a body line of a PEM key: 64 base64 characters.
const pemLine = "MIIEpAIBAAKCAQEA3Tz2mr7SZiAMfQyuvBjM9Oi0Z1ZJ7Pz1N3h+Qdmn5WvYc2xK"

func TestPEMBlock(t *testing.T) {
	t.Parallel()
	e := mustNew(t, Options{})
	const pk = "[REDACTED:private_key]"
	begin, end := "-----BEGIN RSA PRIVATE KEY-----", "-----END RSA PRIVATE KEY-----"
	tests := []struct {
		name, in, want string
	}{
		{"whole", begin + "\n" + pemLine + "\n" + pemLine + "\nAB==\n" + end + "\nnext", pk + "\nnext"},
		{"escaped line breaks", `{"key":"` + begin + `\n` + pemLine + `\nAB==\n` + end + `\n","user":"bob"}`, `{"key":"` + pk + `\n","user":"bob"}`},
		{"flattened", "key " + begin + " " + pemLine + " AB== " + end + " loaded", "key " + pk + " loaded"},
		{"encrypted headers", begin + "\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,3F17F5316E2BAC89\n\n" + pemLine + "\n" + end, pk},
		{"cut off at the end", "ssh_key=" + begin + "\n" + pemLine, "ssh_key=" + pk},
		{"cut off with an ellipsis", "ssh_key=" + begin + "\\nMIIE... (truncated)", "ssh_key=" + pk + "... (truncated)"},
		{"cut off, then ordinary lines", "ssh_key=" + begin + "\n" + pemLine + "\n2015-10-18 18:01:51,322 INFO [main] started\nok done",
			"ssh_key=" + pk + "\n2015-10-18 18:01:51,322 INFO [main] started\nok done"},
		{"cut off, flattened, then prose", "key " + begin + " MIIEowIBAAK failed to parse", "key " + pk + " MIIEowIBAAK failed to parse"},
		{"flattened, last line before a line break", "key " + begin + " " + pemLine + " AB==\n" + end + " ok", "key " + pk + " ok"},
		{"flattened, then a word before a line break", "key " + begin + " " + pemLine + " xyz\nnext", "key " + pk + " xyz\nnext"},
		{"cut off, then a short word line", begin + "\n" + pemLine + "\nfailed to load key", pk + "\nfailed to load key"},
		{"certificate", "-----BEGIN CERTIFICATE-----\n" + pemLine + "\n-----END CERTIFICATE-----", "-----BEGIN CERTIFICATE-----\n" + pemLine + "\n-----END CERTIFICATE-----"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := redact(e, tt.in); got != tt.want {
				t.Errorf("Redact(%q)\n got %q\nwant %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestLineRedactorKeyOverLines(t *testing.T) {
	t.Parallel()
	e := mustNew(t, Options{})
	r := e.NewLineRedactor(e.NewTally())
	const pk = "[REDACTED:private_key]"
	in := []string{"start", "-----BEGIN RSA PRIVATE KEY-----", "Proc-Type: 4,ENCRYPTED", "DEK-Info: AES-128-CBC,3F17F5316E2BAC89", "",
		pemLine, pemLine, "AAAA", "-----END RSA PRIVATE KEY----- tail", "after"}
	want := []string{"start", pk, pk, pk, "", pk, pk, pk, pk + " tail", "after"}
	for i, l := range in {
		if got, _, _ := r.Redact(l); got != want[i] {
			t.Errorf("line %d: got %q, want %q", i, got, want[i])
		}
	}
}

// TestCutOffKeyLeavesRealLines feeds, before the first lines of every
// Loghub system, a key cut off after its first body line: each real line
// must come out exactly as it does on its own.
func TestCutOffKeyLeavesRealLines(t *testing.T) {
	t.Parallel()
	dir := loghub.Require(t)
	systems, err := loghub.Systems(dir)
	if err != nil {
		t.Fatal(err)
	}
	e := mustNew(t, Options{})
	for _, sys := range systems {
		lines, err := loghub.Lines(dir, sys)
		if err != nil {
			t.Fatal(err)
		}
		for _, cut := range [][]string{
			{"ssh_key=-----BEGIN RSA PRIVATE KEY-----", pemLine},
			{"ssh_key=-----BEGIN RSA PRIVATE KEY-----"},
			{"-----BEGIN PRIVATE KEY-----", pemLine, pemLine[:20]},
		} {
			r := e.NewLineRedactor(e.NewTally())
			for _, l := range cut {
				if got, _, _ := r.Redact(l); strings.Contains(got, "MIIE") {
					t.Fatalf("key material left: %q", got)
				}
			}
			for _, l := range lines[:50] {
				alone := redact(e, l)
				if got, _, _ := r.Redact(l); got != alone {
					t.Fatalf("%s: after a cut-off key\n got %q\nwant %q", sys, got, alone)
				}
			}
		}
	}
}
