// Package fleetattr names the resource attributes and authentication
// attributes that fleetlog's components agree on.
package fleetattr

// Identity attributes. They are both resource attribute keys and the names
// under which the fleet_identity authenticator exposes a device's identity in
// client.Info.Auth.
const (
	DeviceID  = "device.id"
	FleetName = "fleet.name"
	FleetSite = "fleet.site"
)

// Device description attributes stamped by the agent.
const (
	FleetRegion           = "fleet.region"
	DeploymentEnvironment = "deployment.environment"
	DeviceModel           = "device.model"
	DeviceFirmwareVersion = "device.firmware.version"
	HostName              = "host.name"
	OSType                = "os.type"
	OSVersion             = "os.version"
	AgentVersion          = "fleetlog.agent.version"
	// LabelPrefix prefixes each configured label's key.
	LabelPrefix = "fleet.label."
)

// Attributes only the gateway may set. The gateway deletes whatever a device
// sent under these keys before it stamps its own. The fleet.claimed.* keys
// keep what a device claimed for an identity attribute its certificate
// overrode or does not name.
const (
	ClaimedDeviceID     = "fleet.claimed.device.id"
	ClaimedFleetName    = "fleet.claimed.fleet.name"
	ClaimedFleetSite    = "fleet.claimed.fleet.site"
	IdentityMismatch    = "fleet.identity.mismatch"
	GatewayID           = "fleet.gateway.id"
	GatewayReceivedTime = "fleet.gateway.received_time"
)
