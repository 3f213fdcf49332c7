// Package alert evaluates fleetlog's log-driven alert rules. It knows
// nothing of the collector: the gateway's alert connector and `fleetlogctl
// alerts test` both feed it Records and receive Alerts.
//
// A rule selects records (Match) and is one of five kinds: match (every
// selected record), threshold (N selected records in a sliding window),
// absence (no record from a device for a while), change (a watched attribute
// of a device took a new value) and new_pattern (a log template never seen
// for a fleet after a learning period). Alerts are keyed by a fingerprint of
// the rule and its group values: one group fires once, stays firing while
// its condition holds, and resolves once.
//
// Time is the caller's: the gateway passes its clock, the offline test the
// records' own times, so a replay of yesterday's files fires as the gateway
// would have.
package alert // import "github.com/fleetlog/fleetlog/internal/alert"
