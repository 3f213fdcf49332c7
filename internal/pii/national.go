package pii

import "github.com/fleetlog/fleetlog/internal/pii/validate"

// Keywords that must precede a national number whose format alone says too
// little (nine bare digits are an SSN, a SIN, a TFN, an ITIN, a passport or
// any counter), matched case-insensitively as words within contextBack
// bytes before it: a key ("ssn=", "\"nhs_number\":") or prose ("SSN is").
var (
	ssnWords      = []string{"ssn", "social security", "ss#"}
	itinWords     = []string{"itin", "taxpayer"}
	passportWords = []string{"passport"}
	sinWords      = []string{"sin", "social insurance"}
	tfnWords      = []string{"tfn", "tax file"}
	nhsWords      = []string{"nhs"}
	peselWords    = []string{"pesel"}
)

// contextBack is how far before a number its keyword may be.
const contextBack = 40

// contextBefore reports whether one of words (lower case) appears as a word
// in the contextBack bytes before i.
func contextBefore(s string, i int, words []string) bool {
	lo := max(0, i-contextBack)
	for j := lo; j < i; j++ {
		if j > 0 && isLetter(s[j-1]) {
			continue
		}
		for _, w := range words {
			if j+len(w) <= i && keywordAt(s[j:], w) && (j+len(w) == len(s) || !isLetter(s[j+len(w)])) {
				return true
			}
		}
	}
	return false
}

func isLetter(c byte) bool { return isUpper(c) || isLower(c) }

// keywordAt reports whether s starts with the lower-case keyword w, case
// ignored and a space in w matching ' ', '_' or '-' (social_security_number,
// Tax-File-Number).
func keywordAt(s, w string) bool {
	if len(s) < len(w) {
		return false
	}
	for k := 0; k < len(w); k++ {
		c := s[k]
		switch {
		case w[k] == ' ':
			if c != ' ' && c != '_' && c != '-' {
				return false
			}
		case c|0x20 != w[k]:
			return false
		}
	}
	return true
}

// nationalShape reports whether digit groups of lengths g are laid out as
// some national number: 8 to 11 digits, or 3-2-4, 3-3-3, 3-3-4.
func nationalShape(g []int) bool {
	switch len(g) {
	case 1:
		return g[0] >= 8 && g[0] <= 11
	case 3:
		return g[0] == 3 && (g[1] == 2 && g[2] == 4 || g[1] == 3 && (g[2] == 3 || g[2] == 4))
	}
	return false
}

// nationalNumber checks digit groups (lengths g, ends, the digits d and the
// separator sep) starting at i for a national number.
func (e *Engine) nationalNumber(s string, i int, g, ends []int, d []byte, sep byte) (Finding, bool) {
	end := ends[len(g)-1]
	found := func(id int) (Finding, bool) { return Finding{i, end, id}, true }
	switch {
	case len(g) == 3 && g[0] == 3 && g[1] == 2 && g[2] == 4:
		if e.on[dUSITIN] && validate.ITIN(d) {
			return found(dUSITIN)
		}
		if e.on[dUSSSN] && validate.SSN(d[0:3], d[3:5], d[5:9]) {
			return found(dUSSSN)
		}
	case len(g) == 3 && g[0] == 3 && g[1] == 3 && g[2] == 3:
		// 046 454 286 / 123-456-782: Canadian SIN and Australian TFN print
		// this way; the name nearby decides when both checks pass.
		if e.on[dAUTFN] && validate.TFN(d) && contextBefore(s, i, tfnWords) {
			return found(dAUTFN)
		}
		if e.on[dCASIN] && validate.SIN(d) {
			return found(dCASIN)
		}
		if e.on[dAUTFN] && validate.TFN(d) {
			return found(dAUTFN)
		}
	case len(g) == 3 && g[0] == 3 && g[1] == 3 && g[2] == 4:
		// NHS numbers print 943 476 5919; a dashed 3-3-4 is a phone number
		// unless the NHS is named.
		if e.on[dUKNHS] && (sep == ' ' || contextBefore(s, i, nhsWords)) && validate.NHS(d) {
			return found(dUKNHS)
		}
	case len(g) == 1 && g[0] == 9:
		switch {
		case e.on[dUSSSN] && validate.SSN(d[0:3], d[3:5], d[5:9]) && contextBefore(s, i, ssnWords):
			return found(dUSSSN)
		case e.on[dUSITIN] && validate.ITIN(d) && contextBefore(s, i, itinWords):
			return found(dUSITIN)
		case e.on[dCASIN] && validate.SIN(d) && contextBefore(s, i, sinWords):
			return found(dCASIN)
		case e.on[dAUTFN] && validate.TFN(d) && contextBefore(s, i, tfnWords):
			return found(dAUTFN)
		case e.on[dUSPassport] && contextBefore(s, i, passportWords):
			return found(dUSPassport)
		}
	case len(g) == 1 && g[0] == 8:
		if e.on[dAUTFN] && validate.TFN(d) && contextBefore(s, i, tfnWords) {
			return found(dAUTFN)
		}
	case len(g) == 1 && g[0] == 10:
		if e.on[dUKNHS] && validate.NHS(d) && contextBefore(s, i, nhsWords) {
			return found(dUKNHS)
		}
	case len(g) == 1 && g[0] == 11:
		if e.on[dPLPESEL] && validate.PESEL(d) && contextBefore(s, i, peselWords) {
			return found(dPLPESEL)
		}
	}
	return Finding{}, false
}

// nationalWord checks the word at i, which mixes digits and upper-case
// letters, for a national identifier: Finnish HETU, Spanish NIF/NIE, US
// MBI, UK NINO, Italian codice fiscale, a next-generation US passport.
func (e *Engine) nationalWord(s string, i int) (Finding, bool) {
	var buf [16]byte
	c := s[i]
	if isDigit(c) {
		k := run(s, i, isDigit)
		switch k - i {
		case 6: // DDMMYY-NNNQ
			if e.on[dFIHETU] && i+11 <= len(s) && wordEnd(s, i+11) && validate.HETU([]byte(s[i:i+11])) {
				return Finding{i, i + 11, dFIHETU}, true
			}
		case 8: // 12345678Z, 12345678-Z
			if !e.on[dESNIF] {
				break
			}
			j := k
			if j < len(s) && s[j] == '-' {
				j++
			}
			if j < len(s) && isUpper(s[j]) && wordEnd(s, j+1) {
				n := copy(buf[:], s[i:k])
				buf[n] = s[j]
				if validate.NIF(buf[:9]) {
					return Finding{i, j + 1, dESNIF}, true
				}
			}
		case 1: // 1EG4TE5MK73, 1EG4-TE5-MK73
			if e.on[dUSMBI] {
				if end, ok := compact(s, i, buf[:11], "4-3-4"); ok && validate.MBI(buf[:11]) {
					return Finding{i, end, dUSMBI}, true
				}
			}
		}
		return Finding{}, false
	}
	if i+1 >= len(s) {
		return Finding{}, false
	}
	if isUpper(s[i+1]) {
		// AB123456C, AB 12 34 56 C
		if e.on[dUKNINO] {
			if end, ok := compact(s, i, buf[:9], "2 2 2 2 1"); ok && validate.NINO(buf[:9]) {
				return Finding{i, end, dUKNINO}, true
			}
		}
		if e.on[dITFiscalCode] && i+16 <= len(s) && wordEnd(s, i+16) && validate.CodiceFiscale([]byte(s[i:i+16])) {
			return Finding{i, i + 16, dITFiscalCode}, true
		}
		return Finding{}, false
	}
	if !isDigit(s[i+1]) && s[i+1] != '-' {
		return Finding{}, false
	}
	if e.on[dESNIF] && (c == 'X' || c == 'Y' || c == 'Z') {
		// X1234567L, X-1234567-L
		if end, ok := compact(s, i, buf[:9], "1-7-1"); ok && validate.NIF(buf[:9]) {
			return Finding{i, end, dESNIF}, true
		}
	}
	if e.on[dUSPassport] && i+9 <= len(s) && wordEnd(s, i+9) && validate.USPassport([]byte(s[i:i+9])) &&
		contextBefore(s, i, passportWords) {
		return Finding{i, i + 9, dUSPassport}, true
	}
	return Finding{}, false
}

// compact copies the len(dst) letters and digits of the word at i into dst,
// either written solid or grouped as layout says ("4-3-4": groups of 4, 3
// and 4 separated by '-'; a space in layout stands for an optional space),
// and returns the word's end.
func compact(s string, i int, dst []byte, layout string) (int, bool) {
	// Solid.
	if i+len(dst) <= len(s) && wordEnd(s, i+len(dst)) {
		ok := true
		for k := range dst {
			if !isUpperDigit(s[i+k]) {
				ok = false
				break
			}
			dst[k] = s[i+k]
		}
		if ok {
			return i + len(dst), true
		}
	}
	// Grouped.
	j, n := i, 0
	for k := 0; k < len(layout); k++ {
		c := layout[k]
		if c == '-' || c == ' ' {
			if j >= len(s) || s[j] != c {
				return 0, false
			}
			j++
			continue
		}
		for m := int(c - '0'); m > 0; m-- {
			if j >= len(s) || n >= len(dst) || !isUpperDigit(s[j]) {
				return 0, false
			}
			dst[n] = s[j]
			n++
			j++
		}
	}
	return j, n == len(dst) && wordEnd(s, j)
}
