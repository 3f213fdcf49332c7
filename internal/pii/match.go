package pii

import (
	"encoding/base64"
	"strings"

	"github.com/fleetlog/fleetlog/internal/pii/validate"
)

// Byte classes for the anchored checks.
func isDigit(c byte) bool { return c >= '0' && c <= '9' }
func isUpper(c byte) bool { return c >= 'A' && c <= 'Z' }
func isLower(c byte) bool { return c >= 'a' && c <= 'z' }
func isAlnum(c byte) bool { return isDigit(c) || isUpper(c) || isLower(c) }
func isWord(c byte) bool  { return isAlnum(c) || c == '_' }
func isHex(c byte) bool   { return isDigit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') }

// isB64URL covers base64url and the '-' / '_' of token alphabets.
func isB64URL(c byte) bool { return isAlnum(c) || c == '-' || c == '_' }

// isTokenChar is the RFC 6750 b64token alphabet.
func isTokenChar(c byte) bool {
	return isAlnum(c) || c == '-' || c == '.' || c == '_' || c == '~' || c == '+' || c == '/'
}

// isEmailLocal is the local part of an address: the usual ASCII, and
// UTF-8 (RFC 6531).
func isEmailLocal(c byte) bool {
	return isAlnum(c) || c == '.' || c == '_' || c == '%' || c == '+' || c == '-' || c >= 0x80
}

// isUserinfo is what a logged connection string holds before its '@'.
// RFC 3986 wants '#', '?' and '/' percent-encoded there, but hand-written
// connection strings often are not, so only a path separator, white space,
// quotes and another '@' end it.
func isUserinfo(c byte) bool {
	return c > ' ' && c != '/' && c != '@' && c != '"' && c != '\'' && c != '<' && c != '>' && c < 0x7f
}

// wordStart reports whether s[i] starts a word.
func wordStart(s string, i int) bool { return i == 0 || !isWord(s[i-1]) }

// wordEnd reports whether a token ending at i is not glued to more word bytes.
func wordEnd(s string, i int) bool { return i >= len(s) || !isWord(s[i]) }

// run returns the end of the run of bytes in class starting at i.
func run(s string, i int, class func(byte) bool) int {
	for i < len(s) && class(s[i]) {
		i++
	}
	return i
}

// wordByte and alnumByte are isWord and isAlnum as tables, for the hot
// loops.
var wordByte, alnumByte = func() (word, alnum [256]bool) {
	for c := range word {
		word[c] = isWord(byte(c))
		alnum[c] = isAlnum(byte(c))
	}
	return word, alnum
}()

// scanBuiltin is the single pass. Words are visited once, at their first
// byte: a trigger there runs the anchored checks, then the rest of the word
// is skipped. Between words, a table lookup per byte finds the punctuation
// triggers ('@', '=', ':', '-', '['). lo is where the previous finding
// ended; look-behind checks never cross it.
//
// The same pass notes in ks where vendor keywords start (keywords.note),
// at the bytes it visits and at the word parts after a '_', so that
// scanVendor need not walk the line again: the two walks were a third of
// the engine's time on clean lines, most of it the mispredicted branch at
// the end of every word.
func (e *Engine) scanBuiltin(s string, dst []Finding, ks *keywordStarts) []Finding {
	kw := e.kw
	lo := 0
	for i := 0; i < len(s); {
		c := s[i]
		t := e.trigger[c]
		if kw.mayStart(s, i) {
			kw.note(s, i, ks)
		}
		if wordByte[c] {
			// Most words start with a byte that has a trigger: the
			// cheap checks below tell, without the call, the words at
			// which atWord would find nothing.
			if t == tDigit && (joinedNumber(s, i) || e.shortNumber(s, i)) || t == tLower && !e.lowerStart(s, i) {
				t = 0
			}
			if t != 0 {
				f, ok := e.atWord(s, i, t)
				if ok && !touchesPlaceholder(s, f) {
					dst = append(dst, f)
					kw.noteRange(s, i+1, f.Start, ks)
					i, lo = f.End, f.End
					continue
				}
				if f.id == skipSpan {
					kw.noteRange(s, i+1, f.End, ks)
					i = f.End
					continue
				}
			}
			// The rest of the word: its runs of letters and digits, and
			// the keywords that start at a '_' or after it (a leading
			// '_' was noted above, with the other bytes the loop visits).
			if c == '_' && i+1 < len(s) && alnumByte[s[i+1]] && kw.mayStart(s, i+1) {
				kw.note(s, i+1, ks)
			}
			for i++; i < len(s); i++ {
				if alnumByte[s[i]] {
					continue
				}
				if s[i] != '_' {
					break
				}
				if kw.mayStart(s, i) {
					kw.note(s, i, ks)
				}
				if i+1 < len(s) && alnumByte[s[i+1]] && kw.mayStart(s, i+1) {
					kw.note(s, i+1, ks)
				}
			}
			continue
		}
		switch {
		case t == 0:
		case t == tOpen:
			// Output of an earlier pass: [REDACTED:name] or [name:hex].
			if end := placeholderEnd(s, i); end > 0 {
				i, lo = end, end
				continue
			}
		case t == tDash && idleDash(s, i):
		default:
			if f, ok := e.at(s, i, lo, t); ok && !touchesPlaceholder(s, f) {
				dst = append(dst, f)
				kw.noteRange(s, i+1, f.Start, ks)
				i, lo = f.End, f.End
				continue
			}
		}
		i++
	}
	return dst
}

// idleDash reports whether the '-' at s[i] can start neither a PEM block
// ("-----BEGIN ") nor a flag (after white space or a quote), the only
// checks that at runs at a dash: most dashes are inside dates, host names
// and ids.
func idleDash(s string, i int) bool {
	return i > 0 && s[i-1] != ' ' && s[i-1] != '\t' && s[i-1] != '"' && s[i-1] != '\'' &&
		(i+1 == len(s) || s[i+1] != '-')
}

// lowerStart reports whether a check of atWord may match at the word
// starting with the lower-case letter s[i] (with no trigger class but
// tLower): whether the first two bytes are those of a token prefix, a JWT
// ("ey"), "bearer" or "basic", a password phrase or "set" (p or s, then a,
// w or e) or "discord". On a lower-case word, atWord looks no further.
func (e *Engine) lowerStart(s string, i int) bool {
	if i+1 == len(s) {
		return false
	}
	n := s[i+1]
	return e.lowerPairs[s[i]-'a'][n>>6]&(1<<(n&63)) != 0
}

// skipSpan marks a Finding that is not one: text the scan passes over whole
// (an IBAN with a wrong check digit), so that no detector sees its parts.
const skipSpan = -1

// at runs the checks that the punctuation trigger classes t select at s[i].
func (e *Engine) at(s string, i, lo int, t uint16) (Finding, bool) {
	if t&tAt != 0 {
		if e.on[dURLCredentials] {
			if start, end, ok := urlCredentials(s, i, lo); ok {
				return Finding{start, end, dURLCredentials}, true
			}
		}
		if e.on[dEmail] {
			if start, end, ok := email(s, i, lo); ok {
				return Finding{start, end, dEmail}, true
			}
		}
		return Finding{}, false
	}
	if t&tAssign != 0 {
		if f, ok := e.keyValue(s, i, lo); ok {
			return f, true
		}
	}
	if t&tDash != 0 {
		if strings.HasPrefix(s[i:], "-----BEGIN ") {
			if e.on[dPrivateKey] {
				if end, _, ok := pemBlock(s, i); ok {
					return Finding{i, end, dPrivateKey}, true
				}
			}
		} else if i == 0 || s[i-1] == ' ' || s[i-1] == '\t' || s[i-1] == '"' || s[i-1] == '\'' {
			// A flag starts after white space or a quote; most dashes are
			// inside dates, names and ids.
			if f, ok := e.flag(s, i, lo); ok {
				return f, true
			}
		}
	}
	if t&tDollar != 0 && e.on[dPasswordHash] {
		if end, ok := passwordHash(s, i); ok {
			return Finding{i, end, dPasswordHash}, true
		}
	}
	if t&tPhone != 0 && e.on[dPhone] && wordStart(s, i) {
		if end, ok := phone(s, i); ok {
			return Finding{i, end, dPhone}, true
		}
	}
	if t&tHex != 0 && e.on[dIPv6] && (i == 0 || !isHex(s[i-1]) && s[i-1] != ':') {
		if end, ok := ipv6(s, i); ok {
			return Finding{i, end, dIPv6}, true
		}
	}
	return Finding{}, false
}

// atWord runs the checks that the trigger classes t select at the word
// starting at s[i].
func (e *Engine) atWord(s string, i int, t uint16) (Finding, bool) {
	c := s[i]
	if t&tDigit != 0 {
		if f, ok := e.number(s, i); ok {
			return f, true
		}
	}
	if t&(tUpper|tLower) != 0 {
		if end, id, ok := e.token(s, i); ok {
			return Finding{i, end, id}, true
		}
		if e.on[dAuthHeader] && (c == 'B' || c == 'b') {
			if start, end, ok := bearer(s, i, false); ok {
				return Finding{start, end, dAuthHeader}, true
			}
		}
		if e.on[dIBAN] && isUpper(c) {
			if end, valid, shaped := iban(s, i); valid {
				return Finding{i, end, dIBAN}, true
			} else if shaped {
				return Finding{i, end, skipSpan}, false
			}
		}
		// NIE and passport (a digit or '-' second), NINO (two letters, a
		// digit or a space), codice fiscale (a word of 16).
		if e.nationalWords && isUpper(c) && i+8 < len(s) {
			n1, n2 := s[i+1], s[i+2]
			if isDigit(n1) || n1 == '-' || isUpper(n1) && (isDigit(n2) || n2 == ' ' ||
				i+16 <= len(s) && wordEnd(s, i+16) && isUpper(s[i+5]) && !wordEnd(s, i+15)) {
				if f, ok := e.nationalWord(s, i); ok {
					return f, true
				}
			}
		}
		switch c | 0x20 {
		case 'p', 's':
			// password, passwd, pass, pw, pwd, set, setenv.
			if n := s[min(i+1, len(s)-1)] | 0x20; n == 'a' || n == 'w' || n == 'e' {
				if f, ok := e.phrase(s, i); ok {
					return f, true
				}
			}
		case 'l':
			if c == 'L' && e.on[dPrivateKey] {
				if end, ok := base64PEM(s, i); ok {
					return Finding{i, end, dPrivateKey}, true
				}
			}
		case 'd':
			if e.on[dWebhookURL] && c == 'd' && strings.HasPrefix(s[i:], "discord") {
				if end, ok := discordWebhook(s, i); ok {
					return Finding{i, end, dWebhookURL}, true
				}
			}
		}
	}
	if t&tHex != 0 && e.on[dIPv6] {
		if end, ok := ipv6(s, i); ok {
			return Finding{i, end, dIPv6}, true
		}
	}
	return Finding{}, false
}

// email matches local@domain.tld around the '@' at i.
func email(s string, i, lo int) (int, int, bool) {
	start := i
	for start > lo && i-start < 64 && isEmailLocal(s[start-1]) {
		start--
	}
	for start < i && s[start] == '.' {
		start++
	}
	if start == i {
		return 0, 0, false
	}
	end, ok := domain(s, i+1)
	return start, end, ok
}

// domain returns the end of a host name with at least two labels and a
// top-level label of letters (ASCII or UTF-8, for internationalized
// domains) or punycode (xn--) starting at i.
func domain(s string, i int) (int, bool) {
	end := i
	for end < len(s) && (isAlnum(s[end]) || s[end] == '-' || s[end] >= 0x80 || (s[end] == '.' && end > i && s[end-1] != '.')) {
		end++
	}
	for end > i && (s[end-1] == '.' || s[end-1] == '-') {
		end--
	}
	lastDot := strings.LastIndexByte(s[i:end], '.')
	if lastDot < 0 || end-(i+lastDot+1) < 2 {
		return 0, false
	}
	tld := s[i+lastDot+1 : end]
	if len(tld) > 4 && tld[:4] == "xn--" {
		return end, true
	}
	for j := 0; j < len(tld); j++ {
		if !isLetter(tld[j]) && tld[j] < 0x80 {
			return 0, false
		}
	}
	return end, true
}

// urlCredentials matches the password of scheme://user:password@ around
// the '@' at i.
func urlCredentials(s string, i, lo int) (int, int, bool) {
	start := i
	for start > lo && i-start < 512 && isUserinfo(s[start-1]) {
		start--
	}
	if start-3 < lo || s[start-3:start] != "://" {
		return 0, 0, false
	}
	colon := strings.IndexByte(s[start:i], ':')
	if colon < 0 || start+colon+1 == i || isPlaceholder(s, start+colon+1) {
		return 0, 0, false
	}
	return start + colon + 1, i, true
}

// number checks a digit run at a word start: SSN, card, IPv4, phone.
func (e *Engine) number(s string, i int) (Finding, bool) {
	if e.notNumber(s, i) {
		return Finding{}, false
	}
	return e.numberAt(s, i)
}

// numberAt is number without the notNumber shortcut: the checks.
func (e *Engine) numberAt(s string, i int) (Finding, bool) {
	// Part of a dotted number (version, decimal) or a dashed id
	// (1-800-..., blk_-3509323198988774369): not ours.
	if i > 1 && (s[i-1] == '.' && isDigit(s[i-2]) || s[i-1] == '-' && isWord(s[i-2])) {
		return Finding{}, false
	}
	var groups [8]int // group lengths
	var ends [8]int   // end offset of each group
	var digits [24]byte
	nd, ng := 0, 0
	var sep byte
	j := i
	for ng < len(groups) {
		k := run(s, j, isDigit)
		// HETU, NIF and MBI: 6, 8 or 1 digits, then a letter or a sign.
		if ng == 0 && e.nationalWords && k < len(s) && (k-i == 6 || k-i == 8 || k-i == 1) &&
			(isUpper(s[k]) || s[k] == '-' || s[k] == '+') {
			if f, ok := e.nationalWord(s, i); ok {
				return f, true
			}
		}
		for p := j; p < k; p++ {
			if nd < len(digits) {
				digits[nd] = s[p]
			}
			nd++
		}
		groups[ng], ends[ng] = k-j, k
		ng++
		j = k
		if k+1 < len(s) && (s[k] == ' ' || s[k] == '-') && isDigit(s[k+1]) && (sep == 0 || sep == s[k]) {
			sep = s[k]
			j = k + 1
			continue
		}
		break
	}
	// A group glued to letters or continued by '.'+digit is an identifier
	// or a decimal; only the groups before it can be a number.
	last := ends[ng-1]
	if !wordEnd(s, last) || (last+1 < len(s) && s[last] == '.' && isDigit(s[last+1])) {
		ng--
	}

	// National numbers have at most 11 digits (the groups kept, less the
	// one-byte separators between them).
	// Grouped by spaces after another group of digits, it is a list of
	// numbers ("channels 60 64 100 104 108", "fan speeds 3552 3534 3375"),
	// not one number.
	if ng > 1 && sep == ' ' && i > 1 && s[i-1] == ' ' && isDigit(s[i-2]) {
		ng = 1
	}
	// Longest run of groups first, as for cards: "nhs=943 476 5919 200".
	for k := ng; k >= 1; k-- {
		if !nationalShape(groups[:k]) {
			continue
		}
		if nd := ends[k-1] - i - (k - 1); nd <= 11 {
			if f, ok := e.nationalNumber(s, i, groups[:k], ends[:k], digits[:nd], sep); ok {
				return f, true
			}
		}
	}
	if e.on[dCreditCard] {
		// Try the longest run of groups first: "4111 1111 1111 1111 2026".
		total := 0
		for k := 0; k < ng; k++ {
			total += groups[k]
		}
		for k := ng; k >= 1; k-- {
			if k < ng {
				total -= groups[k]
			}
			if total < 13 || total > 19 || !cardGroups(groups[:k]) {
				continue
			}
			d := digits[:total]
			if validate.CardPrefix(d) && validate.Luhn(d) {
				return Finding{i, ends[k-1], dCreditCard}, true
			}
		}
	}
	if e.on[dIPv4] {
		if end, ok := ipv4(s, i); ok {
			return Finding{i, end, dIPv4}, true
		}
	}
	if e.on[dPhone] {
		if end, ok := phone(s, i); ok {
			return Finding{i, end, dPhone}, true
		}
	}
	return Finding{}, false
}

// notNumber reports whether the digits at the word start s[i] cannot start
// anything number looks for, which is what most numbers in a log line (a
// pid, a port, the fields of a timestamp) are: part of a dotted number
// (version, decimal) or a dashed id (numberAt's first rule), or a short
// number. scanBuiltin asks it (its two halves, the first inlined) before
// it calls atWord for such a word.
func (e *Engine) notNumber(s string, i int) bool {
	return joinedNumber(s, i) || e.shortNumber(s, i)
}

// joinedNumber reports whether the digits at s[i] continue a dotted
// number or a dashed id.
func joinedNumber(s string, i int) bool {
	if i < 2 {
		return false
	}
	p := s[i-1]
	return p == '.' && isDigit(s[i-2]) || p == '-' && wordByte[s[i-2]]
}

// shortNumber reports whether the digits at s[i] are too few, or grouped
// in a way no format uses, for any number detector, unless IPv4 or phone
// (any length) are on. A run of fewer than 8 digits is neither a card
// (13+) nor a national number (8+); followed by a separator and more
// digits, it can only begin
//   - a national number printed 3-2-4 or 3-3-x;
//   - a card printed 4-4-..., 4-6-5 or 4-6-4 (a shorter group is last:
//     with it, 8 digits at most);
//   - a HETU (6 digits, a sign) or an MBI (1 digit, a letter or '-').
//
// A date (2026-01-01) begins none of these.
func (e *Engine) shortNumber(s string, i int) bool {
	k := i + 1
	for k < len(s) && isDigit(s[k]) {
		k++
	}
	n := k - i
	if n >= 8 || e.anyLengthNumbers {
		return false
	}
	if k+1 < len(s) && (s[k] == ' ' || s[k] == '-') && isDigit(s[k+1]) {
		switch n {
		case 1, 3, 6:
			return false
		case 4:
			end := k + 2
			for end < len(s) && isDigit(s[end]) {
				end++
			}
			second := end - (k + 1)
			return second != 4 && second != 6
		}
		return true
	}
	return !e.nationalWords || n != 6 && n != 1 || k == len(s) || !isUpper(s[k]) && s[k] != '-' && s[k] != '+'
}

// cardGroups accepts one plain run or the groupings cards are printed in:
// groups of four with a shorter last one (4-4-4-4, 4-4-4-4-3, 4-4-4-1), and
// the 4-6-5 and 4-6-4 of American Express and Diners Club.
func cardGroups(g []int) bool {
	switch {
	case len(g) == 1:
		return true
	case len(g) == 3 && g[0] == 4 && g[1] == 6:
		return g[2] == 5 || g[2] == 4
	}
	for k, n := range g {
		if n != 4 && (k != len(g)-1 || n > 4) {
			return false
		}
	}
	return true
}

// ipv4 matches a dotted quad with octets up to 255.
func ipv4(s string, i int) (int, bool) {
	j := i
	for part := 0; part < 4; part++ {
		if part > 0 {
			if j >= len(s) || s[j] != '.' {
				return 0, false
			}
			j++
		}
		k := run(s, j, isDigit)
		if k == j || k-j > 3 {
			return 0, false
		}
		v := 0
		for _, c := range []byte(s[j:k]) {
			v = v*10 + int(c-'0')
		}
		if v > 255 {
			return 0, false
		}
		j = k
	}
	if !wordEnd(s, j) || (j+1 < len(s) && s[j] == '.' && isDigit(s[j+1])) {
		return 0, false
	}
	return j, true
}

// ipv6 matches a run of hex digits and colons that parses as an IPv6 address
// with at least two colons (so times and MAC addresses do not).
func ipv6(s string, i int) (int, bool) {
	j := run(s, i, func(c byte) bool { return isHex(c) || c == ':' || c == '.' })
	for j > i && (s[j-1] == '.' || (s[j-1] == ':' && (j-2 < i || s[j-2] != ':'))) {
		j--
	}
	if j-i < 3 || strings.Count(s[i:j], ":") < 2 || !wordEnd(s, j) {
		return 0, false
	}
	if !validIPv6(s[i:j]) {
		return 0, false
	}
	return j, true
}

// phone matches +CC followed by 7-14 digits (E.164), (NNN) NNN-NNNN, and
// NNN-NNN-NNNN / NNN.NNN.NNNN.
func phone(s string, i int) (int, bool) {
	switch {
	case s[i] == '+':
		j, n := i+1, 0
		for j < len(s) && (isDigit(s[j]) || ((s[j] == ' ' || s[j] == '-') && j+1 < len(s) && isDigit(s[j+1]))) {
			if isDigit(s[j]) {
				n++
			}
			j++
		}
		if n >= 8 && n <= 15 && wordEnd(s, j) {
			return j, true
		}
	case s[i] == '(':
		if len(s) >= i+14 && isDigitN(s[i+1:i+4]) && s[i+4] == ')' && s[i+5] == ' ' &&
			isDigitN(s[i+6:i+9]) && s[i+9] == '-' && isDigitN(s[i+10:i+14]) && wordEnd(s, i+14) {
			return i + 14, true
		}
	default:
		if len(s) >= i+12 && isDigitN(s[i:i+3]) && (s[i+3] == '-' || s[i+3] == '.') && isDigitN(s[i+4:i+7]) &&
			s[i+7] == s[i+3] && isDigitN(s[i+8:i+12]) && wordEnd(s, i+12) &&
			!(i+13 < len(s) && (s[i+12] == '.' || s[i+12] == '-') && isDigit(s[i+13])) {
			return i + 12, true
		}
	}
	return 0, false
}

func isDigitN(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) {
			return false
		}
	}
	return len(s) > 0
}

// iban matches an IBAN, plain or in groups of four, starting at i. shaped
// reports text laid out like one, valid or not, ending at end: its digits
// are an account number, not a card or a national id.
func iban(s string, i int) (end int, valid, shaped bool) {
	if i+4 > len(s) || !isUpper(s[i+1]) || !isDigit(s[i+2]) || !isDigit(s[i+3]) {
		return 0, false, false
	}
	want := validate.IBANLength(s[i : i+2])
	if want == 0 {
		return 0, false, false
	}
	var buf [34]byte
	n, j := 0, i
	for n < want && j < len(s) {
		c := s[j]
		switch {
		case isUpper(c) || isDigit(c):
			buf[n] = c
			n++
			j++
		case c == ' ' && n%4 == 0 && j+1 < len(s) && (isUpper(s[j+1]) || isDigit(s[j+1])):
			j++
		default:
			return 0, false, false
		}
	}
	if n != want || !wordEnd(s, j) {
		return 0, false, false
	}
	return j, validate.IBAN(buf[:n]), true
}

// tokenPrefixes are the documented prefixes of vendor tokens, with the
// alphabet and length range of what follows the prefix.
var tokenPrefixes = []struct {
	prefix   string
	id       int
	alphabet func(byte) bool
	min, max int
}{
	{"AKIA", dAWSAccessKey, isUpperDigit, 16, 16},
	{"ASIA", dAWSAccessKey, isUpperDigit, 16, 16},
	{"ABIA", dAWSAccessKey, isUpperDigit, 16, 16},
	{"ACCA", dAWSAccessKey, isUpperDigit, 16, 16},
	{"AIza", dGoogleAPIKey, isB64URL, 35, 35},
	{"ghp_", dGitHubToken, isAlnum, 36, 251},
	{"gho_", dGitHubToken, isAlnum, 36, 251},
	{"ghu_", dGitHubToken, isAlnum, 36, 251},
	{"ghs_", dGitHubToken, isAlnum, 36, 251},
	{"ghr_", dGitHubToken, isAlnum, 36, 251},
	{"github_pat_", dGitHubToken, isWord, 22, 244},
	{"glpat-", dGitLabToken, isB64URL, 20, 255},
	{"glptt-", dGitLabToken, isB64URL, 20, 255},
	{"gldt-", dGitLabToken, isB64URL, 20, 255},
	{"glrt-", dGitLabToken, isB64URL, 20, 255},
	{"xoxb-", dSlackToken, isB64URL, 10, 255},
	{"xoxp-", dSlackToken, isB64URL, 10, 255},
	{"xoxa-", dSlackToken, isB64URL, 10, 255},
	{"xoxr-", dSlackToken, isB64URL, 10, 255},
	{"xoxs-", dSlackToken, isB64URL, 10, 255},
	{"xapp-", dSlackToken, isB64URL, 10, 255},
	{"sk_live_", dStripeKey, isAlnum, 16, 247},
	{"sk_test_", dStripeKey, isAlnum, 16, 247},
	{"rk_live_", dStripeKey, isAlnum, 16, 247},
	{"rk_test_", dStripeKey, isAlnum, 16, 247},
}

func isUpperDigit(c byte) bool { return isUpper(c) || isDigit(c) }

// token matches a vendor token or a JWT starting at the word start i.
func (e *Engine) token(s string, i int) (int, int, bool) {
	rest := s[i:]
	if rest[0] == 'e' && e.on[dJWT] && strings.HasPrefix(rest, "eyJ") {
		if end, ok := jwt(s, i); ok {
			return end, dJWT, true
		}
	}
	for _, k := range e.prefixes[rest[0]] {
		p := &tokenPrefixes[k]
		if !strings.HasPrefix(rest, p.prefix) {
			continue
		}
		j := i + len(p.prefix)
		end := run(s, j, p.alphabet)
		if n := end - j; n >= p.min && n <= p.max && (end >= len(s) || !isB64URL(s[end])) {
			return tokenTail(s, end), p.id, true
		}
	}
	return 0, 0, false
}

// jwt matches header.payload.signature, base64url, with a JSON header.
func jwt(s string, i int) (int, bool) {
	h := run(s, i, isB64URL)
	if h-i < 10 || h >= len(s) || s[h] != '.' {
		return 0, false
	}
	p := run(s, h+1, isB64URL)
	if p-h-1 < 10 || p >= len(s) || s[p] != '.' {
		return 0, false
	}
	end := run(s, p+1, isB64URL)
	return end, wordEnd(s, end)
}

// bearer matches "Bearer <token>" or "Basic <credentials>" at i and returns
// the credential's span. Outside an Authorization header (header false) the
// credential must look like one: a Basic value must decode to user:password,
// a Bearer token must be long or mix letters and digits.
func bearer(s string, i int, header bool) (int, int, bool) {
	var basic bool
	switch {
	case hasPrefixFold(s[i:], "bearer"):
		i += len("bearer")
	case hasPrefixFold(s[i:], "basic"):
		i += len("basic")
		basic = true
	default:
		return 0, 0, false
	}
	j := i
	for j < len(s) && (s[j] == ' ' || s[j] == '\t') {
		j++
	}
	if j == i || j-i > 8 {
		return 0, 0, false
	}
	// The RFC 6750 alphabet, and what tokens hold beyond it (Salesforce's
	// "00D...!AQ..."): the credential goes whole, up to white space or a
	// field separator.
	end := run(s, j, isTokenChar)
	if end < len(s) && s[end] != ' ' {
		end = run(s, end, isValueChar)
	}
	for end > j && (s[end-1] == '.' || s[end-1] == ':') {
		end--
	}
	n := end - j
	if n == 0 || isPlaceholder(s, j) {
		return 0, 0, false
	}
	if header {
		return j, end, true
	}
	if basic {
		if n < 8 {
			return 0, 0, false
		}
		var buf [192]byte
		if n > 256 {
			return j, end, true
		}
		m, err := base64.StdEncoding.Decode(buf[:], []byte(s[j:end]))
		return j, end, err == nil && strings.IndexByte(string(buf[:m]), ':') > 0
	}
	digits := strings.IndexFunc(s[j:end], func(r rune) bool { return r >= '0' && r <= '9' }) >= 0
	return j, end, n >= 20 || (n >= 8 && digits)
}

func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}

// isPlaceholder reports whether s[i:] starts with this engine's own output,
// [REDACTED:name] or [name:12 hex], so a redacted value is not redacted again.
func isPlaceholder(s string, i int) bool { return placeholderEnd(s, i) > 0 }

// placeholderEnd returns the end of the placeholder at s[i], or 0.
func placeholderEnd(s string, i int) int {
	if i >= len(s) || s[i] != '[' {
		return 0
	}
	// One pass to the ']' (at most 64 bytes on), noting the first ':':
	// most brackets in a log line are a pid's ("sshd[4242]:"), which
	// hold none.
	colon := -1
	end := i + 1
	for ; end < len(s) && s[end] != ']'; end++ {
		if end-i >= 64 {
			return 0
		}
		if s[end] == ':' && colon < 0 {
			colon = end
		}
	}
	if end == len(s) || colon <= i+1 {
		return 0
	}
	if name, tail := s[i+1:colon], s[colon+1:end]; name == "REDACTED" || len(tail) == 12 && isHexN(tail) {
		return end + 1
	}
	return 0
}

// touchesPlaceholder reports whether f starts inside or holds one of this
// engine's placeholders: a check that read across an earlier pass's output
// ("user:[kv_secret:…]"), which must not be redacted again.
func touchesPlaceholder(s string, f Finding) bool {
	if insidePlaceholder(s, f.Start) {
		return true
	}
	for j := f.Start; j < f.End; j++ {
		if s[j] == '[' && placeholderEnd(s, j) > 0 {
			return true
		}
	}
	return false
}

// insidePlaceholder reports whether s[pos] lies inside a placeholder.
func insidePlaceholder(s string, pos int) bool {
	for j := pos; j >= 0 && pos-j <= 64; j-- {
		if s[j] == ']' && j < pos {
			return false
		}
		if s[j] == '[' {
			return placeholderEnd(s, j) > pos
		}
	}
	return false
}

func isHexN(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isHex(s[i]) {
			return false
		}
	}
	return true
}
