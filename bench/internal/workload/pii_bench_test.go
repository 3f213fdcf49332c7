package workload_test

import (
	"testing"

	"github.com/fleetlog/fleetlog/bench/internal/workload"
	"github.com/fleetlog/fleetlog/internal/pii"
)

// BenchmarkPIIEngine measures the default redaction engine on the end-to-end
// benchmark's own lines (about 106 bytes, one in ten carrying PII or a
// secret), so that the engine's cost per line can be read apart from the
// agent's: clean is the nine lines in ten without a finding, mixed the
// workload as it comes.
func BenchmarkPIIEngine(b *testing.B) {
	e, err := pii.New(pii.Options{})
	if err != nil {
		b.Fatal(err)
	}
	g := workload.New(1)
	var mixed, clean, secret []string
	for range 10_000 {
		line, isSecret := g.Next(nil)
		mixed = append(mixed, string(line))
		if !isSecret {
			clean = append(clean, string(line))
		} else {
			secret = append(secret, string(line))
		}
	}
	for _, bm := range []struct {
		name  string
		lines []string
	}{{"mixed", mixed}, {"clean", clean}, {"secret", secret}} {
		b.Run(bm.name, func(b *testing.B) {
			var size int
			for _, l := range bm.lines {
				size += len(l)
			}
			t := e.NewTally()
			b.SetBytes(int64(size))
			b.ReportAllocs()
			for b.Loop() {
				for _, l := range bm.lines {
					e.Redact(l, t)
				}
			}
			b.ReportMetric(b.Elapsed().Seconds()*1e6/float64(b.N*len(bm.lines)), "µs/line")
		})
	}
}
