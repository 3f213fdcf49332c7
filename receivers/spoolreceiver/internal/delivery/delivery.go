// Package delivery is the spool receiver's at-least-once delivery loop: it
// reads batches from the spool, decodes them, hands them to the next
// consumer and acknowledges them only after it returned nil. Every outcome
// has one rule:
//
//   - success: the batches are acknowledged;
//   - a retryable error: the same batches are retried with backoff, forever;
//   - the gateway refusing this device (Unauthenticated, PermissionDenied):
//     retried like a retryable error, though the exporter marks it
//     permanent, because it says nothing about the data;
//   - a permanent error, or a payload that cannot be decoded: the batches go
//     to the spool's quarantine, and that is retried until it succeeds, since
//     a batch neither delivered nor quarantined must never be passed;
//   - shutdown (the context ends, the spool closes): the loop returns and
//     the unacknowledged batches are read again after a restart.
package delivery // import "github.com/fleetlog/fleetlog/receivers/spoolreceiver/internal/delivery"

import (
	"context"
	"errors"
	"time"

	"github.com/cenkalti/backoff/v7"
	"go.opentelemetry.io/collector/config/configretry"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.uber.org/zap"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/fleetlog/fleetlog/receivers/spoolreceiver/internal/record"
	"github.com/fleetlog/fleetlog/receivers/spoolreceiver/internal/spool"
)

// Source is the spool side of delivery (*spool.Spool implements it).
type Source interface {
	// Read waits for at least one record and returns up to maxRecords
	// (roughly up to maxBytes) not yet read, or ctx's error, or
	// spool.ErrClosed.
	Read(ctx context.Context, maxRecords int, maxBytes int64) (spool.Batch, error)
	// Ack marks a batch delivered.
	Ack(spool.Batch) error
	// Quarantine sets a batch aside for good and acknowledges it.
	Quarantine(spool.Batch) error
}

// Config bounds batches and paces retries.
type Config struct {
	// MaxRecords and MaxBytes bound one call to the next consumer.
	MaxRecords int
	MaxBytes   int64
	// Timeout is how long a partial batch waits for more records; 0 sends
	// what is there at once.
	Timeout time.Duration
	// Retry paces every retry (its MaxElapsedTime is not used: the loop
	// never gives up).
	Retry configretry.BackOffConfig
	// SpoolID, when set, is stamped with each record's sequence number on
	// every record delivered (internal/spoolstamp), so that the archive
	// stores each record once.
	SpoolID string
}

// Loop delivers from one Source to one consumer; Run is its only goroutine.
type Loop struct {
	src  Source
	next consumer.Logs
	cfg  Config
	log  *zap.Logger
	// undecodable counts payloads that could not be decoded.
	undecodable func(context.Context, int64)
}

// New returns a loop; undecodable (may be nil) is told how many payloads of
// a batch could not be decoded before that batch is quarantined.
func New(src Source, next consumer.Logs, cfg Config, logger *zap.Logger, undecodable func(context.Context, int64)) *Loop {
	if undecodable == nil {
		undecodable = func(context.Context, int64) {}
	}
	return &Loop{src: src, next: next, cfg: cfg, log: logger, undecodable: undecodable}
}

// Run delivers until ctx is done or the spool closes.
func (l *Loop) Run(ctx context.Context) {
	bo := l.newBackOff()
	for {
		batches, err := l.collect(ctx)
		switch {
		case err == nil:
			bo.Reset()
		case ctx.Err() != nil || errors.Is(err, spool.ErrClosed):
			return
		default:
			// A read error (I/O) must not end delivery for the life of the
			// process: log it and try again.
			l.log.Error("read spool", zap.Error(err))
			if !sleep(ctx, bo.NextBackOff()) {
				return
			}
			continue
		}
		if !l.send(ctx, batches) {
			return
		}
	}
}

// collect waits for a first record, then reads more until the batch is full
// or Timeout has passed.
func (l *Loop) collect(ctx context.Context) ([]spool.Batch, error) {
	maxRecords, maxBytes := l.cfg.MaxRecords, l.cfg.MaxBytes
	first, err := l.src.Read(ctx, maxRecords, maxBytes)
	if err != nil {
		return nil, err
	}
	batches := []spool.Batch{first}
	n, size := len(first.Records), first.Bytes
	if l.cfg.Timeout <= 0 {
		return batches, nil
	}
	deadline := time.Now().Add(l.cfg.Timeout)
	for n < maxRecords && size < maxBytes {
		rctx, cancel := context.WithDeadline(ctx, deadline)
		b, err := l.src.Read(rctx, maxRecords-n, maxBytes-size)
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
func (l *Loop) send(ctx context.Context, batches []spool.Batch) bool {
	bo := l.newBackOff()
	for {
		// Decoded afresh on every attempt: a consumer may have changed the
		// data it was given before failing.
		dec := record.NewDecoder()
		n := 0
		for _, b := range batches {
			n += len(b.Records)
		}
		dec.Expect(n)
		var undecodable int64
		for _, b := range batches {
			for _, rec := range b.Records {
				in := record.Spooled{Shared: rec.Shared, Payload: rec.Payload, Observed: rec.Time, Severity: rec.Severity}
				if err := dec.DecodeStamped(in, l.cfg.SpoolID, rec.Seq); err != nil {
					undecodable++
				}
			}
		}
		logs := dec.Logs()
		var err error
		if logs.LogRecordCount() > 0 {
			err = l.next.ConsumeLogs(ctx, logs)
		}
		switch {
		case err == nil:
			return l.settle(ctx, batches, undecodable)
		case RefusedDevice(err):
			l.log.Warn("the gateway refuses this device; its records wait in the spool",
				zap.Error(err))
		case consumererror.IsPermanent(err):
			l.log.Error("next consumer rejected a batch permanently; it is quarantined",
				zap.Int("records", logs.LogRecordCount()), zap.Error(err))
			return l.quarantine(ctx, batches)
		}
		if ctx.Err() != nil {
			return false
		}
		wait := bo.NextBackOff()
		l.log.Debug("next consumer failed; retrying", zap.Duration("backoff", wait), zap.Error(err))
		if !sleep(ctx, wait) {
			return false
		}
	}
}

// RefusedDevice reports whether err is the gateway refusing this device
// (Unauthenticated or PermissionDenied: a denied or unattributable
// certificate, a rejected identity claim). The otlp exporter marks such
// errors permanent, but they say nothing about the data: quarantining them
// would drain the whole spool while the device is refused. They are retried
// with backoff instead, and the records wait in the spool, bounded by its
// full policy.
func RefusedDevice(err error) bool {
	s, ok := status.FromError(err)
	return ok && (s.Code() == codes.Unauthenticated || s.Code() == codes.PermissionDenied)
}

// settle acknowledges delivered batches. A batch holding payloads that could
// not be decoded goes to quarantine instead, so they stay inspectable. It
// returns false only when ctx is done.
func (l *Loop) settle(ctx context.Context, batches []spool.Batch, undecodable int64) bool {
	if undecodable > 0 {
		l.undecodable(ctx, undecodable)
		l.log.Error("spooled records could not be decoded; their batch is quarantined", zap.Int64("records", undecodable))
		return l.quarantine(ctx, batches)
	}
	for _, b := range batches {
		if err := l.src.Ack(b); err != nil {
			// The records were delivered; the next Ack persists a cursor
			// past them too.
			l.log.Error("acknowledge spool batch", zap.Error(err))
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
func (l *Loop) quarantine(ctx context.Context, batches []spool.Batch) bool {
	bo := l.newBackOff()
	for _, b := range batches {
		for {
			err := l.src.Quarantine(b)
			if err == nil {
				break
			}
			if errors.Is(err, spool.ErrClosed) {
				return false
			}
			l.log.Error("quarantine spool batch; retrying", zap.Error(err))
			if !sleep(ctx, bo.NextBackOff()) {
				return false
			}
		}
	}
	return true
}

func (l *Loop) newBackOff() *backoff.ExponentialBackOff {
	return NewBackOff(l.cfg.Retry)
}

// NewBackOff is an exponential backoff paced by cfg that never gives up.
func NewBackOff(cfg configretry.BackOffConfig) *backoff.ExponentialBackOff {
	bo := backoff.NewExponentialBackOff()
	bo.InitialInterval = cfg.InitialInterval
	bo.RandomizationFactor = cfg.RandomizationFactor
	bo.Multiplier = cfg.Multiplier
	bo.MaxInterval = cfg.MaxInterval
	bo.Reset()
	return bo
}

// sleep waits d, or less if ctx ends first; it reports whether ctx is still
// live.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
