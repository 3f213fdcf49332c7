package rollout

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/fleetlog/fleetlog/internal/fleetapi"
)

func TestSelects(t *testing.T) {
	t.Parallel()
	atm := Target{ID: "atm-1", Fleet: "atms", Site: "north", Labels: map[string]string{"ring": "canary"}}
	tests := []struct {
		name string
		sel  fleetapi.Selector
		want bool
	}{
		{name: "empty selects nothing", sel: fleetapi.Selector{}},
		{name: "fleet", sel: fleetapi.Selector{Fleet: "atms"}, want: true},
		{name: "other fleet", sel: fleetapi.Selector{Fleet: "kiosks"}},
		{name: "fleet and site", sel: fleetapi.Selector{Fleet: "atms", Site: "north"}, want: true},
		{name: "other site", sel: fleetapi.Selector{Fleet: "atms", Site: "south"}},
		{name: "label", sel: fleetapi.Selector{Labels: map[string]string{"ring": "canary"}}, want: true},
		{name: "other label", sel: fleetapi.Selector{Labels: map[string]string{"ring": "main"}}},
		{name: "device list", sel: fleetapi.Selector{Devices: []string{"atm-2", "atm-1"}}, want: true},
		{name: "not in device list", sel: fleetapi.Selector{Fleet: "atms", Devices: []string{"atm-2"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			assert.Equal(t, tt.want, Selects(tt.sel, atm))
		})
	}
}

func TestFirstStagePercentIsStable(t *testing.T) {
	t.Parallel()
	a := &fleetapi.AssignmentSpec{Name: "glob", Percent: 10, Canary: []string{"dev-x"}}
	n := 0
	for i := range 10000 {
		d := fmt.Sprintf("dev-%d", i)
		in := InFirstStage(a, d)
		assert.Equal(t, in, InFirstStage(a, d))
		if in {
			n++
		}
	}
	assert.InDelta(t, 1000, n, 150, "about 10%% go first")
	assert.True(t, InFirstStage(a, "dev-x"), "a canary always goes first")
	assert.False(t, InFirstStage(&fleetapi.AssignmentSpec{Name: "glob"}, "dev-1"))
}

func TestAdvance(t *testing.T) {
	t.Parallel()
	o := func(outcome string, silent bool) Outcome { return Outcome{Outcome: outcome, Silent: silent} }
	tests := []struct {
		name      string
		stage     string
		outcomes  []Outcome
		selected  int
		rate      float64
		wantStage string
		wantState string
	}{
		{name: "first stage waits", stage: fleetapi.StageFirst, outcomes: []Outcome{o(fleetapi.OutcomeApplied, false), o(fleetapi.OutcomePending, false)}, selected: 10, wantStage: fleetapi.StageFirst, wantState: fleetapi.RolloutInProgress},
		{name: "first stage done", stage: fleetapi.StageFirst, outcomes: []Outcome{o(fleetapi.OutcomeApplied, false), o(fleetapi.OutcomeApplied, false)}, selected: 10, wantStage: fleetapi.StageAll, wantState: fleetapi.RolloutInProgress},
		{name: "a silent canary does not hold it up", stage: fleetapi.StageFirst, outcomes: []Outcome{o(fleetapi.OutcomeApplied, false), o(fleetapi.OutcomePending, true)}, selected: 10, wantStage: fleetapi.StageAll, wantState: fleetapi.RolloutInProgress},
		{name: "failure halts", stage: fleetapi.StageFirst, outcomes: []Outcome{o(fleetapi.OutcomeApplied, false), o(fleetapi.OutcomeFailed, false)}, selected: 10, rate: 0.2, wantStage: fleetapi.StageFirst, wantState: fleetapi.RolloutHalted},
		{name: "failure within the bound", stage: fleetapi.StageAll, outcomes: []Outcome{o(fleetapi.OutcomeApplied, false), o(fleetapi.OutcomeApplied, false), o(fleetapi.OutcomeApplied, false), o(fleetapi.OutcomeFailed, false)}, selected: 5, rate: 0.3, wantStage: fleetapi.StageAll, wantState: fleetapi.RolloutInProgress},
		{name: "complete", stage: fleetapi.StageAll, outcomes: []Outcome{o(fleetapi.OutcomeApplied, false), o(fleetapi.OutcomeApplied, false)}, selected: 2, wantStage: fleetapi.StageAll, wantState: fleetapi.RolloutComplete},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			a := &fleetapi.Assignment{AssignmentSpec: fleetapi.AssignmentSpec{Name: "x", Percent: 10, MaxFailureRate: tt.rate}, Stage: tt.stage, State: fleetapi.RolloutInProgress}
			Advance(a, tt.outcomes, tt.selected)
			assert.Equal(t, tt.wantStage, a.Stage)
			assert.Equal(t, tt.wantState, a.State)
			if tt.wantState == fleetapi.RolloutHalted {
				assert.Contains(t, a.HaltReason, "1 of 2 devices tried failed")
				assert.False(t, Released(a, "dev-1"))
			}
		})
	}
}
