// Package edgeruntimeextension provides the edge_runtime extension: it sizes
// the Go runtime for small devices (GOMAXPROCS, GOMEMLIMIT) from the config,
// and once every pipeline has started it gives back the memory that only
// start-up used: the freed heap, and the process's mappings of read-only
// binary pages that running code no longer touches.
//
//go:generate mdatagen metadata.yaml
package edgeruntimeextension
