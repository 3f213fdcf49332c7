package pii

import (
	"strings"
	"testing"

	"github.com/fleetlog/fleetlog/internal/pii/piitest"
)

// BenchmarkRedact measures the engine alone: a typical clean line, and the
// labelled corpus (most of whose lines hold a secret).
func BenchmarkRedact(b *testing.B) {
	e := mustNew(b, Options{})
	clean := "2026-11-24T10:00:00.123Z INFO GET /v1/devices/edge-0042/status 200 took 12ms request_id=123e4567-e89b-12d3-a456-426614174000 upstream=db.internal:5432 version=v1.2.3"
	lines := piitest.Lines(piitest.LoadCorpus(b))
	var size int
	for _, l := range lines {
		size += len(l)
	}
	one := func(line string) func(*testing.B) {
		return func(b *testing.B) {
			t := e.NewTally()
			b.SetBytes(int64(len(line)))
			b.ReportAllocs()
			for b.Loop() {
				e.Redact(line, t)
			}
		}
	}
	b.Run("clean_line", one(clean))
	b.Run("clean_4KiB", one(strings.Repeat(clean+" ", 4096/len(clean))))
	b.Run("corpus", func(b *testing.B) {
		t := e.NewTally()
		b.SetBytes(int64(size))
		b.ReportAllocs()
		for b.Loop() {
			for _, l := range lines {
				e.Redact(l, t)
			}
		}
		b.ReportMetric(float64(len(lines)*b.N)/b.Elapsed().Seconds(), "records/s")
	})
}
