// Package validate holds the checksum and range checks that tell a real card
// number, SSN or IBAN from a number that merely looks like one.
package validate

// Luhn reports whether digits (ASCII '0'-'9' only) pass the Luhn checksum.
func Luhn(digits []byte) bool {
	if len(digits) == 0 {
		return false
	}
	sum := 0
	double := false
	for i := len(digits) - 1; i >= 0; i-- {
		d := int(digits[i] - '0')
		if d < 0 || d > 9 {
			return false
		}
		if double {
			d *= 2
			if d > 9 {
				d -= 9
			}
		}
		sum += d
		double = !double
	}
	return sum%10 == 0
}

// cardRanges are the issuer identification number (IIN) ranges of the card
// networks and the lengths each issues (ISO/IEC 7812 as the networks publish
// them, with the ranges of networks since closed, Laser, Switch, Bankcard,
// whose numbers old systems still log): prefix values lo..hi over the first len(lo) digits, and a bit per
// card length. A number is a card only if some range issues its length.
var cardRanges = []struct {
	lo, hi  string
	lengths uint32
}{
	{"1", "1", lens(15)},                   // UATP
	{"2200", "2204", lens(16, 17, 18, 19)}, // Mir
	{"2205", "2205", lens(16)},             // BORICA
	{"2221", "2720", lens(16)},             // Mastercard
	{"300", "305", diners},                 // Diners Club
	{"3095", "3095", diners},
	{"34", "34", lens(15)}, // American Express
	{"37", "37", lens(15)},
	{"353", "353", lens(16)}, // RuPay
	{"356", "356", lens(16)},
	{"3528", "3589", lens(16, 17, 18, 19)}, // JCB
	{"36", "36", diners},                   // Diners Club International
	{"38", "39", diners},
	{"4", "4", lens(13, 16, 19)}, // Visa
	{"5018", "5018", maestro},
	{"5019", "5019", lens(16)}, // Dankort
	{"5020", "5020", maestro},
	{"5038", "5038", maestro},
	{"506099", "506198", lens(16, 18, 19)}, // Verve
	{"506699", "506778", lens(16)},         // Elo
	{"507865", "507964", lens(16, 18, 19)}, // Verve
	{"509", "509", lens(16)},               // Elo
	{"508", "508", lens(16)},               // RuPay
	{"51", "55", lens(16)},                 // Mastercard
	{"5610", "5610", lens(16)},             // Bankcard
	{"560221", "560225", lens(16)},         // Bankcard
	{"5893", "5893", maestro},
	{"60", "60", lens(16)},                 // RuPay
	{"6011", "6011", lens(16, 17, 18, 19)}, // Discover
	{"62", "62", lens(16, 17, 18, 19)},     // UnionPay
	{"627780", "627780", lens(16)},         // Elo
	{"6304", "6304", maestro},              // Maestro, Laser
	{"633110", "633110", lens(16, 18, 19)}, // Switch
	{"6333", "6333", lens(16, 18, 19)},     // Switch
	{"636", "636", lens(16, 17, 18, 19)},   // InterPayment
	{"637", "639", lens(16)},               // InstaPayment
	{"644", "649", lens(16, 17, 18, 19)},   // Discover
	{"65", "65", lens(16, 17, 18, 19)},     // Discover, RuPay, Troy, Verve
	{"6703", "6703", maestro},
	{"6706", "6706", lens(16, 17, 18, 19)}, // Laser
	{"6709", "6709", lens(16, 17, 18, 19)}, // Laser
	{"6759", "6759", maestro},
	{"6761", "6763", maestro},
	{"6771", "6771", lens(16, 17, 18, 19)}, // Laser
	{"81", "82", lens(16)},                 // RuPay
	{"9792", "9792", lens(16)},             // Troy
	{"9860", "9860", lens(16)},             // Humo
}

// diners is the lengths Diners Club issues.
var diners = lens(14, 15, 16, 17, 18, 19)

// maestro is the lengths Maestro issues (12 to 19; 12 is below what the
// detector scans).
var maestro = lens(13, 14, 15, 16, 17, 18, 19)

func lens(n ...int) uint32 {
	var m uint32
	for _, l := range n {
		m |= 1 << l
	}
	return m
}

// CardPrefix reports whether digits start with the IIN of a card network
// and have a length that network issues. Epoch timestamps (13, 16 and 19
// digits starting with 1), counters and 19-digit ids outside the ranges
// that issue 19 digits are not cards.
func CardPrefix(digits []byte) bool {
	n := len(digits)
	if n < 13 || n > 19 {
		return false
	}
	for _, r := range cardRanges {
		if len(r.lo) > n || r.lengths&(1<<n) == 0 {
			continue
		}
		p := string(digits[:len(r.lo)]) // does not escape
		if p >= r.lo && p <= r.hi {
			return true
		}
	}
	return false
}

// SSN reports whether area-group-serial (3, 2 and 4 ASCII digits) is a
// number the US Social Security Administration can issue: area not 000, 666
// or 900-999, group not 00, serial not 0000.
func SSN(area, group, serial []byte) bool {
	if len(area) != 3 || len(group) != 2 || len(serial) != 4 {
		return false
	}
	a := string(area)
	if a == "000" || a == "666" || area[0] == '9' {
		return false
	}
	return string(group) != "00" && string(serial) != "0000"
}

// ibanLengths is the IBAN length of every country in the SWIFT IBAN registry.
var ibanLengths = map[string]int{
	"AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22,
	"BH": 22, "BI": 27, "BR": 29, "BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24,
	"DE": 22, "DJ": 27, "DK": 18, "DO": 28, "EE": 20, "EG": 29, "ES": 24, "FI": 18,
	"FK": 18, "FO": 18, "FR": 27, "GB": 22, "GE": 22, "GI": 23, "GL": 18, "GR": 27,
	"GT": 28, "HR": 21, "HU": 28, "IE": 22, "IL": 23, "IQ": 23, "IS": 26, "IT": 27,
	"JO": 30, "KW": 30, "KZ": 20, "LB": 28, "LC": 32, "LI": 21, "LT": 20, "LU": 20,
	"LV": 21, "LY": 25, "MC": 27, "MD": 24, "ME": 22, "MK": 19, "MN": 20, "MR": 27,
	"MT": 31, "MU": 30, "NI": 28, "NL": 18, "NO": 15, "OM": 23, "PK": 24, "PL": 28,
	"PS": 29, "PT": 25, "QA": 29, "RO": 24, "RS": 22, "RU": 33, "SA": 24, "SC": 31,
	"SD": 18, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "SO": 23, "ST": 25, "SV": 28,
	"TL": 23, "TN": 24, "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20, "YE": 30,
}

// IBANLength returns the IBAN length for a two-letter country code, or 0 for
// a country without IBANs.
func IBANLength(country string) int {
	return ibanLengths[country]
}

// IBAN reports whether s (upper-case letters and digits, no separators) has
// its country's length and passes the ISO 13616 mod-97 check.
func IBAN(s []byte) bool {
	if len(s) < 4 || IBANLength(string(s[:2])) != len(s) {
		return false
	}
	// Move the first four characters to the end, turn letters into 10..35
	// and reduce modulo 97 digit by digit so nothing overflows.
	rem := 0
	for i := range s {
		c := s[(i+4)%len(s)]
		switch {
		case c >= '0' && c <= '9':
			rem = (rem*10 + int(c-'0')) % 97
		case c >= 'A' && c <= 'Z':
			rem = (rem*100 + int(c-'A') + 10) % 97
		default:
			return false
		}
	}
	return rem == 1
}
