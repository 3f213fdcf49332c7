package alert

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/plog"
)

var t0 = time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)

func rec(body string, kv ...string) *Record {
	a := MapAttrs{}
	for i := 0; i+1 < len(kv); i += 2 {
		a[kv[i]] = kv[i+1]
	}
	return &Record{Body: body, Attrs: a}
}

func one(rs ...*Record) func(func(*Record) bool) {
	return func(yield func(*Record) bool) {
		for _, r := range rs {
			if !yield(r) {
				return
			}
		}
	}
}

func engine(t *testing.T, yaml string, opts ...Option) *Engine {
	t.Helper()
	rules, err := Parse([]byte(yaml))
	require.NoError(t, err)
	e, err := NewEngine(rules, opts...)
	require.NoError(t, err)
	return e
}

func TestThresholdFiresOncePerGroupAndResolves(t *testing.T) {
	e := engine(t, `rules: [{name: brute, type: threshold, count: 3, window: 1m, match: {body_contains: ["Failed password"]}}]`)
	var fired []Alert
	for i := range 10 {
		fired = append(fired, e.Observe(t0.Add(time.Duration(i)*time.Second), one(
			rec("Failed password for root", "device.id", "d1", "fleet.name", "f"),
			rec("Accepted password for root", "device.id", "d2"),
		))...)
	}
	require.Len(t, fired, 1)
	a := fired[0]
	assert.Equal(t, StatusFiring, a.Status)
	assert.Equal(t, "d1", a.Device)
	assert.Equal(t, "f", a.Fleet)
	assert.Equal(t, int64(3), a.Count)
	assert.Equal(t, t0.Add(2*time.Second), a.StartsAt)
	assert.Equal(t, map[string]string{"alertname": "brute", "device.id": "d1"}, a.Labels)
	assert.Equal(t, Fingerprint("brute", map[string]string{"device.id": "d1"}), a.Fingerprint)

	assert.Empty(t, e.Tick(t0.Add(30*time.Second)))
	res := e.Tick(t0.Add(2 * time.Minute))
	require.Len(t, res, 1)
	assert.Equal(t, StatusResolved, res[0].Status)
	assert.Equal(t, int64(10), res[0].Count)
	assert.Equal(t, a.Fingerprint, res[0].Fingerprint)
	assert.Equal(t, 0, e.Stats().Firing)

	c := e.TakeCounts()
	assert.Equal(t, []RuleCounts{{Rule: "brute", Evaluations: 20, Matches: 10}}, c)
	assert.Equal(t, []RuleCounts{{Rule: "brute"}}, e.TakeCounts())
}

func TestThresholdSlidingWindow(t *testing.T) {
	e := engine(t, `rules: [{name: brute, type: threshold, count: 3, window: 1m, match: {body_contains: [x]}}]`)
	// Three matches, but never three within a minute.
	for _, s := range []int{0, 40, 90, 140} {
		assert.Empty(t, e.Observe(t0.Add(time.Duration(s)*time.Second), one(rec("x", "device.id", "d"))), s)
	}
	assert.Len(t, e.Observe(t0.Add(150*time.Second), one(rec("x", "device.id", "d"))), 1)
}

func TestMatchSelectors(t *testing.T) {
	e := engine(t, `rules:
  - name: sel
    type: match
    match:
      severity_at_least: error
      body_regex: 'disk (\d+)% full'
      attributes: {service.name: store}
      attributes_exist: [pid]
      fleets: [f1]
      sites: [s1]
      devices: [d1, d2]
    group_by: [device.id, service.name]`)
	base := []string{"device.id", "d1", "fleet.name", "f1", "fleet.site", "s1", "service.name", "store", "pid", "7"}
	mk := func(sev plog.SeverityNumber, body string, override ...string) *Record {
		kv := append(append([]string{}, base...), override...)
		r := rec(body, kv...)
		r.Severity = sev
		return r
	}
	for _, tt := range []struct {
		name string
		r    *Record
		want bool
	}{
		{"all hold", mk(plog.SeverityNumberError, "disk 99% full"), true},
		{"low severity", mk(plog.SeverityNumberWarn, "disk 99% full"), false},
		{"regex", mk(plog.SeverityNumberError, "disk full"), false},
		{"attribute", mk(plog.SeverityNumberError, "disk 99% full", "service.name", "web"), false},
		{"fleet", mk(plog.SeverityNumberError, "disk 99% full", "fleet.name", "f2"), false},
		{"site", mk(plog.SeverityNumberError, "disk 99% full", "fleet.site", "s2"), false},
		{"device", mk(plog.SeverityNumberError, "disk 99% full", "device.id", "d3"), false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e := engine(t, `rules: [{name: sel, type: match, match: {severity_at_least: error, body_regex: 'disk (\d+)% full', attributes: {service.name: store}, attributes_exist: [pid], fleets: [f1], sites: [s1], devices: [d1, d2]}}]`)
			assert.Equal(t, tt.want, len(e.Observe(t0, one(tt.r))) == 1)
		})
	}
	// group_by with two keys: one alert per (device, service).
	got := e.Observe(t0, one(mk(plog.SeverityNumberError, "disk 91% full"), mk(plog.SeverityNumberError, "disk 92% full"),
		mk(plog.SeverityNumberError, "disk 93% full", "device.id", "d2")))
	require.Len(t, got, 2)
	assert.Equal(t, "disk 91% full", got[0].Summary)
}

func TestPIIAndIdentityMismatch(t *testing.T) {
	e := engine(t, `rules:
  - {name: pii, type: match, match: {pii_detected: true}}
  - {name: spoof, type: match, match: {identity_mismatch: true}}`)
	got := e.Observe(t0, one(
		rec("clean", "device.id", "d1"),
		rec("[REDACTED:email]", "device.id", "d1", PIIAttribute+".count", "1"),
		rec("x", "device.id", "d2", "fleet.identity.mismatch", "true"),
		rec("x", "device.id", "d3", "fleet.identity.mismatch", "false"),
	))
	require.Len(t, got, 2)
	assert.Equal(t, "pii", got[0].Rule)
	assert.Equal(t, "d1", got[0].Device)
	assert.Equal(t, "spoof", got[1].Rule)
	assert.Equal(t, "d2", got[1].Device)
}

func TestAbsence(t *testing.T) {
	e := engine(t, `rules: [{name: silent, type: absence, for: 10m, match: {fleets: [f]}}]`)
	e.Observe(t0, one(rec("hello", "device.id", "d1", "fleet.name", "f"), rec("hello", "device.id", "d2", "fleet.name", "other")))
	assert.Empty(t, e.Tick(t0.Add(5*time.Minute)))
	e.Observe(t0.Add(5*time.Minute), one(rec("hello", "device.id", "dX", "fleet.name", "f")))
	got := e.Tick(t0.Add(11 * time.Minute))
	require.Len(t, got, 1, "d2 is in another fleet; dX spoke 6 minutes ago")
	assert.Equal(t, "d1", got[0].Device)
	assert.Equal(t, t0, got[0].LastRecord)
	assert.Empty(t, e.Tick(t0.Add(12*time.Minute)), "fires once")
	got = e.Observe(t0.Add(13*time.Minute), one(rec("back", "device.id", "d1", "fleet.name", "f")))
	require.Len(t, got, 1)
	assert.Equal(t, StatusResolved, got[0].Status)
}

// TestDerivedRecordIsNotPresence: what the gateway found about a device (a
// witness finding) fires match rules but neither counts as the device being
// seen nor resolves its silence.
func TestDerivedRecordIsNotPresence(t *testing.T) {
	e := engine(t, `rules: [{name: silent, type: absence, for: 10m}, {name: witness, type: match, match: {attributes_exist: [fleet.archive.witness.problem]}, group_by: [device.id]}]`)
	e.Observe(t0, one(rec("hello", "device.id", "d1")))
	require.Len(t, e.Tick(t0.Add(11*time.Minute)), 1, "d1 is silent")
	finding := rec("rolled back", "device.id", "d1", "fleet.archive.witness.problem", "rolled back")
	finding.Derived = true
	got := e.Observe(t0.Add(12*time.Minute), one(finding))
	require.Len(t, got, 1, "the finding fires, the silence stays")
	assert.Equal(t, "witness", got[0].Rule)
	assert.Equal(t, StatusFiring, got[0].Status)

	e = engine(t, `rules: [{name: silent, type: absence, for: 10m}]`)
	finding = rec("rolled back", "device.id", "d2", "fleet.archive.witness.problem", "rolled back")
	finding.Derived = true
	e.Observe(t0, one(finding))
	assert.Empty(t, e.Tick(t0.Add(11*time.Minute)), "a device only found about was never seen")
}

type fakePresence map[string]time.Time

func (f fakePresence) Seen(Identity, time.Time) {}
func (f fakePresence) Range(fn func(Identity, time.Time) bool) {
	for d, at := range f {
		if !fn(Identity{Device: d}, at) {
			return
		}
	}
}

func TestAbsenceFromAnotherPresence(t *testing.T) {
	e := engine(t, `rules: [{name: silent, type: absence, for: 1m}]`, WithPresence(fakePresence{"hb": t0}))
	got := e.Tick(t0.Add(2 * time.Minute))
	require.Len(t, got, 1)
	assert.Equal(t, "hb", got[0].Device)
}

// TestAbsenceOfHeartbeats: a heartbeat rule reads the fleet registry's
// reports, not records: a device that logs nothing but reports is not
// silent, one that logs but stopped reporting is; a new report resolves it,
// and without a registry the rule never fires.
func TestAbsenceOfHeartbeats(t *testing.T) {
	rules := `rules: [{name: gone, type: absence, source: heartbeats, for: 1m}, {name: quiet, type: absence, for: 1m}]`
	e := engine(t, rules)
	e.Observe(t0, one(rec("hello", "device.id", "logs-only")))
	for _, a := range e.Tick(t0.Add(2 * time.Minute)) {
		assert.NotEqual(t, "gone", a.Rule, "no registry: heartbeat rules never fire")
	}
	assert.True(t, e.UsesHeartbeats())

	e = engine(t, rules)
	hb := fakePresence{"reports-only": t0.Add(90 * time.Second), "logs-only": t0}
	e.SetHeartbeats(hb)
	e.Observe(t0.Add(90*time.Second), one(rec("hello", "device.id", "logs-only")))
	got := e.Tick(t0.Add(2 * time.Minute))
	require.Len(t, got, 1)
	assert.Equal(t, "gone", got[0].Rule)
	assert.Equal(t, "logs-only", got[0].Device)
	assert.Equal(t, "no report from logs-only for 1m0s", got[0].Summary)
	assert.Empty(t, e.Observe(t0.Add(150*time.Second), one(rec("still logging", "device.id", "logs-only"))), "records do not end a heartbeat silence")
	hb["logs-only"], hb["reports-only"] = t0.Add(170*time.Second), t0.Add(170*time.Second)
	got = e.Tick(t0.Add(3 * time.Minute))
	require.Len(t, got, 1)
	assert.Equal(t, StatusResolved, got[0].Status)
	assert.Equal(t, "gone", got[0].Rule)
}

func TestChangeOutsideMaintenance(t *testing.T) {
	e := engine(t, `rules: [{name: fw, type: change, attribute: device.firmware.version, resolve_after: 30m, maintenance: {start: "23:00", end: "01:00"}}]`)
	fw := func(at time.Time, v string) []Alert {
		return e.Observe(at, one(rec("boot", "device.id", "d1", "device.firmware.version", v)))
	}
	assert.Empty(t, fw(t0, "1.0"), "first value is the baseline")
	assert.Empty(t, fw(t0.Add(time.Minute), "1.0"))
	got := fw(t0.Add(2*time.Minute), "1.1")
	require.Len(t, got, 1)
	assert.Equal(t, `device.firmware.version changed from "1.0" to "1.1"`, got[0].Summary)
	midnight := time.Date(2026, 11, 25, 0, 30, 0, 0, time.UTC)
	assert.Empty(t, fw(midnight, "1.2"), "inside the maintenance window")
	// The first alert went quiet for 30m long before midnight.
	assert.Len(t, e.Tick(t0.Add(time.Hour)), 1)
}

func TestNewPatternAfterLearning(t *testing.T) {
	e := engine(t, `rules: [{name: novel, type: new_pattern, learning: 1h}]`)
	line := func(at time.Time, body string) []Alert {
		return e.Observe(at, one(rec(body, "device.id", "d1", "fleet.name", "f")))
	}
	for i := range 20 {
		assert.Empty(t, line(t0.Add(time.Duration(i)*time.Minute), fmt.Sprintf("Accepted password for u%d from 10.0.0.%d port 22", i, i)))
	}
	assert.Empty(t, line(t0.Add(30*time.Minute), "disk check ok"), "still learning")
	assert.Empty(t, line(t0.Add(2*time.Hour), "Accepted password for bob from 10.9.9.9 port 2222"))
	got := line(t0.Add(2*time.Hour), "kernel: Oops: general protection fault")
	require.Len(t, got, 1)
	assert.Contains(t, got[0].Summary, "kernel: Oops: general protection fault")
	assert.Equal(t, "f", got[0].Labels["fleet.name"])
	// Another fleet learns on its own clock.
	assert.Empty(t, e.Observe(t0.Add(2*time.Hour), one(rec("kernel: Oops: general protection fault", "fleet.name", "g"))))
}

func TestLimits(t *testing.T) {
	e := engine(t, `rules: [{name: m, type: match, match: {body_contains: [x]}}]`, WithLimits(Limits{MaxGroups: 2}))
	got := e.Observe(t0, one(rec("x", "device.id", "a"), rec("x", "device.id", "b"), rec("x", "device.id", "c")))
	assert.Len(t, got, 2)
	assert.EqualValues(t, 1, e.Stats().GroupsDropped)
}

func TestEvidenceCommand(t *testing.T) {
	a := Alert{Type: KindThreshold, Identity: Identity{Device: "edge 7"}, FirstRecord: t0, LastRecord: t0.Add(time.Minute)}
	assert.Equal(t, "fleetlogctl archive query --dir /var/lib/fleetlog/archive --device 'edge 7' --since 2026-11-24T09:59:00Z --until 2026-11-24T10:02:00Z -o text",
		a.EvidenceCommand("/var/lib/fleetlog/archive"))
	ab := Alert{Type: KindAbsence, Window: 10 * time.Minute, Identity: Identity{Device: "d"}, FirstRecord: t0, LastRecord: t0}
	assert.Contains(t, ab.EvidenceCommand("/a"), "--since 2026-11-24T09:49:00Z --until 2026-11-24T10:01:00Z")
}

func TestParseLine(t *testing.T) {
	r := ParseLine("Dec 10 06:55:46 LabSZ sshd[24200]: Failed password for root", 2026, map[string]string{"device.id": "d"})
	assert.Equal(t, time.Date(2026, 12, 10, 6, 55, 46, 0, time.UTC), r.Time)
	v, _ := r.Attrs.Get("device.id")
	assert.Equal(t, "d", v)
	r = ParseLine("2026-11-24T10:00:00Z hello", 2026, nil)
	assert.Equal(t, t0, r.Time)
	r = ParseLine(`{"time":"2026-11-24T10:00:00Z","severity_number":17,"body":"boom","attributes":{"a":"1"},"resource":{"device.id":"d9","a":"0"}}`, 2026, nil)
	assert.Equal(t, "boom", r.Body)
	assert.Equal(t, plog.SeverityNumberError, r.Severity)
	v, _ = r.Attrs.Get("a")
	assert.Equal(t, "1", v)
	v, _ = r.Attrs.Get("device.id")
	assert.Equal(t, "d9", v)
	r = ParseLine("{not json", 2026, nil)
	assert.Equal(t, "{not json", r.Body)
	assert.True(t, r.Time.IsZero())
}

func TestReloadKeepsUnchangedRules(t *testing.T) {
	e := engine(t, `rules:
  - {name: keep, type: match, match: {body_contains: [x]}}
  - {name: change, type: match, match: {body_contains: [x]}}
  - {name: gone, type: match, match: {body_contains: [x]}}`)
	require.Len(t, e.Observe(t0, one(rec("x", "device.id", "d"))), 3)
	rules, err := Parse([]byte(`rules:
  - {name: keep, type: match, match: {body_contains: [x]}}
  - {name: change, type: match, match: {body_contains: [x, y]}}`))
	require.NoError(t, err)
	res, err := e.Reload(rules, t0.Add(time.Second))
	require.NoError(t, err)
	require.Len(t, res, 2)
	for _, a := range res {
		assert.Equal(t, StatusResolved, a.Status)
		assert.NotEqual(t, "keep", a.Rule)
	}
	// keep is still firing: no new alert; change fires afresh.
	got := e.Observe(t0.Add(2*time.Second), one(rec("x", "device.id", "d")))
	require.Len(t, got, 1)
	assert.Equal(t, "change", got[0].Rule)
	assert.Equal(t, []string{"keep", "change"}, e.Rules())
	assert.Equal(t, 2, e.Stats().Firing)

	_, err = e.Reload([]*Rule{{Name: "bad", Type: KindThreshold}}, t0)
	assert.ErrorIs(t, err, ErrPositive)
	assert.Equal(t, []string{"keep", "change"}, e.Rules(), "a bad reload keeps the rules")
}

func TestGroupKeysAfterResolve(t *testing.T) {
	e := engine(t, `rules: [{name: m, type: threshold, count: 2, window: 1m, group_by: [device.id, svc], match: {body_contains: [x]}}]`)
	for round := range 3 {
		at := t0.Add(time.Duration(round) * time.Hour)
		got := e.Observe(at, one(rec("x", "device.id", "d", "svc", "a"), rec("x", "device.id", "d", "svc", "a"), rec("x", "device.id", "d", "svc", "b")))
		require.Len(t, got, 1, "round %d", round)
		assert.Equal(t, map[string]string{"alertname": "m", "device.id": "d", "svc": "a"}, got[0].Labels)
		require.Len(t, e.Tick(at.Add(2*time.Minute)), 1)
		assert.Empty(t, e.rules[0].byKey, "resolved and idle groups leave the index")
		assert.Empty(t, e.rules[0].groups)
	}
}

// One batch with records of several silent devices, interleaved, resolves
// each silence once.
func TestAbsenceResolvesEachDeviceOfABatch(t *testing.T) {
	e := engine(t, `rules: [{name: silent, type: absence, for: 10m}]`)
	e.Observe(t0, one(rec("hello", "device.id", "d1"), rec("hello", "device.id", "d2")))
	require.Len(t, e.Tick(t0.Add(11*time.Minute)), 2)
	got := e.Observe(t0.Add(12*time.Minute), one(
		rec("back", "device.id", "d1"), rec("back", "device.id", "d1"),
		rec("back", "device.id", "d2"), rec("back", "device.id", "d1"),
	))
	require.Len(t, got, 2)
	assert.ElementsMatch(t, []string{"d1", "d2"}, []string{got[0].Device, got[1].Device})
	for _, a := range got {
		assert.Equal(t, StatusResolved, a.Status)
	}
}

// Devices whose records interleave keep their own last value: an unchanged
// value of one device does not hide another's change.
func TestChangeInterleavedDevices(t *testing.T) {
	e := engine(t, `rules: [{name: fw, type: change, attribute: device.firmware.version}]`)
	fw := func(dev, v string) *Record { return rec("boot", "device.id", dev, "device.firmware.version", v) }
	assert.Empty(t, e.Observe(t0, one(fw("d1", "1.0"), fw("d2", "2.0"), fw("d1", "1.0"), fw("d2", "2.0"))))
	got := e.Observe(t0.Add(time.Minute), one(fw("d1", "1.0"), fw("d2", "2.1"), fw("d1", "1.0")))
	require.Len(t, got, 1)
	assert.Equal(t, "d2", got[0].Device)
	assert.Equal(t, `device.firmware.version changed from "2.0" to "2.1"`, got[0].Summary)
}
