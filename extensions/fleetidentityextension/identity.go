package fleetidentityextension

import (
	"go.opentelemetry.io/collector/client"

	"github.com/fleetlog/fleetlog/internal/fleetattr"
	"github.com/fleetlog/fleetlog/internal/pki"
)

// identity is the client.AuthData of an authenticated device: its ID and,
// when the certificate names them, its fleet and site.
type identity pki.DeviceIdentity

var _ client.AuthData = identity{}

// GetAttribute returns the string value of device.id, fleet.name or
// fleet.site, or nil when the certificate does not name it.
func (id identity) GetAttribute(name string) any {
	var v string
	switch name {
	case fleetattr.DeviceID:
		v = id.DeviceID
	case fleetattr.FleetName:
		v = id.Fleet
	case fleetattr.FleetSite:
		v = id.Site
	}
	if v == "" {
		return nil
	}
	return v
}

// GetAttributeNames lists the attributes that have a value.
func (id identity) GetAttributeNames() []string {
	names := make([]string, 0, 3)
	for _, n := range []string{fleetattr.DeviceID, fleetattr.FleetName, fleetattr.FleetSite} {
		if id.GetAttribute(n) != nil {
			names = append(names, n)
		}
	}
	return names
}
