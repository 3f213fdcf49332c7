package spoolreceiver // import "github.com/fleetlog/fleetlog/receivers/spoolreceiver"

import (
	"context"
	"fmt"
	"time"

	"go.opentelemetry.io/collector/pdata/plog"
	"go.uber.org/zap"

	"github.com/fleetlog/fleetlog/receivers/spoolreceiver/internal/record"
	"github.com/fleetlog/fleetlog/receivers/spoolreceiver/internal/spool"
)

// Attributes of the loss record the receiver emits after an eviction.
const (
	attrDroppedRecords  = "fleetlog.spool.dropped_records"
	attrDroppedBytes    = "fleetlog.spool.dropped_bytes"
	attrDroppedFirst    = "fleetlog.spool.dropped_first"
	attrDroppedLast     = "fleetlog.spool.dropped_last"
	attrDroppedSeverity = "fleetlog.spool.dropped_max_severity"
)

// onEvict is the spool's callback. It runs on an appending goroutine, so it
// only queues the eviction: appending the loss record from here could evict
// again underneath the append that called it.
func (r *spoolReceiver) onEvict(ev spool.Eviction) {
	r.evMu.Lock()
	r.evPending = append(r.evPending, ev)
	r.evMu.Unlock()
	select {
	case r.evSignal <- struct{}{}:
	default:
	}
}

// reportEvictions appends one WARN record per eviction to the spool, so the
// loss is delivered in order with the surviving records and is itself durable.
func (r *spoolReceiver) reportEvictions(ctx context.Context) {
	defer r.wg.Done()
	for {
		select {
		case <-ctx.Done():
			return
		case <-r.evSignal:
			r.flushEvictions()
		}
	}
}

func (r *spoolReceiver) flushEvictions() {
	r.evMu.Lock()
	pending := r.evPending
	r.evPending = nil
	r.evMu.Unlock()
	for _, ev := range pending {
		now := time.Now()
		e := lossRecord(ev, now)
		rec := spool.Record{Severity: e.Severity, Time: e.Observed, Shared: record.AppendShared(nil, e), Payload: record.AppendRecord(nil, e)}
		if err := r.sp.TryAppend([]spool.Record{rec}); err != nil {
			// Only the block policy refuses, and it never evicts; log the
			// loss so it is not silent even then.
			r.set.Logger.Warn("spool evicted records", zap.Int64("records", ev.Records),
				zap.Int64("bytes", ev.Bytes), zap.Error(err))
		}
	}
}

func lossRecord(ev spool.Eviction, now time.Time) *record.Entry {
	first, last := ev.First.UTC().Format(time.RFC3339Nano), ev.Last.UTC().Format(time.RFC3339Nano)
	return &record.Entry{
		Timestamp:    now.UnixNano(),
		Observed:     now.UnixNano(),
		Severity:     uint8(plog.SeverityNumberWarn),
		SeverityText: plog.SeverityNumberWarn.String(),
		Scope:        scopeName,
		Attributes: map[string]any{
			attrDroppedRecords:  ev.Records,
			attrDroppedBytes:    ev.Bytes,
			attrDroppedFirst:    first,
			attrDroppedLast:     last,
			attrDroppedSeverity: plog.SeverityNumber(ev.Severity).String(),
		},
		Body: fmt.Sprintf("spool full: dropped %d records (%d bytes) observed from %s to %s, the most severe %s",
			ev.Records, ev.Bytes, first, last, plog.SeverityNumber(ev.Severity).String()),
	}
}
