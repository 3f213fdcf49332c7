package pii

// Built-in detector names, as they appear in configuration, in
// [REDACTED:<name>] and in metrics.
const (
	Email          = "email"
	CreditCard     = "credit_card"
	USSSN          = "us_ssn"
	IBAN           = "iban"
	JWT            = "jwt"
	AuthHeader     = "auth_header"
	AWSAccessKey   = "aws_access_key"
	AWSSecretKey   = "aws_secret_key"
	GitHubToken    = "github_token"
	GitLabToken    = "gitlab_token"
	SlackToken     = "slack_token"
	StripeKey      = "stripe_key"
	GoogleAPIKey   = "google_api_key"
	PrivateKey     = "private_key"
	URLCredentials = "url_credentials"
	KVSecret       = "kv_secret"
	IPv4           = "ipv4"
	IPv6           = "ipv6"
	Phone          = "phone"
	USITIN         = "us_itin"
	USMBI          = "us_mbi"
	USPassport     = "us_passport"
	UKNHS          = "uk_nhs"
	UKNINO         = "uk_nino"
	CASIN          = "ca_sin"
	ESNIF          = "es_nif"
	ITFiscalCode   = "it_fiscal_code"
	FIHETU         = "fi_hetu"
	PLPESEL        = "pl_pesel"
	AUTFN          = "au_tfn"
	PasswordHash   = "password_hash"
	WebhookURL     = "webhook_url"
	VendorToken    = "vendor_token"
)

// detector ids index Engine tables; custom rules follow the built-ins.
const (
	dEmail = iota
	dCreditCard
	dUSSSN
	dIBAN
	dJWT
	dAuthHeader
	dAWSAccessKey
	dAWSSecretKey
	dGitHubToken
	dGitLabToken
	dSlackToken
	dStripeKey
	dGoogleAPIKey
	dPrivateKey
	dURLCredentials
	dKVSecret
	dIPv4
	dIPv6
	dPhone
	dUSITIN
	dUSMBI
	dUSPassport
	dUKNHS
	dUKNINO
	dCASIN
	dESNIF
	dITFiscalCode
	dFIHETU
	dPLPESEL
	dAUTFN
	dPasswordHash
	dWebhookURL
	dVendorToken
	numBuiltin
)

// builtin lists every built-in detector in id order.
var builtin = [numBuiltin]struct {
	name string
	on   bool // enabled by default
}{
	{Email, true}, {CreditCard, true}, {USSSN, true}, {IBAN, true}, {JWT, true},
	{AuthHeader, true}, {AWSAccessKey, true}, {AWSSecretKey, true}, {GitHubToken, true},
	{GitLabToken, true}, {SlackToken, true}, {StripeKey, true}, {GoogleAPIKey, true},
	{PrivateKey, true}, {URLCredentials, true}, {KVSecret, true},
	// Security logs need addresses, and phone numbers are too easy to confuse
	// with other numbers: both are opt-in.
	{IPv4, false}, {IPv6, false}, {Phone, false},
	// National identifiers: validated, and those without a check digit or
	// with a weak one only next to their name ("ssn", "passport", ...).
	{USITIN, true}, {USMBI, true}, {USPassport, true}, {UKNHS, true}, {UKNINO, true},
	{CASIN, true}, {ESNIF, true}, {ITFiscalCode, true}, {FIHETU, true}, {PLPESEL, true},
	{AUTFN, true},
	{PasswordHash, true}, {WebhookURL, true},
	// Vendor token formats: gitleaks' rule set (gitleaks.go).
	{VendorToken, true},
}

// nationalID marks the detectors of national identifiers: with profiles
// set, only those of the named profiles stay on.
var nationalID = func() (m [numBuiltin]bool) {
	for _, id := range []int{dUSSSN, dUSITIN, dUSMBI, dUSPassport, dUKNHS, dUKNINO, dCASIN,
		dESNIF, dITFiscalCode, dFIHETU, dPLPESEL, dAUTFN} {
		m[id] = true
	}
	return m
}()

// profiles group detectors by the region or regulation whose data they
// find. Options.Profiles turns every detector of the named profiles on, and
// the national identifiers of other regions off.
var profiles = []struct {
	name      string
	detectors []int
}{
	{"us", []int{dUSSSN, dUSITIN, dUSMBI, dUSPassport}},
	{"eu", []int{dIBAN, dESNIF, dITFiscalCode, dFIHETU, dPLPESEL}},
	{"uk", []int{dIBAN, dUKNHS, dUKNINO}},
	{"ca", []int{dCASIN}},
	{"au", []int{dAUTFN}},
	// HIPAA's identifiers that logs carry: SSN, Medicare number, e-mail,
	// phone, IP addresses.
	{"hipaa", []int{dUSSSN, dUSMBI, dEmail, dPhone, dIPv4, dIPv6}},
	{"pci", []int{dCreditCard}},
}

// Profiles returns the profile names, in documentation order.
func Profiles() []string {
	names := make([]string, len(profiles))
	for i, p := range profiles {
		names[i] = p.name
	}
	return names
}

// ProfileDetectors returns the detector names of a profile, or nil for an
// unknown profile.
func ProfileDetectors(profile string) []string {
	for _, p := range profiles {
		if p.name == profile {
			names := make([]string, len(p.detectors))
			for i, id := range p.detectors {
				names[i] = builtin[id].name
			}
			return names
		}
	}
	return nil
}

// Builtin returns the names of the built-in detectors.
func Builtin() []string {
	names := make([]string, numBuiltin)
	for i, b := range builtin {
		names[i] = b.name
	}
	return names
}

// DefaultEnabled reports whether the built-in detector name is on by default.
func DefaultEnabled(name string) bool {
	id := builtinID(name)
	return id >= 0 && builtin[id].on
}

func builtinID(name string) int {
	for i, b := range builtin {
		if b.name == name {
			return i
		}
	}
	return -1
}

// IsBuiltin reports whether name is a built-in detector.
func IsBuiltin(name string) bool { return builtinID(name) >= 0 }
