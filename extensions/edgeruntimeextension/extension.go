package edgeruntimeextension // import "github.com/fleetlog/fleetlog/extensions/edgeruntimeextension"

import (
	"context"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/extension"
	"go.opentelemetry.io/collector/extension/extensioncapabilities"
	"go.uber.org/zap"
)

// edgeRuntime applies the runtime settings at Start, restores the previous
// ones at Shutdown, and releases start-up memory when the pipelines are
// ready and once more after they settled. Its one goroutine waits for that
// second release and ends at Shutdown at the latest.
type edgeRuntime struct {
	cfg    *Config
	logger *zap.Logger
	getenv func(string) string

	// What Start replaced, for Shutdown to put back.
	setProcs, setGC, setLimit bool
	prevGC                    int
	prevLimit                 int64

	ready bool          // Ready ran
	stop  chan struct{} // closed by Shutdown; nil until Ready started the wait
	wg    sync.WaitGroup
}

var (
	_ extension.Extension                   = (*edgeRuntime)(nil)
	_ extensioncapabilities.PipelineWatcher = (*edgeRuntime)(nil)
)

func newEdgeRuntime(cfg *Config, logger *zap.Logger, getenv func(string) string) *edgeRuntime {
	return &edgeRuntime{cfg: cfg, logger: logger, getenv: getenv}
}

// Start applies max_procs, gc_percent and memory_limit unless the
// environment already set them: the runtime read GOMAXPROCS, GOGC and
// GOMEMLIMIT before any of this ran, and an operator's explicit value wins.
func (e *edgeRuntime) Start(context.Context, component.Host) error {
	if n := e.cfg.MaxProcs; n > 0 {
		if e.getenv("GOMAXPROCS") == "" {
			runtime.GOMAXPROCS(n)
			e.setProcs = true
		} else {
			e.logger.Info("GOMAXPROCS is set in the environment; max_procs is not applied", zap.Int("gomaxprocs", runtime.GOMAXPROCS(0)))
		}
	}
	if pct := e.cfg.GCPercent; pct > 0 {
		if e.getenv("GOGC") == "" {
			e.prevGC, e.setGC = debug.SetGCPercent(pct), true
		} else {
			e.logger.Info("GOGC is set in the environment; gc_percent is not applied")
		}
	}
	if limit := int64(e.cfg.MemoryLimit); limit > 0 {
		if e.getenv("GOMEMLIMIT") == "" {
			e.prevLimit, e.setLimit = debug.SetMemoryLimit(limit), true
		} else {
			e.logger.Info("GOMEMLIMIT is set in the environment; memory_limit is not applied", zap.Int64("gomemlimit", debug.SetMemoryLimit(-1)))
		}
	}
	e.logger.Info("Go runtime sized", zap.Int("gomaxprocs", runtime.GOMAXPROCS(0)), zap.Uint64("gogc", gcPercent()), zap.Int64("gomemlimit", debug.SetMemoryLimit(-1)))
	if e.cfg.ReleaseStartupMemory {
		// Package initialization and decoding the config are over: what
		// they touched goes back before the pipelines' components start
		// and touch pages of their own, so the two do not add up in the
		// process's peak.
		e.release("extensions starting")
	}
	return nil
}

// gcPercent is the runtime's GOGC in force.
func gcPercent() uint64 {
	s := []metrics.Sample{{Name: "/gc/gogc:percent"}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return s[0].Value.Uint64()
}

// Shutdown cancels a pending release and puts back what Start changed.
func (e *edgeRuntime) Shutdown(context.Context) error {
	if e.stop != nil {
		close(e.stop)
		e.wg.Wait()
		e.stop = nil
	}
	if e.setProcs {
		// GOMAXPROCS was not set in the environment, so the runtime's
		// default was in force, which follows the CPU quota; put that back
		// rather than freezing the number it had.
		runtime.SetDefaultGOMAXPROCS()
		e.setProcs = false
	}
	if e.setGC {
		debug.SetGCPercent(e.prevGC)
		e.setGC = false
	}
	if e.setLimit {
		debug.SetMemoryLimit(e.prevLimit)
		e.setLimit = false
	}
	return nil
}

// Ready runs once every pipeline has started. Start-up (package
// initialization, decoding the config, building the pipelines) touches far
// more of the binary and the heap than the running collector does; Ready
// gives that memory back, and again release_startup_memory_after later for
// what the components' first rounds of work touched. Failing to release is
// not an error for the collector.
func (e *edgeRuntime) Ready() error {
	if !e.cfg.ReleaseStartupMemory || e.ready {
		return nil
	}
	e.ready = true
	e.release("pipelines started")
	if e.cfg.ReleaseStartupMemoryAfter <= 0 {
		return nil
	}
	e.stop = make(chan struct{})
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		t := time.NewTimer(e.cfg.ReleaseStartupMemoryAfter)
		defer t.Stop()
		select {
		case <-t.C:
			e.release("pipelines settled")
		case <-e.stop:
		}
	}()
	return nil
}

// release returns freed heap to the OS and unmaps the binary's read-only
// pages, and logs the effect.
func (e *edgeRuntime) release(when string) {
	before := residentBytes()
	debug.FreeOSMemory()
	unmapped, err := releaseBinaryPages()
	if err != nil {
		e.logger.Warn("could not release the binary's start-up pages", zap.Error(err))
	}
	e.logger.Info("released start-up memory",
		zap.String("when", when),
		zap.Int64("binary_pages_unmapped_bytes", unmapped),
		zap.Int64("rss_before_bytes", before),
		zap.Int64("rss_after_bytes", residentBytes()))
}

// NotReady has nothing to do.
func (e *edgeRuntime) NotReady() error { return nil }
