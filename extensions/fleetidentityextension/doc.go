// Package fleetidentityextension provides the fleet_identity server
// authenticator. It binds every request to the device named by the client's
// verified mutual-TLS certificate, refuses devices on a deny list, and hands
// the identity to processors through client.Info.Auth.
//
//go:generate mdatagen metadata.yaml
package fleetidentityextension
