package spoolreceiver

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/open-telemetry/opentelemetry-collector-contrib/extension/storage/filestorage"
	"github.com/open-telemetry/opentelemetry-collector-contrib/receiver/filelogreceiver"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/extension/extensiontest"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/receiver"
	"go.opentelemetry.io/collector/receiver/receivertest"

	"github.com/fleetlog/fleetlog/receivers/spoolreceiver/internal/metadata"
)

// benchLines is how many lines one benchmark iteration pushes through each
// intake.
const benchLines = 100_000

// countingSink counts log records and accepts everything.
type countingSink struct{ n atomic.Int64 }

func (*countingSink) Capabilities() consumer.Capabilities { return consumer.Capabilities{} }

func (c *countingSink) ConsumeLogs(_ context.Context, ld plog.Logs) error {
	c.n.Add(int64(ld.LogRecordCount()))
	return nil
}

// storageHost offers extensions to components that look them up.
type storageHost struct {
	component.Host
	ext map[component.ID]component.Component
}

func (h storageHost) GetExtensions() map[component.ID]component.Component { return h.ext }

func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func writeBenchFile(b *testing.B, dir string) {
	b.Helper()
	var sb strings.Builder
	for i := range benchLines {
		fmt.Fprintf(&sb, "2026-11-25T00:00:00.000Z INFO request %07d served path=/api/v1/things status=200 duration=3ms\n", i)
	}
	if err := os.WriteFile(filepath.Join(dir, "app.log"), []byte(sb.String()), 0o600); err != nil {
		b.Fatal(err)
	}
}

// intake starts a receiver, waits until the sink has every line and returns
// the process CPU time spent meanwhile.
func intake(b *testing.B, r receiver.Logs, host component.Host, sink *countingSink) time.Duration {
	b.Helper()
	before := cpuTime()
	if err := r.Start(context.Background(), host); err != nil {
		b.Fatal(err)
	}
	deadline := time.Now().Add(2 * time.Minute)
	for sink.n.Load() < benchLines {
		if time.Now().After(deadline) {
			b.Fatalf("only %d of %d lines arrived", sink.n.Load(), benchLines)
		}
		time.Sleep(time.Millisecond)
	}
	if err := r.Shutdown(context.Background()); err != nil {
		b.Fatal(err)
	}
	return cpuTime() - before
}

func spoolIntake(b *testing.B, logDir string) time.Duration {
	cfg := createDefaultConfig()
	cfg.Directory = b.TempDir()
	cfg.MaxSize = 1 << 30
	fc := NewFileConfig()
	fc.Include = []string{filepath.Join(logDir, "*.log")}
	fc.PollInterval = 10 * time.Millisecond
	cfg.Files = map[string]*FileConfig{"app": fc}
	sink := &countingSink{}
	r, err := NewFactory().CreateLogs(context.Background(), receivertest.NewNopSettings(metadata.Type), cfg, sink)
	if err != nil {
		b.Fatal(err)
	}
	return intake(b, r, componenttest.NewNopHost(), sink)
}

// contribIntake is the stock edge pipeline the spool replaces: the filelog
// receiver with its checkpoints in file_storage (fsync on, as an agent that
// cares about its checkpoints runs it).
func contribIntake(b *testing.B, logDir string) time.Duration {
	ctx := context.Background()
	stFactory := filestorage.NewFactory()
	stCfg := stFactory.CreateDefaultConfig().(*filestorage.Config)
	stCfg.Directory = b.TempDir()
	stCfg.FSync = true
	stID := component.MustNewID("file_storage")
	ext, err := stFactory.Create(ctx, extensiontest.NewNopSettings(stFactory.Type()), stCfg)
	if err != nil {
		b.Fatal(err)
	}
	if err := ext.Start(ctx, componenttest.NewNopHost()); err != nil {
		b.Fatal(err)
	}
	defer func() { _ = ext.Shutdown(ctx) }()

	f := filelogreceiver.NewFactory()
	cfg := f.CreateDefaultConfig().(*filelogreceiver.FileLogConfig)
	cfg.InputConfig.Include = []string{filepath.Join(logDir, "*.log")}
	cfg.InputConfig.StartAt = "beginning"
	cfg.InputConfig.PollInterval = 10 * time.Millisecond
	cfg.InputConfig.IncludeFilePath = true
	cfg.StorageID = &stID
	sink := &countingSink{}
	r, err := f.CreateLogs(ctx, receivertest.NewNopSettings(f.Type()), cfg, sink)
	if err != nil {
		b.Fatal(err)
	}
	host := storageHost{Host: componenttest.NewNopHost(), ext: map[component.ID]component.Component{stID: ext}}
	return intake(b, r, host, sink)
}

// BenchmarkAgentIntake reads the same file through fleetlog's intake (file
// -> spool -> next consumer) and through contrib filelog + file_storage, in
// the same run, and reports lines per CPU-second of each and their ratio.
func BenchmarkAgentIntake(b *testing.B) {
	logDir := b.TempDir()
	writeBenchFile(b, logDir)
	var spoolCPU, contribCPU time.Duration
	for b.Loop() {
		spoolCPU += spoolIntake(b, logDir)
		contribCPU += contribIntake(b, logDir)
	}
	lines := float64(benchLines) * float64(b.N)
	spoolRate := lines / spoolCPU.Seconds()
	contribRate := lines / contribCPU.Seconds()
	b.ReportMetric(spoolRate, "spool_lines/cpu-s")
	b.ReportMetric(contribRate, "contrib_lines/cpu-s")
	b.ReportMetric(spoolRate/contribRate, "ratio")
}
