package fleetproto

import "time"

// StatusSource is implemented by a component that knows part of the agent's
// Status: the spool receiver fills Spool, LastAck and Files.
type StatusSource interface {
	// FleetStatus fills the parts of s the component knows. It is called
	// from the reporting goroutine, concurrently with the component's own
	// work, and must return quickly.
	FleetStatus(s *Status)
}

// StatusRegistry is implemented by the extension that reports the agent's
// status (fleet_agent). A component that is a StatusSource looks for it
// among host.GetExtensions() in Start, registers, and calls the returned
// function in Shutdown; once that function returned, the registry never
// calls the source again. Without such an extension nothing is reported and
// the component works as before.
type StatusRegistry interface {
	RegisterStatusSource(name string, src StatusSource) (unregister func())
}

// HeartbeatSource is implemented by the gateway's fleet_control extension:
// when each device last reported over the control plane. The alert
// connector's absence rules with `source: heartbeats` read it.
type HeartbeatSource interface {
	// RangeHeartbeats calls fn for every device the registry knows, with
	// the fleet and site of its certificate and its last report, until fn
	// returns false.
	RangeHeartbeats(fn func(device, fleet, site string, last time.Time) bool)
}
