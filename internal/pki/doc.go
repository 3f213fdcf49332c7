// Package pki creates and issues the fleet's X.509 material: a fleet CA
// (ECDSA P-256), the gateway's server certificate, one client certificate per
// device and operator, and the Ed25519 key pairs that sign the gateway's
// archive and the remote configuration it sends to devices.
//
// The layout of a certificate directory D is:
//
//	D/ca/ca.pem, D/ca/ca-key.pem            fleet CA (keep the key offline in production)
//	D/gateway/{ca,cert,key}.pem              gateway server certificate
//	D/gateway/archive-key.pem                Ed25519 archive signing key (PKCS #8)
//	D/gateway/config-key.pem                 Ed25519 remote configuration signing key (PKCS #8)
//	D/archive-pub.pem                        Ed25519 archive verification key (PKIX)
//	D/config-pub.pem                         Ed25519 remote configuration verification key (PKIX)
//	D/devices/ID/{ca,cert,key}.pem           device client certificate
//	D/devices/ID/config-pub.pem              copy of D/config-pub.pem
//	D/operators/NAME/{ca,cert,key}.pem       operator client certificate (admin API)
//
// A device certificate names its device in the Subject CN and in the URI SAN
// urn:fleetlog:device:ID; fleet and site, when given, are URI SANs
// urn:fleetlog:fleet:F and urn:fleetlog:site:S and the Subject O and OU. An
// operator certificate names its operator in the URI SAN
// urn:fleetlog:operator:NAME and no device.
package pki
