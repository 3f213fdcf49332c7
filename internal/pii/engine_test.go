package pii

import (
	"errors"
	"strings"
	"testing"
)

func mustNew(tb testing.TB, opts Options) *Engine {
	tb.Helper()
	e, err := New(opts)
	if err != nil {
		tb.Fatal(err)
	}
	return e
}

func redact(e *Engine, s string) string {
	out, _, _ := e.Redact(s, e.NewTally())
	return out
}

func TestDetectors(t *testing.T) {
	t.Parallel()
	all := mustNew(t, Options{Enabled: map[string]bool{IPv4: true, IPv6: true, Phone: true}})
	tests := []struct {
		name, in, want string
	}{
		{"email", "to bob@example.com.", "to [REDACTED:email]."},
		{"card plain", "pan 4111111111111111", "pan [REDACTED:credit_card]"},
		{"card amex grouped", "amex 3782 822463 10005 ok", "amex [REDACTED:credit_card] ok"},
		{"card then year", "4111 1111 1111 1111 2027", "[REDACTED:credit_card] 2027"},
		{"card fails luhn", "4111111111111112", "4111111111111112"},
		{"card in word", "id4111111111111111", "id4111111111111111"},
		{"card decimal", "4111111111111111.5", "4111111111111111.5"},
		{"ssn", "ssn 078-05-1120", "ssn [REDACTED:us_ssn]"},
		{"ssn area 9xx", "ssn 900-05-1120", "ssn 900-05-1120"},
		{"ssn inside longer dashed number", "1-078-05-1120", "1-078-05-1120"},
		{"iban grouped", "GB82 WEST 1234 5698 7654 32", "[REDACTED:iban]"},
		{"iban bad checksum", "GB82WEST12345698765431", "GB82WEST12345698765431"},
		{"jwt", "t=eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.", "t=[REDACTED:jwt]"},
		{"bearer header", "Authorization: Bearer abc", "Authorization: Bearer [REDACTED:auth_header]"},
		{"digest header", `authorization="Digest username=x, response=abc"`, `authorization="Digest [REDACTED:auth_header]"`},
		{"bearer prose", "missing bearer token", "missing bearer token"},
		{"basic decodes", "Basic dXNlcjpwYXNzd29yZA==", "Basic [REDACTED:auth_header]"},
		{"aws key id", "AKIAIOSFODNN7EXAMPLE", "[REDACTED:aws_access_key]"},
		{"aws secret", "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "aws_secret_access_key = [REDACTED:aws_secret_key]"},
		{"github", "ghp_" + strings.Repeat("a1", 18), "[REDACTED:github_token]"},
		{"github short", "ghp_abc", "ghp_abc"},
		{"gitlab", "glpat-abcdefghij0123456789", "[REDACTED:gitlab_token]"},
		{"slack", "xoxb-1234-5678-abcdefghij", "[REDACTED:slack_token]"},
		{"stripe", "sk_live_abcdefghijklmnop1234", "[REDACTED:stripe_key]"},
		{"google", "AIza" + strings.Repeat("x", 35), "[REDACTED:google_api_key]"},
		{"pem", "-----BEGIN EC PRIVATE KEY-----\nAAA\n-----END EC PRIVATE KEY-----\nnext", "[REDACTED:private_key]\nnext"},
		{"pem cut off", "-----BEGIN PRIVATE KEY-----\nAAA", "[REDACTED:private_key]"},
		{"pem certificate", "-----BEGIN CERTIFICATE-----", "-----BEGIN CERTIFICATE-----"},
		{"url credentials", "redis://:pw@cache:6379", "redis://:[REDACTED:url_credentials]@cache:6379"},
		{"url user only", "ssh://git@github.com/x", "ssh://[REDACTED:email]/x"},
		{"kv json", `{"password": "p a ss"}`, `{"password": "[REDACTED:kv_secret]"}`},
		{"kv token names vendor", "token=ghp_" + strings.Repeat("b", 36), "token=[REDACTED:github_token]"},
		{"kv benign", "password=null tokens=5 token_type=Bearer", "password=null tokens=5 token_type=Bearer"},
		{"kv shell pwd", "PWD=/root", "PWD=/root"},
		{"ipv4", "from 10.1.2.3:443", "from [REDACTED:ipv4]:443"},
		{"version is not ipv4", "v1.2.3.4.5", "v1.2.3.4.5"},
		{"ipv6", "peer 2001:db8::1 up", "peer [REDACTED:ipv6] up"},
		{"mac is not ipv6", "mac 00:1a:2b:3c:4d:5e", "mac 00:1a:2b:3c:4d:5e"},
		{"time is not ipv6", "at 10:00:00", "at 10:00:00"},
		{"phone e164", "call +44 20 7946 0958", "call [REDACTED:phone]"},
		{"phone nanp", "(555) 123-4567", "[REDACTED:phone]"},
		{"date is not phone", "2026-11-24", "2026-11-24"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := redact(all, tt.in); got != tt.want {
				t.Errorf("Redact(%q)\n got %q\nwant %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestDefaultsLeaveAddressesAndPhones(t *testing.T) {
	t.Parallel()
	e := mustNew(t, Options{})
	in := "client 10.1.2.3 [2001:db8::1] +44 20 7946 0958"
	if got := redact(e, in); got != in {
		t.Errorf("got %q", got)
	}
}

func TestHashIsStableAndKeyed(t *testing.T) {
	t.Parallel()
	a := mustNew(t, Options{DefaultAction: ActionHash, HashKey: []byte("k1")})
	b := mustNew(t, Options{DefaultAction: ActionHash, HashKey: []byte("k2")})
	x := redact(a, "from bob@example.com")
	if x != redact(a, "from bob@example.com") || strings.Contains(x, "bob") {
		t.Fatalf("unstable or leaking pseudonym %q", x)
	}
	if !strings.HasPrefix(x, "from [email:") || len(x) != len("from [email:]")+12 {
		t.Errorf("pseudonym %q is not [email:<12 hex>]", x)
	}
	if x == redact(b, "from bob@example.com") {
		t.Error("pseudonyms under different keys are equal")
	}
	if redact(a, x) != x {
		t.Error("a pseudonym was redacted again")
	}
}

func TestCustomRules(t *testing.T) {
	t.Parallel()
	e := mustNew(t, Options{Rules: []Rule{
		{Name: "employee_id", Pattern: `EMP-(\d{6})`, Group: 1, Context: []string{"employee"}},
		{Name: "ticket", Pattern: `TCK-\d+`},
	}})
	tests := map[string]string{
		"employee EMP-123456 badge":  "employee EMP-[REDACTED:employee_id] badge",
		"part EMP-123456 no context": "part EMP-123456 no context",
		"TCK-42 for bob@example.com": "[REDACTED:ticket] for [REDACTED:email]",
	}
	for in, want := range tests {
		if got := redact(e, in); got != want {
			t.Errorf("Redact(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestActionsAndTally(t *testing.T) {
	t.Parallel()
	e := mustNew(t, Options{Actions: map[string]Action{CreditCard: ActionDropRecord, Email: ActionDropAttribute}})
	tally := e.NewTally()
	_, act, n := e.Redact("bob@example.com paid with 4111111111111111", tally)
	if act != ActionDropRecord || n != 2 || tally.Total != 2 {
		t.Errorf("action %v n %d total %d", act, n, tally.Total)
	}
	for i, name := range e.Names() {
		if (name == Email || name == CreditCard) != (tally.Counts[i] == 1) {
			t.Errorf("count of %s is %d", name, tally.Counts[i])
		}
	}
}

func TestNewErrors(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		opts Options
		want error
	}{
		"unknown detector": {Options{Enabled: map[string]bool{"emails": true}}, ErrUnknownDetector},
		"hash without key": {Options{Actions: map[string]Action{Email: ActionHash}}, ErrNoHashKey},
		"rule named email": {Options{Rules: []Rule{{Name: Email, Pattern: "x"}}}, ErrRuleName},
		"bad pattern":      {Options{Rules: []Rule{{Name: "x", Pattern: "("}}}, ErrRulePattern},
		"bad group":        {Options{Rules: []Rule{{Name: "x", Pattern: "a", Group: 1}}}, ErrRuleGroup},
	}
	for name, tt := range tests {
		if _, err := New(tt.opts); !errors.Is(err, tt.want) {
			t.Errorf("%s: got %v, want %v", name, err, tt.want)
		}
	}
}

func TestCleanLineDoesNotAllocate(t *testing.T) {
	e := mustNew(t, Options{})
	tally := e.NewTally()
	line := "2026-11-24T10:00:00.123Z INFO request_id=123e4567-e89b-12d3-a456-426614174000 GET /v1/devices took 12ms from db.internal:5432 version=v1.2.3"
	allocs := testing.AllocsPerRun(100, func() {
		if out, _, _ := e.Redact(line, tally); out != line {
			t.Fatal("clean line changed")
		}
	})
	if allocs != 0 {
		t.Errorf("clean line: %v allocations, want 0", allocs)
	}
}

func TestActionText(t *testing.T) {
	t.Parallel()
	var a Action
	if err := a.UnmarshalText([]byte("hash")); err != nil || a != ActionHash {
		t.Errorf("hash: %v %v", a, err)
	}
	if err := a.UnmarshalText([]byte("erase")); !errors.Is(err, ErrUnknownAction) {
		t.Errorf("erase: %v", err)
	}
}
