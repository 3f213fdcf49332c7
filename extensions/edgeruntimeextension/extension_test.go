package edgeruntimeextension

import (
	"context"
	"runtime"
	"runtime/debug"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

// These tests change the process's GOMAXPROCS and memory limit, so none of
// them runs in parallel with another.

func env(vars map[string]string) func(string) string {
	return func(k string) string { return vars[k] }
}

func TestStartAppliesAndShutdownRestores(t *testing.T) {
	procs, gc, limit := runtime.GOMAXPROCS(0), gcPercent(), debug.SetMemoryLimit(-1)
	e := newEdgeRuntime(&Config{MaxProcs: 1, GCPercent: 50, MemoryLimit: 24 << 20}, zap.NewNop(), env(nil))
	require.NoError(t, e.Start(context.Background(), componenttest.NewNopHost()))
	assert.Equal(t, 1, runtime.GOMAXPROCS(0))
	assert.Equal(t, uint64(50), gcPercent())
	assert.Equal(t, int64(24<<20), debug.SetMemoryLimit(-1))

	require.NoError(t, e.Shutdown(context.Background()))
	assert.Equal(t, procs, runtime.GOMAXPROCS(0))
	assert.Equal(t, gc, gcPercent())
	assert.Equal(t, limit, debug.SetMemoryLimit(-1))
	require.NoError(t, e.Shutdown(context.Background()), "a second shutdown changes nothing")
	assert.Equal(t, procs, runtime.GOMAXPROCS(0))
}

func TestEnvironmentWins(t *testing.T) {
	procs, gc, limit := runtime.GOMAXPROCS(0), gcPercent(), debug.SetMemoryLimit(-1)
	core, logs := observer.New(zap.InfoLevel)
	e := newEdgeRuntime(&Config{MaxProcs: 1, GCPercent: 50, MemoryLimit: 24 << 20}, zap.New(core),
		env(map[string]string{"GOMAXPROCS": "2", "GOGC": "100", "GOMEMLIMIT": "64MiB"}))
	require.NoError(t, e.Start(context.Background(), componenttest.NewNopHost()))
	assert.Equal(t, procs, runtime.GOMAXPROCS(0))
	assert.Equal(t, gc, gcPercent())
	assert.Equal(t, limit, debug.SetMemoryLimit(-1))
	assert.Equal(t, 1, logs.FilterMessage("GOGC is set in the environment; gc_percent is not applied").Len())
	assert.Equal(t, 1, logs.FilterMessage("GOMAXPROCS is set in the environment; max_procs is not applied").Len())
	assert.Equal(t, 1, logs.FilterMessage("GOMEMLIMIT is set in the environment; memory_limit is not applied").Len())
	require.NoError(t, e.Shutdown(context.Background()))
}

func TestZeroLeavesTheRuntimeAlone(t *testing.T) {
	procs, gc, limit := runtime.GOMAXPROCS(0), gcPercent(), debug.SetMemoryLimit(-1)
	e := newEdgeRuntime(createDefaultConfig(), zap.NewNop(), env(nil))
	require.NoError(t, e.Start(context.Background(), componenttest.NewNopHost()))
	assert.Equal(t, procs, runtime.GOMAXPROCS(0))
	assert.Equal(t, gc, gcPercent())
	assert.Equal(t, limit, debug.SetMemoryLimit(-1))
	require.NoError(t, e.Shutdown(context.Background()))
}

func TestShutdownWithoutStart(t *testing.T) {
	e := newEdgeRuntime(&Config{MaxProcs: 1}, zap.NewNop(), env(nil))
	procs := runtime.GOMAXPROCS(0)
	require.NoError(t, e.Shutdown(context.Background()))
	assert.Equal(t, procs, runtime.GOMAXPROCS(0))
}

func TestReleasesAtStartAtReadyAndAfterSettling(t *testing.T) {
	core, logs := observer.New(zap.InfoLevel)
	cfg := &Config{ReleaseStartupMemory: true, ReleaseStartupMemoryAfter: 20 * time.Millisecond}
	e := newEdgeRuntime(cfg, zap.New(core), env(nil))
	require.NoError(t, e.Start(context.Background(), componenttest.NewNopHost()))
	require.NoError(t, e.Ready())
	require.NoError(t, e.Ready(), "a second Ready starts nothing more")
	require.NoError(t, e.NotReady())
	released := func() []string {
		var when []string
		for _, l := range logs.FilterMessage("released start-up memory").All() {
			when = append(when, l.ContextMap()["when"].(string))
		}
		return when
	}
	assert.Equal(t, []string{"extensions starting", "pipelines started"}, released())
	require.Eventually(t, func() bool { return len(released()) == 3 }, 5*time.Second, 5*time.Millisecond)
	assert.Equal(t, []string{"extensions starting", "pipelines started", "pipelines settled"}, released())
	require.NoError(t, e.Shutdown(context.Background()))
	assert.Len(t, released(), 3)
}

func TestShutdownCancelsThePendingRelease(t *testing.T) {
	core, logs := observer.New(zap.InfoLevel)
	e := newEdgeRuntime(&Config{ReleaseStartupMemory: true, ReleaseStartupMemoryAfter: time.Hour}, zap.New(core), env(nil))
	require.NoError(t, e.Start(context.Background(), componenttest.NewNopHost()))
	require.NoError(t, e.Ready())
	require.NoError(t, e.Shutdown(context.Background()), "returns without waiting for the hour")
	assert.Equal(t, 2, logs.FilterMessage("released start-up memory").Len(), "at Start and at Ready")
}

func TestReleaseOff(t *testing.T) {
	core, logs := observer.New(zap.InfoLevel)
	e := newEdgeRuntime(&Config{ReleaseStartupMemoryAfter: time.Millisecond}, zap.New(core), env(nil))
	require.NoError(t, e.Start(context.Background(), componenttest.NewNopHost()))
	require.NoError(t, e.Ready())
	time.Sleep(20 * time.Millisecond)
	require.NoError(t, e.Shutdown(context.Background()))
	assert.Zero(t, logs.FilterMessage("released start-up memory").Len(), "release_startup_memory: false releases nothing")
}
