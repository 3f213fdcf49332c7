// Package archiveexporter writes logs to fleetlog's tamper-evident archive:
// hash-chained, zstd-compressed segment files sealed by Ed25519-signed
// manifests, searchable and verifiable with `fleetlogctl archive`.
//
//go:generate mdatagen metadata.yaml
package archiveexporter // import "github.com/fleetlog/fleetlog/exporters/archiveexporter"
