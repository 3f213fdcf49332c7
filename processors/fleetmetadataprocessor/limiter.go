package fleetmetadataprocessor

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync/atomic"

	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/processor"
	"google.golang.org/grpc/codes"

	"github.com/fleetlog/fleetlog/internal/pipelineturn"
)

// ErrBusy refuses a batch while the gateway's pipeline is overloaded.
var ErrBusy = errors.New("gateway busy, retry later")

// batchesPerCPU is the default bound of concurrent batches per CPU. Most
// of a batch's time in the pipeline can be the wait for the archive's fsync,
// which one fsync ends for every batch written before it: the bound must
// leave enough batches in that wait for the fsyncs to cover many at once.
const batchesPerCPU = 64

// limiter lets a bounded number of batches through the gateway's pipeline
// at once (this processor, pii, the alert connector, the archive). A
// gateway takes a request per device connection concurrently; thousands of
// devices would otherwise put thousands of batches on a few CPUs at once,
// where every stage that serialises (the alert engine's state, the
// archive's chain and its fsync) waits behind a holder that has to share
// the CPU with all the others, and memory grows with the queue. Batches
// beyond the bound wait, decoded, in arrival order (a channel's waiters are
// served first come, first served), and go on as soon as one ahead of them
// is done. A device that gives up waiting (its deadline) gets Unavailable
// and sends the batch again, as after any failed export.
//
// While maxWaiting batches already wait, the gateway is overloaded: another
// batch is refused at once with Unavailable rather than held in memory. Its
// records stay in the device's spool, which sends them again after a
// backoff; a gateway that kept every device's batch would grow by a batch
// per device connection until it ran out of memory.
type limiter struct {
	processor.Logs
	slots      chan struct{}
	waiting    atomic.Int64
	maxWaiting int64
}

// waitingPerTurn is the default bound of waiting batches per turn.
const waitingPerTurn = 4

func newLimiter(next processor.Logs, n, maxWaiting int) *limiter {
	if n <= 0 {
		n = batchesPerCPU * runtime.GOMAXPROCS(0)
	}
	if maxWaiting <= 0 {
		maxWaiting = waitingPerTurn * n
	}
	return &limiter{Logs: next, slots: make(chan struct{}, n), maxWaiting: int64(maxWaiting)}
}

func (l *limiter) ConsumeLogs(ctx context.Context, ld plog.Logs) error {
	select {
	case l.slots <- struct{}{}:
	default:
		if err := l.wait(ctx); err != nil {
			return err
		}
	}
	// The archive gives the turn back early, once only its fsync is left
	// (internal/pipelineturn).
	ctx, done := pipelineturn.With(ctx, func() { <-l.slots })
	defer done()
	return l.Logs.ConsumeLogs(ctx, ld)
}

// busy reports whether as many batches wait as may: what a
// pipelineturn.Gatekeeper asks before it reads a request.
func (l *limiter) busy() bool { return l.waiting.Load() >= l.maxWaiting }

// wait queues for a turn, unless too many batches wait already.
func (l *limiter) wait(ctx context.Context) error {
	if l.waiting.Add(1) > l.maxWaiting {
		l.waiting.Add(-1)
		// Not permanent: the device sends the batch again.
		return statusError{code: codes.Unavailable, err: fmt.Errorf("%w: %d batches wait for a turn already", ErrBusy, l.maxWaiting)}
	}
	defer l.waiting.Add(-1)
	select {
	case l.slots <- struct{}{}:
		return nil
	case <-ctx.Done():
		// Not permanent: the device sends the batch again.
		return statusError{code: codes.Unavailable, err: fmt.Errorf("gave up waiting for a turn in the pipeline: %w", ctx.Err())}
	}
}
