package validate

import "testing"

func TestLuhn(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want bool
	}{
		{"4111111111111111", true},
		{"5555555555554444", true},
		{"378282246310005", true},
		{"4111111111111112", false},
		{"1234567890123456", false},
		{"", false},
		{"41x1", false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			if got := Luhn([]byte(tt.in)); got != tt.want {
				t.Errorf("Luhn(%q) = %v, want %v", tt.in, got, tt.want)
			}
		})
	}
}

func TestCardPrefix(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]bool{
		"4111111111111111": true,
		"1732000000000":    false, // epoch milliseconds
		"1732000000000000": false, // epoch microseconds
		"378282246310005":  true,
		"5555555555554444": true,
		"9111111111111111": false,
	} {
		if got := CardPrefix([]byte(in)); got != want {
			t.Errorf("CardPrefix(%q) = %v, want %v", in, got, want)
		}
	}
}

func TestSSN(t *testing.T) {
	t.Parallel()
	for in, want := range map[[3]string]bool{
		{"123", "45", "6789"}: true,
		{"000", "45", "6789"}: false,
		{"666", "45", "6789"}: false,
		{"912", "45", "6789"}: false,
		{"123", "00", "6789"}: false,
		{"123", "45", "0000"}: false,
		{"12", "45", "6789"}:  false,
	} {
		if got := SSN([]byte(in[0]), []byte(in[1]), []byte(in[2])); got != want {
			t.Errorf("SSN(%v) = %v, want %v", in, got, want)
		}
	}
}

func TestIBAN(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]bool{
		"DE89370400440532013000":      true,
		"GB82WEST12345698765432":      true,
		"FR1420041010050500013M02606": true,
		"NL91ABNA0417164300":          true,
		"DE89370400440532013001":      false, // checksum
		"DE8937040044053201300":       false, // length
		"XX89370400440532013000":      false, // country
		"de89370400440532013000":      false,
	} {
		if got := IBAN([]byte(in)); got != want {
			t.Errorf("IBAN(%q) = %v, want %v", in, got, want)
		}
	}
}
