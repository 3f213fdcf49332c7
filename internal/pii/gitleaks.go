package pii

import (
	"math"
	"math/bits"
	"regexp"
	"strings"
	"sync"
)

// The vendor_token detector runs gitleaks' default rules (the vendors'
// token formats: OpenAI, SendGrid, Twilio, Hugging Face, npm, PyPI, Vault,
// Slack webhooks, ...). The rules are data generated from gitleaks' own
// config API into gitleaks_rules.go (internal/tools/gitleaksrules, its own
// module), so the agent links strings, not gitleaks and its dependencies.
//
//go:generate sh -c "cd ../tools/gitleaksrules && go run . -rules ../../pii/gitleaks_rules.go -cases ../../pii/testdata/gitleaks/cases.json"

// gitleaksRule is one generated rule.
type gitleaksRule struct {
	id       string
	regex    string
	group    int     // secret group; 0: the first non-empty group, else the match
	entropy  float64 // minimum Shannon entropy of the secret, 0 for none
	keywords []string
	// inside are keywords that gitleaks' own cases hold only inside a word
	// (openai's "T3BlbkFJ"), in the case they write them: the others are
	// looked for where a word or word part starts, these anywhere.
	inside   []string
	required []string // composite rules: other rules that must match too
	allow    []gitleaksAllow
}

// gitleaksAllow is an allowlist: a finding it allows is not one.
type gitleaksAllow struct {
	target    string // "": the secret; "match"; "line"
	and       bool   // every check must hold, not any
	regexes   []string
	stopwords []string // lower case, searched in the secret
}

// gitleaksOff are the rules left off, and why. A rule goes here when it
// fires on what logs are full of (the look-alikes of the evaluation corpus
// and the untouched lines of real system logs), or when another detector
// does its job with a validator.
var gitleaksOff = map[string]string{
	// Any key=value whose key holds "key", "token", "auth", "secret", ...
	// and whose value has some entropy: session ids, request ids, hashes
	// and Java object strings (token=Token{a64f992...}) in real logs. The
	// secret-named-key detector decides on the value's shape instead.
	"generic-api-key": "fires on ids and hashes under any key holding key/token/auth",
	// Builtins with validators and cut-off handling cover these.
	"private-key": "private_key covers PEM blocks, cut-off ones too",
	"jwt":         "jwt covers it; gitleaks' form also takes two dotted base64 words",
	// Terraform's administrator_login_password = "..." is a secret-named
	// key, which kv_secret covers in every syntax; the rule's names are
	// "password", not a vendor's, so it would run its regex on every
	// "Failed password for ..." line of an sshd log.
	"hashicorp-tf-password": "a password key, kv_secret's; runs on every sshd line otherwise",
	// kv_secret takes the password of curl -u/--user user:pass and keeps
	// the user name, which this rule would mask with it.
	"curl-auth-user": "kv_secret masks the password of curl -u user:pass and keeps the user",
}

// vendorRule is a compiled rule.
type vendorRule struct {
	id  string
	src *gitleaksRule
	// assign: the rule wants its value after an assignment to a name
	// (semi-generic). An id-shaped value is only taken that way.
	assign  bool
	group   int
	entropy float64
	// The patterns are compiled once, on the first line that holds one of
	// the rule's keywords: most of the 216 vendors never appear in a device's
	// logs, and compiling them all when the engine is built cost 21 ms and
	// 16 MB of allocations at start and 10 MiB of the agent's peak RSS.
	once sync.Once
	c    compiledRule
}

type compiledRule struct {
	re *regexp.Regexp
	// strict is the rule's own form when re is the loose form of a
	// semi-generic rule (forLogs): an id-shaped value (hex, UUID, digits)
	// found loosely counts only if strict finds it too, after an
	// assignment, because prose near a vendor's name is full of commit
	// SHAs, trace ids and UUIDs.
	strict *regexp.Regexp
	allow  []vendorAllow
}

// compiled returns the rule's patterns, compiling them the first time. The
// rule table is generated and every pattern is compiled by the tests, so
// one that does not compile is a bug.
func (r *vendorRule) compiled() *compiledRule {
	r.once.Do(func() {
		strict, loose := forLogs(r.src.regex)
		r.c.re = regexp.MustCompile(strict)
		if loose != "" {
			r.c.strict, r.c.re = r.c.re, regexp.MustCompile(loose)
		}
		r.c.allow = compileAllow(r.src.allow)
	})
	return &r.c
}

type vendorAllow struct {
	target int // allowSecret, allowMatch, allowLine
	and    bool
	re     *regexp.Regexp // the regexes as one alternation, nil for none
	stop   []string
}

const (
	allowSecret = iota
	allowMatch
	allowLine
)

// vendorSet is the compiled rule set: a keyword automaton selects the
// rules whose keyword a line holds, and only those run their regex.
type vendorSet struct {
	rules  []vendorRule
	kw     keywords
	global []vendorAllow
}

// newVendorSet sets up the enabled gitleaks rules and their keywords.
func newVendorSet() *vendorSet {
	v := &vendorSet{global: compileAllow(gitleaksGlobalAllow)}
	var on []int
	for i, r := range gitleaksRules {
		if _, off := gitleaksOff[r.id]; !off && len(r.required) == 0 {
			on = append(on, i)
		}
	}
	v.rules = make([]vendorRule, len(on))
	var kws []string
	var owners [][]int
	index := map[string]int{}
	for id, i := range on {
		r := &gitleaksRules[i]
		_, loose := forLogs(r.regex)
		vr := &v.rules[id]
		vr.id, vr.src, vr.assign, vr.group, vr.entropy = r.id, r, loose != "", r.group, r.entropy
		insideKW := map[string]bool{}
		for _, lit := range r.inside {
			insideKW[strings.ToLower(lit)] = true
			v.kw.addInside(lit, id)
		}
		for _, k := range r.keywords {
			k = strings.ToLower(k)
			if insideKW[k] {
				continue
			}
			at, ok := index[k]
			if !ok {
				at = len(kws)
				index[k] = at
				kws = append(kws, k)
				owners = append(owners, nil)
			}
			owners[at] = append(owners[at], id)
		}
	}
	v.kw.build(kws, owners, len(v.rules))
	return v
}

// The parts of gitleaks' patterns written for source code.
const (
	// sourceEnd ends a token at a quote, white space, ';', an escaped
	// newline or the end: the ends of a string literal.
	sourceEnd = `(?:[\x60'"\s;]|\\[nr]|$)`
	// semiHead and semiOp are the two halves of the assignment that
	// "semi-generic" rules (a vendor's name, then an unprefixed value)
	// want between the name and the value: name, up to 20 word bytes, an
	// operator (=, :, =>, ...). semiHead ends where the names start.
	semiHead = `(?i)[\w.-]{0,50}?(?:`
	semiOp   = `)(?:[ \t\w.-]{0,20})[\s'"]{0,3}(?:=|>|:{1,3}=|\|\||:|=>|\?=|,)[\x60'"\s=]{0,5}`
	// The same for a vendor name in a given case and a case-sensitive
	// value.
	semiHeadCase = `[\w.-]{0,50}?(?i:[\w.-]{0,50}?(?:`
	semiOpCase   = `)(?:[ \t\w.-]{0,20})[\s'"]{0,3})(?:=|>|:{1,3}=|\|\||:|=>|\?=|,)[\x60'"\s=]{0,5}`
)

// Their log forms.
const (
	// logEnd ends a token at any byte that is not part of one: logs put
	// tokens in URLs (/, ?, &), XML (<), brackets and sentences. Two are
	// not ends: '(' makes the word a function name ("GLC_Create...(void)"
	// in a stack trace), and '.' before a letter or digit a file name
	// ("ico-<32 hex>.png").
	logEnd = `(?:[^0-9A-Za-z_.(\-]|\.[^0-9A-Za-z]|\.$|$)`
	// logHead and logOp find the value anywhere in the few words after
	// the vendor's name, as logs write it in prose, stack traces, command
	// lines and URLs ("adafruit-cli --api-key V", "io.adafruit.Auth:
	// rejected V", "/adafruit/hooks/V"), not only after an operator. The
	// name must start a word part, so that "lob" is not found in "global".
	// "/bot" is how the Telegram Bot API puts its token in a URL
	// (https://api.telegram.org/bot<token>/<method>).
	logHead     = `(?i)(?:^|[^a-z0-9])(?:`
	logHeadCase = `(?:^|[^A-Za-z0-9])(?:`
	logOp       = `)[\s\S]{0,96}?(?:[\s'"\x60=:/<>(,\[{]|/bot)`
)

// forLogs adapts a gitleaks pattern to log lines: the value keeps the
// format the rule defines, and only what the rule wants around the value
// changes. strict is the rule with token ends for logs (logEnd); loose, for
// semi-generic rules only, also finds the value in the words after the
// vendor's name (logHead, logOp).
func forLogs(re string) (strict, loose string) {
	strict = strings.ReplaceAll(re, sourceEnd, logEnd)
	if names, rest, ok := strings.Cut(strings.TrimPrefix(strict, semiHead), semiOp); ok && strings.HasPrefix(strict, semiHead) {
		if isWordLiteral(names) && strings.HasPrefix(strings.TrimLeft(rest, "("), names) {
			// The token starts with the vendor's name (dnkey-...): the
			// name needs no second copy before it.
			return strict, logHead[:len(logHead)-len("(?:")] + rest
		}
		return strict, logHead + names + logOp + rest
	}
	if names, rest, ok := strings.Cut(strings.TrimPrefix(strict, semiHeadCase), semiOpCase); ok && strings.HasPrefix(strict, semiHeadCase) {
		return strict, logHeadCase + names + logOp + rest
	}
	return strict, ""
}

// isWordLiteral reports whether a pattern is a plain word.
func isWordLiteral(p string) bool {
	for i := 0; i < len(p); i++ {
		if !isAlnum(p[i]) && p[i] != '_' {
			return false
		}
	}
	return p != ""
}

// idShaped reports whether v is what identifiers look like: hex digits in
// one case and dashes (SHAs, digests, trace ids, UUIDs), or digits.
func idShaped(v string) bool {
	lower, upper := false, false
	for i := 0; i < len(v); i++ {
		c := v[i]
		switch {
		case isDigit(c), c == '-':
		case c >= 'a' && c <= 'f':
			lower = true
		case c >= 'A' && c <= 'F':
			upper = true
		default:
			return false
		}
	}
	return !(lower && upper)
}

func compileAllow(in []gitleaksAllow) []vendorAllow {
	out := make([]vendorAllow, 0, len(in))
	for _, a := range in {
		c := vendorAllow{and: a.and, stop: a.stopwords}
		switch a.target {
		case "match":
			c.target = allowMatch
		case "line":
			c.target = allowLine
		}
		if len(a.regexes) > 0 {
			c.re = regexp.MustCompile("(?:" + strings.Join(a.regexes, ")|(?:") + ")")
		}
		out = append(out, c)
	}
	return out
}

// scanVendor appends the vendor token findings in s to dst. covered are
// the findings of the built-in detectors, in order: a keyword inside one
// does not gate its rule, since that token is already found (an AKIA key
// id is aws_access_key's before it is gitleaks'). ks are the keyword
// starts scanBuiltin noted on its pass over s.
func (e *Engine) scanVendor(s string, dst, covered []Finding, ks *keywordStarts) []Finding {
	v := e.vendor
	if v == nil {
		return dst
	}
	var hit ruleBits
	if !v.kw.hits(s, covered, ks, &hit) {
		return dst
	}
	for id := range hit.each(len(v.rules)) {
		dst = v.rules[id].find(s, v.global, dst)
	}
	return dst
}

func (r *vendorRule) find(s string, global []vendorAllow, dst []Finding) []Finding {
	c := r.compiled()
	var strict [][]int
	for _, m := range c.re.FindAllStringSubmatchIndex(s, -1) {
		start, end := r.secret(s, m)
		if start < 0 || start >= end || insidePlaceholder(s, start) || insidePlaceholder(s, end-1) {
			continue
		}
		secret := s[start:end]
		if r.entropy > 0 && shannon(secret) <= r.entropy {
			continue
		}
		if idShaped(secret) && !r.assign {
			continue
		}
		if c.strict != nil && idShaped(secret) {
			if strict == nil {
				strict = c.strict.FindAllStringSubmatchIndex(s, -1)
			}
			if !r.hasSecret(s, strict, start, end) {
				continue
			}
		}
		if allowed(global, s, s[m[0]:m[1]], secret) || allowed(c.allow, s, s[m[0]:m[1]], secret) {
			continue
		}
		start, end = tokenExtent(s, start, end)
		dst = append(dst, Finding{Start: start, End: end, id: dVendorToken})
	}
	return dst
}

// secret is the span gitleaks reports as the secret of match m: the
// rule's secret group, else its first non-empty group, else the match,
// without surrounding newlines.
func (r *vendorRule) secret(s string, m []int) (int, int) {
	start, end := m[0], m[1]
	if len(m) >= 4 {
		if r.group > 0 && 2*r.group+1 < len(m) {
			start, end = m[2*r.group], m[2*r.group+1]
		} else {
			for g := 1; 2*g+1 < len(m); g++ {
				if m[2*g] >= 0 && m[2*g+1] > m[2*g] {
					start, end = m[2*g], m[2*g+1]
					break
				}
			}
			// A repeated part of the format ("([a-z0-9]{4}-){3}" in the
			// Teams webhook URL) is not the secret: the match is.
			if end-start < minSecret {
				start, end = m[0], m[1]
			}
		}
	}
	for start >= 0 && start < end && s[start] == '\n' {
		start++
	}
	for end > start && s[end-1] == '\n' {
		end--
	}
	return start, end
}

// minSecret is the shortest first group taken for a secret when a rule
// names no secret group.
const minSecret = 8

func (r *vendorRule) hasSecret(s string, matches [][]int, start, end int) bool {
	for _, m := range matches {
		if a, b := r.secret(s, m); a == start && b == end {
			return true
		}
	}
	return false
}

func allowed(lists []vendorAllow, line, match, secret string) bool {
	for _, a := range lists {
		target := secret
		switch a.target {
		case allowMatch:
			target = match
		case allowLine:
			target = line
		}
		re := a.re != nil && target != "" && a.re.MatchString(target)
		stop := len(a.stop) > 0 && containsAnyFold(secret, a.stop)
		if a.and {
			if (a.re == nil || re) && (len(a.stop) == 0 || stop) {
				return true
			}
		} else if re || stop {
			return true
		}
	}
	return false
}

// tokenExtent widens a secret to the whole token it is part of, so that
// nothing of it is left: backwards over letters and digits, forwards over
// the bytes token formats use ('-', '_', '+', '=', '!', '~', '%'; '.'
// between two letters or digits; '/' before a part with a digit). Regexes
// written for source code stop at the first byte they do not expect, which
// in a log is often still the token (the '/' of xapp-...-ShAYwge/87H4l...,
// the '!' of a Salesforce session id). A '/' before a word without digits
// is a URL's next path segment (/sendMessage, /secrets) and ends it.
func tokenExtent(s string, start, end int) (int, int) {
	for start > 0 && isAlnum(s[start-1]) {
		start--
	}
	for end < len(s) {
		c := s[end]
		switch {
		case isAlnum(c), c == '-', c == '_', c == '+', c == '=', c == '!', c == '~', c == '%':
		case c == '.' && isAlnum(s[end-1]) && end+1 < len(s) && isAlnum(s[end+1]):
		case c == '/' && randomPart(s[end+1:]):
		default:
			return start, end
		}
		end++
	}
	return start, end
}

// follows reports whether s starts with n token bytes.
func follows(s string, n int) bool {
	if len(s) < n {
		return false
	}
	for i := 0; i < n; i++ {
		if c := s[i]; !isB64URL(c) && c != '.' && c != '~' {
			return false
		}
	}
	return true
}

// randomPart reports whether the token bytes that s starts with hold a
// digit, as random token material does and path words do not.
func randomPart(s string) bool {
	for i := 0; i < len(s) && (isAlnum(s[i]) || s[i] == '+' || s[i] == '-' || s[i] == '_'); i++ {
		if isDigit(s[i]) {
			return true
		}
	}
	return false
}

// shannon is the Shannon entropy of s in bits per byte, as gitleaks
// computes it.
func shannon(s string) float64 {
	var counts [256]int
	for i := 0; i < len(s); i++ {
		counts[s[i]]++
	}
	n := float64(len(s))
	h := 0.0
	for _, c := range counts {
		if c > 0 {
			p := float64(c) / n
			h -= p * math.Log2(p)
		}
	}
	return h
}

// ruleBits is a set of rule ids.
type ruleBits [8]uint64

func (b *ruleBits) set(i int) { b[i>>6] |= 1 << (i & 63) }

func (b *ruleBits) or(c *ruleBits) {
	for i := range b {
		b[i] |= c[i]
	}
}

func (b *ruleBits) has(i int) bool { return b[i>>6]&(1<<(i&63)) != 0 }

func (b *ruleBits) each(n int) func(func(int) bool) {
	return func(yield func(int) bool) {
		for w, word := range b {
			for word != 0 {
				bit := bits.TrailingZeros64(word)
				word &^= 1 << bit
				if id := w<<6 | bit; id < n && !yield(id) {
					return
				}
			}
		}
	}
}

// keywords finds which rules' keywords a line holds, ASCII case folded,
// without allocating: pair bitmaps checked where words and word parts start,
// then a trie walk (scan). An Aho-Corasick automaton over every byte, which
// gitleaks runs (BobuSumisu/aho-corasick, over a lower-cased copy of each
// input), measured at half the speed on clean lines here and would need that
// copy per line.
type keywords struct {
	// Bitmaps over byte pairs, in every case: first holds the first two
	// bytes of the keywords of three bytes or more, second their second
	// and third bytes, short the keywords of two bytes.
	first, second, short2 [1 << 16 / 64]uint64
	any                   [1 << 16 / 64]uint64 // first | short2
	start                 [256]bool            // bytes a keyword starts with, in every case
	class                 [256]uint16          // byte -> trie column, 0 for bytes no keyword has
	ncol                  int
	// next is the trie, indexed by node*ncol + column; it holds the child
	// node times ncol, 0 for none.
	next  []uint16
	final []bool  // by node*ncol: some keyword ends here
	out   [][]int // by node: the rules whose keyword ends here
	// inside are the keywords looked for anywhere (strings.Index).
	inside []literal
	short  []bool // by node: the keyword ending here is shortKeyword
}

// shortKeyword is the length up to which a keyword is too common to gate
// its rule alone ("s." ends half the words of a Java log line). Such a
// keyword counts only where shortFollow token bytes follow it: every rule
// with one has a longer token after it (Vault's legacy s.<24>, Twilio's
// SK<32 hex>, Azure AD's ...Q~<31+>), which TestShortKeywords checks
// against gitleaks' own cases.
const (
	shortKeyword = 2
	shortFollow  = 16
)

// literal is a keyword looked for anywhere, in one case. It is found by
// its rarest byte (anchor, at offset at), which strings.IndexByte finds
// fast: a literal's first byte is often as common in logs as the T of a
// timestamp.
type literal struct {
	text   string
	anchor byte
	at     int
	rules  []int
}

// index returns where lit is in s, or -1.
func (lit *literal) index(s string) int {
	for from := lit.at; from < len(s); {
		j := strings.IndexByte(s[from:], lit.anchor)
		if j < 0 {
			return -1
		}
		start := from + j - lit.at
		if start+len(lit.text) <= len(s) && s[start:start+len(lit.text)] == lit.text {
			return start
		}
		from += j + 1
	}
	return -1
}

// rarity ranks how seldom a byte is in log text, lowest first.
func rarity(c byte) int {
	switch {
	case c == ' ':
		return 5
	case !isAlnum(c):
		return 0
	case isUpper(c) && !strings.ContainsRune("TSEAIONRCDLMP", rune(c)):
		return 1
	case isUpper(c):
		return 2
	case isDigit(c):
		return 3
	}
	return 4
}

func (k *keywords) addInside(text string, rule int) {
	for i := range k.inside {
		if k.inside[i].text == text {
			k.inside[i].rules = append(k.inside[i].rules, rule)
			return
		}
	}
	lit := literal{text: text, rules: []int{rule}}
	for i := 0; i < len(text); i++ {
		if rarity(text[i]) < rarity(text[lit.at]) {
			lit.at = i
		}
	}
	lit.anchor = text[lit.at]
	k.inside = append(k.inside, lit)
}

func newKeywords(words []string, owners [][]int, nrules int) keywords {
	var k keywords
	k.build(words, owners, nrules)
	return k
}

func (k *keywords) build(words []string, owners [][]int, nrules int) {
	if nrules > len(ruleBits{})*64 {
		panic("pii: more vendor rules than ruleBits holds")
	}
	k.ncol = 1
	for wi, w := range words {
		if len(w) < 2 {
			panic("pii: a vendor keyword of fewer than two bytes: " + w)
		}
		w = strings.ToLower(w)
		words[wi] = w
		if len(w) == 2 {
			setPairs(&k.short2, w[0], w[1])
		} else {
			setPairs(&k.first, w[0], w[1])
			setPairs(&k.second, w[1], w[2])
		}
		for i := 0; i < len(w); i++ {
			c := w[i]
			if k.class[c] == 0 {
				k.class[c] = uint16(k.ncol)
				k.ncol++
				if isLower(c) {
					k.class[c-'a'+'A'] = k.class[c]
				}
			}
		}
	}
	type node struct {
		child map[uint16]int
		out   []int
	}
	nodes := []node{{child: map[uint16]int{}}}
	for wi, w := range words {
		at := 0
		for i := 0; i < len(w); i++ {
			c := k.class[w[i]]
			nx, ok := nodes[at].child[c]
			if !ok {
				nx = len(nodes)
				nodes = append(nodes, node{child: map[uint16]int{}})
				nodes[at].child[c] = nx
			}
			at = nx
		}
		nodes[at].out = append(nodes[at].out, owners[wi]...)
	}
	n := k.ncol
	if len(nodes)*n > math.MaxUint16+1 {
		panic("pii: vendor keyword trie too large")
	}
	k.next = make([]uint16, len(nodes)*n)
	k.final = make([]bool, len(nodes)*n)
	k.out = make([][]int, len(nodes))
	for at, nd := range nodes {
		for c, nx := range nd.child {
			k.next[at*n+int(c)] = uint16(nx * n)
		}
		k.out[at] = nd.out
		k.final[at*n] = len(nd.out) > 0
	}
	for i := range k.any {
		k.any[i] = k.first[i] | k.short2[i]
	}
	for _, w := range words {
		for _, c := range caseVariants(w[0]) {
			k.start[c] = true
		}
	}
	k.short = make([]bool, len(nodes))
	for _, w := range words {
		if len(w) <= shortKeyword {
			at := 0
			for i := 0; i < len(w); i++ {
				at = int(k.next[at+int(k.class[w[i]])])
			}
			k.short[at/n] = true
		}
	}
}

// setPairs sets the pair (a, b) in every case in bits.
func setPairs(bits *[1 << 16 / 64]uint64, a, b byte) {
	for _, x := range caseVariants(a) {
		for _, y := range caseVariants(b) {
			p := uint16(x)<<8 | uint16(y)
			bits[p>>6] |= 1 << (p & 63)
		}
	}
}

// scan sets in hit the rules whose keyword s holds outside covered
// (findings in order) and this engine's placeholders (the detector names
// in "[REDACTED:slack_token]" are keywords), and reports whether there was
// any. Keywords are
// looked for where a word or a word part starts (after any byte that is
// not a letter or digit), which is where gitleaks' cases hold them: the
// loop skips the rest of each run of letters and digits with one table
// load per byte. At a start, one bitmap load tells whether a keyword may
// begin with the pair there; starts checks the rest out of line, so that
// the loop keeps its registers, and the trie walk names the keywords.
func (k *keywords) scan(s string, covered []Finding, hit *ruleBits) bool {
	found := false
	any, start := &k.any, &k.start
	cov := covered
	n := len(s)
	for i := 0; i+1 < n; {
		c := s[i]
		if start[c] {
			p := uint16(c)<<8 | uint16(s[i+1])
			if any[p>>6]&(1<<(p&63)) != 0 && k.starts(s, i) {
				for len(cov) > 0 && cov[0].End <= i {
					cov = cov[1:]
				}
				if len(cov) == 0 || cov[0].Start > i {
					var at ruleBits
					if k.walk(s, i, &at) && !insidePlaceholder(s, i) {
						hit.or(&at)
						found = true
					}
				}
			}
		}
		i++
		if alnumByte[c] {
			for i < n && alnumByte[s[i]] {
				i++
			}
		}
	}
	return k.scanInside(s, covered, hit) || found
}

// scanInside sets in hit the rules of the keywords looked for anywhere
// that s holds outside covered and placeholders.
func (k *keywords) scanInside(s string, covered []Finding, hit *ruleBits) bool {
	found := false
	for i := range k.inside {
		lit := &k.inside[i]
		if at := lit.index(s); at >= 0 && !isCovered(covered, at) && !insidePlaceholder(s, at) {
			for _, id := range lit.rules {
				hit.set(id)
			}
			found = true
		}
	}
	return found
}

// keywordStarts are the places where a keyword starts in a line, as
// scanBuiltin notes them on its own pass (keywords.note), so that the
// keywords cost no second pass over every byte. A line with more than it
// holds is scanned again by keywords.scan.
type keywordStarts struct {
	at       [16]int
	n        int
	overflow bool
}

// mayStart reports, with one table load and one bitmap load, whether a
// keyword may start at s[i]: the hot loop's filter before note.
func (k *keywords) mayStart(s string, i int) bool {
	if !k.start[s[i]] || i+1 >= len(s) {
		return false
	}
	p := uint16(s[i])<<8 | uint16(s[i+1])
	return k.any[p>>6]&(1<<(p&63)) != 0
}

// note adds i to ks when a keyword starts there where scan looks for one:
// at a byte that is not a letter or digit, or after one (or at 0).
//
//go:noinline
func (k *keywords) note(s string, i int, ks *keywordStarts) {
	if i > 0 && alnumByte[s[i-1]] && alnumByte[s[i]] || !k.starts(s, i) {
		return
	}
	var at ruleBits
	if !k.walk(s, i, &at) {
		return
	}
	if ks.n == len(ks.at) {
		ks.overflow = true
		return
	}
	ks.at[ks.n] = i
	ks.n++
}

// noteRange notes the keywords that start in s[from:to]: the bytes a
// built-in finding's check passed over without covering them.
func (k *keywords) noteRange(s string, from, to int, ks *keywordStarts) {
	for i := from; i < to; i++ {
		if k.mayStart(s, i) {
			k.note(s, i, ks)
		}
	}
}

// hits is scan for a line whose keyword starts ks noted: it sets in hit
// the rules whose keyword s holds outside covered and placeholders, and
// reports whether there was any.
func (k *keywords) hits(s string, covered []Finding, ks *keywordStarts, hit *ruleBits) bool {
	if ks.overflow {
		return k.scan(s, covered, hit)
	}
	found := false
	for _, i := range ks.at[:ks.n] {
		if isCovered(covered, i) || insidePlaceholder(s, i) {
			continue
		}
		var at ruleBits
		k.walk(s, i, &at)
		hit.or(&at)
		found = true
	}
	return k.scanInside(s, covered, hit) || found
}

func isCovered(covered []Finding, at int) bool {
	for _, f := range covered {
		if f.Start <= at && at < f.End {
			return true
		}
	}
	return false
}

// starts reports whether a keyword may start at s[i], whose pair is in
// any.
//
//go:noinline
func (k *keywords) starts(s string, i int) bool {
	p := uint16(s[i])<<8 | uint16(s[i+1])
	if k.short2[p>>6]&(1<<(p&63)) != 0 {
		return true
	}
	if i+2 >= len(s) {
		return false
	}
	q := uint16(s[i+1])<<8 | uint16(s[i+2])
	return k.second[q>>6]&(1<<(q&63)) != 0
}

// walk follows the trie from s[i] and sets the rules of the keywords that
// start there.
//
//go:noinline
func (k *keywords) walk(s string, i int, hit *ruleBits) bool {
	found := false
	for j, at := i, 0; j < len(s); j++ {
		at = int(k.next[at+int(k.class[s[j]])])
		if at == 0 {
			break
		}
		if k.final[at] {
			if k.short[at/k.ncol] && !follows(s[j+1:], shortFollow) {
				continue
			}
			for _, id := range k.out[at/k.ncol] {
				hit.set(id)
			}
			found = true
		}
	}
	return found
}

// caseVariants are the ASCII case forms of c.
func caseVariants(c byte) []byte {
	switch {
	case isLower(c):
		return []byte{c, c - 'a' + 'A'}
	case isUpper(c):
		return []byte{c, c - 'A' + 'a'}
	}
	return []byte{c}
}
