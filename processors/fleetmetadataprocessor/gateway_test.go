package fleetmetadataprocessor

import (
	"context"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/client"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/processor/processortest"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/metric/metricdata/metricdatatest"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/fleetlog/fleetlog/internal/fleetattr"
	"github.com/fleetlog/fleetlog/internal/spoolstamp"
	"github.com/fleetlog/fleetlog/processors/fleetmetadataprocessor/internal/metadata"
	"github.com/fleetlog/fleetlog/processors/fleetmetadataprocessor/internal/metadatatest"
)

// authData stands in for fleet_identity's client.AuthData.
type authData map[string]string

func (a authData) GetAttribute(name string) any {
	if v, ok := a[name]; ok {
		return v
	}
	return nil
}

func (a authData) GetAttributeNames() []string {
	names := make([]string, 0, len(a))
	for k := range a {
		names = append(names, k)
	}
	return names
}

func authenticated(auth client.AuthData) context.Context {
	return client.NewContext(context.Background(), client.Info{Addr: &net.TCPAddr{Port: 4317}, Auth: auth})
}

// gatewayPipeline starts a gateway-mode processor through the factory, in
// front of a sink, with telemetry the test can read.
func gatewayPipeline(t *testing.T, reject bool) (*consumertest.LogsSink, func(context.Context, plog.Logs) error, *componenttest.Telemetry) {
	t.Helper()
	tel := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tel.Shutdown(context.Background())) })
	cfg := createDefaultConfig()
	cfg.Mode = ModeGateway
	cfg.Gateway = GatewayConfig{ID: "gw-1", RejectMismatch: reject}
	sink := &consumertest.LogsSink{}
	p, err := NewFactory().CreateLogs(context.Background(), metadatatest.NewSettings(tel), cfg, sink)
	require.NoError(t, err)
	require.NoError(t, p.Start(context.Background(), componenttest.NewNopHost()))
	t.Cleanup(func() { require.NoError(t, p.Shutdown(context.Background())) })
	return sink, p.ConsumeLogs, tel
}

func TestGatewayCertificateIdentityWins(t *testing.T) {
	t.Parallel()
	sink, consume, tel := gatewayPipeline(t, false)
	ld := plog.NewLogs()
	for _, attrs := range []map[string]any{
		{fleetattr.DeviceID: "atm-2", fleetattr.FleetName: "claimed-fleet", "service.name": "pos"}, // spoofed
		{fleetattr.DeviceID: "atm-1"}, // honest
		{},                            // no claim
		{fleetattr.IdentityMismatch: false, fleetattr.GatewayID: "forged", fleetattr.ClaimedDeviceID: "x", fleetattr.ClaimedFleetName: "y"}, // forged gateway stamps
	} {
		rl := ld.ResourceLogs().AppendEmpty()
		require.NoError(t, rl.Resource().Attributes().FromRaw(attrs))
		rl.ScopeLogs().AppendEmpty().LogRecords().AppendEmpty()
	}
	before := time.Now().UTC()
	require.NoError(t, consume(authenticated(authData{fleetattr.DeviceID: "atm-1", fleetattr.FleetName: "atms", fleetattr.FleetSite: "branch-7"}), ld))
	require.Len(t, sink.AllLogs(), 1)
	out := sink.AllLogs()[0]

	spoofed := resourceAttrs(t, out, 0)
	assert.Equal(t, "atm-1", spoofed[fleetattr.DeviceID])
	assert.Equal(t, "atm-2", spoofed[fleetattr.ClaimedDeviceID])
	assert.Equal(t, true, spoofed[fleetattr.IdentityMismatch])
	assert.Equal(t, "atms", spoofed[fleetattr.FleetName])
	assert.Equal(t, "claimed-fleet", spoofed[fleetattr.ClaimedFleetName])
	assert.Equal(t, "branch-7", spoofed[fleetattr.FleetSite])
	assert.Equal(t, "pos", spoofed["service.name"])
	assert.Equal(t, "gw-1", spoofed[fleetattr.GatewayID])
	received, err := time.Parse(time.RFC3339Nano, spoofed[fleetattr.GatewayReceivedTime].(string))
	require.NoError(t, err)
	assert.False(t, received.Before(before.Truncate(time.Second)))

	for i := 1; i <= 3; i++ {
		attrs := resourceAttrs(t, out, i)
		assert.Equal(t, "atm-1", attrs[fleetattr.DeviceID], "resource %d", i)
		assert.NotContains(t, attrs, fleetattr.ClaimedDeviceID, "resource %d", i)
		assert.NotContains(t, attrs, fleetattr.ClaimedFleetName, "resource %d", i)
		assert.NotContains(t, attrs, fleetattr.IdentityMismatch, "resource %d", i)
		assert.Equal(t, "gw-1", attrs[fleetattr.GatewayID], "resource %d", i)
	}
	metadatatest.AssertEqualProcessorFleetMetadataIdentityMismatches(t, tel,
		[]metricdata.DataPoint[int64]{{Value: 1}}, metricdatatest.IgnoreTimestamp())
}

func TestGatewayFleetAndSiteComeOnlyFromTheCertificate(t *testing.T) {
	t.Parallel()
	certified := authData{fleetattr.DeviceID: "atm-1", fleetattr.FleetName: "atms", fleetattr.FleetSite: "branch-7"}
	bare := authData{fleetattr.DeviceID: "atm-1"}
	for _, tc := range []struct {
		name  string
		auth  authData
		claim map[string]any
		want  map[string]any // fleet and claimed attributes on the stored resource
	}{
		{
			name:  "certificate overrides a differing claim and keeps it",
			auth:  certified,
			claim: map[string]any{fleetattr.FleetName: "payments", fleetattr.FleetSite: "hq"},
			want: map[string]any{
				fleetattr.FleetName: "atms", fleetattr.FleetSite: "branch-7",
				fleetattr.ClaimedFleetName: "payments", fleetattr.ClaimedFleetSite: "hq",
			},
		},
		{
			name:  "claim agreeing with the certificate is not kept",
			auth:  certified,
			claim: map[string]any{fleetattr.FleetName: "atms", fleetattr.FleetSite: "branch-7"},
			want:  map[string]any{fleetattr.FleetName: "atms", fleetattr.FleetSite: "branch-7"},
		},
		{
			name:  "certificate without fleet or site removes the claim and keeps it",
			auth:  bare,
			claim: map[string]any{fleetattr.FleetName: "payments", fleetattr.FleetSite: "hq"},
			want:  map[string]any{fleetattr.ClaimedFleetName: "payments", fleetattr.ClaimedFleetSite: "hq"},
		},
		{
			name:  "certificate names the fleet only",
			auth:  authData{fleetattr.DeviceID: "atm-1", fleetattr.FleetName: "atms"},
			claim: map[string]any{fleetattr.FleetName: "atms", fleetattr.FleetSite: "hq"},
			want:  map[string]any{fleetattr.FleetName: "atms", fleetattr.ClaimedFleetSite: "hq"},
		},
		{
			name:  "empty claim is removed, not kept",
			auth:  bare,
			claim: map[string]any{fleetattr.FleetName: "", fleetattr.FleetSite: ""},
			want:  map[string]any{},
		},
		{
			name:  "no claim, certificate names them",
			auth:  certified,
			claim: map[string]any{},
			want:  map[string]any{fleetattr.FleetName: "atms", fleetattr.FleetSite: "branch-7"},
		},
		{
			name:  "no claim, certificate does not name them",
			auth:  bare,
			claim: map[string]any{},
			want:  map[string]any{},
		},
		{
			name:  "forged claimed attributes are dropped",
			auth:  bare,
			claim: map[string]any{fleetattr.ClaimedFleetName: "payments", fleetattr.ClaimedFleetSite: "hq"},
			want:  map[string]any{},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			sink, consume, tel := gatewayPipeline(t, false)
			require.NoError(t, consume(authenticated(tc.auth), oneResource(tc.claim)))
			attrs := resourceAttrs(t, sink.AllLogs()[0], 0)
			got := map[string]any{}
			for _, k := range []string{fleetattr.FleetName, fleetattr.FleetSite, fleetattr.ClaimedFleetName, fleetattr.ClaimedFleetSite} {
				if v, ok := attrs[k]; ok {
					got[k] = v
				}
			}
			assert.Equal(t, tc.want, got)
			assert.NotContains(t, attrs, fleetattr.IdentityMismatch, "only a device.id claim is a mismatch")
			_, err := tel.GetMetric("otelcol_processor_fleet_metadata_identity_mismatches")
			assert.Error(t, err, "no mismatch is counted")
		})
	}
}

func TestGatewayRejectMismatch(t *testing.T) {
	t.Parallel()
	sink, consume, tel := gatewayPipeline(t, true)
	err := consume(authenticated(authData{fleetattr.DeviceID: "atm-1"}), oneResource(map[string]any{fleetattr.DeviceID: "atm-2"}))
	require.ErrorIs(t, err, ErrIdentityMismatch)
	assert.True(t, consumererror.IsPermanent(err))
	assert.ErrorContains(t, err, `"atm-2"`)
	assert.Equal(t, codes.PermissionDenied, status.Code(err), "the receiver answers PermissionDenied")
	assert.Empty(t, sink.AllLogs())
	metadatatest.AssertEqualProcessorFleetMetadataIdentityMismatches(t, tel,
		[]metricdata.DataPoint[int64]{{Value: 1}}, metricdatatest.IgnoreTimestamp())
	metadatatest.AssertEqualProcessorFleetMetadataRefusedBatches(t, tel,
		[]metricdata.DataPoint[int64]{{Value: 1}}, metricdatatest.IgnoreTimestamp())

	// An honest batch passes.
	require.NoError(t, consume(authenticated(authData{fleetattr.DeviceID: "atm-1"}), oneResource(map[string]any{fleetattr.DeviceID: "atm-1"})))
	assert.Len(t, sink.AllLogs(), 1)
}

func TestGatewayRefusesUnauthenticated(t *testing.T) {
	t.Parallel()
	sink, consume, tel := gatewayPipeline(t, false)
	for name, ctx := range map[string]context.Context{
		"no client info":         context.Background(),
		"client info, no auth":   client.NewContext(context.Background(), client.Info{Addr: &net.TCPAddr{}}),
		"auth without device.id": authenticated(authData{fleetattr.FleetName: "atms"}),
	} {
		err := consume(ctx, oneResource(map[string]any{fleetattr.DeviceID: "atm-1"}))
		require.ErrorIs(t, err, ErrUnauthenticated, name)
		assert.True(t, consumererror.IsPermanent(err), name)
		assert.Equal(t, codes.Unauthenticated, status.Code(err), name)
	}
	assert.Empty(t, sink.AllLogs())
	metadatatest.AssertEqualProcessorFleetMetadataRefusedBatches(t, tel,
		[]metricdata.DataPoint[int64]{{Value: 3}}, metricdatatest.IgnoreTimestamp())
}

func TestGatewayIDDefaultsToHostName(t *testing.T) {
	t.Parallel()
	cfg := createDefaultConfig()
	cfg.Mode = ModeGateway
	p, err := newGatewayProcessor(cfg, metadatatest.NewSettings(componenttest.NewTelemetry()), fixedHost(""))
	require.NoError(t, err)
	require.NoError(t, p.start(context.Background(), componenttest.NewNopHost()))
	assert.Equal(t, "kiosk-host", p.gatewayID)
	require.NoError(t, p.shutdown(context.Background()))
}

// registry stands in for fleet_control's fleet registry.
type registry struct {
	component.StartFunc
	component.ShutdownFunc
	mu    sync.Mutex
	calls [][4]string
}

func (r *registry) RecordIdentityMismatch(deviceID, fleet, site, claimed string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, [4]string{deviceID, fleet, site, claimed})
}

type hostWith map[component.ID]component.Component

func (h hostWith) GetExtensions() map[component.ID]component.Component { return h }

func TestGatewayReportsMismatchesToFleetRegistry(t *testing.T) {
	t.Parallel()
	for _, reject := range []bool{false, true} {
		reg := &registry{}
		cfg := createDefaultConfig()
		cfg.Mode = ModeGateway
		cfg.Gateway = GatewayConfig{ID: "gw-1", RejectMismatch: reject}
		p, err := NewFactory().CreateLogs(context.Background(), processortest.NewNopSettings(metadata.Type), cfg, &consumertest.LogsSink{})
		require.NoError(t, err)
		host := hostWith{component.MustNewID("fleet_control"): reg}
		require.NoError(t, p.Start(context.Background(), host))
		ctx := authenticated(authData{fleetattr.DeviceID: "atm-1", fleetattr.FleetName: "atms", fleetattr.FleetSite: "branch-7"})
		ld := plog.NewLogs()
		for _, claim := range []string{"atm-2", "atm-2", "atm-1"} {
			rl := ld.ResourceLogs().AppendEmpty()
			rl.Resource().Attributes().PutStr(fleetattr.DeviceID, claim)
			rl.ScopeLogs().AppendEmpty().LogRecords().AppendEmpty()
		}
		_ = p.ConsumeLogs(ctx, ld)
		honest := plog.NewLogs()
		honest.ResourceLogs().AppendEmpty().Resource().Attributes().PutStr(fleetattr.DeviceID, "atm-1")
		require.NoError(t, p.ConsumeLogs(ctx, honest))
		require.NoError(t, p.Shutdown(context.Background()))
		assert.Equal(t, [][4]string{{"atm-1", "atms", "branch-7", "atm-2"}}, reg.calls, "once per batch, reject_mismatch %v", reject)
	}
}

// TestGatewayKeepsSpoolStamp: the spool stamp (in either form) passes
// unchanged, and the device the archive keys it by is the certificate's,
// so a device claiming another's identity cannot touch that device's
// de-duplication state.
func TestGatewayKeepsSpoolStamp(t *testing.T) {
	t.Parallel()
	sink, consume, _ := gatewayPipeline(t, false)
	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	rl.Resource().Attributes().PutStr(fleetattr.DeviceID, "atm-2") // claims another device
	sl := rl.ScopeLogs().AppendEmpty()
	spoolstamp.StampScope(sl.Scope().Attributes(), "0123456789abcdef0123456789abcdef")
	lr := sl.LogRecords().AppendEmpty()
	spoolstamp.StampSeq(lr.Attributes(), 1<<40)
	old := sl.LogRecords().AppendEmpty() // an older agent's per-record form
	spoolstamp.StampRecord(old.Attributes(), "0123456789abcdef0123456789abcdef", 1<<40+1)
	wantScope, want, wantOld := sl.Scope().Attributes().AsRaw(), lr.Attributes().AsRaw(), old.Attributes().AsRaw()
	require.NoError(t, consume(authenticated(authData{fleetattr.DeviceID: "atm-1"}), ld))
	out := sink.AllLogs()[0]
	assert.Equal(t, "atm-1", resourceAttrs(t, out, 0)[fleetattr.DeviceID])
	osl := out.ResourceLogs().At(0).ScopeLogs().At(0)
	assert.Equal(t, wantScope, osl.Scope().Attributes().AsRaw())
	assert.Equal(t, want, osl.LogRecords().At(0).Attributes().AsRaw())
	assert.Equal(t, wantOld, osl.LogRecords().At(1).Attributes().AsRaw())
}
