// Package fleetproto is the contract of fleetlog's control plane between the
// agent's fleet_agent extension and the gateway's fleet_control extension,
// both of which speak OpAMP (github.com/open-telemetry/opamp-go). OpAMP
// carries the standard parts (agent description, component health,
// effective config, remote config and its status); this package owns what
// fleetlog adds on top, so that neither side repeats a constant of the other:
//
//   - the custom capability and message type of the agent's status report
//     (spool, deliveries, file inputs, host facts) and its JSON encoding;
//   - the signed envelope a remote configuration fragment travels in, with
//     the Ed25519 signature over a domain-separated payload, and the file
//     names of the fleet's config signing key;
//   - the key policy every fragment is checked against on both tiers: a
//     fragment may only set allowed configuration keys, and never the keys
//     that would turn off mutual TLS, change the gateway address or take pii
//     out of the pipeline;
//   - the archive's witnesses: the custom capability and message type of the
//     checkpoint the gateway hands agents, its bounds, the agent's file of
//     the checkpoints it keeps, and the interfaces through which the
//     gateway's archive exporter and alert connector reach fleet_control.
package fleetproto
