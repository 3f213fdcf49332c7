package fleetcontrolextension

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/open-telemetry/opamp-go/client"
	"github.com/open-telemetry/opamp-go/client/types"
	"github.com/open-telemetry/opamp-go/protobufs"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/config/configtls"
	"go.opentelemetry.io/collector/extension/extensiontest"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/fleetlog/fleetlog/extensions/fleetcontrolextension/internal/metadata"
	"github.com/fleetlog/fleetlog/extensions/fleetcontrolextension/internal/store"
	"github.com/fleetlog/fleetlog/internal/fleetapi"
	"github.com/fleetlog/fleetlog/internal/fleetproto"
	"github.com/fleetlog/fleetlog/internal/pki"
)

// fleetPKI is a certificate directory with the gateway, devices and an operator.
type fleetPKI struct {
	dir string
	res *pki.InitResult
}

func newFleetPKI(t *testing.T) *fleetPKI {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "pki")
	res, err := pki.Init(dir, pki.InitOptions{})
	require.NoError(t, err)
	return &fleetPKI{dir: dir, res: res}
}

func (p *fleetPKI) device(t *testing.T, id, fleet string) *tls.Config {
	t.Helper()
	res, err := pki.IssueDevice(p.dir, pki.DeviceOptions{DeviceID: id, Fleet: fleet, Site: "north"})
	require.NoError(t, err)
	return p.clientTLS(t, res.Cert, res.Key)
}

func (p *fleetPKI) operator(t *testing.T, name string) *pki.DeviceResult {
	t.Helper()
	res, err := pki.IssueOperator(p.dir, pki.OperatorOptions{Name: name})
	require.NoError(t, err)
	return res
}

func (p *fleetPKI) clientTLS(t *testing.T, certFile, keyFile string) *tls.Config {
	t.Helper()
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	require.NoError(t, err)
	caPEM, err := os.ReadFile(p.res.CACert)
	require.NoError(t, err)
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	return &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS13}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	return addr
}

func testConfig(t *testing.T, p *fleetPKI, addr string) *Config {
	cfg := createDefaultConfig()
	cfg.Admin.NetAddr.Endpoint = addr
	cfg.Admin.TLS = configoptional.Some(configtls.ServerConfig{
		Config:       configtls.Config{CertFile: p.res.GatewayCert, KeyFile: p.res.GatewayKey, MinVersion: "1.3"},
		ClientCAFile: p.res.GatewayCA,
	})
	cfg.Storage.Directory = filepath.Join(t.TempDir(), "fleet")
	cfg.Storage.FlushInterval = 100 * time.Millisecond
	cfg.RemoteConfig.SigningKeyFile = p.res.ConfigKey
	cfg.DenyList.Path = filepath.Join(t.TempDir(), "denied.txt")
	require.NoError(t, os.WriteFile(cfg.DenyList.Path, []byte("atm-9\n"), 0o600))
	require.NoError(t, cfg.Validate())
	return cfg
}

// agent is an OpAMP client with a device certificate, as the fleet_agent
// extension is.
type agent struct {
	c       client.OpAMPClient
	mu      sync.Mutex
	configs []*protobufs.AgentRemoteConfig
	custom  []*protobufs.CustomMessage
}

func startAgent(t *testing.T, url string, tlsCfg *tls.Config, device, claim string) *agent {
	t.Helper()
	a := &agent{}
	if strings.HasPrefix(url, "wss://") {
		a.c = client.NewWebSocket(nil)
	} else {
		a.c = client.NewHTTP(nil)
	}
	var uid types.InstanceUid
	_, err := rand.Read(uid[:])
	require.NoError(t, err)
	str := func(k, v string) *protobufs.KeyValue {
		return &protobufs.KeyValue{Key: k, Value: &protobufs.AnyValue{Value: &protobufs.AnyValue_StringValue{StringValue: v}}}
	}
	require.NoError(t, a.c.SetAgentDescription(&protobufs.AgentDescription{
		IdentifyingAttributes:    []*protobufs.KeyValue{str(fleetproto.DescriptionDeviceID, claim), str(fleetproto.DescriptionVersion, "v-test")},
		NonIdentifyingAttributes: []*protobufs.KeyValue{str(fleetproto.DescriptionLabelPrefix+"ring", "canary")},
	}))
	require.NoError(t, a.c.SetHealth(&protobufs.ComponentHealth{Healthy: true}))
	require.NoError(t, a.c.SetCustomCapabilities(&protobufs.CustomCapabilities{Capabilities: []string{fleetproto.StatusCapability, fleetproto.CheckpointCapability}}))
	hb := 200 * time.Millisecond
	err = a.c.Start(context.Background(), types.StartSettings{
		OpAMPServerURL:    url,
		TLSConfig:         tlsCfg,
		InstanceUid:       uid,
		HeartbeatInterval: &hb,
		Capabilities: protobufs.AgentCapabilities_AgentCapabilities_ReportsStatus |
			protobufs.AgentCapabilities_AgentCapabilities_AcceptsRemoteConfig |
			protobufs.AgentCapabilities_AgentCapabilities_ReportsRemoteConfig |
			protobufs.AgentCapabilities_AgentCapabilities_ReportsHealth |
			protobufs.AgentCapabilities_AgentCapabilities_ReportsHeartbeat,
		Callbacks: types.Callbacks{OnMessage: func(_ context.Context, msg *types.MessageData) {
			if msg.RemoteConfig != nil {
				a.mu.Lock()
				a.configs = append(a.configs, msg.RemoteConfig)
				a.mu.Unlock()
			}
			if msg.CustomMessage != nil {
				a.mu.Lock()
				a.custom = append(a.custom, msg.CustomMessage)
				a.mu.Unlock()
			}
		}},
	})
	require.NoError(t, err)
	if hc, ok := a.c.(interface{ SetPollingInterval(time.Duration) }); ok {
		hc.SetPollingInterval(hb)
	}
	t.Cleanup(func() { _ = a.c.Stop(context.Background()) })
	return a
}

func (a *agent) sendStatus(t *testing.T, s *fleetproto.Status) {
	t.Helper()
	b, err := fleetproto.MarshalStatus(s)
	require.NoError(t, err)
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		_, err := a.c.SendCustomMessage(&protobufs.CustomMessage{Capability: fleetproto.StatusCapability, Type: fleetproto.StatusMessageType, Data: b})
		assert.NoError(c, err)
	}, 5*time.Second, 50*time.Millisecond)
}

func (a *agent) customMessages() []*protobufs.CustomMessage {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]*protobufs.CustomMessage(nil), a.custom...)
}

func (a *agent) remoteConfigs() []*protobufs.AgentRemoteConfig {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]*protobufs.AgentRemoteConfig(nil), a.configs...)
}

func TestFleetControl(t *testing.T) {
	p := newFleetPKI(t)
	addr := freeAddr(t)
	cfg := testConfig(t, p, addr)
	tel := componenttest.NewTelemetry()
	t.Cleanup(func() { _ = tel.Shutdown(context.Background()) })
	set := extensiontest.NewNopSettings(metadata.Type)
	set.TelemetrySettings = tel.NewTelemetrySettings()
	ext, err := NewFactory().Create(context.Background(), set, cfg)
	require.NoError(t, err)
	require.NoError(t, ext.Start(context.Background(), componenttest.NewNopHost()))
	defer func() { require.NoError(t, ext.Shutdown(context.Background())) }()

	// A WebSocket agent and a plain HTTP one; one claims another identity.
	ws := startAgent(t, "wss://"+addr+OpAMPPath, p.device(t, "atm-1", "atms"), "atm-1", "atm-1")
	startAgent(t, "https://"+addr+OpAMPPath, p.device(t, "kiosk-1", "kiosks"), "kiosk-1", "atm-1")
	startAgent(t, "wss://"+addr+OpAMPPath, p.device(t, "atm-9", "atms"), "atm-9", "atm-9")
	ws.sendStatus(t, &fleetproto.Status{AgentTime: time.Now(), Version: "v1.2.3", Spool: &fleetproto.SpoolStatus{Records: 0}})

	op := p.operator(t, "alice")
	api, err := fleetapi.NewClient("https://"+addr, p.res.CACert, op.Cert, op.Key)
	require.NoError(t, err)
	ctx := context.Background()
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		devices, err := api.Devices(ctx, fleetapi.Filter{})
		require.NoError(c, err)
		states := map[string]string{}
		for _, d := range devices {
			states[d.ID] = d.State
		}
		assert.Equal(c, map[string]string{"atm-1": fleetapi.StateHealthy, "kiosk-1": fleetapi.StateIdentityMismatch, "atm-9": fleetapi.StateDenied}, states)
	}, 10*time.Second, 100*time.Millisecond)
	d, err := api.Device(ctx, "atm-1")
	require.NoError(t, err)
	assert.Equal(t, "atms", d.Fleet)
	assert.Equal(t, "north", d.Site)
	assert.Equal(t, "v1.2.3", d.Version)
	assert.Equal(t, map[string]string{"ring": "canary"}, d.Labels)
	assert.Equal(t, "v-test", d.Description["service.version"])
	assert.True(t, d.Connected)
	_, err = api.Device(ctx, "nobody")
	assert.ErrorIs(t, err, fleetapi.ErrNotFound)

	t.Run("a device certificate is refused on the admin API", func(t *testing.T) {
		dev, err := pki.IssueDevice(p.dir, pki.DeviceOptions{DeviceID: "atm-2", Fleet: "atms"})
		require.NoError(t, err)
		devAPI, err := fleetapi.NewClient("https://"+addr, p.res.CACert, dev.Cert, dev.Key)
		require.NoError(t, err)
		_, err = devAPI.Devices(ctx, fleetapi.Filter{})
		assert.ErrorContains(t, err, "403")
		hc := &http.Client{Transport: &http.Transport{TLSClientConfig: p.clientTLS(t, dev.Cert, dev.Key)}}
		resp, err := hc.Get("https://" + addr + "/fleet")
		require.NoError(t, err)
		resp.Body.Close()
		assert.Equal(t, http.StatusForbidden, resp.StatusCode)
	})
	t.Run("an operator certificate is refused on OpAMP", func(t *testing.T) {
		hc := &http.Client{Transport: &http.Transport{TLSClientConfig: p.clientTLS(t, op.Cert, op.Key)}}
		resp, err := hc.Post("https://"+addr+OpAMPPath, "application/x-protobuf", strings.NewReader(""))
		require.NoError(t, err)
		resp.Body.Close()
		assert.Equal(t, http.StatusForbidden, resp.StatusCode)
	})
	t.Run("the fleet page", func(t *testing.T) {
		hc := &http.Client{Transport: &http.Transport{TLSClientConfig: p.clientTLS(t, op.Cert, op.Key)}}
		resp, err := hc.Get("https://" + addr + "/fleet?fleet=atms")
		require.NoError(t, err)
		defer resp.Body.Close()
		assert.Equal(t, http.StatusOK, resp.StatusCode)
	})

	t.Run("a fragment that takes pii out is refused, naming the key", func(t *testing.T) {
		_, err := api.SetAssignment(ctx, &fleetapi.AssignmentSpec{Name: "nopii", Selector: fleetapi.Selector{Fleet: "atms"},
			Fragment: "service:\n  pipelines:\n    logs:\n      processors: [fleet_metadata]\n"})
		assert.ErrorContains(t, err, "service::pipelines::logs::processors (locked)")
	})

	a, err := api.SetAssignment(ctx, &fleetapi.AssignmentSpec{Name: "glob", Selector: fleetapi.Selector{Fleet: "atms"},
		Fragment: "receivers:\n  spool:\n    files:\n      app:\n        include: [/var/log/app/*.log]\n"})
	require.NoError(t, err)
	assert.Equal(t, fleetapi.StageAll, a.Stage)
	pub, err := pki.LoadEd25519PublicKey(p.res.ConfigPub)
	require.NoError(t, err)
	var sealed *fleetproto.Assignment
	var rc *protobufs.AgentRemoteConfig
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		cs := ws.remoteConfigs()
		require.NotEmpty(c, cs)
		rc = cs[len(cs)-1]
		sealed, err = fleetproto.Open(rc.Config.ConfigMap[fleetproto.EnvelopeFile].Body, pub, "atm-1")
		require.NoError(c, err)
	}, 10*time.Second, 50*time.Millisecond)
	assert.Equal(t, "glob", sealed.Name)
	assert.Contains(t, string(sealed.Fragment), "/var/log/app/*.log")

	// The agent reports it applied; the rollout completes.
	require.NoError(t, ws.c.SetRemoteConfigStatus(&protobufs.RemoteConfigStatus{LastRemoteConfigHash: rc.ConfigHash, Status: protobufs.RemoteConfigStatuses_RemoteConfigStatuses_APPLIED}))
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		st, err := api.Assignment(ctx, "glob")
		require.NoError(c, err)
		assert.Equal(c, fleetapi.RolloutComplete, st.State)
		assert.Equal(c, 1, st.Counts.Applied)
		assert.Equal(c, []fleetapi.DeviceOutcome{{Device: "atm-1", Serial: sealed.Serial, Outcome: fleetapi.OutcomeApplied}}, st.Devices)
	}, 10*time.Second, 100*time.Millisecond)
	list, err := api.Assignments(ctx)
	require.NoError(t, err)
	require.Len(t, list, 1)

	require.NoError(t, api.DeleteAssignment(ctx, "glob"))
	assert.ErrorIs(t, api.DeleteAssignment(ctx, "glob"), fleetapi.ErrNotFound)

	// The gateway's own metrics.
	sum := func(name string) int64 {
		m, err := tel.GetMetric(name)
		require.NoError(t, err, name)
		var n int64
		switch d := m.Data.(type) {
		case metricdata.Sum[int64]:
			for _, dp := range d.DataPoints {
				n += dp.Value
			}
		case metricdata.Gauge[int64]:
			for _, dp := range d.DataPoints {
				n += dp.Value
			}
		}
		return n
	}
	assert.Positive(t, sum("otelcol_fleet_control_reports"))
	assert.Positive(t, sum("otelcol_fleet_control_config_deliveries"))
	assert.Positive(t, sum("otelcol_fleet_control_refused_connections"), "the denied device, the operator on OpAMP, the device on the API")
	m, err := tel.GetMetric("otelcol_fleet_control_devices")
	require.NoError(t, err)
	perState := map[string]int64{}
	for _, dp := range m.Data.(metricdata.Gauge[int64]).DataPoints {
		state, _ := dp.Attributes.Value("state")
		perState[state.AsString()] = dp.Value
	}
	assert.Equal(t, int64(1), perState[fleetapi.StateDenied])
	assert.Equal(t, int64(1), perState[fleetapi.StateIdentityMismatch])
}

// TestStartsOnceTheDiskHasRoom: a registry that cannot be written (a full
// disk) does not fail Start, so the gateway's intake starts; fleet control
// serves once the registry opens, and Shutdown ends the retries either way.
func TestStartsOnceTheDiskHasRoom(t *testing.T) {
	p := newFleetPKI(t)
	device := p.device(t, "atm-1", "atms")
	for _, opens := range []bool{true, false} {
		addr := freeAddr(t)
		cfg := testConfig(t, p, addr)
		fc, err := newFleetControl(cfg, componenttest.NewNopTelemetrySettings())
		require.NoError(t, err)
		var mu sync.Mutex
		tries := 0
		fc.storeRetry = 20 * time.Millisecond
		fc.openStore = func(dir string) (*store.Store, error) {
			mu.Lock()
			defer mu.Unlock()
			if tries++; !opens || tries < 3 {
				return nil, fmt.Errorf("prepare registry: %w", syscall.ENOSPC)
			}
			return store.Open(dir)
		}
		require.NoError(t, fc.Start(context.Background(), componenttest.NewNopHost()))
		if opens {
			require.Eventually(t, func() bool {
				c, err := tls.Dial("tcp", addr, device)
				if err != nil {
					return false
				}
				return c.Close() == nil
			}, 5*time.Second, 20*time.Millisecond, "fleet control serves once the registry opens")
		}
		require.NoError(t, fc.Shutdown(context.Background()))
	}

	// Any other error still fails Start, naming it.
	cfg := testConfig(t, p, freeAddr(t))
	fc, err := newFleetControl(cfg, componenttest.NewNopTelemetrySettings())
	require.NoError(t, err)
	fc.openStore = func(string) (*store.Store, error) { return nil, errors.New("registry locked by another gateway") }
	require.ErrorContains(t, fc.Start(context.Background(), componenttest.NewNopHost()), "locked")
	require.NoError(t, fc.Shutdown(context.Background()))
}
