package validate

import "testing"

// FuzzValidators runs every check on any input: none may panic, and none
// accepts input of a length its format does not have.
func FuzzValidators(f *testing.F) {
	for _, s := range []string{"4111111111111111", "078051120", "912701234", "1EG4TE5MK73", "9434765919",
		"AB123456C", "046454286", "12345677", "X1234567L", "RSSMRA85T10A56NH", "131052-308T", "44051401359",
		"GB82WEST12345698765432", ""} {
		f.Add([]byte(s))
	}
	checks := []struct {
		check   func([]byte) bool
		lengths []int
	}{
		{Luhn, nil}, {CardPrefix, []int{13, 14, 15, 16, 17, 18, 19}}, {IBAN, nil},
		{ITIN, []int{9}}, {MBI, []int{11}}, {NHS, []int{10}}, {NINO, []int{9}}, {SIN, []int{9}},
		{TFN, []int{8, 9}}, {NIF, []int{9}}, {CodiceFiscale, []int{16}}, {HETU, []int{11}},
		{PESEL, []int{11}}, {USPassport, []int{9}},
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) >= 9 {
			SSN(b[:3], b[3:5], b[5:9])
		}
		for i, c := range checks {
			if c.check(b) && c.lengths != nil && !contains(c.lengths, len(b)) {
				t.Fatalf("check %d accepted %q of length %d", i, b, len(b))
			}
		}
	})
}

func contains(s []int, n int) bool {
	for _, v := range s {
		if v == n {
			return true
		}
	}
	return false
}
