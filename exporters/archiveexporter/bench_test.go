package archiveexporter

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/exporter/exportertest"
	"go.opentelemetry.io/collector/pdata/plog"
)

// BenchmarkConsumeLogs is one small batch through the exporter, as the
// gateway's pipeline hands it one device's export: exporterhelper's senders
// and the append (fsync at seal, to keep the disk out of it). With
// -benchmem the allocations show what a timeout costs every batch.
func BenchmarkConsumeLogs(b *testing.B) {
	for _, timeout := range []time.Duration{0, 5 * time.Second} {
		b.Run(fmt.Sprintf("timeout=%s", timeout), func(b *testing.B) {
			cfg, _ := testConfig(b)
			cfg.Fsync = FsyncSeal
			cfg.TimeoutConfig.Timeout = timeout
			exp, err := NewFactory().CreateLogs(context.Background(), exportertest.NewNopSettings(NewFactory().Type()), cfg)
			require.NoError(b, err)
			require.NoError(b, exp.Start(context.Background(), componenttest.NewNopHost()))
			b.Cleanup(func() { require.NoError(b, exp.Shutdown(context.Background())) })
			batches := make([]plog.Logs, 256)
			for i := range batches {
				batches[i] = testLogs(5)
				batches[i].ResourceLogs().At(0).Resource().Attributes().PutStr("device.id", fmt.Sprintf("dev-%d", i))
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				if err := exp.ConsumeLogs(context.Background(), batches[i%len(batches)]); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
