package fleetproto

import (
	"encoding/json"
	"fmt"
	"time"
)

// StatusCapability is the OpAMP custom capability under which an agent sends
// its Status report, and StatusMessageType the type of that custom message.
const (
	StatusCapability  = "io.fleetlog.status"
	StatusMessageType = "status.v1"
)

// Status is what an agent reports about itself, on change and at every
// heartbeat. Every field is optional: an agent fills what it knows, and the
// gateway treats a missing part as unknown, never as zero.
type Status struct {
	// AgentTime is the agent's wall clock when it built the report; the
	// gateway derives the device's clock offset from it.
	AgentTime time.Time `json:"agent_time"`
	// Version and Build of the agent binary.
	Version string `json:"version,omitempty"`
	Build   string `json:"build,omitempty"`
	// ConfigHash is the hex SHA-256 of the effective configuration.
	ConfigHash string `json:"config_hash,omitempty"`
	// RemoteConfig is the outcome of the newest remote configuration.
	RemoteConfig *RemoteConfigState `json:"remote_config,omitempty"`
	Spool        *SpoolStatus       `json:"spool,omitempty"`
	// LastAck is when the gateway last acknowledged a batch of records.
	LastAck time.Time    `json:"last_ack,omitzero"`
	Files   []FileStatus `json:"files,omitempty"`
	Host    *HostStatus  `json:"host,omitempty"`
	// Checkpoints are the newest archive checkpoints the agent keeps as a
	// witness, in their signed-note text form, newest last.
	Checkpoints []string `json:"checkpoints,omitempty"`
}

// SpoolStatus describes the agent's disk spool.
type SpoolStatus struct {
	Bytes            int64   `json:"bytes"`
	MaxBytes         int64   `json:"max_bytes,omitempty"`
	Records          int64   `json:"records"`
	OldestAgeSeconds float64 `json:"oldest_age_seconds"`
	Evicted          int64   `json:"evicted"`
	Dropped          int64   `json:"dropped"`
	// FreeBytes is the free space of the spool's filesystem.
	FreeBytes int64 `json:"free_bytes,omitempty"`
}

// FileStatus is one tailed file and how far behind the agent is in it.
type FileStatus struct {
	Path     string `json:"path"`
	Size     int64  `json:"size"`
	Offset   int64  `json:"offset"`
	LagBytes int64  `json:"lag_bytes"`
}

// HostStatus holds the device's host facts.
type HostStatus struct {
	OS            string  `json:"os,omitempty"`
	Arch          string  `json:"arch,omitempty"`
	Hostname      string  `json:"hostname,omitempty"`
	UptimeSeconds float64 `json:"uptime_seconds,omitempty"`
}

// RemoteConfigState is the agent's account of the newest remote
// configuration it was sent.
type RemoteConfigState struct {
	// Serial of the assignment the state is about.
	Serial uint64 `json:"serial"`
	// State is one of the RemoteConfig* constants.
	State string `json:"state"`
	// Error says why a configuration was refused or rolled back.
	Error string `json:"error,omitempty"`
	// AppliedSerial is the serial of the configuration now running (0: the
	// local configuration only).
	AppliedSerial uint64 `json:"applied_serial"`
}

// States of a remote configuration on an agent.
const (
	RemoteConfigApplying   = "applying"
	RemoteConfigApplied    = "applied"
	RemoteConfigRefused    = "refused"     // bad signature, key policy, validation
	RemoteConfigRolledBack = "rolled_back" // failed to start or stopped delivery
)

// MarshalStatus encodes s as the payload of a status custom message.
func MarshalStatus(s *Status) ([]byte, error) { return json.Marshal(s) }

// UnmarshalStatus decodes a status custom message's payload. It never
// trusts the payload: an undecodable one is an error, not a zero Status.
func UnmarshalStatus(b []byte) (*Status, error) {
	var s Status
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("decode status report: %w", err)
	}
	return &s, nil
}
