// Package piiprocessor implements the pii processor: it finds personal data
// and secrets in log bodies and attributes with the detectors of
// internal/pii and masks, hashes or drops them.
//
//go:generate mdatagen metadata.yaml
package piiprocessor // import "github.com/fleetlog/fleetlog/processors/piiprocessor"
