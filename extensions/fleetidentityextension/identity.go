package fleetidentityextension

import (
	"go.opentelemetry.io/collector/client"

	"github.com/fleetlog/fleetlog/internal/fleetattr"
	"github.com/fleetlog/fleetlog/internal/pki"
)

// identity is the client.AuthData of an authenticated device: its ID and,
// when the certificate names them, its fleet and site. It is made once per
// client certificate (see certIdentity) and handed out as a pointer, its
// values boxed once: GetAttribute is asked for them on every batch.
type identity struct {
	pki.DeviceIdentity
	device, fleet, site any // nil when the certificate does not name it
}

var _ client.AuthData = (*identity)(nil)

func newIdentity(id pki.DeviceIdentity) *identity {
	box := func(s string) any {
		if s == "" {
			return nil
		}
		return s
	}
	return &identity{DeviceIdentity: id, device: box(id.DeviceID), fleet: box(id.Fleet), site: box(id.Site)}
}

// GetAttribute returns the string value of device.id, fleet.name or
// fleet.site, or nil when the certificate does not name it.
func (id *identity) GetAttribute(name string) any {
	switch name {
	case fleetattr.DeviceID:
		return id.device
	case fleetattr.FleetName:
		return id.fleet
	case fleetattr.FleetSite:
		return id.site
	}
	return nil
}

// GetAttributeNames lists the attributes that have a value.
func (id *identity) GetAttributeNames() []string {
	names := make([]string, 0, 3)
	for _, n := range []string{fleetattr.DeviceID, fleetattr.FleetName, fleetattr.FleetSite} {
		if id.GetAttribute(n) != nil {
			names = append(names, n)
		}
	}
	return names
}
