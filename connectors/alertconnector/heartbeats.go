package alertconnector // import "github.com/fleetlog/fleetlog/connectors/alertconnector"

import (
	"errors"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/fleetlog/fleetlog/internal/alert"
	"github.com/fleetlog/fleetlog/internal/fleetproto"
)

// ErrNoHeartbeats is logged when absence rules count heartbeats on a
// gateway without the fleet registry: they never fire there.
var ErrNoHeartbeats = errors.New("an absence rule counts heartbeats ('source: heartbeats'), but the gateway runs no fleet_control extension")

// heartbeats is the fleet registry as the engine's presence: devices and
// their last report. The registry learns of devices itself, so Seen does
// nothing.
type heartbeats struct{ src fleetproto.HeartbeatSource }

func (heartbeats) Seen(alert.Identity, time.Time) {}

func (h heartbeats) Range(fn func(alert.Identity, time.Time) bool) {
	h.src.RangeHeartbeats(func(device, fleet, site string, last time.Time) bool {
		return fn(alert.Identity{Device: device, Fleet: fleet, Site: site}, last)
	})
}

// heartbeatSource returns the first extension (by ID) that knows devices'
// heartbeats, or nil.
func heartbeatSource(host component.Host) fleetproto.HeartbeatSource {
	src, _ := fleetproto.Extension[fleetproto.HeartbeatSource](host)
	return src
}

// witnessFindingSource returns the first extension (by ID) that keeps the
// archive's witness findings, or nil.
func witnessFindingSource(host component.Host) fleetproto.WitnessFindingSource {
	src, _ := fleetproto.Extension[fleetproto.WitnessFindingSource](host)
	return src
}

// witnessRecords turns witness findings into records for the engine: the
// device's identity, the finding's time, severity ERROR, the detail as body
// and fleetproto.WitnessProblemAttribute, which the shipped rule
// archive_witness_inconsistent matches. They are Derived: a finding is not
// the device being seen.
func witnessRecords(findings []fleetproto.WitnessFinding) func(yield func(*alert.Record) bool) {
	return func(yield func(*alert.Record) bool) {
		res := pcommon.NewMap()
		for _, f := range findings {
			attrs := pcommon.NewMap()
			attrs.PutStr(fleetproto.WitnessProblemAttribute, f.Problem)
			r := &alert.Record{Time: f.At, Severity: plog.SeverityNumberError, Body: f.Detail,
				Attrs: &alert.PdataAttrs{Record: attrs, Resource: res}, Identity: alert.Identity{Device: f.Device},
				IdentityKnown: true, Derived: true}
			if !yield(r) {
				return
			}
		}
	}
}
