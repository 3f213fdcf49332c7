//go:generate mdatagen metadata.yaml

// Package spoolreceiver is the agent's intake: it tails files and receives
// syslog through stanza, appends every record to a crash-safe disk spool
// before a file checkpoint may advance, and delivers the spool in order to the
// next consumer, advancing its read cursor only after the consumer returned
// nil.
package spoolreceiver // import "github.com/fleetlog/fleetlog/receivers/spoolreceiver"
