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
	{VendorToken, true},
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
