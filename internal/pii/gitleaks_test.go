package pii

import (
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/fleetlog/fleetlog/internal/loghub"
	"github.com/fleetlog/fleetlog/internal/pii/evalcorpus"
)

func TestVendorRuleTable(t *testing.T) {
	t.Parallel()
	ids := map[string]bool{}
	for _, r := range gitleaksRules {
		if ids[r.id] {
			t.Errorf("rule %q twice", r.id)
		}
		ids[r.id] = true
		if len(r.keywords) == 0 {
			t.Errorf("rule %q has no keyword: it would run on every line", r.id)
		}
	}
	for id := range gitleaksOff {
		if !ids[id] {
			t.Errorf("gitleaksOff names %q, which gitleaks %s does not have", id, gitleaksVersion)
		}
	}
	v := newVendorSet()
	if len(v.rules) < 200 {
		t.Errorf("only %d of %d gitleaks rules on", len(v.rules), len(gitleaksRules))
	}
	loose := 0
	for i := range v.rules {
		// Every pattern compiles (the engine compiles them lazily).
		if c := v.rules[i].compiled(); c.strict != nil {
			loose++
		}
	}
	t.Logf("gitleaks %s: %d rules, %d on (%d also in their log form), %d keywords", gitleaksVersion,
		len(gitleaksRules), len(v.rules), loose, len(v.kw.out))
}

// TestGitleaksCases runs every rule's own test data: each true positive
// line loses its secret, and no declared false positive is taken for a
// vendor token.
func TestGitleaksCases(t *testing.T) {
	t.Parallel()
	cases, err := evalcorpus.GitleaksCases()
	if err != nil {
		t.Fatal(err)
	}
	e := mustNew(t, Options{})
	byID := map[string]int{}
	for i := range e.vendor.rules {
		byID[e.vendor.rules[i].id] = i
	}
	tl := e.NewTally()
	for _, c := range cases {
		index, on := byID[c.Rule]
		if !on {
			continue // left off
		}
		r := &e.vendor.rules[index]
		for i, line := range c.Lines {
			out, _, _ := e.Redact(line, tl)
			if strings.Contains(out, c.Secrets[i]) {
				t.Errorf("%s: secret %q survived in %q", c.Rule, c.Secrets[i], out)
			}
		}
		// A rule's false positive may be another rule's true one (an
		// Anthropic admin key is not an API key): each rule alone.
		for _, fp := range c.FP {
			var hit ruleBits
			e.vendor.kw.scan(fp, nil, &hit)
			if !hit.has(index) || takenOnPurpose[fp] {
				continue
			}
			if f := r.find(fp, e.vendor.global, nil); len(f) > 0 {
				t.Errorf("%s: declared false positive %q taken at %q", c.Rule, fp, fp[f[0].Start:f[0].End])
			}
		}
	}
}

// takenOnPurpose are gitleaks' declared false positives that are secrets in
// a log: gitleaks declares them because its rule wants an assignment, and
// the log form of the rule finds the value after the vendor's name anyway.
var takenOnPurpose = map[string]bool{
	"MailchimpSDK.initialize(token: 3012a5754bbd716926f99c028f7ea428-us18)": true,
}

// Tokens from gitleaks' rule tests (testdata/gitleaks/cases.json).
const (
	tOpenAI   = "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"
	tSendGrid = "SG.=7w=xg5c2yk8kqe5_=xvs-aqxl-vqp706uue41rab_b1e8zlmcwsged-7al=miml_8"
	tTelegram = "11073809:Auvvr_s1dwtk0dg1t_bb9-fcmm0p3a2sc24"
	tVault    = "s.0fHQIv7DHZfDBlFx3cDbwwYK"
	tHF       = "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"
	tTwilio   = "SK596a32333559c603421ae7c1b805a3f9"
	tDoppler  = "dp.pt.6koe5izlxagetkoko8h98mous4eo4dle6pnhnxbadni"
	tAdafruit = "uypcr-gfcwss_3ase_myvxg-2c28zr07"
)

func TestVendorToken(t *testing.T) {
	t.Parallel()
	e := mustNew(t, Options{})
	const m = "[REDACTED:vendor_token]"
	tests := []struct{ name, in, want string }{
		{"openai in prose", "calling model with " + tOpenAI + " now", "calling model with " + m + " now"},
		{"sendgrid with = and -", "mail via " + tSendGrid + " sent", "mail via " + m + " sent"},
		{"hugging face in JSON", `{"hf":"` + tHF + `"}`, `{"hf":"` + m + `"}`},
		{"twilio in XML", "<sid>" + tTwilio + "</sid>", "<sid>" + m + "</sid>"},
		{"doppler in a URL path", "GET /v3/configs/" + tDoppler + "/secrets 200", "GET /v3/configs/" + m + "/secrets 200"},
		{"vault token after a flag", "vault login -method=token " + tVault + " ok", "vault login -method=token " + m + " ok"},
		{"telegram bot in URL", "GET https://api.telegram.org/bot" + tTelegram + "/sendMessage 200",
			"GET https://api.telegram.org/" + m + "/sendMessage 200"},
		{"semi-generic on the command line", "adafruit-io --key " + tAdafruit + " --feed t", "adafruit-io --key " + m + " --feed t"},
		{"semi-generic in a stack trace", "\tat io.adafruit.Client.auth(Client.java:12) rejected " + tAdafruit,
			"\tat io.adafruit.Client.auth(Client.java:12) rejected " + m},
		{"slack webhook", "POST https://hooks.slack.com/services/T01ABCDEF/B01ABCDEF/aBcDeFgHiJkLmNoPqRsTuVwX 200",
			"POST " + m + " 200"},
		{"age secret key", "AGE-SECRET-KEY-1QQPQZRGR3XYE4U3X6V8Q9L6A0D6J2R7NF7WJ3GQ5HWJ2U8K6N2HSQ5T3P9 loaded", m + " loaded"},
		{"the whole token past its format", "key " + tOpenAI + "!AQcAQH0dMHZfOeXc/87H4lC3j7lZ48pAL end", "key " + m + " end"},
		{"end of a sentence", "the key was " + tHF + ".", "the key was " + m + "."},
		{"uuid stays", "request 123e4567-e89b-12d3-a456-426614174000 done", "request 123e4567-e89b-12d3-a456-426614174000 done"},
		{"sha near a vendor name stays", "datadog client: sent commit 3f786850e387550fdab836ed7e6dc881de23001b (attempt 1)",
			"datadog client: sent commit 3f786850e387550fdab836ed7e6dc881de23001b (attempt 1)"},
		{"hex key in an assignment goes", "cfg datadog.api-key => 3f786850e387550fdab836ed7e6dc881de23001b ok", "cfg datadog.api-key => " + m + " ok"},
		{"git sha on a sourcegraph line stays", "sourcegraph indexed 3f786850e387550fdab836ed7e6dc881de23001b", "sourcegraph indexed 3f786850e387550fdab836ed7e6dc881de23001b"},
		{"function name stays", "at GLC_CreateLightmapTexturesIndividualXYZ(void)", "at GLC_CreateLightmapTexturesIndividualXYZ(void)"},
		{"file name stays", "GET /assets/ico-7a388b69018576d24b59331fd60aab0c.png", "GET /assets/ico-7a388b69018576d24b59331fd60aab0c.png"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := redact(e, tt.in)
			if got != tt.want {
				t.Errorf("\n in  %q\n got %q\nwant %q", tt.in, got, tt.want)
			}
			if again := redact(e, got); again != got {
				t.Errorf("not idempotent: %q -> %q", got, again)
			}
		})
	}
}

func TestVendorTokenOff(t *testing.T) {
	t.Parallel()
	e := mustNew(t, Options{Enabled: map[string]bool{VendorToken: false}})
	in := "key " + tOpenAI
	if got := redact(e, in); got != in {
		t.Errorf("vendor_token off, got %q", got)
	}
	if e.vendor != nil {
		t.Error("rules compiled although vendor_token is off")
	}
}

func TestKeywords(t *testing.T) {
	t.Parallel()
	k := newKeywords([]string{"xoxb", "hvs.", "ey", "key"}, [][]int{{0}, {1}, {2}, {3, 4}}, 5)
	tests := []struct {
		in   string
		want []int
	}{
		{"", nil},
		{"plain text", nil},
		{"XOXB-1", []int{0}},
		{"a monkey", nil},           // keywords start words or word parts
		{"a my_key=1", []int{3, 4}}, // "ey" is short: it counts only before a token
		{"x eyJhbGciOiJIUzI1NiJ9 y", []int{2}},
		{"Hvs.x and xoxb", []int{0, 1}},
		{"hv", nil},
		{"k.Key", []int{3, 4}},
	}
	for _, tt := range tests {
		var hit ruleBits
		found := k.scan(tt.in, nil, &hit)
		got := slices.Collect(hit.each(5))
		if !slices.Equal(got, tt.want) || found != (len(tt.want) > 0) {
			t.Errorf("scan(%q) = %v, %v; want %v", tt.in, got, found, tt.want)
		}
	}
}

func TestForLogs(t *testing.T) {
	t.Parallel()
	strict, loose := forLogs(`(?i)[\w.-]{0,50}?(?:adafruit)(?:[ \t\w.-]{0,20})[\s'"]{0,3}(?:=|>|:{1,3}=|\|\||:|=>|\?=|,)[\x60'"\s=]{0,5}([a-z0-9_-]{32})(?:[\x60'"\s;]|\\[nr]|$)`)
	if !strings.HasSuffix(strict, logEnd) || loose == "" || !strings.HasPrefix(loose, logHead+"adafruit"+logOp) {
		t.Errorf("semi-generic rule: strict %q, loose %q", strict, loose)
	}
	_, loose = forLogs(`(?i)[\w.-]{0,50}?(?:dnkey)(?:[ \t\w.-]{0,20})[\s'"]{0,3}(?:=|>|:{1,3}=|\|\||:|=>|\?=|,)[\x60'"\s=]{0,5}(dnkey-[a-z0-9=_\-]{26})(?:[\x60'"\s;]|\\[nr]|$)`)
	if loose != `(?i)(?:^|[^a-z0-9])(dnkey-[a-z0-9=_\-]{26})`+logEnd {
		t.Errorf("token that starts with its vendor's name: loose %q", loose)
	}
	strict, loose = forLogs(`\b(hf_[a-z]{34})(?:[\x60'"\s;]|\\[nr]|$)`)
	if strict != `\b(hf_[a-z]{34})`+logEnd || loose != "" {
		t.Errorf("prefixed rule: strict %q, loose %q", strict, loose)
	}
}

// TestShortKeywords checks the premise of shortFollow on gitleaks' cases:
// in every secret of a rule with a short keyword, that keyword is followed
// by shortFollow token bytes.
func TestShortKeywords(t *testing.T) {
	t.Parallel()
	cases, err := evalcorpus.GitleaksCases()
	if err != nil {
		t.Fatal(err)
	}
	secrets := map[string][]string{}
	for _, c := range cases {
		secrets[c.Rule] = c.Secrets
	}
	for _, r := range gitleaksRules {
		if _, off := gitleaksOff[r.id]; off {
			continue
		}
		for _, k := range r.keywords {
			if len(k) > shortKeyword {
				continue
			}
			for _, s := range secrets[r.id] {
				ls := strings.ToLower(s)
				i := strings.Index(ls, k)
				if i >= 0 && !follows(s[i+len(k):], shortFollow) {
					t.Errorf("%s: keyword %q in %q is not followed by %d token bytes", r.id, k, s, shortFollow)
				}
			}
		}
	}
}

// TestVendorTokenConcurrent: rules compile on first use, from any number
// of goroutines at once (go test -race).
func TestVendorTokenConcurrent(t *testing.T) {
	t.Parallel()
	e := mustNew(t, Options{})
	lines := []string{"calling " + tOpenAI, "mail via " + tSendGrid + " sent", "adafruit-io --key " + tAdafruit, "twilio " + tTwilio}
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tl := e.NewTally()
			for _, l := range lines {
				if out, _, n := e.Redact(l, tl); n == 0 || out == l {
					t.Errorf("nothing found in %q", l)
				}
			}
		}()
	}
	wg.Wait()
}

func TestLiteralIndex(t *testing.T) {
	t.Parallel()
	var k keywords
	k.addInside("T3BlbkFJ", 0)
	k.addInside("Q~", 1)
	for _, tt := range []struct {
		lit  int
		in   string
		want int
	}{
		{0, "", -1},
		{0, "2026-01-01T10:00 T3Blbk sk-abcT3BlbkFJxyz", 30},
		{0, "T3BlbkFJ", 0},
		{0, "T3BlbkF", -1},
		{1, "~ Q ~Q~", 5},
		{1, "Q", -1},
	} {
		if got := k.inside[tt.lit].index(tt.in); got != tt.want {
			t.Errorf("index(%q, %q) = %d, want %d", k.inside[tt.lit].text, tt.in, got, tt.want)
		}
		if want := strings.Index(tt.in, k.inside[tt.lit].text); want != tt.want {
			t.Errorf("test case wrong: strings.Index gives %d", want)
		}
	}
}

// TestKeywordStartsAsScan checks that the keyword starts scanBuiltin notes
// on its pass select the same rules as a keyword scan of the whole line,
// on gitleaks' own cases (alone, glued to words, after '_', inside
// findings of other detectors) and on real lines.
func TestKeywordStartsAsScan(t *testing.T) {
	t.Parallel()
	e := evalEngine(t)
	cases, err := evalcorpus.GitleaksCases()
	if err != nil {
		t.Fatal(err)
	}
	// An IBAN-shaped text with a wrong check digit is passed over whole
	// by the built-in detectors, not covered: the keywords in it count.
	// More keyword starts than keywordStarts holds: the full scan decides.
	many := strings.Repeat("jira curl ", 12)
	var ks keywordStarts
	if e.scanBuiltin(many, nil, &ks); !ks.overflow {
		t.Fatalf("%q: %d keyword starts noted, no overflow", many, ks.n)
	}
	lines := []string{"iban GB00 AKIA 1234 5698 7654 32 end", "to GB00 JIRA 1234 5698 7654 32", many}
	for _, c := range cases {
		for _, l := range slices.Concat(c.Lines, c.Secrets, c.FP) {
			lines = append(lines, l, "x"+l, "a_"+l, "user=me@example.com "+l, "[REDACTED:email]"+l, "DE89 3704 0044 0532 0130 01 "+l)
		}
	}
	if dir, err := loghub.Dir(); err == nil {
		real, err := loghub.AllLines(dir)
		if err != nil {
			t.Fatal(err)
		}
		lines = append(lines, real...)
	}
	for _, l := range lines {
		checkKeywordStarts(t, e, l)
	}
}

// checkKeywordStarts fails t when the keyword starts scanBuiltin notes in
// s select other rules than a keyword scan of s.
func checkKeywordStarts(t testing.TB, e *Engine, s string) {
	t.Helper()
	var ks keywordStarts
	covered := e.scanBuiltin(s, nil, &ks)
	var want, got ruleBits
	wantFound := e.vendor.kw.scan(s, covered, &want)
	gotFound := e.vendor.kw.hits(s, covered, &ks, &got)
	if want != got || wantFound != gotFound {
		t.Errorf("%q: keyword starts select %v, the scan %v", s,
			slices.Collect(got.each(len(e.vendor.rules))), slices.Collect(want.each(len(e.vendor.rules))))
	}
}
