package piiprocessor

import (
	"context"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/processor/processortest"

	"github.com/fleetlog/fleetlog/internal/loghub"
	"github.com/fleetlog/fleetlog/internal/pii/piitest"
	"github.com/fleetlog/fleetlog/processors/piiprocessor/internal/metadata"
)

// gatewayBatches builds what the gateway's pii processor receives from
// devices: one device per batch of perBatch records, the agent's resource
// and record attributes (the file, the spool's stamp), bodies from real
// logs (loghub) with one in ten a line of the PII corpus. With redacted,
// the bodies are what an agent's default pii processor leaves.
func gatewayBatches(b *testing.B, devices, perBatch int, redacted bool) []plog.Logs {
	lines, err := loghub.AllLines(loghub.Require(b))
	require.NoError(b, err)
	secrets := piitest.Lines(piitest.LoadCorpus(b))
	var agent *piiProcessor
	if redacted {
		agent, err = newPIIProcessor(processortest.NewNopSettings(metadata.Type), createDefaultConfig())
		require.NoError(b, err)
	}
	out := make([]plog.Logs, devices)
	n := 0
	for d := range out {
		ld := plog.NewLogs()
		rl := ld.ResourceLogs().AppendEmpty()
		ra := rl.Resource().Attributes()
		ra.PutStr("device.id", fmt.Sprintf("edge-%05d", d))
		ra.PutStr("fleet.name", fmt.Sprintf("fleet-%d", d%8))
		ra.PutStr("fleet.site", fmt.Sprintf("site-%d", d%40))
		ra.PutStr("host.name", fmt.Sprintf("edge-%05d", d))
		ra.PutStr("os.type", "linux")
		ra.PutStr("device.firmware.version", "4.2.1")
		ra.PutStr("fleetlog.agent.version", "0.1.0")
		ra.PutStr("fleet.gateway.id", "gw-1")
		sl := rl.ScopeLogs().AppendEmpty()
		sl.Scope().SetName("github.com/fleetlog/fleetlog/receivers/spoolreceiver")
		for range perBatch {
			lr := sl.LogRecords().AppendEmpty()
			if n%10 == 9 {
				lr.Body().SetStr(secrets[n%len(secrets)])
			} else {
				lr.Body().SetStr(lines[n%len(lines)])
			}
			lr.SetSeverityNumber(plog.SeverityNumberInfo)
			at := lr.Attributes()
			at.PutStr("log.file.name", "app.log")
			at.PutStr("log.file.path", "/var/log/fleetlog/app.log")
			at.PutStr("fleet.spool.id", fmt.Sprintf("%032x", d))
			at.PutInt("fleet.spool.seq", int64(n))
			n++
		}
		if agent != nil {
			_, err := agent.processLogs(context.Background(), ld)
			require.NoError(b, err)
		}
		out[d] = ld
	}
	return out
}

// BenchmarkGateway measures the gateway's re-check (the shipped gateway
// configuration: mask, summary_attribute) per 40-record batch of 1000
// distinct devices, with bodies as devices send them unredacted (raw) and
// as an agent's pii processor left them (redacted).
func BenchmarkGateway(b *testing.B) {
	for _, redacted := range []bool{false, true} {
		name := "raw"
		if redacted {
			name = "redacted"
		}
		b.Run(name, func(b *testing.B) {
			in := gatewayBatches(b, 1000, 40, redacted)
			cfg := createDefaultConfig()
			cfg.SummaryAttribute = "fleet.gateway.pii"
			p, err := NewFactory().CreateLogs(context.Background(), processortest.NewNopSettings(metadata.Type), cfg, consumertest.NewNop())
			require.NoError(b, err)
			require.NoError(b, p.Start(context.Background(), componenttest.NewNopHost()))
			defer func() { require.NoError(b, p.Shutdown(context.Background())) }()
			work := make([]plog.Logs, len(in))
			for i := range work {
				work[i] = plog.NewLogs()
			}
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				k := i % len(in)
				if k == 0 {
					b.StopTimer()
					for j := range in {
						work[j] = plog.NewLogs()
						in[j].CopyTo(work[j])
					}
					b.StartTimer()
				}
				if err := p.ConsumeLogs(context.Background(), work[k]); err != nil {
					b.Fatal(err)
				}
				i++
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(i*40), "ns/record")
		})
	}
}
