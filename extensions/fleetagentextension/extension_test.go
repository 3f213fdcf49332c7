package fleetagentextension

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/open-telemetry/opamp-go/protobufs"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componentstatus"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/extension/extensioncapabilities"
	"go.opentelemetry.io/collector/extension/extensiontest"

	"github.com/fleetlog/fleetlog/extensions/fleetagentextension/internal/metadata"
	"github.com/fleetlog/fleetlog/internal/fleetproto"
)

// fakeValidator stands in for the child `validate` process, which needs the
// collector binary (the integration tests run the real one).
type fakeValidator struct {
	notServed bool
	err       error

	mu    sync.Mutex
	calls int
}

func (v *fakeValidator) served() bool { return !v.notServed }

func (v *fakeValidator) validate(context.Context, string) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.calls++
	return v.err
}

// source is a spool receiver's part of the status.
type source struct {
	mu      sync.Mutex
	records int64
	lastAck time.Time
}

func (s *source) FleetStatus(st *fleetproto.Status) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st.Spool = &fleetproto.SpoolStatus{Records: s.records, Bytes: s.records * 100}
	st.LastAck = s.lastAck
	st.Files = []fleetproto.FileStatus{{Path: "/var/log/app.log", Size: 10, Offset: 4, LagBytes: 6}}
}

func (s *source) set(records int64, ack time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.records, s.lastAck = records, ack
}

func testConfig(t *testing.T, f *fleet, endpoint string) *Config {
	t.Helper()
	cfg := createDefaultConfig()
	cfg.Endpoint = endpoint
	cfg.TLS.CAFile = f.device.CA
	cfg.TLS.CertFile = f.device.Cert
	cfg.TLS.KeyFile = f.device.Key
	cfg.Heartbeat = time.Second
	cfg.Directory = filepath.Join(t.TempDir(), "remote")
	cfg.RemoteConfig.PublicKeyFile = f.pubFile
	cfg.RemoteConfig.DeliveryTimeout = time.Minute
	require.NoError(t, cfg.Validate())
	return cfg
}

func startAgent(t *testing.T, cfg *Config, v validator) *fleetAgent {
	t.Helper()
	set := extensiontest.NewNopSettings(metadata.Type)
	set.BuildInfo = component.BuildInfo{Command: "fleetlog-agent", Version: "1.2.3"}
	a := newFleetAgent(cfg, set, v)
	require.NoError(t, a.Start(context.Background(), componenttest.NewNopHost()))
	t.Cleanup(func() { require.NoError(t, a.Shutdown(context.Background())) })
	return a
}

func TestReportsStatusHealthAndDescriptionOverMTLS(t *testing.T) {
	t.Parallel()
	f := newFleet(t, "atm-0042")
	srv := newOpAMPServer(t, f)
	a := startAgent(t, testConfig(t, f, srv.url()), &fakeValidator{})
	src := &source{}
	ack := time.Now().Add(-time.Minute).UTC().Truncate(time.Millisecond)
	src.set(7, ack)
	unregister := a.RegisterStatusSource("spool", src)
	defer unregister()
	conf := confmap.NewFromStringMap(map[string]any{"processors": map[string]any{"fleet_metadata": map[string]any{"labels": map[string]any{"ring": "canary"}}}})
	require.NoError(t, a.NotifyConfigSnapshot(context.Background(), extensioncapabilities.NewConfigSnapshot(conf, nil)))
	a.ComponentStatusChanged(componentstatus.NewInstanceID(component.MustNewID("otlp_grpc"), component.KindExporter),
		componentstatus.NewRecoverableErrorEvent(errors.New("gateway unavailable")))

	eventually(t, "a status with the spool and the config hash", func() bool {
		s := srv.lastStatus()
		return s != nil && s.Spool != nil && s.ConfigHash != ""
	})
	s := srv.lastStatus()
	assert.Equal(t, "1.2.3", s.Version)
	assert.Contains(t, s.Build, "fleetlog-agent")
	assert.Equal(t, int64(7), s.Spool.Records)
	assert.True(t, s.LastAck.Equal(ack))
	assert.Equal(t, int64(6), s.Files[0].LagBytes)
	assert.NotEmpty(t, s.Host.OS)
	assert.NotEmpty(t, s.Host.Hostname)
	assert.WithinDuration(t, time.Now(), s.AgentTime, time.Minute)
	assert.Len(t, s.ConfigHash, 64)
	assert.Nil(t, s.RemoteConfig, "no remote config yet")

	eventually(t, "unhealthy component health and the label", func() bool {
		var health *protobufs.ComponentHealth
		var desc *protobufs.AgentDescription
		for _, m := range srv.messages() {
			if m.Health != nil {
				health = m.Health
			}
			if m.AgentDescription != nil {
				desc = m.AgentDescription
			}
		}
		if health == nil || health.Healthy || desc == nil {
			return false
		}
		attrs := map[string]string{}
		for _, kv := range append(desc.IdentifyingAttributes, desc.NonIdentifyingAttributes...) {
			attrs[kv.Key] = kv.Value.GetStringValue()
		}
		return health.ComponentHealthMap["Exporter:otlp_grpc"].GetLastError() == "gateway unavailable" &&
			attrs[fleetproto.DescriptionDeviceID] == "atm-0042" && attrs[fleetproto.DescriptionFleet] == "atms" &&
			attrs[fleetproto.DescriptionSite] == "lyon" && attrs[fleetproto.DescriptionLabelPrefix+"ring"] == "canary" &&
			attrs[fleetproto.DescriptionVersion] == "1.2.3"
	})
	srv.mu.Lock()
	peers := append([]string(nil), srv.peers...)
	srv.mu.Unlock()
	for _, p := range peers {
		require.Equal(t, "atm-0042", p, "every request carries the device certificate")
	}
	caps := srv.messages()[0].Capabilities
	assert.NotZero(t, caps&uint64(protobufs.AgentCapabilities_AgentCapabilities_AcceptsRemoteConfig))
}

// TestGatewayAwayChangesNothing: with nothing listening at the endpoint the
// extension starts and stops at once, and reporting never blocks a caller.
func TestGatewayAwayChangesNothing(t *testing.T) {
	t.Parallel()
	f := newFleet(t, "atm-0007")
	cfg := testConfig(t, f, "https://"+closedAddr(t)+"/v1/opamp")
	set := extensiontest.NewNopSettings(metadata.Type)
	a := newFleetAgent(cfg, set, &fakeValidator{})
	begin := time.Now()
	require.NoError(t, a.Start(context.Background(), componenttest.NewNopHost()))
	assert.Less(t, time.Since(begin), 2*time.Second, "Start waits for no gateway")
	src := &source{}
	for range 100 {
		unregister := a.RegisterStatusSource("spool", src)
		a.ComponentStatusChanged(componentstatus.NewInstanceID(component.MustNewID("spool"), component.KindReceiver), componentstatus.NewEvent(componentstatus.StatusOK))
		unregister()
	}
	time.Sleep(1500 * time.Millisecond) // heartbeats go to nobody
	assert.Less(t, time.Since(begin), 4*time.Second, "no call blocked")
	begin = time.Now()
	require.NoError(t, a.Shutdown(context.Background()))
	assert.Less(t, time.Since(begin), 5*time.Second)
}

func TestNoEndpointIsANoOp(t *testing.T) {
	t.Parallel()
	a := newFleetAgent(createDefaultConfig(), extensiontest.NewNopSettings(metadata.Type), &fakeValidator{})
	require.NoError(t, a.Start(context.Background(), componenttest.NewNopHost()))
	a.RegisterStatusSource("spool", &source{})()
	a.ComponentStatusChanged(componentstatus.NewInstanceID(component.MustNewID("spool"), component.KindReceiver), componentstatus.NewEvent(componentstatus.StatusOK))
	require.NoError(t, a.NotifyConfigSnapshot(context.Background(), extensioncapabilities.NewConfigSnapshot(confmap.New(), nil)))
	require.NoError(t, a.Ready())
	require.NoError(t, a.Shutdown(context.Background()))
	require.NoError(t, a.Shutdown(context.Background()))
}

func TestRemoteConfigOffWithoutFleetProvider(t *testing.T) {
	t.Parallel()
	f := newFleet(t, "atm-0042")
	srv := newOpAMPServer(t, f)
	startAgent(t, testConfig(t, f, srv.url()), &fakeValidator{notServed: true})
	eventually(t, "a first message", func() bool { return len(srv.messages()) > 0 })
	caps := srv.messages()[0].Capabilities
	assert.Zero(t, caps&uint64(protobufs.AgentCapabilities_AgentCapabilities_AcceptsRemoteConfig))
}

func TestExecValidatorCommand(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		args   []string
		served bool
		want   []string
	}{
		{name: "equals form", args: []string{"agent", "--config=/etc/a.yaml", "--config=fleet:/var/lib/x/remote/"},
			served: true, want: []string{"validate", "--config=/etc/a.yaml", "--config=file:/tmp/c.yaml"}},
		{name: "separate value", args: []string{"agent", "--config", "file:/etc/a.yaml", "--config", "fleet:/var/lib/x/remote", "--set=a=b"},
			served: true, want: []string{"validate", "--config", "file:/etc/a.yaml", "--config", "file:/tmp/c.yaml", "--set=a=b"}},
		{name: "other directory", args: []string{"agent", "--config=fleet:/elsewhere"}, want: []string{"validate", "--config=fleet:/elsewhere"}},
		{name: "none", args: []string{"agent", "--config=/etc/a.yaml"}, want: []string{"validate", "--config=/etc/a.yaml"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			v := newExecValidator("/var/lib/x/remote", tt.args)
			assert.Equal(t, tt.served, v.served())
			assert.Equal(t, tt.want, v.command("/tmp/c.yaml"))
		})
	}
}

func TestExecValidatorReportsTheChildsError(t *testing.T) {
	t.Parallel()
	// A stand-in for the agent binary whose `validate` refuses.
	exe := filepath.Join(t.TempDir(), "agent")
	require.NoError(t, os.WriteFile(exe, []byte("#!/bin/sh\necho \"$1 $2\"\necho 'Error: invalid configuration: receivers::spool: bad' >&2\nexit 1\n"), 0o700))
	v := newExecValidator("/r", []string{"agent", "--config=fleet:/r"})
	v.exe = exe
	err := v.validate(context.Background(), "/tmp/c.yaml")
	require.ErrorIs(t, err, ErrInvalid)
	assert.ErrorContains(t, err, "validate --config=file:/tmp/c.yaml")
	assert.ErrorContains(t, err, "receivers::spool: bad")

	require.NoError(t, os.WriteFile(exe, []byte("#!/bin/sh\nexit 0\n"), 0o700))
	require.NoError(t, v.validate(context.Background(), "/tmp/c.yaml"))
}
