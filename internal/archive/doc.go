// Package archive is fleetlog's tamper-evident log archive format: hash-chained
// zstd frames of OTLP log records in day-partitioned segment files, sealed by
// Ed25519-signed manifests that chain across segments, and signed tombstones
// for segments deleted by retention.
//
// The Writer appends and seals (the archive exporter drives it); Verify checks
// an archive against one or more public keys; Query scans it. The on-disk
// format is specified in exporters/archiveexporter/README.md.
package archive
