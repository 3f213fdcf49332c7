// Package alertconnector implements the alert connector of the gateway: it
// evaluates log-driven alert rules (internal/alert) over every record,
// passes the records on unchanged to its logs pipeline, adds a record for
// every alert that fires or resolves (so the archive holds the audit trail),
// and delivers notifications through durable per-output outboxes without
// ever blocking ingestion.
//
//go:generate mdatagen metadata.yaml
package alertconnector // import "github.com/fleetlog/fleetlog/connectors/alertconnector"
