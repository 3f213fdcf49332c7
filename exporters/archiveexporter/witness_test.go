package archiveexporter

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/exporter/exportertest"
	"go.opentelemetry.io/collector/extension"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/fleetlog/fleetlog/exporters/archiveexporter/internal/metadata"
	"github.com/fleetlog/fleetlog/exporters/archiveexporter/internal/metadatatest"
	"github.com/fleetlog/fleetlog/internal/archive"
	"github.com/fleetlog/fleetlog/internal/fleetproto"
)

// witnessHost stands for fleet_control's side of the witnesses contract
// (its own tests and the integration test run the real one).
type witnessHost struct {
	component.Host
	mu        sync.Mutex
	held      map[string][]string
	published [][]byte
	check     func(string, []string)
	findings  []fleetproto.WitnessFinding
}

type witnessExt struct {
	extension.Extension
	h *witnessHost
}

func (w witnessExt) RangeWitnessed(fn func(string, []string) bool) bool {
	w.h.mu.Lock()
	defer w.h.mu.Unlock()
	for d, n := range w.h.held {
		if !fn(d, n) {
			break
		}
	}
	return true
}

func (w witnessExt) PublishCheckpoint(note []byte) {
	w.h.mu.Lock()
	defer w.h.mu.Unlock()
	w.h.published = append(w.h.published, note)
}

func (w witnessExt) SetWitnessCheck(c func(string, []string)) {
	w.h.mu.Lock()
	defer w.h.mu.Unlock()
	w.h.check = c
}

func (w witnessExt) RecordWitnessFinding(f fleetproto.WitnessFinding) {
	w.h.mu.Lock()
	defer w.h.mu.Unlock()
	w.h.findings = append(w.h.findings, f)
}

func (h *witnessHost) GetExtensions() map[component.ID]component.Component {
	return map[component.ID]component.Component{component.MustNewID("fleet_control"): witnessExt{h: h}}
}

func (h *witnessHost) newest(t *testing.T) string {
	t.Helper()
	h.mu.Lock()
	defer h.mu.Unlock()
	require.NotEmpty(t, h.published)
	return string(h.published[len(h.published)-1])
}

func startWith(t *testing.T, cfg *Config, h *witnessHost) (exporter.Logs, error) {
	t.Helper()
	exp, err := NewFactory().CreateLogs(context.Background(), exportertest.NewNopSettings(metadata.Type), cfg)
	require.NoError(t, err)
	return exp, exp.Start(context.Background(), h)
}

func TestExporterChecksWitnesses(t *testing.T) {
	cfg, _ := testConfig(t)
	cfg.CheckpointInterval = 50 * time.Millisecond
	h := &witnessHost{Host: componenttest.NewNopHost(), held: map[string][]string{}}
	exp, err := startWith(t, cfg, h)
	require.NoError(t, err)
	first := h.newest(t)
	require.NoError(t, exp.ConsumeLogs(context.Background(), testLogs(3)))
	require.NoError(t, exp.Shutdown(context.Background()))
	backup := filepath.Join(t.TempDir(), "backup")
	out, err := exec.Command("cp", "-a", cfg.Directory, backup).CombinedOutput()
	require.NoError(t, err, string(out))

	// More records; the device keeps the newest checkpoint it was given.
	exp, err = startWith(t, cfg, h)
	require.NoError(t, err)
	require.NoError(t, exp.ConsumeLogs(context.Background(), testLogs(4)))
	require.Eventually(t, func() bool { return h.newest(t) != first && !containsSize(t, h.newest(t), 3) }, 10*time.Second, 20*time.Millisecond)
	newest := h.newest(t)
	require.NoError(t, exp.Shutdown(context.Background()))
	h.held["atm-1"] = []string{first, newest}
	h.held["atm-2"] = []string{first}

	// A clean restart starts. A device that holds only another archive's
	// checkpoints proves nothing about this one: it is only reported.
	other, _ := testConfig(t)
	exp, err = startWith(t, other, h)
	require.NoError(t, err)
	require.NoError(t, exp.Shutdown(context.Background()))
	otherNote := h.newest(t)
	h.held["kiosk-1"] = []string{otherNote}
	core, logs := observer.New(zapcore.WarnLevel)
	set := exportertest.NewNopSettings(metadata.Type)
	set.Logger = zap.New(core)
	exp, err = NewFactory().CreateLogs(context.Background(), set, cfg)
	require.NoError(t, err)
	require.NoError(t, exp.Start(context.Background(), h))
	require.NoError(t, exp.Shutdown(context.Background()))
	require.Equal(t, 1, logs.FilterMessageSnippet("only of another archive").Len())
	assert.Equal(t, "kiosk-1 holds "+archiveOrigin(t, otherNote), logs.FilterMessageSnippet("only of another archive").All()[0].ContextMap()["for_example"])
	delete(h.held, "kiosk-1")

	// The operator puts the earlier copy back: the archive refuses records
	// (retryably), names the device and the diagnosis, and raises the
	// alert for it; the gateway keeps running to send it.
	rolledBack := filepath.Join(t.TempDir(), "newest")
	require.NoError(t, os.Rename(cfg.Directory, rolledBack))
	require.NoError(t, os.Rename(backup, cfg.Directory))
	core, logs = observer.New(zapcore.InfoLevel)
	set = metadatatest.NewSettings(componenttest.NewTelemetry())
	set.Logger = zap.New(core)
	e, err := newArchiveExporter(cfg, set)
	require.NoError(t, err)
	e.witnessRetry = 20 * time.Millisecond
	require.NoError(t, e.start(context.Background(), h), "a refused archive does not stop the gateway")
	err = e.pushLogs(context.Background(), testLogs(2))
	require.ErrorIs(t, err, ErrWitnessed)
	assert.False(t, consumererror.IsPermanent(err), "devices must keep the records and retry")
	assert.NotContains(t, err.Error(), "atm-1", "the answer to a device names no other device")
	refusals := logs.FilterMessageSnippet("The archive refuses records")
	require.Equal(t, 1, refusals.Len())
	msg := refusals.All()[0].ContextMap()["error"].(string)
	assert.Contains(t, msg, "device atm-1: ")
	assert.Contains(t, msg, string(archive.RolledBack))
	assert.NotContains(t, msg, "atm-2")
	require.Eventually(t, func() bool {
		h.mu.Lock()
		defer h.mu.Unlock()
		return len(h.findings) >= 2
	}, 10*time.Second, 5*time.Millisecond, "every recheck raises the finding again, so the alert keeps firing")
	h.mu.Lock()
	assert.Equal(t, "atm-1", h.findings[0].Device)
	assert.Equal(t, string(archive.RolledBack), h.findings[0].Problem)
	h.findings = nil
	h.mu.Unlock()

	// The newest copy back: the next check opens the archive, without a
	// restart, and it takes records again.
	stale := filepath.Join(t.TempDir(), "stale")
	require.NoError(t, os.Rename(cfg.Directory, stale))
	require.NoError(t, os.Rename(rolledBack, cfg.Directory))
	require.Eventually(t, func() bool { return e.pushLogs(context.Background(), testLogs(1)) == nil },
		10*time.Second, 10*time.Millisecond)
	assert.Equal(t, 1, logs.FilterMessageSnippet("consistent with the checkpoints devices hold again").Len())
	require.NoError(t, e.shutdown(context.Background()))
	h.mu.Lock()
	h.findings = nil
	h.mu.Unlock()

	// A device that reports it later, once the archive runs, raises an
	// alert.
	require.NoError(t, os.RemoveAll(cfg.Directory))
	require.NoError(t, os.Rename(stale, cfg.Directory))
	delete(h.held, "atm-1")
	exp, err = startWith(t, cfg, h)
	require.NoError(t, err)
	h.mu.Lock()
	check := h.check
	h.mu.Unlock()
	require.NotNil(t, check)
	check("atm-1", []string{first, newest})
	require.Eventually(t, func() bool {
		h.mu.Lock()
		defer h.mu.Unlock()
		return len(h.findings) == 1
	}, 10*time.Second, 20*time.Millisecond)
	require.NoError(t, exp.Shutdown(context.Background()))
	assert.Equal(t, "atm-1", h.findings[0].Device)
	assert.Equal(t, string(archive.RolledBack), h.findings[0].Problem)
	assert.Nil(t, h.check, "the check is removed at shutdown")
}

func archiveOrigin(t *testing.T, note string) string {
	t.Helper()
	cp, err := archive.ParseCheckpoint([]byte(note))
	require.NoError(t, err)
	return cp.Origin
}

func containsSize(t *testing.T, note string, size uint64) bool {
	t.Helper()
	cp, err := archive.ParseCheckpoint([]byte(note))
	require.NoError(t, err)
	return cp.Size == size
}
