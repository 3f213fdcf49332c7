package fleetmetadataprocessor

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/open-telemetry/opentelemetry-collector-contrib/processor/resourceprocessor"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/client"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/processor"
	"go.opentelemetry.io/collector/processor/processortest"

	"github.com/fleetlog/fleetlog/internal/fleetattr"
	"github.com/fleetlog/fleetlog/processors/fleetmetadataprocessor/internal/metadata"
)

// benchLogs is a typical agent batch: 10 resources (files, syslog peers) of
// 10 records each.
func benchLogs() plog.Logs {
	ld := plog.NewLogs()
	for range 10 {
		rl := ld.ResourceLogs().AppendEmpty()
		rl.Resource().Attributes().PutStr("log.file.name", "app.log")
		lrs := rl.ScopeLogs().AppendEmpty().LogRecords()
		for range 10 {
			lrs.AppendEmpty().Body().SetStr("2026-11-24T10:00:00Z INFO request served in 12ms")
		}
	}
	return ld
}

// startBench starts p and stops it when the benchmark ends.
func startBench(b *testing.B, p processor.Logs) processor.Logs {
	b.Helper()
	require.NoError(b, p.Start(context.Background(), componenttest.NewNopHost()))
	b.Cleanup(func() { require.NoError(b, p.Shutdown(context.Background())) })
	return p
}

// agentBenchConfig stamps every attribute agent mode can set.
func agentBenchConfig(b *testing.B) *Config {
	cfg := createDefaultConfig()
	cfg.Detection = DetectionConfig{} // host name and version only: no files
	cfg.Device = DeviceConfig{
		ID: "atm-0042", Fleet: "atms", Site: "branch-7", Region: "eu-west",
		Environment: "production", Model: "ATM-9000", FirmwareVersion: "4.10",
	}
	cfg.Labels = map[string]string{"rack": "a3", "owner": "branch-ops"}
	require.NoError(b, cfg.Validate())
	return cfg
}

// contribResource returns the contrib resource processor upserting what
// agent mode stamps, the stock way to stamp static resource attributes.
func contribResource(b *testing.B, stamped plog.Logs) processor.Logs {
	var actions []any
	stamped.ResourceLogs().At(0).Resource().Attributes().Range(func(k string, v pcommon.Value) bool {
		if k != "log.file.name" {
			actions = append(actions, map[string]any{"key": k, "value": v.AsString(), "action": "upsert"})
		}
		return true
	})
	f := resourceprocessor.NewFactory()
	cfg := f.CreateDefaultConfig()
	require.NoError(b, confmap.NewFromStringMap(map[string]any{"attributes": actions}).Unmarshal(cfg))
	p, err := f.CreateLogs(context.Background(), processortest.NewNopSettings(f.Type()), cfg, consumertest.NewNop())
	require.NoError(b, err)
	return startBench(b, p)
}

// BenchmarkAgent compares agent mode with the contrib resource processor
// stamping the same 12 attributes on the same batch, alternating the two in
// one loop so both see the same machine load, and reports ours/contrib.
func BenchmarkAgent(b *testing.B) {
	ctx := context.Background()
	ours, err := NewFactory().CreateLogs(ctx, processortest.NewNopSettings(metadata.Type), agentBenchConfig(b), consumertest.NewNop())
	require.NoError(b, err)
	startBench(b, ours)
	oursLogs := benchLogs()
	require.NoError(b, ours.ConsumeLogs(ctx, oursLogs))
	// 12 stamped (no os.version: detection reads no files here) + log.file.name.
	require.Equal(b, 13, oursLogs.ResourceLogs().At(0).Resource().Attributes().Len())
	contrib := contribResource(b, oursLogs)
	contribLogs := benchLogs()

	var tOurs, tContrib time.Duration
	for b.Loop() {
		t0 := time.Now()
		if err := ours.ConsumeLogs(ctx, oursLogs); err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		if err := contrib.ConsumeLogs(ctx, contribLogs); err != nil {
			b.Fatal(err)
		}
		tContrib += time.Since(t1)
		tOurs += t1.Sub(t0)
	}
	b.ReportMetric(float64(tOurs.Nanoseconds())/float64(b.N), "fleet_metadata-ns/batch")
	b.ReportMetric(float64(tContrib.Nanoseconds())/float64(b.N), "contrib_resource-ns/batch")
	b.ReportMetric(float64(tOurs)/float64(tContrib), "ratio-to-contrib")
}

// BenchmarkGateway measures gateway mode on a batch with a spoofed claim on
// every resource, the most work per resource.
func BenchmarkGateway(b *testing.B) {
	cfg := createDefaultConfig()
	cfg.Mode = ModeGateway
	cfg.Gateway.ID = "gw-1"
	p, err := NewFactory().CreateLogs(context.Background(), processortest.NewNopSettings(metadata.Type), cfg, consumertest.NewNop())
	require.NoError(b, err)
	ctx := client.NewContext(context.Background(), client.Info{Auth: authData{fleetattr.DeviceID: "atm-1", fleetattr.FleetName: "atms"}})
	startBench(b, p)
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		ld := benchLogs()
		rls := ld.ResourceLogs()
		for i := range rls.Len() {
			rls.At(i).Resource().Attributes().PutStr(fleetattr.DeviceID, "atm-2")
		}
		b.StartTimer()
		if err := p.ConsumeLogs(ctx, ld); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkGatewayDevices measures gateway mode (the limiter included) as
// the gateway runs it: 40-record batches, each from its own device of
// 1000, with the resource an agent stamps and the identity fleet_identity
// puts in the request's context.
func BenchmarkGatewayDevices(b *testing.B) {
	const devices, perBatch = 1000, 40
	cfg := createDefaultConfig()
	cfg.Mode = ModeGateway
	cfg.Gateway.ID = "gw-1"
	p, err := NewFactory().CreateLogs(context.Background(), processortest.NewNopSettings(metadata.Type), cfg, consumertest.NewNop())
	require.NoError(b, err)
	startBench(b, p)
	in := make([]plog.Logs, devices)
	ctxs := make([]context.Context, devices)
	for d := range devices {
		dev := fmt.Sprintf("edge-%05d", d)
		ctxs[d] = client.NewContext(context.Background(), client.Info{Auth: authData{
			fleetattr.DeviceID: dev, fleetattr.FleetName: "fleet-1", fleetattr.FleetSite: "site-1",
		}})
		ld := plog.NewLogs()
		rl := ld.ResourceLogs().AppendEmpty()
		ra := rl.Resource().Attributes()
		for _, kv := range [][2]string{
			{fleetattr.DeviceID, dev}, {fleetattr.FleetName, "fleet-1"}, {fleetattr.FleetSite, "site-1"},
			{"host.name", dev}, {"os.type", "linux"}, {"host.arch", "amd64"},
			{"device.firmware.version", "4.2.1"}, {"fleetlog.agent.version", "0.1.0"},
		} {
			ra.PutStr(kv[0], kv[1])
		}
		lrs := rl.ScopeLogs().AppendEmpty().LogRecords()
		for range perBatch {
			lr := lrs.AppendEmpty()
			lr.Body().SetStr("2026-11-24T10:00:00Z INFO request served in 12ms")
			lr.Attributes().PutStr("log.file.name", "app.log")
		}
		in[d] = ld
	}
	work := make([]plog.Logs, devices)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		k := i % devices
		if k == 0 {
			b.StopTimer()
			for j := range in {
				work[j] = plog.NewLogs()
				in[j].CopyTo(work[j])
			}
			b.StartTimer()
		}
		if err := p.ConsumeLogs(ctxs[k], work[k]); err != nil {
			b.Fatal(err)
		}
		i++
	}
}
