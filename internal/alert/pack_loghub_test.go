package alert

import (
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fleetlog/fleetlog/internal/loghub"
)

// replay runs the whole pack over one loghub sample, each system one device,
// on the records' own clock, and counts alerts by rule and status.
func replay(t *testing.T, system string) (map[string]int, []Alert) {
	dir := loghub.Require(t)
	lines, err := loghub.Lines(dir, system)
	require.NoError(t, err)
	rules, err := Pack("all")
	require.NoError(t, err)
	e, err := NewEngine(rules)
	require.NoError(t, err)
	base := map[string]string{"device.id": system, "fleet.name": "loghub"}
	var all []Alert
	for _, l := range lines {
		r := ParseLine(l, 2026, base)
		require.False(t, r.Time.IsZero(), l)
		all = append(all, e.Observe(r.Time, one(&r))...)
		all = append(all, e.Tick(r.Time)...)
	}
	counts := map[string]int{}
	for _, a := range all {
		counts[a.Rule+"/"+string(a.Status)]++
	}
	var keys []string
	for k := range counts {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, " %s=%d", k, counts[k])
	}
	t.Logf("%s: %d lines, alerts:%s", system, len(lines), b.String())
	return counts, all
}

// TestPackOnOpenSSH: the OpenSSH sample is one day of a server under
// password guessing from a few addresses.
func TestPackOnOpenSSH(t *testing.T) {
	counts, all := replay(t, "OpenSSH")
	assert.Positive(t, counts["auth_brute_force/firing"])
	for _, a := range all {
		if a.Rule == "auth_brute_force" && a.Status == StatusFiring {
			assert.Equal(t, int64(20), a.Count)
			assert.LessOrEqual(t, a.LastRecord.Sub(a.FirstRecord), 5*time.Minute)
			break
		}
	}
	assert.Zero(t, counts["oom_kill/firing"])
	assert.Zero(t, counts["crash_loop/firing"])
}

// TestPackOnLinux: the Linux sample holds bursts of PAM authentication
// failures over several months of a lab machine.
func TestPackOnLinux(t *testing.T) {
	counts, _ := replay(t, "Linux")
	assert.Positive(t, counts["auth_brute_force/firing"])
	assert.Zero(t, counts["firmware_change/firing"])
}

// TestPackOnEverySystem replays the pack over every sample and logs what
// fires; rules that need gateway attributes never fire on plain lines.
func TestPackOnEverySystem(t *testing.T) {
	dir := loghub.Require(t)
	systems, err := loghub.Systems(dir)
	require.NoError(t, err)
	for _, sys := range systems {
		t.Run(sys, func(t *testing.T) {
			lines, err := loghub.Lines(dir, sys)
			require.NoError(t, err)
			rules, err := Pack("all")
			require.NoError(t, err)
			e, err := NewEngine(rules)
			require.NoError(t, err)
			counts := map[string]int{}
			base := map[string]string{"device.id": sys}
			for i, l := range lines {
				r := ParseLine(l, 2026, base)
				// Samples without a syslog timestamp: one line a second.
				now := t0.Add(time.Duration(i) * time.Second)
				for _, a := range e.Observe(now, one(&r)) {
					counts[a.Rule]++
				}
			}
			t.Logf("%s: firing %v", sys, counts)
			assert.Zero(t, counts["identity_spoof_attempt"]+counts["pii_leaked_from_agent"]+counts["firmware_change"])
		})
	}
}
