package fleetproto

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
)

// CheckpointWitnesses is implemented by the gateway's fleet_control
// extension. The archive exporter finds it among the host's extensions in
// Start, checks the archive against every device's checkpoints, publishes
// each checkpoint the archive signs, and installs the check that the
// checkpoints of every later report go through.
type CheckpointWitnesses interface {
	// RangeWitnessed calls fn for every device the registry knows with the
	// checkpoints of its newest report (newest last), until fn returns
	// false. It knows nothing before the registry is open.
	RangeWitnessed(fn func(device string, notes []string) bool)
	// PublishCheckpoint makes note the checkpoint agents are given.
	PublishCheckpoint(note []byte)
	// SetWitnessCheck installs check, called with the device and its
	// checkpoints whenever a report brings checkpoints the device did not
	// report before; nil removes it. check must return quickly.
	SetWitnessCheck(check func(device string, notes []string))
}
