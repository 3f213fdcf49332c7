// Package fleetagentextension provides the fleet_agent extension, the agent's
// side of fleetlog's control plane. It is an OpAMP client (plain HTTP over
// mutual TLS) that reports the agent's health and status to the gateway's
// fleet_control extension, on change and at a heartbeat, and takes signed
// remote configuration fragments: it verifies them with the fleet's config
// key, checks them against the key policy and the merged configuration
// against the binary's own validation, has the `fleet` confmap provider
// serve them, and confirms or rolls them back by itself.
//
//go:generate mdatagen metadata.yaml
package fleetagentextension
