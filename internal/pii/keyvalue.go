package pii

import (
	"math"
	"net/netip"
	"strings"
)

// secretKeySuffixes end the (lower-cased, punctuation-free) names of keys
// whose values are secrets: db_password, client_secret, X-Api-Key, ...
var secretKeySuffixes = []string{
	"password", "passwd", "passphrase", "pwd", "secret", "token", "apikey",
	"accesskey", "secretkey", "privatekey", "credential", "credentials", "authkey",
	"accountkey", "passcode", "masterkey", "signingkey", "encryptionkey",
}

// suffixesByLast groups secretKeySuffixes by their last byte.
var suffixesByLast = func() (t [256][]string) {
	for _, s := range secretKeySuffixes {
		t[s[len(s)-1]] = append(t[s[len(s)-1]], s)
	}
	return t
}()

// secretKeyWords are key names that are secret only as a whole word of
// the key ("pass", "db_pass", "userPw"), since as suffixes they end
// harmless names (bypass, compass).
var secretKeyWords = []string{"pass", "pw", "pswd", "pword"}

// benignValues are values that say a secret is absent, not what it is.
var benignValues = []string{"null", "nil", "none", "true", "false", "undefined", "empty", "<redacted>", "redacted"}

func isKeyChar(c byte) bool { return keyByte[c] }

// isValueChar is what an unquoted value may hold: it ends at white space and
// the punctuation that separates fields in JSON, logfmt and query strings.
func isValueChar(c byte) bool { return valueByte[c] }

// keyByte and valueByte are isKeyChar and isValueChar as tables: both run
// over every key before a ':' or '=' and every value after one.
var keyByte, valueByte = func() (key, value [256]bool) {
	for c := range 256 {
		b := byte(c)
		key[c] = isWord(b) || b == '-' || b == '.'
		value[c] = b > ' ' && strings.IndexByte(",;&\"'}])<>", b) < 0
	}
	return key, value
}()

// Key kinds beyond the detector ids: kindPWD is the key "pwd", a password
// unless its value is a path; kindPassword a key naming a password, whose
// value may be short and of any shape. Other secret keys (token, secret,
// api_key, ...) hold generated values, which must look generated.
const (
	kindPWD = numBuiltin + 1 + iota
	kindPassword
)

// keyKind classifies a key name: a detector id, or -1 for a key whose value
// is not secret.
func (e *Engine) keyKind(key string) int {
	// Most keys end in a letter no secret key name ends in: a cheap reject
	// for the many ':' and '=' that follow them.
	if key == "" {
		return -1
	}
	// Then a suffix match on the key as written (case and punctuation
	// ignored), before the key is copied and normalized.
	last := key[len(key)-1] | 0x20
	match := false
	for _, suf := range suffixesByLast[last] {
		if hasSuffixNorm(key, suf) {
			match = true
			break
		}
	}
	aws := len(key) >= 3 && key[0]|0x20 == 'a' && key[1]|0x20 == 'w' && key[2]|0x20 == 's'
	if !match && !(last == 'n' && hasSuffixNorm(key, "authorization")) && !aws {
		if (last == 's' || last == 'w' || last == 'd') && e.on[dKVSecret] && lastWordIsSecret(key) {
			return kindPassword
		}
		return -1
	}
	var buf [64]byte
	n := 0
	for i := 0; i < len(key) && n < len(buf); i++ {
		c := key[i]
		switch {
		case isLower(c) || isDigit(c):
			buf[n] = c
			n++
		case isUpper(c):
			buf[n] = c + ('a' - 'A')
			n++
		}
	}
	if n == 0 {
		return -1
	}
	k := string(buf[:n]) // does not escape: compared and dropped
	if strings.HasSuffix(k, "authorization") {
		if e.on[dAuthHeader] {
			return dAuthHeader
		}
		return -1
	}
	if e.on[dAWSSecretKey] && (strings.Contains(k, "aws") && strings.HasSuffix(k, "secretaccesskey") ||
		strings.HasPrefix(k, "awssecret")) {
		return dAWSSecretKey
	}
	for _, suf := range suffixesByLast[k[len(k)-1]] {
		if strings.HasSuffix(k, suf) {
			switch {
			case k == "pwd":
				return kindPWD
			case isPasswordName(suf):
				return kindPassword
			}
			return dKVSecret
		}
	}
	if c := k[len(k)-1]; (c == 's' || c == 'w' || c == 'd') && lastWordIsSecret(key) {
		return kindPassword
	}
	return -1
}

// hasSuffixNorm reports whether key ends in suffix (lower-case letters and
// digits) once its case and punctuation are ignored.
func hasSuffixNorm(key, suffix string) bool {
	j := len(suffix) - 1
	for i := len(key) - 1; i >= 0 && j >= 0; i-- {
		c := key[i]
		switch {
		case isUpper(c):
			c += 'a' - 'A'
		case !isLower(c) && !isDigit(c):
			continue
		}
		if c != suffix[j] {
			return false
		}
		j--
	}
	return j < 0
}

func isPasswordName(suffix string) bool {
	switch suffix {
	case "password", "passwd", "passphrase", "pwd", "passcode":
		return true
	}
	return false
}

// lastWordIsSecret reports whether the last word of key (split at
// punctuation and lower-to-upper case changes) is one of secretKeyWords.
func lastWordIsSecret(key string) bool {
	j := len(key)
	i := j
	for i > 0 && isLetter(key[i-1]) {
		i--
		if i > 0 && isUpper(key[i]) && isLower(key[i-1]) {
			break
		}
	}
	if i == j || j-i > 5 || key[i]|0x20 != 'p' { // every secretKeyWords word starts with p
		return false
	}
	for _, w := range secretKeyWords {
		if strings.EqualFold(key[i:j], w) {
			return true
		}
	}
	return false
}

// keyValue checks the '=' or ':' at i for a secret-named key before it and
// returns the span of its value.
func (e *Engine) keyValue(s string, i, lo int) (Finding, bool) {
	c := s[i]
	if c == ':' && strings.HasPrefix(s[i:], "://") || c == '=' && i+1 < len(s) && s[i+1] == '=' {
		return Finding{}, false
	}
	// The key: "key=", "key =", "\"key\":", "'key':".
	kend := i
	for kend > lo && i-kend < 3 && s[kend-1] == ' ' {
		kend--
	}
	k := kend
	if k > lo && (s[k-1] == '"' || s[k-1] == '\'') {
		q := s[k-1]
		kend--
		k = kend
		for k > lo && kend-k <= 64 && s[k-1] != q {
			k--
		}
		if k == lo || s[k-1] != q {
			return Finding{}, false
		}
	} else {
		for lim := max(lo, kend-65); k > lim && keyByte[s[k-1]]; k-- {
		}
	}
	if kend > k && s[kend-1] == '\\' {
		kend-- // the escaped quote of \"key\":
	}
	if k == kend || kend-k > 64 {
		return Finding{}, false
	}
	kind := e.keyKind(s[k:kend])
	if kind < 0 {
		return Finding{}, false
	}

	// The value: quoted (with backslash escapes) or up to a separator.
	v := i + 1
	for v < len(s) && v-i <= 4 && (s[v] == ' ' || s[v] == '\t') {
		v++
	}
	var vstart, vend int
	quoted := v < len(s) && (s[v] == '"' || s[v] == '\'')
	// JSON inside a JSON string: {"log":"{\"password\":\"x\"}"}.
	escaped := !quoted && v+1 < len(s) && s[v] == '\\' && s[v+1] == '"'
	switch {
	case escaped:
		vstart = v + 2
		vend = strings.Index(s[vstart:], `\"`)
		if vend < 0 {
			vend = run(s, vstart, isValueChar) - vstart
		}
		vend += vstart
		quoted = true
	case quoted:
		vstart, vend = v+1, quotedEnd(s, v)
	default:
		vstart, vend = v, run(s, v, isValueChar)
		// '&' separates query parameters after '='; after ':' (YAML, a
		// header, prose) it is part of the value.
		for c == ':' && vend < len(s) && s[vend] == '&' {
			vend = run(s, vend+1, isValueChar)
		}
	}
	return e.value(s, kind, vstart, vend, quoted)
}

// value checks the value s[vstart:vend] of a key of the given kind.
// quoted says the span is the whole value, white space included.
func (e *Engine) value(s string, kind, vstart, vend int, quoted bool) (Finding, bool) {
	if vstart >= vend || isPlaceholder(s, vstart) {
		return Finding{}, false
	}
	val := s[vstart:vend]
	// ${env:X} references, and values masked by the application (***, xxxx).
	if strings.HasPrefix(val, "${") || strings.Trim(val, "*") == "" || len(val) >= 4 && strings.Trim(val, "xX") == "" {
		return Finding{}, false
	}
	for _, b := range benignValues {
		if strings.EqualFold(val, b) {
			return Finding{}, false
		}
	}

	if !quoted && strings.HasSuffix(val, ":") {
		// "stream/token: com.apple.xpc.activity/4505: 132": a label.
		val = val[:len(val)-1]
		vend--
		if val == "" {
			return Finding{}, false
		}
	}
	if isReference(val) || isObjectString(val) {
		return Finding{}, false
	}
	switch kind {
	case dAuthHeader:
		return e.authValue(s, vstart, vend, quoted)
	case dAWSSecretKey:
		if len(val) == 40 && strings.Trim(val, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789/+") == "" {
			return Finding{vstart, vend, dAWSSecretKey}, true
		}
		kind = dKVSecret
	case kindPWD:
		// PWD=/home/me is the shell's working directory, not a password.
		if val[0] == '/' || val[0] == '~' {
			return Finding{}, false
		}
		kind = dKVSecret
	case kindPassword:
		kind = dKVSecret
	default:
		if !looksGenerated(val) {
			return Finding{}, false
		}
	}
	if !e.on[dKVSecret] {
		return Finding{}, false
	}
	// Name the finding after the token it holds when it is a known one.
	if val[0] == '$' && e.on[dPasswordHash] {
		if end, ok := passwordHash(s, vstart); ok && end == vend {
			kind = dPasswordHash
		}
	}
	if isWord(val[0]) {
		if end, id, ok := e.token(s, vstart); ok && end == vend {
			kind = id
		}
	}
	return Finding{vstart, vend, kind}, true
}

// authValue redacts the credentials of an Authorization header value and
// keeps its scheme: "Bearer [REDACTED:auth_header]".
func (e *Engine) authValue(s string, vstart, vend int, quoted bool) (Finding, bool) {
	// An unquoted value ends at a space, but "Bearer abc" holds one.
	limit := len(s)
	if quoted {
		limit = vend
	}
	if start, end, ok := bearer(s[:limit], vstart, true); ok {
		return Finding{start, end, dAuthHeader}, true
	}
	scheme := run(s[:limit], vstart, func(c byte) bool { return isUpper(c) || isLower(c) || c == '-' || isDigit(c) })
	if scheme > vstart && scheme < limit && s[scheme] == ' ' {
		// Another scheme (Digest, token, AWS4-HMAC-SHA256...): a quoted
		// value's rest, or the next token.
		start := scheme + 1
		end := vend
		if !quoted {
			end = run(s, start, isValueChar)
		}
		if start < end && !isPlaceholder(s, start) {
			return Finding{start, end, dAuthHeader}, true
		}
		return Finding{}, false
	}
	return Finding{vstart, vend, dAuthHeader}, true
}

func validIPv6(s string) bool {
	a, err := netip.ParseAddr(s)
	return err == nil && a.Is6()
}

// isReference reports values that point at a secret instead of holding
// one: ${env:X}, $(cat f), $VAR, %s, <password>, {{ .Values.pw }}.
func isReference(v string) bool {
	switch {
	case strings.HasPrefix(v, "${"), strings.HasPrefix(v, "$("), strings.HasPrefix(v, "{{"),
		strings.HasPrefix(v, "%") && len(v) <= 3:
		return true
	case v[0] == '<' && v[len(v)-1] == '>':
		return true
	case v[0] == '$' && len(v) > 1 && (isUpper(v[1]) || v[1] == '_'):
		return run(v, 1, func(c byte) bool { return isUpper(c) || isDigit(c) || c == '_' }) == len(v)
	}
	return false
}

// isObjectString reports the way runtimes print an object: Token{a64f992,
// android.os.BinderProxy@2bd79ce, [B@1b6d3586, {...}. Such a value names an
// object that holds a token, not the token.
func isObjectString(v string) bool {
	if v[0] == '{' || v[0] == '[' || v[0] == '(' {
		return true
	}
	i := run(v, 0, func(c byte) bool { return isWord(c) || c == '.' || c == '$' })
	if i == 0 || i >= len(v) || (v[i] != '{' && v[i] != '@') {
		return false
	}
	// The identity hash, then the end, the closing brace or the fields
	// that follow it: Token{e0e0dfe}, Token{e0e0dfe kind=x}.
	h := run(v, i+1, isHex)
	return h > i+1 && (h == len(v) || v[h] == '}' || v[h] == ' ')
}

// looksGenerated reports whether the value of a token, secret or key field
// has the shape of a generated credential: eight or more characters, not a
// word or a dotted name, and mixing character classes (digits and letters,
// or both cases, or symbols) or long and varied enough to be random. "Token",
// "expired", "refresh_required" and "com.apple.xpc.activity/4505" are
// descriptions of a token, not one.
func looksGenerated(v string) bool {
	if len(v) < 8 {
		return false
	}
	var lower, upper, digit, symbol, words int
	for i := 0; i < len(v); i++ {
		c := v[i]
		switch {
		case isLower(c):
			lower++
		case isUpper(c):
			upper++
		case isDigit(c):
			digit++
		case c == '.' || c == '/' || c == '_' || c == '-' || c == ':':
			if i+3 < len(v) && isLower(v[i+1]) && isLower(v[i+2]) && isLower(v[i+3]) {
				words++
			}
		default:
			symbol++
		}
	}
	// Dotted and slashed names of lower-case words: packages, hosts, paths.
	if words >= 2 && upper == 0 {
		return false
	}
	if digit == 0 && symbol == 0 {
		// Letters only: both cases and random-looking (CamelCase words
		// have few upper-case letters), or long.
		return upper > 0 && lower > 0 && upper*4 >= len(v) || len(v) >= 24 && entropy(v) >= 3.5
	}
	return lower+upper > 0 || digit >= 8
}

// entropy is the Shannon entropy of v in bits per byte.
func entropy(v string) float64 {
	var counts [256]int
	for i := 0; i < len(v); i++ {
		counts[v[i]]++
	}
	h := 0.0
	n := float64(len(v))
	for _, c := range counts {
		if c > 0 {
			p := float64(c) / n
			h -= p * math.Log2(p)
		}
	}
	return h
}
