package pii

import (
	"encoding/base64"
	"strings"
)

// Secrets named by the words around them rather than by a key=value
// syntax: command-line flags (--password X, -Password X, mysql -pX, curl -u
// user:pass), "set KEY VALUE" commands (aws configure set, redis CONFIG
// SET), .netrc lines (login bob password X), and prose ("the password is
// X"). (openssl's -passin pass:X is a key:value, found as such.)

// passwordWords are the words after which prose or a .netrc line gives a
// password.
var passwordWords = []string{"password", "passwd", "passphrase", "passcode", "pass", "pwd", "pw"}

// shortFlags are the one-letter flags that carry a password for the
// commands that define them. glued says the value may follow the flag
// without a space (mysql -pSECRET); userinfo that the value is user:password
// and only the part after the separator is secret.
var shortFlags = []struct {
	flag     byte
	commands []string
	glued    bool // the value may be glued to the flag
	spaced   bool // the value may follow after a space
	sep      byte // userinfo separator, 0 when the whole value is secret
}{
	// mysql -p VALUE prompts for the password and opens database VALUE.
	{'p', []string{"mysql", "mysqldump", "mysqladmin", "mysqlimport", "mysqlshow", "mariadb", "mariadb-dump"}, true, false, 0},
	{'p', []string{"sshpass"}, true, true, 0},
	{'p', []string{"mongo", "mongosh", "mongodump", "mongorestore", "mongoexport", "mongoimport", "login"}, false, true, 0},
	{'a', []string{"redis-cli"}, false, true, 0},
	{'P', []string{"sqlcmd", "bcp"}, false, true, 0},
	{'w', []string{"ldapsearch", "ldapadd", "ldapmodify", "ldapdelete", "ldapwhoami", "ldappasswd", "ldapcompare"}, false, true, 0},
	{'u', []string{"curl"}, false, true, ':'},
	{'U', []string{"smbclient"}, false, true, '%'},
}

// commandBack is how far before a flag its command may be.
const commandBack = 256

// flag checks the '-' at i for a flag that carries a secret and returns the
// secret's span.
func (e *Engine) flag(s string, i, lo int) (Finding, bool) {
	if !e.on[dKVSecret] || i+2 >= len(s) || (i > 0 && s[i-1] != ' ' && s[i-1] != '\t' && s[i-1] != '"' && s[i-1] != '\'') {
		return Finding{}, false
	}
	j := i + 1
	long := s[j] == '-'
	if long {
		j++
	}
	if !long && isAlnum(s[j]) {
		if f, ok := e.shortFlag(s, i, j+1); ok {
			return f, true
		}
	}
	name := run(s, j, func(c byte) bool { return isAlnum(c) || c == '-' || c == '_' })
	if name == j || name-j == 1 {
		return Finding{}, false
	}
	flag := s[j:name]
	switch {
	case long && (flag == "user" || flag == "proxy-user"):
		// curl --user bob:SECRET; docker --user app:group is no password.
		if !commandBefore(s, i, []string{"curl"}) {
			return Finding{}, false
		}
		return userinfoValue(s, name, ':')
	case !long && !isUpper(flag[0]):
		// -password is a word of prose ("use-password"); PowerShell's
		// parameters are capitalised: -Password, -ApiKey.
		return Finding{}, false
	}
	if name < len(s) && s[name] != ' ' {
		return Finding{}, false // --password=X is a key=value
	}
	kind := e.keyKind(flag)
	if kind < 0 {
		return Finding{}, false
	}
	return e.spaceValue(s, name, kind)
}

func (e *Engine) shortFlag(s string, i, name int) (Finding, bool) {
	c := s[name-1]
	for _, f := range shortFlags {
		if f.flag != c || !commandBefore(s, i, f.commands) {
			continue
		}
		if name < len(s) && s[name] != ' ' {
			if !f.glued {
				continue
			}
			return e.value(s, kindPassword, name, run(s, name, isValueChar), false)
		}
		switch {
		case !f.spaced:
		case f.sep != 0:
			return userinfoValue(s, name, f.sep)
		default:
			return e.spaceValue(s, name, kindPassword)
		}
	}
	return Finding{}, false
}

// commandBefore reports whether one of commands appears as a word (between
// white space, quotes, '/' or line start) before i, within commandBack.
func commandBefore(s string, i int, commands []string) bool {
	w := s[max(0, i-commandBack):i]
	for _, c := range commands {
		for k := 0; ; {
			j := strings.Index(w[k:], c)
			if j < 0 {
				break
			}
			j += k
			before := j == 0 || strings.IndexByte(" \t\"'/;|&(", w[j-1]) >= 0
			after := j+len(c) < len(w) && (w[j+len(c)] == ' ' || w[j+len(c)] == '\t')
			if before && after {
				return true
			}
			k = j + 1
		}
	}
	return false
}

// spaceValue returns the value after the space at i, for a key of kind.
func (e *Engine) spaceValue(s string, i, kind int) (Finding, bool) {
	if i >= len(s) || s[i] != ' ' {
		return Finding{}, false
	}
	v := i + 1
	if v >= len(s) || s[v] == '-' {
		return Finding{}, false
	}
	if v < len(s) && s[v] != '"' && s[v] != '\'' && isProseWord(s[v:run(s, v, isLetter)]) && wordEnd(s, run(s, v, isLetter)) {
		// "use --password to log in", "set password for bob": the flag or
		// key is being talked about, not given.
		return Finding{}, false
	}
	return e.quotedOrWord(s, v, kind)
}

// proseWords follow a secret's name in sentences about it rather than
// before the secret itself.
var proseWords = []string{"a", "an", "and", "as", "at", "by", "for", "from", "in", "is", "not", "of", "on",
	"or", "the", "to", "was", "with", "must", "required", "requires", "missing", "option", "argument",
	"flag", "value", "file", "changed", "expired", "failed", "reset", "set", "updated", "mismatch", "none"}

func isProseWord(w string) bool {
	if len(w) == 0 || len(w) > 8 {
		return false
	}
	for _, p := range proseWords {
		if strings.EqualFold(w, p) {
			return true
		}
	}
	return false
}

// quotedOrWord checks the value at v, quoted or up to a separator.
func (e *Engine) quotedOrWord(s string, v, kind int) (Finding, bool) {
	if v < len(s) && (s[v] == '"' || s[v] == '\'') {
		end := quotedEnd(s, v)
		return e.value(s, kind, v+1, end, true)
	}
	end := run(s, v, isValueChar)
	for end > v && (s[end-1] == '.' || s[end-1] == ')') {
		end--
	}
	return e.value(s, kind, v, end, false)
}

// quotedEnd returns the offset of the quote closing the string that opens
// at q, honouring backslash escapes, or len(s).
func quotedEnd(s string, q int) int {
	end := q + 1
	for end < len(s) && s[end] != s[q] {
		if s[end] == '\\' {
			end++
		}
		end++
	}
	return min(end, len(s))
}

// userinfoValue takes the value after the space at i as user<sep>password
// and returns the password's span.
func userinfoValue(s string, i int, sep byte) (Finding, bool) {
	if i >= len(s) || s[i] != ' ' {
		return Finding{}, false
	}
	v := i + 1
	if v < len(s) && (s[v] == '"' || s[v] == '\'') {
		end := quotedEnd(s, v)
		return userinfoSpan(s, v+1, end, sep)
	}
	return userinfoSpan(s, v, run(s, v, func(c byte) bool { return c > ' ' && c != '"' && c != '\'' }), sep)
}

func userinfoSpan(s string, start, end int, sep byte) (Finding, bool) {
	k := strings.IndexByte(s[start:end], sep)
	if k <= 0 || start+k+1 >= end || isPlaceholder(s, start+k+1) {
		return Finding{}, false
	}
	// docker --user 1000:1000 is a uid and a gid.
	if isDigitN(s[start:start+k]) && isDigitN(s[start+k+1:end]) {
		return Finding{}, false
	}
	return Finding{start + k + 1, end, dKVSecret}, true
}

// phrase checks the word at i for "password is X", a .netrc "login U
// password X", and "set KEY VALUE".
func (e *Engine) phrase(s string, i int) (Finding, bool) {
	if !e.on[dKVSecret] {
		return Finding{}, false
	}
	w := run(s, i, isLetter)
	word := s[i:w]
	// Every form has a space after the word, and the words are short.
	if w >= len(s) || s[w] != ' ' || len(word) < 2 || len(word) > 10 {
		return Finding{}, false
	}
	if word[0]|0x20 == 's' {
		if !(len(word) == 3 && hasPrefixFold(word, "set") || len(word) == 6 && hasPrefixFold(word, "setenv")) {
			return Finding{}, false
		}
		// aws configure set aws_secret_access_key VALUE, CONFIG SET
		// requirepass VALUE, setenv DB_PASSWORD VALUE.
		k := run(s, w+1, isKeyChar)
		if k == w+1 {
			return Finding{}, false
		}
		kind := e.keyKind(s[w+1 : k])
		if kind < 0 && !strings.EqualFold(s[w+1:k], "requirepass") && !strings.EqualFold(s[w+1:k], "masterauth") {
			return Finding{}, false
		}
		if kind < 0 {
			kind = kindPassword
		}
		return e.spaceValue(s, k, kind)
	}
	found := false
	for _, p := range passwordWords {
		if len(word) != len(p) || word[0]|0x20 != 'p' {
			continue
		}
		if strings.EqualFold(word, p) {
			found = true
			break
		}
	}
	if !found {
		return Finding{}, false
	}
	// .netrc: machine HOST login USER password SECRET.
	if back := s[max(0, i-256):i]; (strings.Contains(back, "machine ") || strings.Contains(back, "default ")) &&
		contextBefore(s, i, []string{"login"}) {
		return e.spaceValue(s, w, kindPassword)
	}
	// Prose: "password is X", "password was: X".
	rest := s[w+1:]
	for _, verb := range []string{"is: ", "is ", "was: ", "was ", "= "} {
		if hasPrefixFold(rest, verb) {
			v := w + 1 + len(verb)
			if v < len(s) && (s[v] == '"' || s[v] == '\'') {
				return e.quotedOrWord(s, v, kindPassword)
			}
			end := run(s, v, isValueChar)
			for end > v && strings.IndexByte(".!?:)", s[end-1]) >= 0 {
				end--
			}
			if !looksLikePassword(s[v:end]) {
				return Finding{}, false
			}
			return e.value(s, kindPassword, v, end, false)
		}
	}
	return Finding{}, false
}

// looksLikePassword tells a password in prose from a word: "the password is
// hunter2" gives one, "the password is incorrect" does not. It must mix a
// digit or a symbol with letters, or be long and random.
func looksLikePassword(v string) bool {
	if len(v) < 6 || len(v) > 128 {
		return false
	}
	var letters, others int
	for i := 0; i < len(v); i++ {
		if isLetter(v[i]) {
			letters++
		} else {
			others++
		}
	}
	return others > 0 && letters > 0 || others == 0 && len(v) >= 16 && entropy(v) >= 3.5
}

// passwordHash matches a crypt(3)-style hash at the '$' at i: $1$, $2a$,
// $2b$, $2y$, $5$, $6$, $y$ (yescrypt), $apr1$, $argon2id$..., $pbkdf2-...,
// $scrypt$: an identifier, '$'-separated fields, a final field of 16 or
// more characters of the crypt alphabet.
func passwordHash(s string, i int) (int, bool) {
	if i > 0 && isWord(s[i-1]) {
		return 0, false
	}
	j := run(s, i+1, func(c byte) bool { return isAlnum(c) || c == '-' })
	if j >= len(s) || s[j] != '$' || !hashScheme(s[i+1:j]) {
		return 0, false
	}
	fields, last := 0, 0
	for j < len(s) && s[j] == '$' && fields < 8 {
		k := run(s, j+1, func(c byte) bool {
			return isAlnum(c) || c == '.' || c == '/' || c == '+' || c == '=' || c == ',' || c == '-'
		})
		if k == j+1 {
			break
		}
		fields++
		last = k - j - 1
		j = k
	}
	if fields < 2 || last < 16 || !wordEnd(s, j) {
		return 0, false
	}
	return j, true
}

func hashScheme(id string) bool {
	switch id {
	case "1", "2", "2a", "2b", "2x", "2y", "5", "6", "7", "y", "gy", "apr1", "md5", "sha1",
		"argon2i", "argon2d", "argon2id", "scrypt":
		return true
	}
	return strings.HasPrefix(id, "pbkdf2")
}

// base64PEMPrefix is "-----BEGIN " in base64, as a PEM block starts when
// stored base64-encoded (Kubernetes secrets, environment variables).
const base64PEMPrefix = "LS0tLS1CRUdJTi"

// base64PEM matches a base64-encoded PEM private key at i.
func base64PEM(s string, i int) (int, bool) {
	if !strings.HasPrefix(s[i:], base64PEMPrefix) {
		return 0, false
	}
	end := run(s, i, func(c byte) bool { return isAlnum(c) || c == '+' || c == '/' })
	for end < len(s) && s[end] == '=' {
		end++
	}
	// Decode the header: "-----BEGIN RSA PRIVATE KEY-----".
	n := min(end-i, 80) / 4 * 4
	var buf [60]byte
	m, _ := base64.StdEncoding.Decode(buf[:], []byte(s[i:i+n]))
	head := string(buf[:m])
	if len(head) < len("-----BEGIN ") {
		return 0, false
	}
	label, _, ok := strings.Cut(head[len("-----BEGIN "):], "-----")
	if !ok || !strings.HasSuffix(label, "PRIVATE KEY") && !strings.HasSuffix(label, "PRIVATE KEY BLOCK") {
		return 0, false
	}
	return end, true
}

// discordWebhook matches discord.com/api/webhooks/ID/TOKEN at i. (The
// Slack and Microsoft Teams webhook URLs come from the gitleaks rules.)
func discordWebhook(s string, i int) (int, bool) {
	j := i
	for _, host := range []string{"discord.com/api/webhooks/", "discordapp.com/api/webhooks/"} {
		if strings.HasPrefix(s[i:], host) {
			j = i + len(host)
			break
		}
	}
	if j == i {
		return 0, false
	}
	id := run(s, j, isDigit)
	if id-j < 17 || id-j > 20 || id >= len(s) || s[id] != '/' {
		return 0, false
	}
	tok := run(s, id+1, isB64URL)
	if tok-id-1 < 60 || tok-id-1 > 80 {
		return 0, false
	}
	return tok, true
}

// tokenTail extends a token that ends at end over the token characters
// glued to it ('/', '+', '=', '!', '.' before more of them), so that the
// mask covers the whole token as its issuer wrote it.
func tokenTail(s string, end int) int {
	j := end
	for j < len(s) {
		c := s[j]
		switch {
		case isB64URL(c) || c == '/' || c == '+' || c == '=' || c == '!' || c == '~':
			j++
		case c == '.' && j+1 < len(s) && isB64URL(s[j+1]):
			j++
		default:
			return j
		}
	}
	return j
}
