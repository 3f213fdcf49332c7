// Package fleetcontrolextension provides the gateway's fleet_control
// extension: an OpAMP server for the fleet's agents on the gateway's mutual
// TLS admin listener, the fleet registry of every device's health, signed
// remote configuration with staged rollouts, and the admin API and fleet
// page for operators on the same listener.
//
//go:generate mdatagen metadata.yaml
package fleetcontrolextension
