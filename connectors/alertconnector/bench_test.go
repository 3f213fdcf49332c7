package alertconnector

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/connector/connectortest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/fleetlog/fleetlog/connectors/alertconnector/internal/metadata"
	"github.com/fleetlog/fleetlog/internal/loghub"
)

// benchBatches builds batches as the gateway's connector receives them: one
// device per batch, its records real loghub lines (every system, so the
// pack's patterns meet real text), resource and record attributes as the
// agent and fleet_metadata leave them.
func benchBatches(b *testing.B, devices, perBatch int) []plog.Logs {
	lines, err := loghub.AllLines(loghub.Require(b))
	require.NoError(b, err)
	out := make([]plog.Logs, devices)
	n := 0
	for d := range out {
		ld := plog.NewLogs()
		rl := ld.ResourceLogs().AppendEmpty()
		ra := rl.Resource().Attributes()
		ra.PutStr("device.id", fmt.Sprintf("edge-%05d", d))
		ra.PutStr("fleet.name", fmt.Sprintf("fleet-%d", d%8))
		ra.PutStr("fleet.site", fmt.Sprintf("site-%d", d%40))
		ra.PutStr("device.firmware.version", "4.2.1")
		ra.PutStr("device.model", "rpi4")
		ra.PutStr("host.name", fmt.Sprintf("edge-%05d", d))
		ra.PutStr("os.type", "linux")
		ra.PutStr("fleetlog.agent.version", "0.1.0")
		ra.PutStr("fleet.gateway.id", "gw-1")
		sl := rl.ScopeLogs().AppendEmpty()
		for range perBatch {
			lr := sl.LogRecords().AppendEmpty()
			lr.Body().SetStr(lines[n%len(lines)])
			n++
			lr.SetTimestamp(pcommon.NewTimestampFromTime(time.Now()))
			lr.SetSeverityNumber(plog.SeverityNumberInfo)
			lr.Attributes().PutStr("log.file.name", "syslog")
			lr.Attributes().PutStr("log.file.path", "/var/log/syslog")
			lr.Attributes().PutInt("fleet.spool.seq", int64(n))
		}
		out[d] = ld
	}
	return out
}

// startBench starts a connector with the rule pack pack that passes records
// on to nothing, and shuts it down when b ends.
func startBench(b *testing.B, pack []string) *alertConnector {
	cfg := createDefaultConfig().(*Config)
	cfg.Pack = pack
	conn, err := NewFactory().CreateLogsToLogs(context.Background(), connectortest.NewNopSettings(metadata.Type), cfg, consumertest.NewNop())
	require.NoError(b, err)
	c := conn.(*alertConnector)
	require.NoError(b, c.Start(context.Background(), componenttest.NewNopHost()))
	b.Cleanup(func() { require.NoError(b, c.Shutdown(context.Background())) })
	return c
}

// BenchmarkConsumeLogs measures the connector's cost per record with no
// rules (pure pass-through) and with the whole shipped pack, over 1000
// devices' batches of 512 records. records/s is per core.
func BenchmarkConsumeLogs(b *testing.B) {
	batches := benchBatches(b, 1000, 512)
	for _, tt := range []struct {
		name string
		pack []string
	}{
		{"pack=off", nil},
		{"pack=on", []string{"all"}},
	} {
		b.Run(tt.name, func(b *testing.B) {
			c := startBench(b, tt.pack)
			ctx := context.Background()
			i := 0
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				_ = c.ConsumeLogs(ctx, batches[i%len(batches)])
				i++
			}
			b.ReportMetric(float64(i*512)/b.Elapsed().Seconds(), "records/s")
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(i*512), "ns/record")
		})
	}
}

// gatewayPack is the rule pack of distributions/gateway/config.yaml.
var gatewayPack = []string{
	"auth_brute_force", "sudo_by_unknown_user", "crash_loop", "oom_kill", "firmware_change",
	"identity_spoof_attempt", "pii_leaked_from_agent", "device_silent", "device_unreachable",
	"archive_witness_inconsistent",
}

// BenchmarkGateway measures the connector as the gateway runs it: the
// shipped gateway pack over 40-record batches of 2000 distinct devices,
// from concurrent requests (RunParallel, one goroutine per core).
func BenchmarkGateway(b *testing.B) {
	batches := benchBatches(b, 2000, 40)
	c := startBench(b, gatewayPack)
	ctx := context.Background()
	var next atomic.Int64
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			_ = c.ConsumeLogs(ctx, batches[int(next.Add(1))%len(batches)])
		}
	})
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*40), "ns/record")
}
