package fleetcontrolextension

import (
	"crypto/sha256"
	"sync"
	"sync/atomic"

	"github.com/open-telemetry/opamp-go/protobufs"

	"github.com/fleetlog/fleetlog/internal/fleetproto"
)

// maxWitnessFindings bounds the findings kept for the alert connector; the
// oldest go first.
const maxWitnessFindings = 64

var (
	_ fleetproto.CheckpointWitnesses  = (*fleetControl)(nil)
	_ fleetproto.WitnessFindingSource = (*fleetControl)(nil)
	_ fleetproto.CheckpointSource     = (*fleetControl)(nil)
)

// witnesses hands the archive's newest checkpoint to agents and passes the
// checkpoints they report to the archive's check.
type witnesses struct {
	newest atomic.Pointer[[]byte]
	check  atomic.Pointer[func(device string, notes []string)]

	mu sync.Mutex
	// reported is the hash of each device's checkpoints of its previous
	// report, so that check sees each set once; sent the newest note each
	// device was given or reported.
	reported map[string][sha256.Size]byte
	sent     map[string][sha256.Size]byte
	findings []fleetproto.WitnessFinding
}

func newWitnesses() *witnesses {
	return &witnesses{reported: map[string][sha256.Size]byte{}, sent: map[string][sha256.Size]byte{}}
}

// RangeWitnessed implements fleetproto.CheckpointWitnesses.
func (fc *fleetControl) RangeWitnessed(fn func(device string, notes []string) bool) bool {
	reg := fc.live.Load()
	if reg == nil {
		return false
	}
	reg.RangeWitnessed(fn)
	return true
}

// PublishCheckpoint implements fleetproto.CheckpointWitnesses. A note above
// fleetproto.MaxCheckpointBytes is not published.
func (fc *fleetControl) PublishCheckpoint(note []byte) {
	if len(note) == 0 || len(note) > fleetproto.MaxCheckpointBytes {
		return
	}
	n := append([]byte(nil), note...)
	fc.witness.newest.Store(&n)
}

// NewestCheckpoint implements fleetproto.CheckpointSource.
func (fc *fleetControl) NewestCheckpoint() []byte {
	if n := fc.witness.newest.Load(); n != nil {
		return *n
	}
	return nil
}

// SetWitnessCheck implements fleetproto.CheckpointWitnesses.
func (fc *fleetControl) SetWitnessCheck(check func(device string, notes []string)) {
	if check == nil {
		fc.witness.check.Store(nil)
		return
	}
	fc.witness.check.Store(&check)
}

// RecordWitnessFinding implements fleetproto.CheckpointWitnesses.
func (fc *fleetControl) RecordWitnessFinding(f fleetproto.WitnessFinding) {
	w := fc.witness
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.findings) == maxWitnessFindings {
		w.findings = w.findings[1:]
	}
	w.findings = append(w.findings, f)
}

// TakeWitnessFindings implements fleetproto.WitnessFindingSource.
func (fc *fleetControl) TakeWitnessFindings() []fleetproto.WitnessFinding {
	w := fc.witness
	w.mu.Lock()
	defer w.mu.Unlock()
	out := w.findings
	w.findings = nil
	return out
}

// boundCheckpoints keeps the newest fleetproto.WitnessCheckpoints notes of
// a report, each at most fleetproto.MaxCheckpointBytes: a device cannot grow
// the registry with them.
func boundCheckpoints(s *fleetproto.Status) {
	kept := s.Checkpoints[:0]
	for _, n := range s.Checkpoints {
		if n != "" && len(n) <= fleetproto.MaxCheckpointBytes {
			kept = append(kept, n)
		}
	}
	if len(kept) > fleetproto.WitnessCheckpoints {
		kept = kept[len(kept)-fleetproto.WitnessCheckpoints:]
	}
	s.Checkpoints = kept
}

// witnessReport runs the archive's check on a device's checkpoints when they
// changed since its previous report, and returns the checkpoint message for
// the reply when the device does not hold the newest checkpoint yet.
func (fc *fleetControl) witnessReport(device string, s *fleetproto.Status) *protobufs.CustomMessage {
	w := fc.witness
	if s != nil {
		h := sha256.New()
		for _, n := range s.Checkpoints {
			h.Write([]byte(n))
			h.Write([]byte{0})
		}
		var sum [sha256.Size]byte
		h.Sum(sum[:0])
		w.mu.Lock()
		changed := w.reported[device] != sum
		w.reported[device] = sum
		if len(s.Checkpoints) > 0 {
			w.sent[device] = sha256.Sum256([]byte(s.Checkpoints[len(s.Checkpoints)-1]))
		}
		w.mu.Unlock()
		if check := w.check.Load(); changed && check != nil && len(s.Checkpoints) > 0 {
			(*check)(device, append([]string(nil), s.Checkpoints...))
		}
	}
	newest := w.newest.Load()
	if newest == nil {
		return nil
	}
	sum := sha256.Sum256(*newest)
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.sent[device] == sum {
		return nil
	}
	w.sent[device] = sum
	return &protobufs.CustomMessage{
		Capability: fleetproto.CheckpointCapability,
		Type:       fleetproto.CheckpointMessageType,
		Data:       *newest,
	}
}
