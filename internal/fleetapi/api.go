// Package fleetapi is the JSON contract of the gateway's admin API, served by
// the fleet_control extension and used by `fleetlogctl fleet`: the devices
// of the fleet registry and the remote configuration assignments.
package fleetapi

import (
	"time"

	"github.com/fleetlog/fleetlog/internal/fleetproto"
)

// Paths of the admin API, all under the admin listener.
const (
	DevicesPath     = "/api/v1/devices"
	AssignmentsPath = "/api/v1/assignments"
)

// States of a device in the registry, from the most to the least serious.
const (
	// StateDenied: the device is on the deny list; its connections are refused.
	StateDenied = "denied"
	// StateIdentityMismatch: the device claimed an identity (device, fleet or
	// site) other than its certificate's.
	StateIdentityMismatch = "identity_mismatch"
	// StateSilent: no report for longer than the configured silent_after.
	StateSilent = "silent"
	// StateDegraded: it reports, and a report shows trouble (Reasons).
	StateDegraded = "degraded"
	// StateHealthy: it reports and shows no trouble.
	StateHealthy = "healthy"
)

// States lists every device state, most serious first.
var States = []string{StateDenied, StateIdentityMismatch, StateSilent, StateDegraded, StateHealthy}

// Device is one device of the registry. Identity (ID, Fleet, Site) comes from
// its certificate; everything under Claimed, Status and the OpAMP fields is
// what the device reported.
type Device struct {
	ID    string `json:"id"`
	Fleet string `json:"fleet,omitempty"`
	Site  string `json:"site,omitempty"`
	// Labels are the labels the device describes itself with.
	Labels map[string]string `json:"labels,omitempty"`

	State string `json:"state"`
	// Reasons say why the device is in its state (degraded, mismatch).
	Reasons []string `json:"reasons,omitempty"`

	FirstSeen time.Time `json:"first_seen"`
	LastSeen  time.Time `json:"last_seen"`
	// Connected is true while the device holds a WebSocket connection.
	Connected bool  `json:"connected"`
	Reports   int64 `json:"reports"`

	// Claimed is the identity the agent description claims.
	Claimed *Claims `json:"claimed,omitempty"`
	// Description holds the agent description's attributes (identifying
	// and non-identifying, string values), as the agent sent them.
	Description map[string]string `json:"description,omitempty"`
	Version     string            `json:"version,omitempty"`
	// ClockOffsetSeconds is the agent's clock minus the gateway's, from the
	// newest report.
	ClockOffsetSeconds float64 `json:"clock_offset_seconds"`

	// Health is the agent's OpAMP component health.
	Health *Health `json:"health,omitempty"`
	// EffectiveConfigHash is the hex SHA-256 of the agent's effective
	// configuration as it reported it.
	EffectiveConfigHash string `json:"effective_config_hash,omitempty"`
	// RemoteConfigStatus is the agent's OpAMP remote config status.
	RemoteConfigStatus *RemoteConfigStatus `json:"remote_config_status,omitempty"`
	// Status is the newest fleetlog status report.
	Status *fleetproto.Status `json:"status,omitempty"`

	// Assignment is the remote configuration the gateway holds for the
	// device and its outcome.
	Assignment *DeviceAssignment `json:"assignment,omitempty"`
}

// Claims is the identity an agent claims in its OpAMP agent description.
type Claims struct {
	DeviceID string `json:"device_id,omitempty"`
	Fleet    string `json:"fleet,omitempty"`
	Site     string `json:"site,omitempty"`
}

// Health is an agent's OpAMP component health, top level and per component.
type Health struct {
	Healthy    bool              `json:"healthy"`
	Status     string            `json:"status,omitempty"`
	LastError  string            `json:"last_error,omitempty"`
	Components map[string]Health `json:"components,omitempty"`
}

// RemoteConfigStatus is an agent's OpAMP RemoteConfigStatus.
type RemoteConfigStatus struct {
	Hash   string `json:"hash,omitempty"`
	Status string `json:"status"`
	Error  string `json:"error,omitempty"`
}

// Outcomes of an assignment on one device.
const (
	OutcomePending = "pending"
	OutcomeApplied = "applied"
	OutcomeFailed  = "failed"
)

// DeviceAssignment is the remote configuration the gateway sends a device.
// An empty Name is the return to the device's local configuration after its
// assignment was deleted or no longer selects it.
type DeviceAssignment struct {
	Name    string `json:"name"`
	Serial  uint64 `json:"serial"`
	Outcome string `json:"outcome"`
	Error   string `json:"error,omitempty"`
}

// Selector chooses the devices of an assignment. Every field that is set must
// match; an empty selector matches no device (select the whole fleet by its
// fleet name).
type Selector struct {
	Fleet   string            `json:"fleet,omitempty"`
	Site    string            `json:"site,omitempty"`
	Labels  map[string]string `json:"labels,omitempty"`
	Devices []string          `json:"devices,omitempty"`
}

// Empty reports whether the selector sets nothing.
func (s Selector) Empty() bool {
	return s.Fleet == "" && s.Site == "" && len(s.Labels) == 0 && len(s.Devices) == 0
}

// AssignmentSpec is what an operator sets: a fragment for a selector, with a
// staged rollout.
type AssignmentSpec struct {
	Name     string   `json:"name"`
	Fragment string   `json:"fragment"`
	Selector Selector `json:"selector"`
	// Canary devices and a Percent of the selected devices get the fragment
	// first; the rest only after every one of them that reports has applied
	// it. Neither set: every selected device at once.
	Canary  []string `json:"canary,omitempty"`
	Percent int      `json:"percent,omitempty"`
	// MaxFailureRate halts the rollout when failed / tried among the devices
	// that reported an outcome passes it (0 to 1).
	MaxFailureRate float64 `json:"max_failure_rate"`
}

// Rollout stages and states of an assignment.
const (
	StageFirst = "first" // canary and percentage only
	StageAll   = "all"

	RolloutInProgress = "in_progress"
	RolloutComplete   = "complete"
	RolloutHalted     = "halted"
)

// Assignment is a stored assignment with its rollout.
type Assignment struct {
	AssignmentSpec
	// Serial orders assignments: the newest that selects a device wins.
	Serial    uint64    `json:"serial"`
	CreatedAt time.Time `json:"created_at"`
	// Stage is StageFirst until the first stage succeeded.
	Stage string `json:"stage"`
	// State is one of the Rollout* constants.
	State string `json:"state"`
	// HaltReason says why a halted rollout stopped.
	HaltReason string `json:"halt_reason,omitempty"`
	Counts     Counts `json:"counts"`
	// Devices holds each targeted device's outcome (in `config status`).
	Devices []DeviceOutcome `json:"devices,omitempty"`
}

// Counts summarises an assignment's rollout.
type Counts struct {
	// Selected devices match the selector; Targeted were sent it so far.
	Selected int `json:"selected"`
	Targeted int `json:"targeted"`
	Pending  int `json:"pending"`
	Applied  int `json:"applied"`
	Failed   int `json:"failed"`
}

// DeviceOutcome is one device's outcome of an assignment.
type DeviceOutcome struct {
	Device  string `json:"device"`
	Serial  uint64 `json:"serial"`
	Outcome string `json:"outcome"`
	Error   string `json:"error,omitempty"`
}

// Error is the body of every error response.
type Error struct {
	Error string `json:"error"`
}
