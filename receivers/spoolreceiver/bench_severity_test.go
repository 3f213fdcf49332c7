package spoolreceiver

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/stanza/entry"
	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/stanza/operator"
	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/stanza/operator/helper"
	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/stanza/operator/parser/jsonparser"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/receiver/receivertest"

	"github.com/fleetlog/fleetlog/receivers/spoolreceiver/internal/metadata"
)

// BenchmarkFileIntakeSeverity reads the same file through the spool with
// detect_severity on and off, and reports lines per CPU-second of each:
// the end-to-end cost of the level sniffer on the raw path. "stated" lines
// give their level early; "unstated" lines give none, so the sniffer scans
// its whole window. "operators" parses JSON lines with json_parser and its
// severity block instead, for comparison.
func BenchmarkFileIntakeSeverity(b *testing.B) {
	jsonOps := []operator.Config{{Builder: func() operator.Builder {
		c := jsonparser.NewConfig()
		sev := helper.NewSeverityConfig()
		from := entry.NewAttributeField("level")
		sev.ParseFrom = &from
		c.SeverityConfig = &sev
		return c
	}()}}
	for _, shape := range []struct {
		name string
		line string
		ops  []operator.Config
	}{
		{"stated", "2026-11-25T00:00:00.000Z INFO request %07d served path=/api/v1/things status=200 duration=3ms\n", nil},
		{"unstated", "Nov 25 00:00:00 edge-17 kiosk[812]: request %07d served path=/api/v1/things status=200 duration=3ms\n", nil},
		{"operators", `{"ts":"2026-11-25T00:00:00.000Z","level":"info","msg":"request %07d served","path":"/api/v1/things"}` + "\n", jsonOps},
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
			if shape.ops != nil && !detect {
				continue // detection applies to inputs without operators
			}
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
					fc.Operators = shape.ops
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
