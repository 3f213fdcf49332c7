package validate

// The checks below take ASCII input with separators removed and report
// whether it is a number the issuing authority can have assigned: its
// structure, its ranges and its check character. None of them allocates.

func digitsOnly(b []byte) bool {
	for _, c := range b {
		if c < '0' || c > '9' {
			return false
		}
	}
	return len(b) > 0
}

func num(b []byte) int {
	n := 0
	for _, c := range b {
		n = n*10 + int(c-'0')
	}
	return n
}

// ITIN reports whether 9 digits are a US Individual Taxpayer Identification
// Number: 9XX-GG-XXXX with the group GG in 50-65, 70-88, 90-92 or 94-99.
func ITIN(d []byte) bool {
	if len(d) != 9 || !digitsOnly(d) || d[0] != '9' {
		return false
	}
	g := num(d[3:5])
	return g >= 50 && g <= 65 || g >= 70 && g <= 88 || g >= 90 && g <= 92 || g >= 94
}

// mbiLetter is a letter a Medicare Beneficiary Identifier uses: A-Z
// without S, L, O, I, B and Z.
func mbiLetter(c byte) bool {
	return c >= 'A' && c <= 'Z' && c != 'S' && c != 'L' && c != 'O' && c != 'I' && c != 'B' && c != 'Z'
}

// MBI reports whether 11 characters are a US Medicare Beneficiary
// Identifier as CMS defines its positions: C A AN N A AN N A A N N, where C
// is 1-9, N a digit, A a letter other than S, L, O, I, B, Z.
func MBI(b []byte) bool {
	if len(b) != 11 || b[0] < '1' || b[0] > '9' {
		return false
	}
	const layout = "CAXNAXNAANN"
	for i := 1; i < 11; i++ {
		c := b[i]
		isD := c >= '0' && c <= '9'
		switch layout[i] {
		case 'A':
			if !mbiLetter(c) {
				return false
			}
		case 'N':
			if !isD {
				return false
			}
		case 'X':
			if !isD && !mbiLetter(c) {
				return false
			}
		}
	}
	return true
}

// NHS reports whether 10 digits are a UK NHS number: the weighted sum of
// the first nine (weights 10 down to 2) gives the tenth by mod 11.
func NHS(d []byte) bool {
	if len(d) != 10 || !digitsOnly(d) {
		return false
	}
	sum := 0
	for i := 0; i < 9; i++ {
		sum += int(d[i]-'0') * (10 - i)
	}
	check := 11 - sum%11
	if check == 11 {
		check = 0
	}
	return check != 10 && check == int(d[9]-'0')
}

// NINO reports whether 9 characters are a UK National Insurance number:
// two prefix letters (not D, F, I, Q, U, V; the second not O; not BG, GB,
// KN, NK, NT, TN or ZZ), six digits and a suffix A-D. HMRC's specimen
// prefix QQ, never allocated but printed on forms and in test data, counts.
func NINO(b []byte) bool {
	if len(b) != 9 || !digitsOnly(b[2:8]) || b[8] < 'A' || b[8] > 'D' {
		return false
	}
	if b[0] == 'Q' && b[1] == 'Q' {
		return true
	}
	bad := func(c byte) bool {
		return c < 'A' || c > 'Z' || c == 'D' || c == 'F' || c == 'I' || c == 'Q' || c == 'U' || c == 'V'
	}
	if bad(b[0]) || bad(b[1]) || b[1] == 'O' {
		return false
	}
	switch string(b[:2]) {
	case "BG", "GB", "KN", "NK", "NT", "TN", "ZZ":
		return false
	}
	return true
}

// SIN reports whether 9 digits are a Canadian Social Insurance Number:
// Luhn, and a first digit other than 8 (0 is kept: it is the first digit of
// the published sample numbers).
func SIN(d []byte) bool {
	return len(d) == 9 && digitsOnly(d) && d[0] != '8' && Luhn(d)
}

// TFN reports whether 8 or 9 digits are an Australian Tax File Number: the
// ATO's weighted sum is a multiple of 11.
func TFN(d []byte) bool {
	var w []int
	switch len(d) {
	case 9:
		w = []int{1, 4, 3, 7, 5, 8, 6, 9, 10}
	case 8:
		w = []int{10, 7, 8, 4, 6, 3, 5, 1}
	default:
		return false
	}
	if !digitsOnly(d) {
		return false
	}
	sum := 0
	for i, c := range d {
		sum += int(c-'0') * w[i]
	}
	return sum%11 == 0
}

// nifLetters maps a DNI number mod 23 to its check letter.
const nifLetters = "TRWAGMYFPDXBNJZSQVHLCKE"

// NIF reports whether 9 characters are a Spanish DNI/NIF (8 digits and a
// check letter) or NIE (X, Y or Z, 7 digits and a check letter), the letter
// being the number mod 23 (X, Y, Z counting as 0, 1, 2).
func NIF(b []byte) bool {
	if len(b) != 9 {
		return false
	}
	n := 0
	switch b[0] {
	case 'X':
	case 'Y':
		n = 1
	case 'Z':
		n = 2
	default:
		if b[0] < '0' || b[0] > '9' {
			return false
		}
		n = int(b[0] - '0')
	}
	if !digitsOnly(b[1:8]) {
		return false
	}
	n = n*10_000_000 + num(b[1:8])
	return b[8] == nifLetters[n%23]
}

// Codice fiscale tables: the value of a character in an odd (1st, 3rd, ...)
// position, by digit or letter, and the digits that omocodia replaces with
// letters.
const (
	cfOdd   = "\x01\x00\x05\x07\x09\x0d\x0f\x11\x13\x15\x02\x04\x12\x14\x0b\x03\x06\x08\x0c\x0e\x10\x0a\x16\x19\x18\x17"
	cfOmo   = "LMNPQRSTUV"
	cfMonth = "ABCDEHLMPRST"
)

// CodiceFiscale reports whether 16 characters are an Italian fiscal code:
// surname and name letters, year, month letter, day (1-31, +40 for women),
// place, with digits possibly replaced by omocodia letters, and the check
// letter over the first 15.
func CodiceFiscale(b []byte) bool {
	if len(b) != 16 {
		return false
	}
	letter := func(c byte) bool { return c >= 'A' && c <= 'Z' }
	digitish := func(c byte) bool { return c >= '0' && c <= '9' || indexByte(cfOmo, c) >= 0 }
	for i, c := range b {
		switch {
		case i < 6 || i == 11 || i == 15:
			if !letter(c) {
				return false
			}
		case i == 8:
			if indexByte(cfMonth, c) < 0 {
				return false
			}
		default:
			if !digitish(c) {
				return false
			}
		}
	}
	day := omoDigit(b[9])*10 + omoDigit(b[10])
	if day < 1 || day > 71 || day > 31 && day < 41 {
		return false
	}
	sum := 0
	for i := 0; i < 15; i++ {
		c := b[i]
		v := 0
		if c >= '0' && c <= '9' {
			v = int(c - '0')
		} else {
			v = int(c - 'A')
		}
		if i%2 == 0 {
			sum += int(cfOdd[v])
		} else {
			sum += v
		}
	}
	return b[15] == byte('A'+sum%26)
}

func omoDigit(c byte) int {
	if c >= '0' && c <= '9' {
		return int(c - '0')
	}
	return indexByte(cfOmo, c)
}

func indexByte(s string, c byte) int {
	for i := 0; i < len(s); i++ {
		if s[i] == c {
			return i
		}
	}
	return -1
}

// hetuChecks maps DDMMYYNNN mod 31 to the check character of a Finnish
// personal identity code.
const hetuChecks = "0123456789ABCDEFHJKLMNPRSTUVWXY"

// HETU reports whether 11 characters are a Finnish personal identity code,
// DDMMYYCNNNQ: a date, a century sign (+, -, U-Y, A-F), an individual
// number 002-999 and the check character of DDMMYYNNN mod 31.
func HETU(b []byte) bool {
	if len(b) != 11 || !digitsOnly(b[:6]) || !digitsOnly(b[7:10]) {
		return false
	}
	switch c := b[6]; {
	case c == '+' || c == '-' || c >= 'U' && c <= 'Y' || c >= 'A' && c <= 'F':
	default:
		return false
	}
	day, month := num(b[0:2]), num(b[2:4])
	if day < 1 || day > 31 || month < 1 || month > 12 || num(b[7:10]) < 2 {
		return false
	}
	n := num(b[0:6])*1000 + num(b[7:10])
	return b[10] == hetuChecks[n%31]
}

// PESEL reports whether 11 digits are a Polish PESEL: a date whose month
// carries the century (+0, +20, +40, +60, +80), and the check digit of the
// weights 1, 3, 7, 9.
func PESEL(d []byte) bool {
	if len(d) != 11 || !digitsOnly(d) {
		return false
	}
	month, day := num(d[2:4])%20, num(d[4:6])
	if month < 1 || month > 12 || day < 1 || day > 31 {
		return false
	}
	w := [10]int{1, 3, 7, 9, 1, 3, 7, 9, 1, 3}
	sum := 0
	for i := 0; i < 10; i++ {
		sum += int(d[i]-'0') * w[i]
	}
	return int(d[10]-'0') == (10-sum%10)%10
}

// USPassport reports whether 9 characters have the shape of a US passport
// number: 9 digits, or (next-generation books) a letter and 8 digits. The
// format has no check digit; the detector asks for the word "passport"
// nearby.
func USPassport(b []byte) bool {
	if len(b) != 9 || !digitsOnly(b[1:]) {
		return false
	}
	return b[0] >= '0' && b[0] <= '9' || b[0] >= 'A' && b[0] <= 'Z'
}
