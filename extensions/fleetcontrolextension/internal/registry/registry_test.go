package registry

import (
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fleetlog/fleetlog/extensions/fleetcontrolextension/internal/store"
	"github.com/fleetlog/fleetlog/internal/fleetapi"
	"github.com/fleetlog/fleetlog/internal/fleetproto"
	"github.com/fleetlog/fleetlog/internal/pki"
)

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func newTestRegistry(t *testing.T, dir string, c *clock, key ed25519.PrivateKey) *Registry {
	t.Helper()
	st, err := store.Open(dir)
	require.NoError(t, err)
	t.Cleanup(func() { st.Close() })
	r, err := Open(st, Options{
		Thresholds: Thresholds{SilentAfter: time.Minute, SpoolFillRatio: 0.8, AckAge: 5 * time.Minute, LossWindow: 10 * time.Minute, MismatchHold: time.Hour},
		SigningKey: key,
		Denied:     func(id string) bool { return id == "atm-denied" },
		Now:        c.now,
	})
	require.NoError(t, err)
	return r
}

func id(n int) pki.DeviceIdentity {
	return pki.DeviceIdentity{DeviceID: fmt.Sprintf("atm-%d", n), Fleet: "atms", Site: "north"}
}

func TestStates(t *testing.T) {
	t.Parallel()
	c := &clock{t: time.Unix(1700000000, 0)}
	r := newTestRegistry(t, t.TempDir(), c, nil)
	report := func(n int, s *fleetproto.Status, mod func(*Report)) {
		rep := &Report{Identity: id(n), Described: true, Claimed: fleetapi.Claims{DeviceID: id(n).DeviceID, Fleet: "atms"}, Status: s}
		if mod != nil {
			mod(rep)
		}
		_, err := r.Report(rep)
		require.NoError(t, err)
	}
	report(1, &fleetproto.Status{AgentTime: c.t, Spool: &fleetproto.SpoolStatus{}}, nil)
	report(2, &fleetproto.Status{AgentTime: c.t, Spool: &fleetproto.SpoolStatus{Bytes: 90, MaxBytes: 100, Records: 3}}, nil)
	report(3, &fleetproto.Status{AgentTime: c.t, Spool: &fleetproto.SpoolStatus{Records: 3, OldestAgeSeconds: 600}}, nil)
	report(4, nil, func(rep *Report) { rep.Claimed.DeviceID = "atm-1" })
	report(5, nil, func(rep *Report) { rep.Health = &fleetapi.Health{Healthy: false, LastError: "exporter failed"} })
	report(6, nil, nil)
	report(8, nil, nil)
	r.RecordIdentityMismatch(id(8), "atm-1")
	r.RefusedDenied(pki.DeviceIdentity{DeviceID: "atm-denied"})
	c.t = c.t.Add(30 * time.Second)
	report(7, &fleetproto.Status{AgentTime: c.t, Spool: &fleetproto.SpoolStatus{Evicted: 0}}, nil)
	report(7, &fleetproto.Status{AgentTime: c.t, Spool: &fleetproto.SpoolStatus{Evicted: 5}}, nil)
	c.t = c.t.Add(40 * time.Second) // 70 s after the first reports
	report(1, &fleetproto.Status{AgentTime: c.t, Spool: &fleetproto.SpoolStatus{}}, nil)
	report(2, &fleetproto.Status{AgentTime: c.t, Spool: &fleetproto.SpoolStatus{Bytes: 90, MaxBytes: 100, Records: 3}}, nil)
	report(3, &fleetproto.Status{AgentTime: c.t, Spool: &fleetproto.SpoolStatus{Records: 3, OldestAgeSeconds: 670}}, nil)
	report(4, nil, func(rep *Report) { rep.Claimed.DeviceID = "atm-1" })
	report(5, nil, nil)
	report(8, nil, nil)

	want := map[string]string{
		"atm-1": fleetapi.StateHealthy, "atm-2": fleetapi.StateDegraded, "atm-3": fleetapi.StateDegraded,
		"atm-4": fleetapi.StateIdentityMismatch, "atm-5": fleetapi.StateDegraded, "atm-6": fleetapi.StateSilent,
		"atm-7": fleetapi.StateDegraded, "atm-8": fleetapi.StateIdentityMismatch, "atm-denied": fleetapi.StateDenied,
	}
	got := map[string]string{}
	for _, d := range r.Devices(Filter{}) {
		got[d.ID] = d.State
	}
	assert.Equal(t, want, got)
	d, ok := r.Device("atm-2")
	require.True(t, ok)
	assert.Equal(t, []string{"spool 90% full"}, d.Reasons)
	assert.Equal(t, "atms", d.Fleet)
	counts := r.Counts()
	assert.Equal(t, 4, counts[fleetapi.StateDegraded])
	assert.Equal(t, 1, counts[fleetapi.StateHealthy])
	assert.Len(t, r.Devices(Filter{State: fleetapi.StateDegraded}), 4)
}

func TestRemoteConfigRollout(t *testing.T) {
	t.Parallel()
	pub, key, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	c := &clock{t: time.Unix(1700000000, 0)}
	dir := t.TempDir()
	r := newTestRegistry(t, dir, c, key)
	for n := range 10 {
		_, err := r.Report(&Report{Identity: id(n)})
		require.NoError(t, err)
	}
	_, err = r.SetAssignment(fleetapi.AssignmentSpec{Name: "pii-off", Fragment: "service:\n  pipelines:\n    logs:\n      processors: []\n", Selector: fleetapi.Selector{Fleet: "atms"}})
	require.ErrorIs(t, err, ErrInvalid)
	assert.ErrorContains(t, err, "service::pipelines::logs::processors (locked)")
	_, err = r.SetAssignment(fleetapi.AssignmentSpec{Name: "all", Fragment: "{}"})
	assert.ErrorContains(t, err, "selects no device")

	a, err := r.SetAssignment(fleetapi.AssignmentSpec{
		Name: "glob", Fragment: "receivers:\n  spool:\n    files:\n      app:\n        include: [/var/log/app/*.log]\n",
		Selector: fleetapi.Selector{Fleet: "atms"}, Canary: []string{"atm-3"}, MaxFailureRate: 0.3,
	})
	require.NoError(t, err)
	assert.Equal(t, fleetapi.StageFirst, a.Stage)
	_, err = r.Changed()
	require.NoError(t, err)

	// Only the canary gets it at first.
	var canary *Delivery
	for n := range 10 {
		res, err := r.Report(&Report{Identity: id(n)})
		del := res.Delivery
		require.NoError(t, err)
		if n == 3 {
			require.NotNil(t, del)
			canary = del
		} else {
			assert.Nil(t, del, "device %d before promotion", n)
		}
	}
	sealed, err := fleetproto.Open(canary.Envelope, pub, "atm-3")
	require.NoError(t, err)
	assert.Equal(t, "glob", sealed.Name)
	assert.Greater(t, sealed.Serial, a.Serial)

	// The canary applies it: the rest get it.
	_, err = r.Report(&Report{Identity: id(3), Status: &fleetproto.Status{RemoteConfig: &fleetproto.RemoteConfigState{Serial: sealed.Serial, State: fleetproto.RemoteConfigApplied, AppliedSerial: sealed.Serial}}})
	require.NoError(t, err)
	_, err = r.Changed()
	require.NoError(t, err)
	serials := map[uint64]bool{sealed.Serial: true}
	for n := range 10 {
		res, err := r.Report(&Report{Identity: id(n)})
		del := res.Delivery
		require.NoError(t, err)
		if n == 3 {
			assert.Nil(t, del, "the canary has it")
			continue
		}
		require.NotNil(t, del, "device %d after promotion", n)
		got, err := fleetproto.Open(del.Envelope, pub, id(n).DeviceID)
		require.NoError(t, err)
		assert.False(t, serials[got.Serial], "serials are unique")
		serials[got.Serial] = true
		state := fleetproto.RemoteConfigApplied
		if n < 6 {
			state = fleetproto.RemoteConfigRolledBack
		}
		_, err = r.Report(&Report{Identity: id(n), Status: &fleetproto.Status{RemoteConfig: &fleetproto.RemoteConfigState{Serial: got.Serial, State: state, Error: "no delivery"}}})
		require.NoError(t, err)
	}
	_, err = r.Changed()
	require.NoError(t, err)
	st, ok := r.Assignment("glob")
	require.True(t, ok)
	assert.Equal(t, fleetapi.RolloutHalted, st.State)
	assert.Equal(t, 5, st.Counts.Failed)
	assert.Len(t, st.Devices, 10)
	d, _ := r.Device("atm-0")
	assert.Equal(t, fleetapi.StateDegraded, d.State)

	// Deleting it sends every device back to its local configuration, with a new serial.
	require.NoError(t, r.DeleteAssignment("glob"))
	_, err = r.Changed()
	require.NoError(t, err)
	res, err := r.Report(&Report{Identity: id(3)})
	del := res.Delivery
	require.NoError(t, err)
	require.NotNil(t, del)
	back, err := fleetproto.Open(del.Envelope, pub, "atm-3")
	require.NoError(t, err)
	assert.Empty(t, back.Fragment)
	assert.Empty(t, back.Name)
	assert.Greater(t, back.Serial, sealed.Serial)

	// Serials keep increasing across a restart, and the state survives it.
	n, err := r.Flush()
	require.NoError(t, err)
	assert.Equal(t, 10, n)
	require.NoError(t, r.store.Close())
	r2 := newTestRegistry(t, dir, c, key)
	assert.Len(t, r2.Devices(Filter{}), 10)
	a2, err := r2.SetAssignment(fleetapi.AssignmentSpec{Name: "level", Fragment: "service:\n  telemetry:\n    logs:\n      level: debug\n", Selector: fleetapi.Selector{Devices: []string{"atm-1"}}})
	require.NoError(t, err)
	assert.Greater(t, a2.Serial, back.Serial)
}

func TestRemoteConfigOff(t *testing.T) {
	t.Parallel()
	r := newTestRegistry(t, filepath.Join(t.TempDir(), "r"), &clock{t: time.Now()}, nil)
	_, err := r.SetAssignment(fleetapi.AssignmentSpec{Name: "x", Selector: fleetapi.Selector{Fleet: "atms"}})
	assert.ErrorIs(t, err, ErrRemoteConfigOff)
}

// BenchmarkReport is one heartbeat with a status report of a device in a
// registry of 1,000.
func BenchmarkReport(b *testing.B) {
	st, err := store.Open(b.TempDir())
	require.NoError(b, err)
	defer st.Close()
	r, err := Open(st, Options{Thresholds: Thresholds{SilentAfter: time.Minute, SpoolFillRatio: 0.8, AckAge: time.Minute, LossWindow: time.Minute}})
	require.NoError(b, err)
	status := &fleetproto.Status{AgentTime: time.Now(), Version: "v1", Spool: &fleetproto.SpoolStatus{Bytes: 1 << 20, Records: 100}, Files: []fleetproto.FileStatus{{Path: "/var/log/app.log", Size: 1 << 20}}}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		_, err := r.Report(&Report{Identity: id(i % 1000), Status: status})
		if err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// BenchmarkFlush writes the state of 170 devices in one transaction: what
// 1,000 devices reporting every 30 s change in a 5 s flush interval.
func BenchmarkFlush(b *testing.B) {
	st, err := store.Open(b.TempDir())
	require.NoError(b, err)
	defer st.Close()
	r, err := Open(st, Options{Thresholds: Thresholds{SilentAfter: time.Minute, SpoolFillRatio: 0.8, AckAge: time.Minute, LossWindow: time.Minute}})
	require.NoError(b, err)
	status := &fleetproto.Status{AgentTime: time.Now(), Version: "v1", Spool: &fleetproto.SpoolStatus{Bytes: 1 << 20, Records: 100}, Files: []fleetproto.FileStatus{{Path: "/var/log/app.log", Size: 1 << 20}}}
	b.ReportAllocs()
	for b.Loop() {
		for n := range 170 {
			if _, err := r.Report(&Report{Identity: id(n), Described: true, Status: status}); err != nil {
				b.Fatal(err)
			}
		}
		if n, err := r.Flush(); err != nil || n != 170 {
			b.Fatal(n, err)
		}
	}
}

// BenchmarkFlushEach writes after every report, one transaction per
// heartbeat: the design Flush avoids, for comparison.
func BenchmarkFlushEach(b *testing.B) {
	st, err := store.Open(b.TempDir())
	require.NoError(b, err)
	defer st.Close()
	r, err := Open(st, Options{Thresholds: Thresholds{SilentAfter: time.Minute, SpoolFillRatio: 0.8, AckAge: time.Minute, LossWindow: time.Minute}})
	require.NoError(b, err)
	status := &fleetproto.Status{AgentTime: time.Now(), Version: "v1", Spool: &fleetproto.SpoolStatus{Bytes: 1 << 20, Records: 100}}
	i := 0
	for b.Loop() {
		if _, err := r.Report(&Report{Identity: id(i % 1000), Described: true, Status: status}); err != nil {
			b.Fatal(err)
		}
		if _, err := r.Flush(); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// FuzzReport feeds arbitrary status payloads, as an agent could send them,
// through a report and every read of the registry: none may panic.
func FuzzReport(f *testing.F) {
	for _, seed := range []string{
		`{"agent_time":"2026-11-24T09:30:00Z","spool":{"bytes":90,"max_bytes":100,"records":3,"oldest_age_seconds":1e300}}`,
		`{"spool":{"bytes":-1,"max_bytes":-5,"records":-3,"evicted":9223372036854775807,"dropped":1}}`,
		`{"remote_config":{"serial":18446744073709551615,"state":"applied","applied_serial":1}}`,
		`{"last_ack":"0001-01-01T00:00:00Z","files":[{"path":"","lag_bytes":-1}]}`,
		`{}`,
	} {
		f.Add([]byte(seed))
	}
	c := &clock{t: time.Unix(1700000000, 0)}
	_, key, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(f, err)
	st, err := store.Open(f.TempDir())
	require.NoError(f, err)
	f.Cleanup(func() { st.Close() })
	r, err := Open(st, Options{
		Thresholds: Thresholds{SilentAfter: time.Minute, SpoolFillRatio: 0.8, AckAge: time.Minute, LossWindow: time.Minute, MismatchHold: time.Hour},
		SigningKey: key, Now: c.now,
	})
	require.NoError(f, err)
	_, err = r.SetAssignment(fleetapi.AssignmentSpec{Name: "glob", Fragment: "receivers:\n  spool:\n    files: {}\n", Selector: fleetapi.Selector{Fleet: "atms"}, Percent: 50})
	require.NoError(f, err)
	f.Fuzz(func(t *testing.T, payload []byte) {
		s, err := fleetproto.UnmarshalStatus(payload)
		if err != nil {
			return
		}
		if _, err := r.Report(&Report{Identity: id(len(payload) % 7), Status: s}); err != nil {
			t.Fatal(err)
		}
		if _, err := r.Changed(); err != nil {
			t.Fatal(err)
		}
		r.Devices(Filter{})
		r.Counts()
		r.Assignment("glob")
		if _, err := r.Flush(); err != nil {
			t.Fatal(err)
		}
	})
}
