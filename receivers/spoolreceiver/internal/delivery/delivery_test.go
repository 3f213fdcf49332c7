package delivery

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/config/configretry"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.uber.org/goleak"
	"go.uber.org/zap"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/fleetlog/fleetlog/receivers/spoolreceiver/internal/record"
	"github.com/fleetlog/fleetlog/receivers/spoolreceiver/internal/spool"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// fakeSource hands out its batches once each and records what became of
// them. Quarantine fails while quarantineFailures is positive.
type fakeSource struct {
	mu                 sync.Mutex
	batches            []spool.Batch
	readErr            error
	acked, quarantined []string
	quarantineFailures int
}

func (f *fakeSource) Read(ctx context.Context, _ int, _ int64) (spool.Batch, error) {
	f.mu.Lock()
	if f.readErr != nil {
		err := f.readErr
		f.mu.Unlock()
		return spool.Batch{}, err
	}
	if len(f.batches) > 0 {
		b := f.batches[0]
		f.batches = f.batches[1:]
		f.mu.Unlock()
		return b, nil
	}
	f.mu.Unlock()
	<-ctx.Done()
	return spool.Batch{}, ctx.Err()
}

func (f *fakeSource) Ack(b spool.Batch) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.acked = append(f.acked, string(b.Records[0].Payload))
	return nil
}

func (f *fakeSource) Quarantine(b spool.Batch) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.quarantineFailures > 0 {
		f.quarantineFailures--
		return errors.New("write quarantine: no space left on device")
	}
	f.quarantined = append(f.quarantined, string(b.Records[0].Payload))
	return nil
}

func (f *fakeSource) outcome() (acked, quarantined []string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.acked...), append([]string(nil), f.quarantined...)
}

// scriptedConsumer returns its errors in turn, then nil.
type scriptedConsumer struct {
	mu       sync.Mutex
	errs     []error
	always   error
	attempts int
}

func (c *scriptedConsumer) ConsumeLogs(_ context.Context, _ plog.Logs) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.attempts++
	if c.always != nil {
		return c.always
	}
	if len(c.errs) > 0 {
		err := c.errs[0]
		c.errs = c.errs[1:]
		return err
	}
	return nil
}

func (c *scriptedConsumer) Capabilities() consumer.Capabilities { return consumer.Capabilities{} }

func (c *scriptedConsumer) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.attempts
}

func batch(r *spool.Record) spool.Batch {
	return spool.Batch{Records: []spool.Record{*r}, Bytes: int64(len(r.Shared) + len(r.Payload))}
}

// line is a spooled record of a line in the current format.
func line(body string) *spool.Record {
	e := &record.Entry{BodyBytes: []byte(body)}
	return &spool.Record{Shared: record.AppendShared(nil, e), Payload: record.AppendRecord(nil, e)}
}

func fastRetry() configretry.BackOffConfig {
	c := configretry.NewDefaultBackOffConfig()
	c.InitialInterval, c.MaxInterval, c.RandomizationFactor, c.MaxElapsedTime = time.Millisecond, 5*time.Millisecond, 0, 0
	return c
}

func TestOutcomes(t *testing.T) {
	t.Parallel()
	ok := line("ok")
	refused := consumererror.NewPermanent(status.Error(codes.PermissionDenied, "device denied"))
	tests := []struct {
		name               string
		payload            *spool.Record
		errs               []error
		always             error
		quarantineFailures int
		readErr            error
		wantAcked          bool
		wantQuarantined    bool
		wantAttempts       int // at least
		wantUndecodable    int64
	}{
		{name: "success", payload: ok, wantAcked: true, wantAttempts: 1},
		{name: "retryable error", payload: ok, errs: []error{errors.New("unavailable"), errors.New("unavailable")},
			wantAcked: true, wantAttempts: 3},
		{name: "permanent error", payload: ok, errs: []error{consumererror.NewPermanent(errors.New("bad data"))},
			wantQuarantined: true, wantAttempts: 1},
		{name: "refused device", payload: ok, errs: []error{refused, refused},
			wantAcked: true, wantAttempts: 3},
		{name: "undecodable", payload: &spool.Record{Payload: []byte("not a record")}, wantQuarantined: true, wantUndecodable: 1},
		{name: "quarantine failure", payload: ok, errs: []error{consumererror.NewPermanent(errors.New("bad data"))},
			quarantineFailures: 3, wantQuarantined: true, wantAttempts: 1},
		{name: "shutdown while retrying", payload: ok, always: errors.New("unavailable"), wantAttempts: 3},
		{name: "shutdown while quarantine fails", payload: ok, always: consumererror.NewPermanent(errors.New("bad")),
			quarantineFailures: 1 << 30, wantAttempts: 1},
		{name: "spool closed", readErr: spool.ErrClosed},
		{name: "read error", readErr: errors.New("read segment: input/output error")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			src := &fakeSource{readErr: tt.readErr, quarantineFailures: tt.quarantineFailures}
			if tt.payload != nil {
				src.batches = []spool.Batch{batch(tt.payload)}
			}
			next := &scriptedConsumer{errs: tt.errs, always: tt.always}
			var undecodable int64
			var mu sync.Mutex
			l := New(src, next, Config{MaxRecords: 10, MaxBytes: 1 << 20, Retry: fastRetry()}, zap.NewNop(),
				func(_ context.Context, n int64) { mu.Lock(); undecodable += n; mu.Unlock() })
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan struct{})
			go func() { defer close(done); l.Run(ctx) }()

			if errors.Is(tt.readErr, spool.ErrClosed) {
				select {
				case <-done: // returns by itself
				case <-time.After(5 * time.Second):
					t.Fatal("Run did not return when the spool closed")
				}
				cancel()
				return
			}
			settled := func() bool {
				acked, quarantined := src.outcome()
				return next.count() >= tt.wantAttempts && len(acked) > 0 == tt.wantAcked && len(quarantined) > 0 == tt.wantQuarantined
			}
			require.Eventually(t, settled, 5*time.Second, time.Millisecond)
			// Nothing else happens to the batch afterwards.
			time.Sleep(20 * time.Millisecond)
			cancel()
			<-done
			acked, quarantined := src.outcome()
			if tt.wantAcked {
				assert.Equal(t, []string{string(tt.payload.Payload)}, acked)
			} else {
				assert.Empty(t, acked)
			}
			if tt.wantQuarantined {
				assert.Equal(t, []string{string(tt.payload.Payload)}, quarantined)
			} else {
				assert.Empty(t, quarantined)
			}
			mu.Lock()
			assert.Equal(t, tt.wantUndecodable, undecodable)
			mu.Unlock()
		})
	}
}

// TestCollectWaitsForMore checks that a partial batch waits up to Timeout
// for more records and goes out as one call.
func TestCollectWaitsForMore(t *testing.T) {
	t.Parallel()
	src := &fakeSource{batches: []spool.Batch{batch(line("a")), batch(line("b"))}}
	next := &scriptedConsumer{}
	l := New(src, next, Config{MaxRecords: 10, MaxBytes: 1 << 20, Timeout: 20 * time.Millisecond, Retry: fastRetry()}, zap.NewNop(), nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); l.Run(ctx) }()
	require.Eventually(t, func() bool { a, _ := src.outcome(); return len(a) == 2 }, 5*time.Second, time.Millisecond)
	cancel()
	<-done
	assert.Equal(t, 1, next.count())
}

func TestRefusedDevice(t *testing.T) {
	t.Parallel()
	assert.True(t, RefusedDevice(status.Error(codes.Unauthenticated, "x")))
	assert.True(t, RefusedDevice(consumererror.NewPermanent(status.Error(codes.PermissionDenied, "x"))))
	assert.False(t, RefusedDevice(status.Error(codes.Unavailable, "x")))
	assert.False(t, RefusedDevice(errors.New("x")))
}
