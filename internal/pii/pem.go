package pii

import "strings"

// PEM private key blocks. A block is masked from its BEGIN line through its
// END line. A block cut off before its END (a truncated log field, a line
// limit) is masked only as far as what follows still looks like key
// material: lines of base64 of one width (the first line's, at most
// pemMaxWidth), a shorter last line, RFC 1421 headers right after BEGIN,
// and no more than pemMaxSize in all. The first line that does not look
// like that ends the block, so a cut-off key never takes ordinary text or
// the lines after it with it.

const (
	// pemMaxWidth is the longest body line accepted: RFC 7468 writes 64,
	// OpenSSH 70, OpenPGP armor up to 76.
	pemMaxWidth = 80
	// pemMinWidth is the shortest first line after which more lines may
	// follow; a shorter one can only be the last.
	pemMinWidth = 40
	// pemMaxSize bounds a block's body: an RSA 16384-bit private key is
	// about 12.5 KiB of PEM.
	pemMaxSize = 16 << 10
)

// pemState is where a scan stands inside a block's body.
type pemState struct {
	open    bool // inside a block whose END has not been seen
	width   int  // length of the first body line; 0 before it
	last    bool // a line shorter than width was seen: only END may follow
	headers bool // RFC 1421 headers (Proc-Type, DEK-Info) may still come
	size    int  // body bytes so far
}

func isBase64(c byte) bool { return isAlnum(c) || c == '+' || c == '/' || c == '=' }

// body accepts one body line (without its line break) and reports whether
// it is key material.
func (st *pemState) body(l string) bool {
	st.size += len(l) + 1
	if l == "" || st.size > pemMaxSize {
		return false
	}
	if st.headers {
		if k := strings.IndexByte(l, ':'); k > 0 && run(l, 0, func(c byte) bool { return isLetter(c) || c == '-' }) == k {
			return true // Proc-Type: 4,ENCRYPTED, DEK-Info: ..., Comment: ...
		}
	}
	if len(l) > pemMaxWidth || st.last || run(l, 0, isBase64) != len(l) {
		return false
	}
	st.headers = false
	switch {
	case st.width == 0:
		st.width = len(l)
		st.last = len(l) < pemMinWidth
	case len(l) > st.width:
		return false
	case len(l) < st.width:
		st.last = true
	}
	return true
}

// pemBegin returns the end of a "-----BEGIN <label>-----" private key
// header at i.
func pemBegin(s string, i int) (int, bool) {
	head := s[i+len("-----BEGIN "):]
	label := strings.Index(head, "-----")
	if label < 0 || label > 64 || !strings.HasSuffix(head[:label], "PRIVATE KEY") &&
		!strings.HasSuffix(head[:label], "PRIVATE KEY BLOCK") {
		return 0, false
	}
	return i + len("-----BEGIN ") + label + 5, true
}

// pemEnd returns the end of the "-----END <label>-----" at i, or of s when
// it is cut off.
func pemEnd(s string, i int) int {
	j := i + len("-----END ")
	if k := strings.Index(s[j:min(len(s), j+70)], "-----"); k >= 0 {
		return j + k + 5
	}
	return len(s)
}

// pemSep returns the end of the line break or white space at i (a real
// line break, an escaped one as in a JSON string, or the spaces of a key
// flattened onto one line) and whether it holds a line break.
func pemSep(s string, i int) (int, bool) {
	j, brk := i, false
	for j < len(s) {
		switch {
		case s[j] == ' ' || s[j] == '\t':
			j++
		case s[j] == '\r' || s[j] == '\n':
			j++
			brk = true
		case s[j] == '\\' && j+1 < len(s) && (s[j+1] == 'n' || s[j+1] == 'r'):
			j += 2
			brk = true
		default:
			return j, brk
		}
	}
	return j, brk
}

// pemBreak reports whether a line ends at i: a real or escaped line break,
// the end of s, or an END line glued to the body.
func pemBreak(s string, i int) bool {
	return i == len(s) || s[i] == '\r' || s[i] == '\n' ||
		s[i] == '\\' && i+1 < len(s) && (s[i+1] == 'n' || s[i+1] == 'r') || strings.HasPrefix(s[i:], "-----END ")
}

// pemBlock matches a PEM private key block from "-----BEGIN " at i: to the
// end of its END line, or, cut off, to the end of the key material that
// follows the header. st is the state at the end: open when s ended while
// the block could still go on, so that a line-oriented caller continues it
// on the next line.
func pemBlock(s string, i int) (end int, st pemState, ok bool) {
	end, ok = pemBegin(s, i)
	if !ok {
		return 0, pemState{}, false
	}
	st = pemState{open: true, headers: true}
	header := end
	for p := end; ; {
		q, brk := pemSep(s, p)
		if q == len(s) {
			return end, st, true // the body may go on after s
		}
		if strings.HasPrefix(s[q:], "-----END ") {
			return pemEnd(s, q), pemState{}, true
		}
		l := run(s, q, isBase64)
		if st.headers && l < len(s) && (s[l] == ':' || s[l] == '-') {
			l = q + lineLen(s[q:]) // Proc-Type: ..., a header line
		}
		if l == q {
			break
		}
		// A whole line stands on its own. A piece of a line (a key
		// flattened with spaces, or glued to the header) must be followed
		// by more key material; a shorter piece only by the END line or
		// the end of s; a first piece ending in an ellipsis was cut off.
		whole := (brk || p == header) && pemBreak(s, l)
		cut := strings.HasPrefix(s[l:], "...") || strings.HasPrefix(s[l:], "\u2026")
		if !whole && !cut {
			if n, _ := pemSep(s, l); l < len(s) && n == l {
				break // glued to other text: not key material
			}
			if short := st.width > 0 && l-q < st.width || st.width == 0 && l-q < 16; short {
				if n, _ := pemSep(s, l); n != len(s) && !strings.HasPrefix(s[n:], "-----END ") {
					break
				}
			}
		}
		if !st.body(s[q:l]) {
			break
		}
		end, p = l, l
		if cut {
			break
		}
	}
	return end, pemState{}, true
}

// lineLen is the length of the first line of s, up to a real or escaped
// line break.
func lineLen(s string) int {
	for j := 0; j < len(s); j++ {
		if s[j] == '\r' || s[j] == '\n' || s[j] == '\\' && j+1 < len(s) && (s[j+1] == 'n' || s[j+1] == 'r') {
			return j
		}
	}
	return len(s)
}

// LineRedactor redacts a stream of lines in order (fleetlogctl redact, a
// tailed file), carrying across lines the one thing that spans them: a PEM
// private key block whose BEGIN line came and whose END has not. A
// following line is masked only while it looks like key material (see
// pemState); the first one that does not is redacted as any other line.
// It is not safe for concurrent use.
type LineRedactor struct {
	e   *Engine
	t   *Tally
	key pemState
}

// NewLineRedactor returns a LineRedactor counting into t.
func (e *Engine) NewLineRedactor(t *Tally) *LineRedactor { return &LineRedactor{e: e, t: t} }

// Redact is Engine.Redact for the next line of the stream (without its line
// break).
func (r *LineRedactor) Redact(line string) (string, Action, int) {
	e := r.e
	if r.key.open {
		l := strings.TrimSpace(line)
		lead := strings.Index(line, l)
		if strings.HasPrefix(l, "-----END ") {
			r.key = pemState{}
			end := lead + pemEnd(l, 0)
			return r.mask(line, end)
		}
		if l == "" && r.key.headers && r.key.size > 0 {
			return line, ActionMask, 0 // the blank line after the headers
		}
		if r.key.body(l) {
			return r.mask(line, len(line))
		}
		r.key = pemState{}
	}
	out, act, n := e.Redact(line, r.t)
	r.key = e.openKey(line)
	return out, act, n
}

// mask replaces line[:end] with the private key mask and redacts the rest.
func (r *LineRedactor) mask(line string, end int) (string, Action, int) {
	e := r.e
	r.t.Counts[dPrivateKey]++
	r.t.Total++
	r.t.buf = append(r.t.buf[:0], Finding{0, end, dPrivateKey})
	head := e.apply(line[:end], r.t.buf)
	rest, act, n := e.Redact(line[end:], r.t)
	return head + rest, max(act, e.actions[dPrivateKey]), n + 1
}

// openKey returns the state at the end of s when s ends inside a private
// key block that may go on on the next line.
func (e *Engine) openKey(s string) pemState {
	if !e.on[dPrivateKey] {
		return pemState{}
	}
	i := strings.LastIndex(s, "-----BEGIN ")
	for i >= 0 {
		if _, st, ok := pemBlock(s, i); ok {
			return st
		}
		i = strings.LastIndex(s[:i], "-----BEGIN ")
	}
	return pemState{}
}
