package validate

import "testing"

func TestNational(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		check func([]byte) bool
		in    string
		want  bool
	}{
		{"itin", ITIN, "912701234", true},
		{"itin group 93", ITIN, "912931234", false},
		{"itin not 9", ITIN, "812701234", false},
		{"mbi", MBI, "1EG4TE5MK73", true},
		{"mbi letter S", MBI, "1SG4TE5MK73", false},
		{"mbi leading 0", MBI, "0EG4TE5MK73", false},
		{"nhs", NHS, "9434765919", true},
		{"nhs wrong check", NHS, "9434765918", false},
		{"nhs check 10", NHS, "0000000060", false},
		{"nino", NINO, "AB123456C", true},
		{"nino prefix GB", NINO, "GB123456C", false},
		{"nino suffix E", NINO, "AB123456E", false},
		{"nino second O", NINO, "AO123456C", false},
		{"sin sample", SIN, "046454286", true},
		{"sin luhn", SIN, "046454287", false},
		{"sin leading 8", SIN, "800000002", false},
		{"tfn 9", TFN, "123456782", true},
		{"tfn 9 wrong", TFN, "123456783", false},
		{"tfn 8", TFN, "12345677", true},
		{"nif", NIF, "12345678Z", true},
		{"nif wrong letter", NIF, "12345678A", false},
		{"nie", NIF, "X1234567L", true},
		{"nie Y", NIF, "Y1234567X", true},
		{"codice fiscale", CodiceFiscale, "RSSMRA85T10A562S", true},
		{"codice fiscale wrong check", CodiceFiscale, "RSSMRA85T10A562T", false},
		{"codice fiscale omocodia", CodiceFiscale, "RSSMRA85T10A56NH", true},
		{"codice fiscale month", CodiceFiscale, "RSSMRA85F10A562S", false},
		{"hetu", HETU, "131052-308T", true},
		{"hetu 2000s", HETU, "010101A123N", true},
		{"hetu wrong check", HETU, "131052-308U", false},
		{"hetu month 13", HETU, "131352-308T", false},
		{"pesel", PESEL, "44051401359", true},
		{"pesel wrong check", PESEL, "44051401358", false},
		{"pesel 2000s", PESEL, "02270803624", true},
		{"pesel month 13", PESEL, "44131401350", false},
		{"passport digits", USPassport, "912803456", true},
		{"passport next generation", USPassport, "A12345678", true},
		{"passport short", USPassport, "A1234567", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := tt.check([]byte(tt.in)); got != tt.want {
				t.Errorf("%s(%q) = %v, want %v", tt.name, tt.in, got, tt.want)
			}
		})
	}
}

func TestCardRanges(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]bool{
		"4111111111111111":    true,
		"4222222222222":       true,  // Visa 13
		"378282246310005":     true,  // Amex 15
		"3782822463100050":    false, // Amex is never 16
		"5555555555554444":    true,
		"2223003122003222":    true, // Mastercard 2-series
		"6011111111111117":    true,
		"3530111333300000":    true,  // JCB
		"6200000000000005":    true,  // UnionPay
		"135410014004955":     true,  // UATP
		"1354100140049550":    false, // UATP is 15 digits
		"3509323198988774369": false, // HDFS block id: no network issues 3509
		"6991853982611346454": false,
		"1732000000000":       false, // epoch milliseconds
		"1732000000000000":    false, // epoch microseconds
		"1732000000000000000": false, // epoch nanoseconds
		"9111111111111111":    false,
	} {
		if got := CardPrefix([]byte(in)); got != want {
			t.Errorf("CardPrefix(%q) = %v, want %v", in, got, want)
		}
	}
}
