// Package fleetmetadataprocessor provides the fleet_metadata processor. In
// agent mode it stamps each resource with the device's identity and
// description; in gateway mode it replaces the device's claims with the
// identity proven by its client certificate.
//
//go:generate mdatagen metadata.yaml
package fleetmetadataprocessor
