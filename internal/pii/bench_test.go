package pii

import (
	"strings"
	"testing"

	"github.com/fleetlog/fleetlog/internal/loghub"
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
	// Real lines: the 16 Loghub-2k samples, nearly all clean.
	b.Run("loghub", func(b *testing.B) {
		dir := loghub.Require(b)
		systems, err := loghub.Systems(dir)
		if err != nil {
			b.Fatal(err)
		}
		var real []string
		var n int
		for _, sys := range systems {
			lines, err := loghub.Lines(dir, sys)
			if err != nil {
				b.Fatal(err)
			}
			for _, l := range lines {
				n += len(l)
			}
			real = append(real, lines...)
		}
		t := e.NewTally()
		b.SetBytes(int64(n))
		b.ReportAllocs()
		for b.Loop() {
			for _, l := range real {
				e.Redact(l, t)
			}
		}
	})
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

// BenchmarkNew measures building an engine: vendor_token compiles its rules
// then.
func BenchmarkNew(b *testing.B) {
	for _, on := range []bool{false, true} {
		name := map[bool]string{false: "vendor_off", true: "default"}[on]
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				mustNew(b, Options{Enabled: map[string]bool{VendorToken: on}})
			}
		})
	}
}
