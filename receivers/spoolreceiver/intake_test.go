package spoolreceiver

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/receiver/receivertest"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/metric/metricdata/metricdatatest"

	"github.com/fleetlog/fleetlog/receivers/spoolreceiver/internal/metadata"
	"github.com/fleetlog/fleetlog/receivers/spoolreceiver/internal/metadatatest"
	"github.com/fleetlog/fleetlog/receivers/spoolreceiver/internal/spool"
)

// scriptedSpool fails its appends with errs in turn, taking what a
// *spool.PartialError says it took, then takes everything.
type scriptedSpool struct {
	mu    sync.Mutex
	errs  []error
	taken []int // the records taken, by their Time
	calls int
}

func (s *scriptedSpool) Append(_ context.Context, recs []spool.Record) error {
	return s.TryAppend(recs)
}

func (s *scriptedSpool) TryAppend(recs []spool.Record) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls++
	n := len(recs)
	var err error
	if len(s.errs) > 0 {
		err, s.errs = s.errs[0], s.errs[1:]
		n = 0
		var pe *spool.PartialError
		if errors.As(err, &pe) {
			n = pe.Appended
		}
	}
	for _, r := range recs[:n] {
		s.taken = append(s.taken, int(r.Time))
	}
	return err
}

func writeErr(errno syscall.Errno) error {
	return fmt.Errorf("write segment info-1.seg: %w", &fs.PathError{Op: "write", Path: "info-1.seg", Err: errno})
}

func numbered(n int) []spool.Record {
	recs := make([]spool.Record, n)
	for i := range recs {
		recs[i] = spool.Record{Time: int64(i), Payload: []byte{byte(i)}}
	}
	return recs
}

// TestAppendRecords checks the one append entry point: failures are retried
// from the first record not taken, so every record is taken once; shutdown,
// a closed spool and a record that can never fit end the wait; UDP's mode
// tries once and counts what it drops.
func TestAppendRecords(t *testing.T) {
	t.Parallel()
	enospc, eio, edquot := writeErr(syscall.ENOSPC), writeErr(syscall.EIO), writeErr(syscall.EDQUOT)
	tests := []struct {
		name        string
		mode        appendMode
		errs        []error
		cancelAfter bool // cancel the context while it retries
		wantErr     error
		wantTaken   int
		wantRetries int64
		wantDropped int64
	}{
		{name: "taken at once", wantTaken: 10},
		{name: "disk full, then room", errs: []error{enospc, enospc, enospc}, wantTaken: 10, wantRetries: 3},
		{name: "I/O error, then quota, then room", errs: []error{eio, edquot}, wantTaken: 10, wantRetries: 2},
		{name: "taken in part, rest retried", errs: []error{&spool.PartialError{Appended: 4, Err: enospc}, enospc,
			&spool.PartialError{Appended: 3, Err: enospc}}, wantTaken: 10, wantRetries: 3},
		{name: "taken whole but not durable", errs: []error{&spool.PartialError{Appended: 10, Err: eio}}, wantTaken: 10},
		{name: "full under block, then room", errs: []error{spool.ErrFull}, wantTaken: 10, wantRetries: 1},
		{name: "shutdown while waiting", errs: repeat(enospc, 1000), cancelAfter: true, wantErr: syscall.ENOSPC},
		{name: "closed spool", errs: []error{spool.ErrClosed}, wantErr: spool.ErrClosed},
		{name: "too large", errs: []error{spool.ErrTooLarge}, wantErr: spool.ErrTooLarge},
		{name: "udp: taken", mode: dropWhenFull, wantTaken: 10},
		{name: "udp: full, dropped and counted", mode: dropWhenFull, errs: []error{spool.ErrFull}, wantDropped: 10},
		{name: "udp: disk full after a part", mode: dropWhenFull,
			errs: []error{&spool.PartialError{Appended: 6, Err: enospc}}, wantTaken: 6, wantDropped: 4},
		{name: "udp: closed", mode: dropWhenFull, errs: []error{spool.ErrClosed}, wantErr: spool.ErrClosed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tel := componenttest.NewTelemetry()
			t.Cleanup(func() { require.NoError(t, tel.Shutdown(context.Background())) })
			tb, err := metadata.NewTelemetryBuilder(metadatatest.NewSettings(tel).TelemetrySettings)
			require.NoError(t, err)
			sp := &scriptedSpool{errs: tt.errs}
			r := &spoolReceiver{set: receivertest.NewNopSettings(metadata.Type), appender: sp, telemetry: tb}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if tt.cancelAfter {
				time.AfterFunc(50*time.Millisecond, cancel)
			}
			err = r.appendRecords(ctx, numbered(10), tt.mode)
			if tt.wantErr != nil {
				require.ErrorIs(t, err, tt.wantErr)
			} else {
				require.NoError(t, err)
			}
			want := make([]int, tt.wantTaken)
			for i := range want {
				want[i] = i
			}
			sp.mu.Lock()
			assert.Equal(t, want, append([]int{}, sp.taken...), "each record taken once, in order")
			sp.mu.Unlock()
			if tt.wantRetries > 0 {
				metadatatest.AssertEqualSpoolAppendRetries(t, tel, []metricdata.DataPoint[int64]{{Value: tt.wantRetries}}, metricdatatest.IgnoreTimestamp())
			}
			if tt.wantDropped > 0 {
				metadatatest.AssertEqualSpoolUDPDroppedRecords(t, tel, []metricdata.DataPoint[int64]{{Value: tt.wantDropped}}, metricdatatest.IgnoreTimestamp())
			}
		})
	}
}

func repeat(err error, n int) []error {
	out := make([]error, n)
	for i := range out {
		out[i] = err
	}
	return out
}
