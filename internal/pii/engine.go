package pii

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
)

// Sentinel errors returned by New.
var (
	ErrUnknownDetector = errors.New("unknown detector")
	ErrNoHashKey       = errors.New("the hash action needs a hash key")
	ErrRuleName        = errors.New("a custom rule needs a name that is neither a built-in detector nor another rule's")
	ErrRulePattern     = errors.New("invalid custom rule pattern")
	ErrRuleGroup       = errors.New("custom rule group is not in the pattern")
	ErrUnknownProfile  = errors.New("unknown profile")
)

// Rule is a custom detector: an RE2 pattern, the capture group to redact
// (0 = the whole match) and optional context keywords, one of which must
// appear (case-insensitively) within ContextWindow bytes of the match.
type Rule struct {
	Name    string
	Pattern string
	Group   int
	Context []string
	Action  Action
}

// ContextWindow is how far from a custom match its context keywords may be.
const ContextWindow = 64

// Options configures an Engine. The zero value enables the default
// detectors, all masking.
type Options struct {
	// Profiles, when set, choose the national identifiers to look for
	// (those of the named profiles' regions; the others are off) and turn
	// on every other detector of the named profiles (us, eu, uk, ca, au,
	// hipaa, pci) on top of the defaults.
	Profiles []string
	// Enabled turns built-in detectors on or off by name, after Profiles;
	// names left out keep their default.
	Enabled map[string]bool
	// Actions overrides DefaultAction per built-in detector name.
	Actions map[string]Action
	// DefaultAction applies to detectors without an entry in Actions.
	DefaultAction Action
	// HashKey keys the HMAC of the hash action. Required when any detector
	// hashes.
	HashKey []byte
	// Rules are custom detectors, run after the built-in ones.
	Rules []Rule
}

// Finding is one match: the detector and the byte span it covers.
type Finding struct {
	Start, End int
	id         int
}

// Engine detects and redacts. It is immutable after New and safe for
// concurrent use.
type Engine struct {
	trigger [256]uint16
	// lowerPairs holds, by lower-case first byte, the second bytes of the
	// words at which atWord has a check for it (lowerStart).
	lowerPairs [26][4]uint64
	// prefixes indexes tokenPrefixes of enabled detectors by first byte.
	prefixes [256][]int
	on       [numBuiltin]bool
	// nationalWords: a detector of identifiers mixing letters and digits
	// (HETU, NIF, MBI, NINO, codice fiscale, passport) is on.
	nationalWords bool
	// anyLengthNumbers: a detector of digit runs of any length (IPv4,
	// phone) is on.
	anyLengthNumbers bool
	names            []string // by id: built-ins, then custom rules
	actions          []Action // by id
	masks            []string // by id: "[REDACTED:<name>]"
	rules            []rule
	vendor           *vendorSet // nil when vendor_token is off
	// kw is the vendor rules' keywords, or none when vendor_token is off.
	kw      *keywords
	hashKey []byte
}

type rule struct {
	re      *regexp.Regexp
	group   int
	context []string // lower-case
}

// Trigger classes: which checks run at a byte.
const (
	tAt     = 1 << iota // '@': email, URL credentials
	tDigit              // card, SSN, IPv4, phone
	tUpper              // IBAN, AWS, Google, Bearer/Basic
	tLower              // token prefixes, bearer/basic, JWT
	tAssign             // '=' ':': key-value secrets, authorization
	tDash               // '-': PEM blocks
	tPhone              // '+' '(': phone
	tHex                // IPv6 starts
	tOpen               // '[': skip placeholders
	tDollar             // '$': password hashes
)

// New compiles opts into an Engine.
func New(opts Options) (*Engine, error) {
	e := &Engine{hashKey: slices.Clone(opts.HashKey)}
	for name := range opts.Enabled {
		if !IsBuiltin(name) {
			return nil, fmt.Errorf("%q: %w", name, ErrUnknownDetector)
		}
	}
	for name := range opts.Actions {
		if !IsBuiltin(name) {
			return nil, fmt.Errorf("%q: %w", name, ErrUnknownDetector)
		}
	}
	var inProfile [numBuiltin]bool
	for _, name := range opts.Profiles {
		found := false
		for _, p := range profiles {
			if p.name == name {
				found = true
				for _, id := range p.detectors {
					inProfile[id] = true
				}
			}
		}
		if !found {
			return nil, fmt.Errorf("%q: %w (known: %s)", name, ErrUnknownProfile, strings.Join(Profiles(), ", "))
		}
	}
	for id, b := range builtin {
		on := b.on || inProfile[id]
		if len(opts.Profiles) > 0 && nationalID[id] {
			// Profiles name the regions whose identifiers to look for.
			on = inProfile[id]
		}
		if v, ok := opts.Enabled[b.name]; ok {
			on = v
		}
		e.on[id] = on
		act := opts.DefaultAction
		if a, ok := opts.Actions[b.name]; ok {
			act = a
		}
		e.add(b.name, act)
	}
	for _, r := range opts.Rules {
		if r.Name == "" || IsBuiltin(r.Name) || slices.Contains(e.names, r.Name) {
			return nil, fmt.Errorf("%q: %w", r.Name, ErrRuleName)
		}
		re, err := regexp.Compile(r.Pattern)
		if err != nil {
			// regexp errors quote the pattern, which is configuration, not data.
			return nil, fmt.Errorf("rule %q: %w: %w", r.Name, ErrRulePattern, err)
		}
		if r.Group < 0 || r.Group > re.NumSubexp() {
			return nil, fmt.Errorf("rule %q: group %d: %w", r.Name, r.Group, ErrRuleGroup)
		}
		ctx := make([]string, 0, len(r.Context))
		for _, k := range r.Context {
			if k != "" {
				ctx = append(ctx, strings.ToLower(k))
			}
		}
		e.rules = append(e.rules, rule{re: re, group: r.Group, context: ctx})
		e.add(r.Name, r.Action)
	}
	if len(e.hashKey) == 0 && slices.Contains(e.actions, ActionHash) {
		return nil, ErrNoHashKey
	}
	e.kw = &keywords{}
	if e.on[dVendorToken] {
		e.vendor = newVendorSet()
		e.kw = &e.vendor.kw
	}
	e.buildTriggers()
	return e, nil
}

func (e *Engine) add(name string, act Action) {
	e.names = append(e.names, name)
	e.actions = append(e.actions, act)
	e.masks = append(e.masks, "[REDACTED:"+name+"]")
}

func (e *Engine) buildTriggers() {
	set := func(class uint16, bytes string) {
		for i := 0; i < len(bytes); i++ {
			e.trigger[bytes[i]] |= class
		}
	}
	const digits = "0123456789"
	const upper = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	set(tOpen, "[")
	for k, p := range tokenPrefixes {
		if e.on[p.id] {
			e.prefixes[p.prefix[0]] = append(e.prefixes[p.prefix[0]], k)
		}
	}
	if e.on[dEmail] || e.on[dURLCredentials] {
		set(tAt, "@")
	}
	e.anyLengthNumbers = e.on[dIPv4] || e.on[dPhone]
	e.nationalWords = e.on[dFIHETU] || e.on[dESNIF] || e.on[dUSMBI] || e.on[dUKNINO] || e.on[dITFiscalCode] || e.on[dUSPassport]
	if e.on[dCreditCard] || e.on[dUSSSN] || e.on[dIPv4] || e.on[dPhone] || e.on[dUSITIN] || e.on[dUKNHS] ||
		e.on[dCASIN] || e.on[dAUTFN] || e.on[dPLPESEL] || e.nationalWords {
		set(tDigit, digits)
	}
	if e.on[dIBAN] || e.nationalWords {
		set(tUpper, upper)
	}
	if e.on[dAWSAccessKey] || e.on[dGoogleAPIKey] {
		set(tUpper, "A")
	}
	if e.on[dAuthHeader] {
		set(tUpper, "B")
		set(tLower, "b")
	}
	if e.on[dJWT] {
		set(tLower, "e")
	}
	if e.on[dGitHubToken] || e.on[dGitLabToken] {
		set(tLower, "g")
	}
	if e.on[dSlackToken] {
		set(tLower, "x")
	}
	if e.on[dStripeKey] {
		set(tLower, "sr")
	}
	if e.on[dKVSecret] || e.on[dAuthHeader] || e.on[dAWSSecretKey] {
		set(tAssign, "=:")
	}
	if e.on[dKVSecret] {
		// Flags, "password is X", "set KEY VALUE".
		set(tDash, "-")
		set(tLower, "ps")
		set(tUpper, "PS")
	}
	if e.on[dPrivateKey] {
		set(tDash, "-")
		set(tUpper, "L")
	}
	if e.on[dPasswordHash] {
		set(tDollar, "$")
	}
	if e.on[dWebhookURL] {
		set(tLower, "d")
	}
	if e.on[dPhone] {
		set(tPhone, "+(")
	}
	if e.on[dIPv6] {
		set(tHex, digits+"abcdefABCDEF:")
	}
	e.buildLowerPairs()
}

// buildLowerPairs lists the starts of the words atWord checks when their
// first byte is a lower-case letter: mirror any check added there.
func (e *Engine) buildLowerPairs() {
	pair := func(first byte, seconds string) {
		for k := 0; k < len(seconds); k++ {
			n := seconds[k]
			e.lowerPairs[first-'a'][n>>6] |= 1 << (n & 63)
		}
	}
	for _, k := range e.prefixes {
		for _, p := range k {
			if first := tokenPrefixes[p].prefix[0]; isLower(first) {
				pair(first, tokenPrefixes[p].prefix[1:2])
			}
		}
	}
	if e.on[dJWT] {
		pair('e', "y")
	}
	if e.on[dAuthHeader] {
		pair('b', "eEaA") // bearer, basic
	}
	pair('p', "aAwWeE") // phrase: password, pw, pwd, ...
	pair('s', "aAwWeE") // set, setenv
	if e.on[dWebhookURL] {
		pair('d', "i") // discord
	}
}

// Name returns the detector name of f.
func (e *Engine) Name(f Finding) string { return e.names[f.id] }

// Action returns what the configuration says to do with f.
func (e *Engine) Action(f Finding) Action { return e.actions[f.id] }

// Names returns every detector name the engine knows, built-ins first.
func (e *Engine) Names() []string { return slices.Clone(e.names) }

// Scan appends the findings in s to dst, in order and without overlap, and
// returns it. With no finding it returns dst unchanged and allocates nothing.
func (e *Engine) Scan(s string, dst []Finding) []Finding {
	base := len(dst)
	var ks keywordStarts
	dst = e.scanBuiltin(s, dst, &ks)
	before := len(dst)
	dst = e.scanVendor(s, dst, dst[base:], &ks)
	for i := range e.rules {
		dst = e.scanRule(s, i, dst)
	}
	if len(dst) == before {
		return dst
	}
	// Vendor and custom matches may overlap built-in ones and each other:
	// overlapping findings join into one, named after the earliest (a
	// built-in one on a tie), so that no part of either is left.
	found := dst[base:]
	slices.SortStableFunc(found, func(a, b Finding) int { return a.Start - b.Start })
	kept := found[:0]
	for _, f := range found {
		if n := len(kept); n > 0 && f.Start < kept[n-1].End {
			kept[n-1].End = max(kept[n-1].End, f.End)
			continue
		}
		kept = append(kept, f)
	}
	return dst[:base+len(kept)]
}

func (e *Engine) scanRule(s string, i int, dst []Finding) []Finding {
	r := &e.rules[i]
	if len(r.context) > 0 && !containsAnyFold(s, r.context) {
		return dst
	}
	for _, m := range r.re.FindAllStringSubmatchIndex(s, -1) {
		start, end := m[2*r.group], m[2*r.group+1]
		if start < 0 || start == end || insidePlaceholder(s, start) || insidePlaceholder(s, end-1) {
			continue
		}
		if len(r.context) > 0 && !containsAnyFold(s[max(0, start-ContextWindow):min(len(s), end+ContextWindow)], r.context) {
			continue
		}
		dst = append(dst, Finding{Start: start, End: end, id: numBuiltin + i})
	}
	return dst
}

func containsAnyFold(s string, lowerKeys []string) bool {
	ls := strings.ToLower(s)
	for _, k := range lowerKeys {
		if strings.Contains(ls, k) {
			return true
		}
	}
	return false
}

// maxPasses bounds Redact's re-scans. A replacement can join its
// neighbours into a new match (a masked value between two halves of an
// address, say); scanning the output again until nothing is found makes
// Redact idempotent and its output free of matches.
const maxPasses = 4

// Tally counts matches per detector across calls, and holds scratch space
// for findings. It is not safe for concurrent use: give each goroutine its
// own.
type Tally struct {
	// Counts is indexed like Engine.Names.
	Counts []int
	// Total is the sum of Counts.
	Total int
	buf   []Finding
}

// NewTally returns an empty Tally for e.
func (e *Engine) NewTally() *Tally { return &Tally{Counts: make([]int, len(e.names))} }

// Reset zeroes t's counts.
func (t *Tally) Reset() {
	clear(t.Counts)
	t.Total = 0
}

// Redact returns s with every match replaced according to its detector's
// action (drop actions mask the text; the caller drops what they name), the
// strongest action among the matches (drop_record > drop_attribute > hash >
// mask) and how many there were. The matches are added to t. A clean s
// comes back unchanged, without allocation.
func (e *Engine) Redact(s string, t *Tally) (string, Action, int) {
	strongest, n := ActionMask, 0
	for pass := 0; pass < maxPasses; pass++ {
		t.buf = e.Scan(s, t.buf[:0])
		if len(t.buf) == 0 {
			break
		}
		for _, f := range t.buf {
			t.Counts[f.id]++
			strongest = max(strongest, e.actions[f.id])
		}
		t.Total += len(t.buf)
		n += len(t.buf)
		s = e.apply(s, t.buf)
	}
	return s, strongest, n
}

// RedactKeyed is Redact for the value of an attribute or map entry named
// key: when the key names a secret (password, client_secret,
// Authorization, ...) the value is one, whatever it looks like.
func (e *Engine) RedactKeyed(key, s string, t *Tally) (string, Action, int) {
	f, ok := e.keyed(key, s)
	if !ok {
		return e.Redact(s, t)
	}
	t.Counts[f.id]++
	t.Total++
	t.buf = append(t.buf[:0], f)
	out, act, n := e.Redact(e.apply(s, t.buf), t)
	return out, max(act, e.actions[f.id]), n + 1
}

// DetectKeyed is Detect for the value of a key, as RedactKeyed.
func (e *Engine) DetectKeyed(key, s string, t *Tally) (Action, int) {
	f, ok := e.keyed(key, s)
	if !ok {
		return e.Detect(s, t)
	}
	t.Counts[f.id]++
	t.Total++
	// Scan what the keyed finding leaves: the scheme of "Bearer x", say.
	a1, n1 := e.Detect(s[:f.Start], t)
	a2, n2 := e.Detect(s[f.End:], t)
	return max(a1, a2, e.actions[f.id]), n1 + n2 + 1
}

func (e *Engine) keyed(key, s string) (Finding, bool) {
	if key == "" || s == "" {
		return Finding{}, false
	}
	kind := e.keyKind(key)
	if kind < 0 {
		return Finding{}, false
	}
	if kind == dKVSecret {
		// The key of an attribute is the application's own word, not text
		// that happens to precede '=': its value is a secret whatever its
		// shape.
		kind = kindPassword
	}
	return e.value(s, kind, 0, len(s), true)
}

// Detect is Redact without the replacing: it counts the matches in s into
// t and returns the strongest action and how many there were.
func (e *Engine) Detect(s string, t *Tally) (Action, int) {
	t.buf = e.Scan(s, t.buf[:0])
	strongest := ActionMask
	for _, f := range t.buf {
		t.Counts[f.id]++
		strongest = max(strongest, e.actions[f.id])
	}
	t.Total += len(t.buf)
	return strongest, len(t.buf)
}

func (e *Engine) apply(s string, found []Finding) string {
	var b strings.Builder
	b.Grow(len(s) + 16*len(found))
	last := 0
	for _, f := range found {
		b.WriteString(s[last:f.Start])
		if e.actions[f.id] == ActionHash {
			b.WriteString(e.pseudonym(f.id, s[f.Start:f.End]))
		} else {
			b.WriteString(e.masks[f.id])
		}
		last = f.End
	}
	b.WriteString(s[last:])
	return b.String()
}

// pseudonym is [<detector>:<first 12 hex of HMAC-SHA256(key, value)>].
func (e *Engine) pseudonym(id int, value string) string {
	mac := hmac.New(sha256.New, e.hashKey)
	mac.Write([]byte(value))
	sum := mac.Sum(nil)
	return "[" + e.names[id] + ":" + hex.EncodeToString(sum[:6]) + "]"
}
