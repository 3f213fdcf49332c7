package fleetproto

import "time"

// The archive's witnesses. The gateway's archive signs checkpoints (C2SP
// signed notes over the Merkle tree of its records); fleet_control hands the
// newest one to every agent in a custom message of the reply to the agent's
// report, and each agent keeps the last WitnessCheckpoints it was given and
// returns them in Status.Checkpoints. The gateway checks the archive against
// the checkpoints devices hold before the archive takes records.
const (
	// CheckpointCapability is the OpAMP custom capability both sides
	// declare for checkpoints, and CheckpointMessageType the type of the
	// gateway's message; its data is one signed note.
	CheckpointCapability  = "io.fleetlog.checkpoint"
	CheckpointMessageType = "checkpoint.v1"
	// MaxCheckpointBytes bounds one checkpoint note, on both sides: a real
	// one is about 300 bytes.
	MaxCheckpointBytes = 1024
	// WitnessCheckpoints is how many checkpoints an agent keeps and
	// reports; the gateway reads no more than that of a report.
	WitnessCheckpoints = 5
	// WitnessFile is the file in the agent's directory (fleet_agent's
	// `directory`) that holds them: the signed notes one after the other,
	// oldest first, as `fleetlogctl archive verify --checkpoint` reads them.
	WitnessFile = "checkpoints.note"
)

// CheckpointWitnesses is implemented by the gateway's fleet_control
// extension. The archive exporter finds it among the host's extensions in
// Start, checks the archive against every device's checkpoints, publishes
// each checkpoint the archive signs, and installs the check that the
// checkpoints of every later report go through.
type CheckpointWitnesses interface {
	// RangeWitnessed calls fn for every device the registry knows with the
	// checkpoints of its newest report (newest last), until fn returns
	// false; denied devices are no witnesses. It returns false when the
	// registry is not open (yet): then it knows no device.
	RangeWitnessed(fn func(device string, notes []string) bool) bool
	// PublishCheckpoint makes note the checkpoint agents are given.
	PublishCheckpoint(note []byte)
	// SetWitnessCheck installs check, called with the device and its
	// checkpoints whenever a report brings checkpoints the device did not
	// report before; nil removes it. check must return quickly.
	SetWitnessCheck(check func(device string, notes []string))
	// RecordWitnessFinding keeps an inconsistency found against a device's
	// checkpoint for the alert connector (WitnessFindingSource).
	RecordWitnessFinding(f WitnessFinding)
}

// WitnessFinding is an inconsistency of the archive with a checkpoint a
// device reported.
type WitnessFinding struct {
	Device string
	// Problem is the archive's diagnosis: "rolled back" or "inconsistent
	// with a checkpoint".
	Problem string
	Detail  string
	At      time.Time
}

// WitnessFindingSource is implemented by the gateway's fleet_control
// extension. The alert connector takes the findings at every tick and
// evaluates each as a record of the device with the attribute
// WitnessProblemAttribute (the shipped rule archive_witness_inconsistent
// matches it) and the detail as its body.
type WitnessFindingSource interface {
	TakeWitnessFindings() []WitnessFinding
}

// CheckpointSource is implemented by the gateway's fleet_control extension:
// the newest checkpoint the archive published (PublishCheckpoint), or nil.
// The alert connector's syslog output sends each new one to the SIEM
// (`notify::syslog::checkpoints`).
type CheckpointSource interface {
	NewestCheckpoint() []byte
}

// WitnessProblemAttribute is the attribute of a witness finding's record.
const WitnessProblemAttribute = "fleet.archive.witness.problem"
