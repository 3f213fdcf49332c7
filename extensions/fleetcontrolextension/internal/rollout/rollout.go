// Package rollout decides which devices an assignment reaches and when: the
// selector, the first stage (canary devices and a stable percentage of the
// selected ones), the promotion to every selected device, and the halt when
// too many of the devices tried failed.
package rollout

import (
	"fmt"
	"hash/fnv"
	"slices"

	"github.com/fleetlog/fleetlog/internal/fleetapi"
)

// Target is what the selector looks at: the certificate's identity and the
// device's labels.
type Target struct {
	ID, Fleet, Site string
	Labels          map[string]string
}

// Selects reports whether sel selects t. An empty selector selects nothing.
func Selects(sel fleetapi.Selector, t Target) bool {
	if sel.Empty() {
		return false
	}
	if sel.Fleet != "" && sel.Fleet != t.Fleet {
		return false
	}
	if sel.Site != "" && sel.Site != t.Site {
		return false
	}
	for k, v := range sel.Labels {
		if t.Labels[k] != v {
			return false
		}
	}
	if len(sel.Devices) > 0 && !slices.Contains(sel.Devices, t.ID) {
		return false
	}
	return true
}

// Staged reports whether the assignment has a first stage.
func Staged(a *fleetapi.AssignmentSpec) bool {
	return len(a.Canary) > 0 || a.Percent > 0
}

// InFirstStage reports whether a selected device belongs to the first stage:
// it is a canary, or falls in the percentage. The percentage is a stable
// hash of assignment and device, so the same devices go first every time
// and a device never leaves the first stage.
func InFirstStage(a *fleetapi.AssignmentSpec, device string) bool {
	if slices.Contains(a.Canary, device) {
		return true
	}
	if a.Percent <= 0 {
		return false
	}
	h := fnv.New32a()
	h.Write([]byte(a.Name))
	h.Write([]byte{0})
	h.Write([]byte(device))
	return int(h.Sum32()%100) < a.Percent
}

// Released reports whether the assignment may be sent to a selected device
// now, given its stage and state. A halted rollout reaches no new device.
func Released(a *fleetapi.Assignment, device string) bool {
	if a.State == fleetapi.RolloutHalted {
		return false
	}
	return a.Stage == fleetapi.StageAll || !Staged(&a.AssignmentSpec) || InFirstStage(&a.AssignmentSpec, device)
}

// Outcome is one targeted device's outcome, and whether the device is silent
// (a silent device's pending outcome does not hold up promotion).
type Outcome struct {
	Device  string
	Outcome string
	Silent  bool
}

// Advance moves the rollout on from the outcomes of the devices targeted so
// far and returns whether its stage or state changed. It halts when
// failed/tried passes MaxFailureRate, promotes the first stage once each of
// its devices that still reports has an outcome, and completes once every
// selected device applied it or failed.
func Advance(a *fleetapi.Assignment, outcomes []Outcome, selected int) bool {
	if a.State == fleetapi.RolloutHalted {
		return false
	}
	var applied, failed, waiting int
	for _, o := range outcomes {
		switch o.Outcome {
		case fleetapi.OutcomeApplied:
			applied++
		case fleetapi.OutcomeFailed:
			failed++
		default:
			if !o.Silent {
				waiting++
			}
		}
	}
	if tried := applied + failed; tried > 0 && float64(failed)/float64(tried) > a.MaxFailureRate {
		a.State = fleetapi.RolloutHalted
		a.HaltReason = fmt.Sprintf("%d of %d devices tried failed, above max_failure_rate %g", failed, tried, a.MaxFailureRate)
		return true
	}
	changed := false
	if a.Stage == fleetapi.StageFirst && waiting == 0 {
		a.Stage = fleetapi.StageAll
		changed = true
	}
	if a.Stage == fleetapi.StageAll && a.State == fleetapi.RolloutInProgress && applied+failed >= selected && selected > 0 {
		a.State = fleetapi.RolloutComplete
		changed = true
	}
	return changed
}
