// Package archive is fleetlog's tamper-evident log archive format: hash-chained
// zstd frames of OTLP log records in day-partitioned segment files, sealed by
// Ed25519-signed manifests that chain across segments, and signed tombstones
// for segments deleted by retention. Every record is also a leaf of an RFC 6962
// Merkle tree, to which manifests and C2SP signed-note checkpoints commit, and
// the signing key changes every epoch, the old one erased (forward-secure
// signing).
//
// The Writer appends, seals and signs checkpoints (the archive exporter drives
// it); Verify and VerifyArchive check an archive against one or more public
// keys and saved checkpoints; Writer.CheckWitness checks a checkpoint a
// device kept against the archive it writes; Prove and CheckProof make and
// check inclusion proofs; Query scans it. The on-disk format is specified in
// exporters/archiveexporter/README.md, the tree, checkpoints and epoch keys in
// this package's README.md.
package archive
