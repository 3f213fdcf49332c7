package spoolreceiver // import "github.com/fleetlog/fleetlog/receivers/spoolreceiver"

import (
	"context"
	"errors"
	"time"

	"github.com/cenkalti/backoff/v7"
	"go.uber.org/zap"

	"github.com/fleetlog/fleetlog/receivers/spoolreceiver/internal/spool"
)

// appendMode says what appendRecords does when the spool cannot take
// records now.
type appendMode int

const (
	// waitForRoom holds the caller (and so its input) until the spool took
	// every record: the file inputs and syslog over TCP, which can push
	// back on their source.
	waitForRoom appendMode = iota
	// dropWhenFull tries once and counts what the spool did not take: syslog
	// over UDP, whose peers cannot be pushed back on (the kernel would drop
	// the datagrams uncounted instead).
	dropWhenFull
)

const (
	// While the spool cannot take records, appendRecords tries again after
	// appendRetryInitial, backing off to appendRetryMax: soon enough that
	// an input resumes within a second once there is room.
	appendRetryInitial = 10 * time.Millisecond
	appendRetryMax     = time.Second
)

// spoolAppender is what appendRecords needs of the spool.
type spoolAppender interface {
	Append(ctx context.Context, recs []spool.Record) error
	TryAppend(recs []spool.Record) error
}

// appendRecords is the one way records enter the spool: every input calls
// it. With waitForRoom it returns only once the spool took every record, or
// when ctx ends, the spool closes or a record can never fit (then with the
// error, and some records may not have been taken). A full disk, a failing
// device or a full spool under the block policy thus hold the input back
// instead of losing lines: a failed append (ENOSPC, EIO, EDQUOT, ...) is
// retried with backoff, and a batch taken in part is retried from the first
// record not taken, so nothing is appended twice. With dropWhenFull it
// tries once and counts the records not taken in
// spool_udp_dropped_records; it then returns nil, or ErrClosed.
func (r *spoolReceiver) appendRecords(ctx context.Context, recs []spool.Record, mode appendMode) error {
	var bo *backoff.ExponentialBackOff
	for {
		var err error
		if mode == dropWhenFull {
			err = r.appender.TryAppend(recs)
		} else {
			err = r.appender.Append(ctx, recs)
		}
		if err == nil {
			r.intakeResumed()
			return nil
		}
		var pe *spool.PartialError
		if errors.As(err, &pe) {
			recs = recs[pe.Appended:]
			if len(recs) == 0 {
				// Taken whole but not yet durable (a failed sync): the
				// spool keeps them buffered and no file checkpoint passes
				// them until a sync succeeds.
				return nil
			}
		}
		switch {
		case errors.Is(err, spool.ErrClosed):
			return err
		case mode == dropWhenFull:
			r.telemetry.SpoolUDPDroppedRecords.Add(ctx, int64(len(recs)))
			r.intakeStalled(err, "dropping syslog UDP messages")
			return nil
		case errors.Is(err, spool.ErrTooLarge), ctx.Err() != nil:
			return err
		}
		r.intakeStalled(err, "inputs wait")
		r.telemetry.SpoolAppendRetries.Add(ctx, 1)
		if bo == nil {
			bo = backoff.NewExponentialBackOff()
			bo.InitialInterval, bo.MaxInterval = appendRetryInitial, appendRetryMax
			bo.Reset()
		}
		t := time.NewTimer(bo.NextBackOff())
		select {
		case <-ctx.Done():
			t.Stop()
			return err
		case <-t.C:
		}
	}
}

// intakeStalled logs, once per episode, that the spool does not take
// records.
func (r *spoolReceiver) intakeStalled(err error, what string) {
	if r.stalled.CompareAndSwap(false, true) {
		r.set.Logger.Warn("spool cannot take records; "+what+" until it can", zap.Error(err))
	}
}

// intakeResumed logs the end of a stall.
func (r *spoolReceiver) intakeResumed() {
	if r.stalled.Load() && r.stalled.CompareAndSwap(true, false) {
		r.set.Logger.Info("spool takes records again")
	}
}
