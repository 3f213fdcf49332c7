package spoolreceiver

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/receiver/receivertest"

	"github.com/fleetlog/fleetlog/receivers/spoolreceiver/internal/metadata"
)

// BenchmarkFileIntakeSeverity reads the same file through the spool with
// detect_severity on and off, and reports lines per CPU-second of each:
// the end-to-end cost of the level sniffer on the raw path. "stated" lines
// give their level early; "unstated" lines give none, so the sniffer scans
// its whole window.
func BenchmarkFileIntakeSeverity(b *testing.B) {
	for _, shape := range []struct {
		name string
		line string
	}{
		{"stated", "2026-11-25T00:00:00.000Z INFO request %07d served path=/api/v1/things status=200 duration=3ms\n"},
		{"unstated", "Nov 25 00:00:00 edge-17 kiosk[812]: request %07d served path=/api/v1/things status=200 duration=3ms\n"},
	} {
		logDir := b.TempDir()
		var sb strings.Builder
		for i := range benchLines {
			fmt.Fprintf(&sb, shape.line, i)
		}
		if err := os.WriteFile(filepath.Join(logDir, "app.log"), []byte(sb.String()), 0o600); err != nil {
			b.Fatal(err)
		}
		for _, detect := range []bool{true, false} {
			b.Run(fmt.Sprintf("%s/detect=%v", shape.name, detect), func(b *testing.B) {
				var cpu time.Duration
				for b.Loop() {
					cfg := createDefaultConfig()
					cfg.Directory = b.TempDir()
					cfg.MaxSize = 1 << 30
					fc := NewFileConfig()
					fc.Include = []string{filepath.Join(logDir, "*.log")}
					fc.PollInterval = 10 * time.Millisecond
					fc.DetectSeverity = detect
					cfg.Files = map[string]*FileConfig{"app": fc}
					sink := &countingSink{}
					r, err := NewFactory().CreateLogs(context.Background(), receivertest.NewNopSettings(metadata.Type), cfg, sink)
					if err != nil {
						b.Fatal(err)
					}
					cpu += intake(b, r, componenttest.NewNopHost(), sink)
				}
				b.ReportMetric(float64(benchLines)*float64(b.N)/cpu.Seconds(), "lines/cpu-s")
			})
		}
	}
}
