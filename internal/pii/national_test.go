package pii

import "testing"

func TestNationalDetectors(t *testing.T) {
	t.Parallel()
	e := mustNew(t, Options{})
	tests := []struct {
		name, in, want string
	}{
		{"ssn dashed", "ssn 078-05-1120", "ssn [REDACTED:us_ssn]"},
		{"ssn spaced", "SSN: 078 05 1120.", "SSN: [REDACTED:us_ssn]."},
		{"ssn bare needs its name", `{"ssn":"078051120"}`, `{"ssn":"[REDACTED:us_ssn]"}`},
		{"ssn bare in prose", "my social security number is 078051120", "my social security number is [REDACTED:us_ssn]"},
		{"ssn bare under a snake_case key", "social_security_number=078051120", "social_security_number=[REDACTED:us_ssn]"},
		{"nine digits alone", "took 078051120 ns", "took 078051120 ns"},
		{"ssn area 9xx is not", "ssn 987-43-0044", "ssn 987-43-0044"},
		{"itin", "itin 912-70-1234", "itin [REDACTED:us_itin]"},
		{"itin bare", "ITIN=912701234", "ITIN=[REDACTED:us_itin]"},
		{"mbi", "mbi 1EG4-TE5-MK73 ok", "mbi [REDACTED:us_mbi] ok"},
		{"mbi solid", "beneficiary=1EG4TE5MK73", "beneficiary=[REDACTED:us_mbi]"},
		{"passport", "passport number: 912803456", "passport number: [REDACTED:us_passport]"},
		{"passport next generation", "Passport A12345678 issued", "Passport [REDACTED:us_passport] issued"},
		{"passport needs its name", "order A12345678", "order A12345678"},
		{"nhs spaced", "patient 943 476 5919", "patient [REDACTED:uk_nhs]"},
		{"nhs bare", "nhs_number=9434765919", "nhs_number=[REDACTED:uk_nhs]"},
		{"nhs bare unnamed", "id 9434765919", "id 9434765919"},
		{"nino", "NI number AB123456C", "NI number [REDACTED:uk_nino]"},
		{"nino spaced", "nino: AB 12 34 56 C", "nino: [REDACTED:uk_nino]"},
		{"nino bad prefix", "GB123456C", "GB123456C"},
		{"nino specimen", "nino=QQ 12 34 56 C status=ok", "nino=[REDACTED:uk_nino] status=ok"},
		{"nhs in a query with a status after", "GET /api?nhs_number=943 476 5919 200", "GET /api?nhs_number=[REDACTED:uk_nhs] 200"},
		{"sin then more digits", "sin=046 454 286 200", "sin=[REDACTED:ca_sin] 200"},
		{"card diners 14", "3852 0000 0232 37", "[REDACTED:credit_card]"},
		{"card elo", "5066 9911 1111 1118", "[REDACTED:credit_card]"},
		{"card laser", "6771 7980 2100 0008", "[REDACTED:credit_card]"},
		{"sin grouped", "SIN 046-454-286", "SIN [REDACTED:ca_sin]"},
		{"sin bare", "sin=046454286", "sin=[REDACTED:ca_sin]"},
		{"sin word inside using", "using 046454286", "using 046454286"},
		{"tfn grouped", "TFN 123 456 782", "TFN [REDACTED:au_tfn]"},
		{"tfn bare", "tax file number 123456782", "tax file number [REDACTED:au_tfn]"},
		{"nif", "DNI 12345678Z", "DNI [REDACTED:es_nif]"},
		{"nif dashed", "nif: 12345678-Z", "nif: [REDACTED:es_nif]"},
		{"nif wrong letter", "ref 12345678A", "ref 12345678A"},
		{"nie", "NIE X1234567L", "NIE [REDACTED:es_nif]"},
		{"codice fiscale", "cf=RSSMRA85T10A562S", "cf=[REDACTED:it_fiscal_code]"},
		{"codice fiscale wrong check", "RSSMRA85T10A562T", "RSSMRA85T10A562T"},
		{"hetu", "hetu 131052-308T", "hetu [REDACTED:fi_hetu]"},
		{"hetu 2000s", "010101A123N,", "[REDACTED:fi_hetu],"},
		{"pesel", "PESEL: 44051401359", "PESEL: [REDACTED:pl_pesel]"},
		{"pesel unnamed", "id 44051401359", "id 44051401359"},
		{"number list", "Supported channels 52 56 60 64 100 104 108 112 116 120 124 128 132 136 140 144 149 153", "Supported channels 52 56 60 64 100 104 108 112 116 120 124 128 132 136 140 144 149 153"},
		{"card uatp", "card 135410014004955", "card [REDACTED:credit_card]"},
		{"card amex length", "3782822463100050", "3782822463100050"},
		{"hdfs block id", "Receiving block blk_-3509323198988774369 src", "Receiving block blk_-3509323198988774369 src"},
		{"hdfs block id visa-like", "blk_-4433556521525567493", "blk_-4433556521525567493"},
		{"fan speeds", "Fan speeds ( 3552 3534 3375 4530 3515 3479 )", "Fan speeds ( 3552 3534 3375 4530 3515 3479 )"},
		{"report groups", "REPORT : 7031 5020 150604 240", "REPORT : 7031 5020 150604 240"},
		{"iban wrong check digit keeps its digits", "DE88 3704 0044 0532 0130 00", "DE88 3704 0044 0532 0130 00"},
		{"iban wrong check digit solid", "acct GB82WEST12345698765431", "acct GB82WEST12345698765431"},
		{"iban norway", "NO9386011117947", "[REDACTED:iban]"},
		{"iban malta", "MT84MALT011000012345MTLCAST001S", "[REDACTED:iban]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := redact(e, tt.in); got != tt.want {
				t.Errorf("Redact(%q)\n got %q\nwant %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestProfiles(t *testing.T) {
	t.Parallel()
	e := mustNew(t, Options{Profiles: []string{"hipaa"}})
	if got := redact(e, "call +44 20 7946 0958 from 10.1.2.3"); got != "call [REDACTED:phone] from [REDACTED:ipv4]" {
		t.Errorf("hipaa profile: got %q", got)
	}
	if got := redact(e, "ssn 078-05-1120 nif 12345678Z"); got != "ssn [REDACTED:us_ssn] nif 12345678Z" {
		t.Errorf("hipaa profile keeps the SSN and drops other regions' identifiers: got %q", got)
	}
	eu := mustNew(t, Options{Profiles: []string{"eu"}})
	if got := redact(eu, "ssn 078-05-1120 nif 12345678Z to bob@example.com"); got != "ssn 078-05-1120 nif [REDACTED:es_nif] to [REDACTED:email]" {
		t.Errorf("eu profile: got %q", got)
	}
	off := mustNew(t, Options{Profiles: []string{"hipaa"}, Enabled: map[string]bool{IPv4: false}})
	if got := redact(off, "from 10.1.2.3"); got != "from 10.1.2.3" {
		t.Errorf("detectors override profiles: got %q", got)
	}
	if _, err := New(Options{Profiles: []string{"mars"}}); err == nil {
		t.Error("unknown profile accepted")
	}
	for _, p := range Profiles() {
		if len(ProfileDetectors(p)) == 0 {
			t.Errorf("profile %s is empty", p)
		}
	}
}
