package fleetagentextension

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"os"
	"testing"
	"time"

	"github.com/open-telemetry/opamp-go/protobufs"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/extension/extensiontest"

	"github.com/fleetlog/fleetlog/extensions/fleetagentextension/internal/metadata"
	"github.com/fleetlog/fleetlog/internal/fleetproto"
	"github.com/fleetlog/fleetlog/internal/fleetstate"
)

const globFragment = "receivers:\n  spool:\n    files:\n      extra:\n        include: [/var/log/extra/*.log]\n"

func seal(t *testing.T, key ed25519.PrivateKey, a *fleetproto.Assignment) []byte {
	t.Helper()
	if a.IssuedAt.IsZero() {
		a.IssuedAt = time.Now().UTC()
	}
	env, err := fleetproto.Seal(a, key)
	require.NoError(t, err)
	return env
}

func waitRemoteStatus(t *testing.T, srv *opampServer, hash []byte, want protobufs.RemoteConfigStatuses) *protobufs.RemoteConfigStatus {
	t.Helper()
	var got *protobufs.RemoteConfigStatus
	eventually(t, "remote config status "+want.String(), func() bool {
		got = srv.remoteStatus()
		return got != nil && string(got.LastRemoteConfigHash) == string(hash) && got.Status == want
	})
	return got
}

func TestRemoteConfigRefused(t *testing.T) {
	t.Parallel()
	_, otherKey, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	tests := []struct {
		name      string
		env       func(f *fleet) []byte
		validator *fakeValidator
		wantErr   string
		validated bool
	}{
		{name: "signed by another key", env: func(*fleet) []byte {
			return seal(t, otherKey, &fleetproto.Assignment{Serial: 5, Device: "atm-0042", Fragment: []byte(globFragment)})
		}, wantErr: fleetproto.ErrBadSignature.Error()},
		{name: "for another device", env: func(f *fleet) []byte {
			return seal(t, f.key, &fleetproto.Assignment{Serial: 5, Device: "atm-0007", Fragment: []byte(globFragment)})
		}, wantErr: fleetproto.ErrWrongDevice.Error()},
		{name: "garbage", env: func(*fleet) []byte { return []byte("{nope") }, wantErr: fleetproto.ErrMalformed.Error()},
		{name: "turns off pii", env: func(f *fleet) []byte {
			return seal(t, f.key, &fleetproto.Assignment{Serial: 5, Device: "atm-0042",
				Fragment: []byte("service:\n  pipelines:\n    logs:\n      processors: [fleet_metadata]\n")})
		}, wantErr: "service::pipelines::logs::processors (locked)"},
		{name: "changes the gateway", env: func(f *fleet) []byte {
			return seal(t, f.key, &fleetproto.Assignment{Serial: 5, Device: "atm-0042",
				Fragment: []byte("exporters:\n  otlp_grpc:\n    endpoint: evil.example:4317\n")})
		}, wantErr: "exporters::otlp_grpc::endpoint (locked)"},
		{name: "reads the environment", env: func(f *fleet) []byte {
			return seal(t, f.key, &fleetproto.Assignment{Serial: 5, Device: "atm-0042",
				Fragment: []byte("processors:\n  fleet_metadata:\n    labels:\n      leak: ${env:AWS_SECRET_ACCESS_KEY}\n")})
		}, wantErr: "processors::fleet_metadata::labels::leak"},
		{name: "merged config invalid", env: func(f *fleet) []byte {
			return seal(t, f.key, &fleetproto.Assignment{Serial: 5, Device: "atm-0042", Fragment: []byte(globFragment)})
		}, validator: &fakeValidator{err: errors.New("remote config: merged configuration is invalid: 'files::extra': bad")},
			wantErr: "'files::extra': bad", validated: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFleet(t, "atm-0042")
			srv := newOpAMPServer(t, f)
			v := tt.validator
			if v == nil {
				v = &fakeValidator{}
			}
			cfg := testConfig(t, f, srv.url())
			startAgent(t, cfg, v)
			hash := srv.offer(t, tt.env(f))
			got := waitRemoteStatus(t, srv, hash, protobufs.RemoteConfigStatuses_RemoteConfigStatuses_FAILED)
			assert.Contains(t, got.ErrorMessage, tt.wantErr)

			dir, err := fleetstate.Open(cfg.Directory)
			require.NoError(t, err)
			c, err := dir.Candidate()
			require.NoError(t, err)
			assert.Nil(t, c, "nothing staged")
			st, err := dir.State()
			require.NoError(t, err)
			assert.Equal(t, fleetproto.RemoteConfigRefused, st.Last.State)
			assert.Zero(t, st.Applied.Serial)
			v.mu.Lock()
			assert.Equal(t, tt.validated, v.calls > 0)
			v.mu.Unlock()
			eventually(t, "the refusal in the status report", func() bool {
				s := srv.lastStatus()
				return s != nil && s.RemoteConfig != nil && s.RemoteConfig.State == fleetproto.RemoteConfigRefused
			})
		})
	}
}

func TestRemoteConfigStagedThenReplayRefused(t *testing.T) {
	t.Parallel()
	f := newFleet(t, "atm-0042")
	srv := newOpAMPServer(t, f)
	cfg := testConfig(t, f, srv.url())
	v := &fakeValidator{}
	startAgent(t, cfg, v)

	hash := srv.offer(t, seal(t, f.key, &fleetproto.Assignment{Serial: 9, Name: "extra-glob", Device: "atm-0042", Fragment: []byte(globFragment)}))
	waitRemoteStatus(t, srv, hash, protobufs.RemoteConfigStatuses_RemoteConfigStatuses_APPLYING)
	dir, err := fleetstate.Open(cfg.Directory)
	require.NoError(t, err)
	served, fragment, err := dir.Serve(time.Now())
	require.NoError(t, err)
	assert.Equal(t, fleetstate.Served{Serial: 9, Candidate: true}, served, "the fleet provider serves it in this process")
	assert.Equal(t, globFragment, string(fragment))
	fi, err := os.Stat(dir.FragmentPath(9))
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm())

	// The same signed fragment again, or an older serial, is a replay.
	for _, serial := range []uint64{9, 3} {
		hash = srv.offer(t, seal(t, f.key, &fleetproto.Assignment{Serial: serial, Device: "atm-0042", Fragment: []byte(globFragment)}))
		got := waitRemoteStatus(t, srv, hash, protobufs.RemoteConfigStatuses_RemoteConfigStatuses_FAILED)
		assert.Contains(t, got.ErrorMessage, ErrReplay.Error())
	}
	c, err := dir.Candidate()
	require.NoError(t, err)
	assert.Equal(t, uint64(9), c.Serial, "the candidate stays")

	// A refusal that names no serial (a bad signature) does not lower the
	// bar: serial 9 is still a replay after it.
	_, otherKey, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	hash = srv.offer(t, seal(t, otherKey, &fleetproto.Assignment{Serial: 50, Device: "atm-0042"}))
	waitRemoteStatus(t, srv, hash, protobufs.RemoteConfigStatuses_RemoteConfigStatuses_FAILED)
	hash = srv.offer(t, seal(t, f.key, &fleetproto.Assignment{Serial: 9, Device: "atm-0042", Fragment: []byte("{}\n")}))
	got := waitRemoteStatus(t, srv, hash, protobufs.RemoteConfigStatuses_RemoteConfigStatuses_FAILED)
	assert.Contains(t, got.ErrorMessage, ErrReplay.Error())
}

// restart is the agent's next service after a reload, in the same process.
func restart(t *testing.T, cfg *Config, v validator, src *source) *fleetAgent {
	t.Helper()
	a := newFleetAgent(cfg, extensiontest.NewNopSettings(metadata.Type), v)
	require.NoError(t, a.Start(context.Background(), componenttest.NewNopHost()))
	t.Cleanup(func() { require.NoError(t, a.Shutdown(context.Background())) })
	a.RegisterStatusSource("spool", src)
	require.NoError(t, a.Ready())
	return a
}

func stage(t *testing.T, cfg *Config, serial uint64, hash []byte) *fleetstate.Dir {
	t.Helper()
	dir, err := fleetstate.Open(cfg.Directory)
	require.NoError(t, err)
	_, err = dir.Stage(fleetstate.Fragment{Serial: serial, ConfigHash: hash}, []byte(globFragment), time.Now())
	require.NoError(t, err)
	return dir
}

func TestTrialConfirmedByADelivery(t *testing.T) {
	t.Parallel()
	f := newFleet(t, "atm-0042")
	srv := newOpAMPServer(t, f)
	cfg := testConfig(t, f, srv.url())
	dir := stage(t, cfg, 4, []byte("h4"))
	src := &source{}
	src.set(100, time.Time{})
	restart(t, cfg, &fakeValidator{}, src)
	time.Sleep(1500 * time.Millisecond)
	c, err := dir.Candidate()
	require.NoError(t, err)
	require.NotNil(t, c, "still on trial: nothing delivered yet")

	src.set(0, time.Now())
	waitRemoteStatus(t, srv, []byte("h4"), protobufs.RemoteConfigStatuses_RemoteConfigStatuses_APPLIED)
	st, err := dir.State()
	require.NoError(t, err)
	assert.Equal(t, uint64(4), st.Applied.Serial)
	c, err = dir.Candidate()
	require.NoError(t, err)
	assert.Nil(t, c)
}

func TestTrialRolledBackWhenDeliveryStops(t *testing.T) {
	t.Parallel()
	f := newFleet(t, "atm-0042")
	srv := newOpAMPServer(t, f)
	cfg := testConfig(t, f, srv.url())
	cfg.RemoteConfig.DeliveryTimeout = 2 * time.Second
	dir := stage(t, cfg, 4, []byte("h4"))
	src := &source{}
	src.set(100, time.Now().Add(-time.Hour)) // delivered before the reload only
	restart(t, cfg, &fakeValidator{}, src)

	got := waitRemoteStatus(t, srv, []byte("h4"), protobufs.RemoteConfigStatuses_RemoteConfigStatuses_FAILED)
	assert.Contains(t, got.ErrorMessage, "no delivery acknowledged within 2s")
	assert.Contains(t, got.ErrorMessage, "100 records are spooled")
	served, err := dir.Decide()
	require.NoError(t, err)
	assert.Equal(t, fleetstate.Served{}, served, "back to the local configuration")
	st, err := dir.State()
	require.NoError(t, err)
	assert.Equal(t, fleetproto.RemoteConfigRolledBack, st.Last.State)
	eventually(t, "the rollback in the status report", func() bool {
		s := srv.lastStatus()
		return s != nil && s.RemoteConfig != nil && s.RemoteConfig.State == fleetproto.RemoteConfigRolledBack && s.RemoteConfig.AppliedSerial == 0
	})
}

// TestTrialConfirmedWhenNothingWaits: on a quiet device the candidate is
// confirmed once nothing was spooled for idleConfirm, well before the
// delivery timeout.
func TestTrialConfirmedWhenNothingWaits(t *testing.T) {
	t.Parallel()
	f := newFleet(t, "atm-0042")
	srv := newOpAMPServer(t, f)
	cfg := testConfig(t, f, srv.url())
	cfg.RemoteConfig.DeliveryTimeout = time.Hour
	stage(t, cfg, 2, []byte("h2"))
	a := newFleetAgent(cfg, extensiontest.NewNopSettings(metadata.Type), &fakeValidator{})
	a.idleConfirm = 1500 * time.Millisecond
	src := &source{}
	src.set(3, time.Time{}) // records spooled at first: not idle yet
	require.NoError(t, a.Start(context.Background(), componenttest.NewNopHost()))
	t.Cleanup(func() { require.NoError(t, a.Shutdown(context.Background())) })
	a.RegisterStatusSource("spool", src)
	require.NoError(t, a.Ready())
	time.Sleep(2500 * time.Millisecond)
	assert.NotEqual(t, protobufs.RemoteConfigStatuses_RemoteConfigStatuses_APPLIED, srv.remoteStatus().GetStatus())
	src.set(0, time.Time{})
	begin := time.Now()
	waitRemoteStatus(t, srv, []byte("h2"), protobufs.RemoteConfigStatuses_RemoteConfigStatuses_APPLIED)
	assert.GreaterOrEqual(t, time.Since(begin), time.Second)
}

// TestRestartAfterFailedStartReportsTheRollback: the fleet provider of the
// restarted process rolled the candidate back; the agent says so.
func TestRestartAfterFailedStartReportsTheRollback(t *testing.T) {
	t.Parallel()
	f := newFleet(t, "atm-0042")
	srv := newOpAMPServer(t, f)
	cfg := testConfig(t, f, srv.url())
	dir := stage(t, cfg, 6, []byte("h6"))
	c, err := dir.Candidate()
	require.NoError(t, err)
	require.NoError(t, dir.RollBack(c, fleetstate.ErrStartNotConfirmed.Error(), time.Now()))
	restart(t, cfg, &fakeValidator{}, &source{})
	got := waitRemoteStatus(t, srv, []byte("h6"), protobufs.RemoteConfigStatuses_RemoteConfigStatuses_FAILED)
	assert.Contains(t, got.ErrorMessage, "failed to start")
}
