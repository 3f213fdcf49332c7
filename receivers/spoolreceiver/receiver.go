package spoolreceiver // import "github.com/fleetlog/fleetlog/receivers/spoolreceiver"

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/stanza/fileconsumer"
	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/stanza/operator"
	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/stanza/pipeline"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/receiver"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap"

	"github.com/fleetlog/fleetlog/receivers/spoolreceiver/internal/checkpoint"
	"github.com/fleetlog/fleetlog/receivers/spoolreceiver/internal/delivery"
	"github.com/fleetlog/fleetlog/receivers/spoolreceiver/internal/ledger"
	"github.com/fleetlog/fleetlog/receivers/spoolreceiver/internal/metadata"
	"github.com/fleetlog/fleetlog/receivers/spoolreceiver/internal/spool"
)

const (
	spoolSubdir     = "spool"
	checkpointsFile = "checkpoints.json"
	dirMode         = 0o700
	// scopeName is the instrumentation scope of records the receiver makes
	// itself (the loss reports).
	scopeName = "github.com/fleetlog/fleetlog/receivers/spoolreceiver"
)

// spoolReceiver composes the inputs, the spool and the delivery loop
// (package delivery).
type spoolReceiver struct {
	cfg  *Config
	set  receiver.Settings
	next consumer.Logs

	sp        *spool.Spool
	appender  spoolAppender // sp, but for tests of appendRecords
	store     *checkpoint.Store
	telemetry *metadata.TelemetryBuilder
	files     []*fileconsumer.Manager
	ledgers   map[*FileConfig]*ledger.Ledger // per file input (ledger.go)
	pipes     []*pipeline.DirectedPipeline   // file inputs' operators
	syslogs   []operator.Operator

	cancel context.CancelFunc
	wg     sync.WaitGroup

	// stalled is set while appendRecords finds the spool unable to take
	// records (logged once per stall).
	stalled atomic.Bool

	// Evictions reported by the spool wait here for the reporter goroutine,
	// which appends one loss record per eviction.
	evMu      sync.Mutex
	evPending []spool.Eviction
	evSignal  chan struct{}

	// lastAck is the time (Unix ns) of the last acknowledged batch and
	// unregisterFleet ends the fleet status registration (fleet.go).
	lastAck         atomic.Int64
	unregisterFleet func()
}

func newReceiver(cfg *Config, set receiver.Settings, next consumer.Logs) *spoolReceiver {
	return &spoolReceiver{cfg: cfg, set: set, next: next, evSignal: make(chan struct{}, 1)}
}

// Start opens the spool, starts delivery and then the inputs, so nothing is
// read before there is somewhere durable to put it.
func (r *spoolReceiver) Start(_ context.Context, host component.Host) error {
	if err := r.start(); err != nil {
		return errors.Join(err, r.Shutdown(context.Background()))
	}
	r.registerFleetStatus(host)
	return nil
}

func (r *spoolReceiver) start() error {
	logger := r.set.Logger
	if err := os.MkdirAll(r.cfg.Directory, dirMode); err != nil {
		return fmt.Errorf("create directory %s: %w", r.cfg.Directory, err)
	}
	sp, err := spool.Open(spool.Options{
		Dir:           filepath.Join(r.cfg.Directory, spoolSubdir),
		MaxSize:       int64(r.cfg.MaxSize),
		Fsync:         r.cfg.Fsync.policy(),
		FsyncInterval: r.cfg.FsyncInterval,
		Full:          r.cfg.FullPolicy.policy(),
		MinFree:       r.cfg.minFree(),
		OnEvict:       r.onEvict,
		Logger:        logger,
	})
	if err != nil {
		return fmt.Errorf("open spool: %w", err)
	}
	r.sp, r.appender = sp, sp
	r.store, err = checkpoint.Open(filepath.Join(r.cfg.Directory, checkpointsFile), sp.Sync)
	if err != nil {
		return err
	}
	if err := r.startTelemetry(); err != nil {
		return err
	}

	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	loop := delivery.New(ackTimer{sp, &r.lastAck}, r.next, delivery.Config{
		MaxRecords: r.cfg.Batch.MaxRecords,
		MaxBytes:   int64(r.cfg.Batch.MaxBytes),
		Timeout:    r.cfg.Batch.Timeout,
		Retry:      r.cfg.Retry,
		SpoolID:    sp.ID(),
	}, logger, func(ctx context.Context, n int64) { r.telemetry.SpoolUndecodableRecords.Add(ctx, n) })
	r.wg.Add(2)
	go func() {
		defer r.wg.Done()
		loop.Run(ctx)
	}()
	go r.reportEvictions(ctx)

	r.openLedgers()
	for _, name := range sortedKeys(r.cfg.Files) {
		m, err := r.buildFile(r.cfg.Files[name])
		if err != nil {
			return fmt.Errorf("'files::%s': %w", name, err)
		}
		var persister operator.Persister = operator.NewScopedPersister(name, r.store)
		if lg := r.ledgers[r.cfg.Files[name]]; lg != nil {
			persister = ledgerPersister{persister, lg, r.set.Logger.With(zap.String("input", name))}
		}
		if err := m.Start(persister); err != nil {
			return fmt.Errorf("start file input %s: %w", name, err)
		}
		r.files = append(r.files, m)
	}
	for _, name := range sortedKeys(r.cfg.Syslog) {
		in, err := r.buildSyslog(name, r.cfg.Syslog[name])
		if err != nil {
			return err
		}
		if err := in.Start(nil); err != nil {
			return fmt.Errorf("start syslog input %s: %w", name, err)
		}
		r.syslogs = append(r.syslogs, in)
	}
	return nil
}

// Shutdown stops the inputs (file inputs save their checkpoints behind a
// spool sync as they stop), stops delivery and closes the spool. Records
// that were read but not acknowledged are delivered again after a restart.
// It is safe to call without Start and twice.
func (r *spoolReceiver) Shutdown(context.Context) error {
	r.unregisterFleetStatus()
	var errs []error
	for _, in := range r.syslogs {
		errs = append(errs, in.Stop())
	}
	r.syslogs = nil
	for _, m := range r.files {
		errs = append(errs, m.Stop())
	}
	r.files = nil
	r.closeLedgers()
	for _, p := range r.pipes {
		errs = append(errs, p.Stop())
	}
	r.pipes = nil
	if r.cancel != nil {
		r.cancel()
		r.wg.Wait()
		r.cancel = nil
		// Evictions after the reporter stopped, and drops the spool has
		// not reported yet, still get their record before the spool closes.
		r.sp.ReportDrops()
		r.flushEvictions()
	}
	if r.telemetry != nil {
		r.telemetry.Shutdown()
		r.telemetry = nil
	}
	if r.sp != nil {
		errs = append(errs, r.sp.Close())
		r.sp = nil
	}
	return errors.Join(errs...)
}

func (r *spoolReceiver) startTelemetry() error {
	tb, err := metadata.NewTelemetryBuilder(r.set.TelemetrySettings)
	if err != nil {
		return fmt.Errorf("create telemetry: %w", err)
	}
	r.telemetry = tb
	sp := r.sp
	counter := func(get func(spool.Stats) int64) metric.Int64Callback {
		return func(_ context.Context, o metric.Int64Observer) error {
			o.Observe(get(sp.Stats()))
			return nil
		}
	}
	return errors.Join(
		tb.RegisterSpoolBytesCallback(counter(func(s spool.Stats) int64 { return s.Bytes })),
		tb.RegisterSpoolRecordsCallback(counter(func(s spool.Stats) int64 { return s.Records })),
		tb.RegisterSpoolAppendedRecordsCallback(counter(func(s spool.Stats) int64 { return s.Appended })),
		tb.RegisterSpoolDeliveredRecordsCallback(counter(func(s spool.Stats) int64 { return s.Delivered })),
		tb.RegisterSpoolEvictedRecordsCallback(counter(func(s spool.Stats) int64 { return s.Evicted })),
		tb.RegisterSpoolCorruptRecordsCallback(counter(func(s spool.Stats) int64 { return s.Corrupt })),
		tb.RegisterSpoolQuarantinedRecordsCallback(counter(func(s spool.Stats) int64 { return s.Quarantined })),
		tb.RegisterSpoolFilesystemFreeCallback(counter(func(s spool.Stats) int64 { return s.FreeBytes })),
		tb.RegisterSpoolMinFreeCallback(counter(func(s spool.Stats) int64 { return s.MinFree })),
		tb.RegisterSpoolSizeLimitCallback(counter(func(s spool.Stats) int64 { return s.Limit })),
		tb.RegisterSpoolOldestRecordAgeCallback(func(_ context.Context, o metric.Float64Observer) error {
			age := 0.0
			if oldest := sp.Stats().Oldest; !oldest.IsZero() {
				age = max(time.Since(oldest).Seconds(), 0)
			}
			o.Observe(age)
			return nil
		}),
	)
}

func (p FsyncPolicy) policy() spool.FsyncPolicy {
	switch p {
	case FsyncAlways:
		return spool.FsyncAlways
	case FsyncNever:
		return spool.FsyncNever
	}
	return spool.FsyncInterval
}

// minFree is the spool's MinFree for the min_free option.
func (c *Config) minFree() int64 {
	if c.MinFree == nil {
		return spool.DefaultMinFree
	}
	return int64(*c.MinFree)
}

func (p FullPolicy) policy() spool.FullPolicy {
	switch p {
	case FullDropOldest:
		return spool.DropOldest
	case FullBlock:
		return spool.Block
	}
	return spool.EvictLowestSeverity
}
