package fleetproto

import "github.com/fleetlog/fleetlog/internal/fleetattr"

// Attributes of the OpAMP AgentDescription the gateway reads. An agent puts
// its device ID among the identifying attributes and its fleet, site and
// labels among the non-identifying ones. They are the device's claims: the
// gateway keys the device by its certificate, compares the claimed ID,
// fleet and site with the certificate's, and marks a device whose claims
// differ identity_mismatch. Labels are taken as claimed (they select remote
// configuration, which is still signed for the certificate's device only).
const (
	// DescriptionDeviceID is the identifying attribute with the device ID.
	DescriptionDeviceID = fleetattr.DeviceID
	// DescriptionFleet and DescriptionSite are non-identifying attributes.
	DescriptionFleet = fleetattr.FleetName
	DescriptionSite  = fleetattr.FleetSite
	// DescriptionLabelPrefix prefixes a non-identifying attribute per label:
	// fleet.label.ring = canary.
	DescriptionLabelPrefix = fleetattr.LabelPrefix
	// DescriptionVersion is the identifying attribute with the agent's
	// version (OpenTelemetry's service.version).
	DescriptionVersion = "service.version"
)

// IdentityMismatchRecorder is implemented by the gateway's fleet_control
// extension. The gateway's fleet_metadata processor finds it among the
// host's extensions and tells it, once per batch, about a device whose
// records claim another device ID than its certificate, so that the fleet
// registry shows the device identity_mismatch even when its OpAMP
// description does not lie. deviceID, fleet and site are the certificate's.
type IdentityMismatchRecorder interface {
	RecordIdentityMismatch(deviceID, fleet, site, claimedDeviceID string)
}
