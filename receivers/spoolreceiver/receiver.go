package spoolreceiver // import "github.com/fleetlog/fleetlog/receivers/spoolreceiver"

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/cenkalti/backoff/v7"
	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/stanza/fileconsumer"
	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/stanza/operator"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/receiver"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/fleetlog/fleetlog/receivers/spoolreceiver/internal/checkpoint"
	"github.com/fleetlog/fleetlog/receivers/spoolreceiver/internal/metadata"
	"github.com/fleetlog/fleetlog/receivers/spoolreceiver/internal/record"
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

// spoolReceiver composes the inputs, the spool and the delivery loop.
type spoolReceiver struct {
	cfg  *Config
	set  receiver.Settings
	next consumer.Logs

	sp        *spool.Spool
	store     *checkpoint.Store
	telemetry *metadata.TelemetryBuilder
	files     []*fileconsumer.Manager
	syslogs   []operator.Operator

	cancel context.CancelFunc
	wg     sync.WaitGroup

	// Evictions reported by the spool wait here for the reporter goroutine,
	// which appends one loss record per eviction.
	evMu      sync.Mutex
	evPending []spool.Eviction
	evSignal  chan struct{}
}

func newReceiver(cfg *Config, set receiver.Settings, next consumer.Logs) *spoolReceiver {
	return &spoolReceiver{cfg: cfg, set: set, next: next, evSignal: make(chan struct{}, 1)}
}

// Start opens the spool, starts delivery and then the inputs, so nothing is
// read before there is somewhere durable to put it.
func (r *spoolReceiver) Start(_ context.Context, _ component.Host) error {
	if err := r.start(); err != nil {
		return errors.Join(err, r.Shutdown(context.Background()))
	}
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
		OnEvict:       r.onEvict,
		Logger:        logger,
	})
	if err != nil {
		return fmt.Errorf("open spool: %w", err)
	}
	r.sp = sp
	r.store, err = checkpoint.Open(filepath.Join(r.cfg.Directory, checkpointsFile), sp.Sync)
	if err != nil {
		return err
	}
	if err := r.startTelemetry(); err != nil {
		return err
	}

	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	r.wg.Add(2)
	go r.deliver(ctx)
	go r.reportEvictions(ctx)

	for _, name := range sortedKeys(r.cfg.Files) {
		m, err := r.buildFile(r.cfg.Files[name])
		if err != nil {
			return fmt.Errorf("'files::%s': %w", name, err)
		}
		if err := m.Start(operator.NewScopedPersister(name, r.store)); err != nil {
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
	var errs []error
	for _, in := range r.syslogs {
		errs = append(errs, in.Stop())
	}
	r.syslogs = nil
	for _, m := range r.files {
		errs = append(errs, m.Stop())
	}
	r.files = nil
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

// deliver is the one reader of the spool: it batches, decodes, hands the
// batch to the next consumer and acknowledges only after a nil return.
func (r *spoolReceiver) deliver(ctx context.Context) {
	defer r.wg.Done()
	bo := r.newBackOff()
	for {
		batches, err := r.collect(ctx)
		switch {
		case err == nil:
			bo.Reset()
		case ctx.Err() != nil || errors.Is(err, spool.ErrClosed):
			return
		default:
			// A read error (I/O) must not end delivery for the life of the
			// process: log it and try again.
			r.set.Logger.Error("read spool", zap.Error(err))
			select {
			case <-ctx.Done():
				return
			case <-time.After(bo.NextBackOff()):
			}
			continue
		}
		if !r.send(ctx, batches) {
			return
		}
	}
}

// collect waits for a first record, then reads more until the batch is full
// or Batch.Timeout has passed.
func (r *spoolReceiver) collect(ctx context.Context) ([]spool.Batch, error) {
	maxRecords, maxBytes := r.cfg.Batch.MaxRecords, int64(r.cfg.Batch.MaxBytes)
	first, err := r.sp.Read(ctx, maxRecords, maxBytes)
	if err != nil {
		return nil, err
	}
	batches := []spool.Batch{first}
	n, size := len(first.Records), first.Bytes
	if r.cfg.Batch.Timeout <= 0 {
		return batches, nil
	}
	deadline := time.Now().Add(r.cfg.Batch.Timeout)
	for n < maxRecords && size < maxBytes {
		rctx, cancel := context.WithDeadline(ctx, deadline)
		b, err := r.sp.Read(rctx, maxRecords-n, maxBytes-size)
		cancel()
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, spool.ErrClosed) {
				return nil, err
			}
			break // the batch's time is up
		}
		batches = append(batches, b)
		n, size = n+len(b.Records), size+b.Bytes
	}
	return batches, nil
}

// send delivers batches until the next consumer takes them, retrying with
// backoff; it returns false only when ctx is done (the batches stay unacked
// and are read again after a restart).
func (r *spoolReceiver) send(ctx context.Context, batches []spool.Batch) bool {
	bo := r.newBackOff()
	for {
		// Decoded afresh on every attempt: a consumer may have changed the
		// data it was given before failing.
		dec := record.NewDecoder()
		var undecodable int64
		for _, b := range batches {
			for _, rec := range b.Records {
				if err := dec.DecodeStamped(rec.Payload, r.sp.ID(), rec.Seq); err != nil {
					undecodable++
				}
			}
		}
		logs := dec.Logs()
		var err error
		if logs.LogRecordCount() > 0 {
			err = r.next.ConsumeLogs(ctx, logs)
		}
		switch {
		case err == nil:
			return r.settle(ctx, batches, undecodable)
		case refusedDevice(err):
			r.set.Logger.Warn("the gateway refuses this device; its records wait in the spool",
				zap.Error(err))
		case consumererror.IsPermanent(err):
			r.set.Logger.Error("next consumer rejected a batch permanently; it is quarantined",
				zap.Int("records", logs.LogRecordCount()), zap.Error(err))
			return r.quarantine(ctx, batches)
		}
		if ctx.Err() != nil {
			return false
		}
		wait := bo.NextBackOff()
		r.set.Logger.Debug("next consumer failed; retrying", zap.Duration("backoff", wait), zap.Error(err))
		select {
		case <-ctx.Done():
			return false
		case <-time.After(wait):
		}
	}
}

// refusedDevice reports whether err is the gateway refusing this device
// (Unauthenticated or PermissionDenied: a denied or unattributable
// certificate, a rejected identity claim). The otlp exporter marks such
// errors permanent, but they say nothing about the data: quarantining them
// would drain the whole spool while the device is refused. They are retried
// with backoff instead, and the records wait in the spool, bounded by its
// full policy.
func refusedDevice(err error) bool {
	s, ok := status.FromError(err)
	return ok && (s.Code() == codes.Unauthenticated || s.Code() == codes.PermissionDenied)
}

// settle acknowledges delivered batches. A batch holding payloads that could
// not be decoded goes to quarantine instead, so they stay inspectable. It
// returns false only when ctx is done.
func (r *spoolReceiver) settle(ctx context.Context, batches []spool.Batch, undecodable int64) bool {
	if undecodable > 0 {
		r.telemetry.SpoolUndecodableRecords.Add(ctx, undecodable)
		r.set.Logger.Error("spooled records could not be decoded; their batch is quarantined", zap.Int64("records", undecodable))
		return r.quarantine(ctx, batches)
	}
	for _, b := range batches {
		if err := r.sp.Ack(b); err != nil {
			// The records were delivered; the next Ack persists a cursor
			// past them too.
			r.set.Logger.Error("acknowledge spool batch", zap.Error(err))
			break
		}
	}
	return true
}

// quarantine moves batches to the spool's quarantine, retrying with backoff
// while that fails (a full or failing disk): a batch neither delivered nor
// quarantined must not be passed, or the next Ack would move the cursor over
// it. It returns false only when ctx is done or the spool closed; the
// batches are then read again after a restart.
func (r *spoolReceiver) quarantine(ctx context.Context, batches []spool.Batch) bool {
	bo := r.newBackOff()
	for _, b := range batches {
		for {
			err := r.sp.Quarantine(b)
			if err == nil {
				break
			}
			if errors.Is(err, spool.ErrClosed) {
				return false
			}
			r.set.Logger.Error("quarantine spool batch; retrying", zap.Error(err))
			select {
			case <-ctx.Done():
				return false
			case <-time.After(bo.NextBackOff()):
			}
		}
	}
	return true
}

func (r *spoolReceiver) newBackOff() *backoff.ExponentialBackOff {
	bo := backoff.NewExponentialBackOff()
	bo.InitialInterval = r.cfg.Retry.InitialInterval
	bo.RandomizationFactor = r.cfg.Retry.RandomizationFactor
	bo.Multiplier = r.cfg.Retry.Multiplier
	bo.MaxInterval = r.cfg.Retry.MaxInterval
	bo.Reset()
	return bo
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

func (p FullPolicy) policy() spool.FullPolicy {
	switch p {
	case FullDropOldest:
		return spool.DropOldest
	case FullBlock:
		return spool.Block
	}
	return spool.EvictLowestSeverity
}
