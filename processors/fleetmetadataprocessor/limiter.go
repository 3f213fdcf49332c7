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

// defaultMaxPendingRecords is the default bound of the records the
// pipeline holds at once. Decoded, with the attributes an agent sends, a
// record takes about 1.3 KB of the gateway's heap with its request's
// buffers, so the bound is about 170 MB, beside the 10,000 device
// connections' 450 MB. At 220,000 records/s it is 0.6 s of work: more than
// the half second a device may wait for its acknowledgement, so a gateway
// that keeps up takes its fleet's bursts, while one that is behind refuses
// rather than queue seconds of records.
const defaultMaxPendingRecords = 1 << 17

// limiter lets a bounded number of batches through the gateway's pipeline
// at once (this processor, pii, the alert connector, the archive). A
// gateway takes a request per device connection concurrently; thousands of
// devices would otherwise put thousands of batches on a few CPUs at once,
// where every stage that serialises (the alert engine's state, the
// archive's chain and its fsync) waits behind a holder that has to share
// the CPU with all the others. Batches beyond the bound wait, decoded, in
// arrival order (a channel's waiters are served first come, first served),
// and go on as soon as one ahead of them is done. A device that gives up
// waiting (its deadline) gets Unavailable and sends the batch again, as
// after any failed export.
//
// The memory a batch holds is that of its records, from its decoding
// until it is acknowledged: waiting for a turn, in one, and waiting for
// the archive's fsync after giving its turn back. While maxPending records
// are held the gateway is overloaded: a Gatekeeper refuses the next
// request before it is read, and a batch read meanwhile is still taken up
// to hardPending, beyond which it is refused with Unavailable rather than
// held. Its records stay in the device's spool, which sends them again
// after a backoff; a gateway that kept every device's batch would grow by
// a batch per device connection until it ran out of memory. Counting
// records rather than batches lets 10,000 devices' small batches wait
// where a few hundred full ones would.
type limiter struct {
	processor.Logs
	slots       chan struct{}
	pending     atomic.Int64
	maxPending  int64
	hardPending int64
	// release gives a turn back, made once: a closure per batch would be
	// allocated per batch.
	release func()
}

func newLimiter(next processor.Logs, n, maxPending int) *limiter {
	if n <= 0 {
		n = batchesPerCPU * runtime.GOMAXPROCS(0)
	}
	if maxPending <= 0 {
		maxPending = defaultMaxPendingRecords
	}
	l := &limiter{
		Logs: next, slots: make(chan struct{}, n),
		// Requests the gatekeeper let in before the bound was reached are
		// read and decoded already: refusing them would waste that work.
		maxPending: int64(maxPending), hardPending: int64(maxPending) + int64(maxPending)/4,
	}
	l.release = func() { <-l.slots }
	return l
}

func (l *limiter) ConsumeLogs(ctx context.Context, ld plog.Logs) error {
	n := int64(ld.LogRecordCount())
	// A batch larger than the bound still goes through an idle pipeline.
	if held := l.pending.Add(n); held > n && held > l.hardPending {
		l.pending.Add(-n)
		// Not permanent: the device sends the batch again.
		return statusError{code: codes.Unavailable, err: fmt.Errorf("%w: the pipeline holds %d records already", ErrBusy, l.hardPending)}
	}
	defer l.pending.Add(-n)
	select {
	case l.slots <- struct{}{}:
	default:
		if err := l.wait(ctx); err != nil {
			return err
		}
	}
	// The archive gives the turn back early, once only its fsync is left
	// (internal/pipelineturn).
	ctx, done := pipelineturn.With(ctx, l.release)
	defer done()
	return l.Logs.ConsumeLogs(ctx, ld)
}

// busy reports whether as many records are held as may: what a
// pipelineturn.Gatekeeper asks before it reads a request.
func (l *limiter) busy() bool { return l.pending.Load() >= l.maxPending }

// wait queues for a turn.
func (l *limiter) wait(ctx context.Context) error {
	select {
	case l.slots <- struct{}{}:
		return nil
	case <-ctx.Done():
		// Not permanent: the device sends the batch again.
		return statusError{code: codes.Unavailable, err: fmt.Errorf("gave up waiting for a turn in the pipeline: %w", ctx.Err())}
	}
}
