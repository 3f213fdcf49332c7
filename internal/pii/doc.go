// Package pii finds and redacts personal data and secrets in log text. It is
// the one engine behind the pii processor and the fleetlogctl redact and
// leakscan commands, so the three always agree on what a secret is. Config
// is the configuration they share.
//
// An Engine scans a string once. Each byte is looked up in a table of trigger
// bytes ('@', digits, upper-case letters, '=', ':', '-', '$', the first
// letters of known token prefixes, ...); only at a trigger does a small
// anchored check run, followed by a validator (Luhn and IIN ranges, mod-97,
// SSN areas, the check digits of national identifiers, token lengths) where
// one exists. A line without a secret costs one pass over its bytes and no
// allocation. Custom rules are RE2 patterns and run after the built-in scan.
//
// A LineRedactor redacts a stream of lines and carries a PEM private key
// from its BEGIN line over the lines of key material that follow, and no
// further.
package pii
