package fleetmetadataprocessor

import (
	"context"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/processor/processortest"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/fleetlog/fleetlog/internal/fleetattr"
	"github.com/fleetlog/fleetlog/internal/pipelineturn"
	"github.com/fleetlog/fleetlog/processors/fleetmetadataprocessor/internal/metadata"
)

// blockingLogs counts the batches inside it and holds each until released.
type blockingLogs struct {
	inside, most atomic.Int32
	release      chan struct{}
}

func (b *blockingLogs) Start(context.Context, component.Host) error { return nil }
func (b *blockingLogs) Shutdown(context.Context) error              { return nil }
func (b *blockingLogs) Capabilities() consumer.Capabilities         { return consumer.Capabilities{} }

func (b *blockingLogs) ConsumeLogs(context.Context, plog.Logs) error {
	n := b.inside.Add(1)
	for {
		m := b.most.Load()
		if n <= m || b.most.CompareAndSwap(m, n) {
			break
		}
	}
	<-b.release
	b.inside.Add(-1)
	return nil
}

func TestLimiterBoundsConcurrentBatches(t *testing.T) {
	t.Parallel()
	next := &blockingLogs{release: make(chan struct{})}
	l := newLimiter(next, 3, 0)
	var wg sync.WaitGroup
	for range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			assert.NoError(t, l.ConsumeLogs(context.Background(), plog.NewLogs()))
		}()
	}
	require.Eventually(t, func() bool { return next.inside.Load() == 3 }, 5*time.Second, time.Millisecond)
	for range 10 {
		next.release <- struct{}{}
	}
	wg.Wait()
	assert.Equal(t, int32(3), next.most.Load())
	assert.Zero(t, next.inside.Load())
}

func TestLimiterGivesUpWithTheCaller(t *testing.T) {
	t.Parallel()
	next := &blockingLogs{release: make(chan struct{})}
	l := newLimiter(next, 1, 0)
	done := make(chan error, 1)
	go func() { done <- l.ConsumeLogs(context.Background(), plog.NewLogs()) }()
	require.Eventually(t, func() bool { return next.inside.Load() == 1 }, 5*time.Second, time.Millisecond)

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	err := l.ConsumeLogs(ctx, plog.NewLogs())
	require.Error(t, err)
	assert.Equal(t, codes.Unavailable, status.Code(err), "the device retries")
	next.release <- struct{}{}
	require.NoError(t, <-done)
}

func TestLimiterDefaultIsPerCPU(t *testing.T) {
	t.Parallel()
	l := newLimiter(&blockingLogs{}, 0, 0)
	assert.Equal(t, batchesPerCPU*runtime.GOMAXPROCS(0), cap(l.slots))
	assert.Equal(t, int64(defaultMaxPendingRecords), l.maxPending)
}

// logsWith returns a batch of n records.
func logsWith(n int) plog.Logs {
	ld := plog.NewLogs()
	lrs := ld.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords()
	for range n {
		lrs.AppendEmpty().Body().SetStr("x")
	}
	return ld
}

func TestLimiterBoundsPendingRecords(t *testing.T) {
	t.Parallel()
	next := &blockingLogs{release: make(chan struct{})}
	// Busy at 8 records held; a batch read meanwhile is taken up to 10.
	l := newLimiter(next, 1, 8)
	errs := make(chan error, 3)
	for _, n := range []int{4, 4} {
		go func() { errs <- l.ConsumeLogs(context.Background(), logsWith(n)) }()
	}
	require.Eventually(t, func() bool { return next.inside.Load() == 1 && l.pending.Load() == 8 }, 5*time.Second, time.Millisecond)
	assert.True(t, l.busy(), "the gatekeeper refuses before reading")
	go func() { errs <- l.ConsumeLogs(context.Background(), logsWith(2)) }()
	require.Eventually(t, func() bool { return l.pending.Load() == 10 }, 5*time.Second, time.Millisecond)

	err := l.ConsumeLogs(context.Background(), logsWith(1))
	require.ErrorIs(t, err, ErrBusy)
	assert.Equal(t, codes.Unavailable, status.Code(err), "the device retries")
	assert.Equal(t, int64(10), l.pending.Load(), "a refused batch holds nothing")
	for range 3 {
		next.release <- struct{}{}
	}
	for range 3 {
		require.NoError(t, <-errs)
	}
	assert.Zero(t, l.pending.Load())
	assert.False(t, l.busy())
}

func TestLimiterTakesALargeBatchWhenIdle(t *testing.T) {
	t.Parallel()
	next := &blockingLogs{release: make(chan struct{})}
	l := newLimiter(next, 1, 2)
	done := make(chan error, 1)
	go func() { done <- l.ConsumeLogs(context.Background(), logsWith(5)) }()
	require.Eventually(t, func() bool { return next.inside.Load() == 1 }, 5*time.Second, time.Millisecond)
	require.ErrorIs(t, l.ConsumeLogs(context.Background(), logsWith(1)), ErrBusy)
	next.release <- struct{}{}
	require.NoError(t, <-done)
}

// releasingLogs gives its turn back (as the archive does once only the
// fsync is left), then blocks.
type releasingLogs struct {
	blockingLogs
}

func (r *releasingLogs) ConsumeLogs(ctx context.Context, ld plog.Logs) error {
	pipelineturn.Release(ctx)
	return r.blockingLogs.ConsumeLogs(ctx, ld)
}

func TestLimiterTurnGivenBackEarly(t *testing.T) {
	t.Parallel()
	next := &releasingLogs{blockingLogs{release: make(chan struct{})}}
	l := newLimiter(next, 1, 0)
	var wg sync.WaitGroup
	for range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			assert.NoError(t, l.ConsumeLogs(context.Background(), plog.NewLogs()))
		}()
	}
	// With one turn, all three get in: each gave its turn back.
	require.Eventually(t, func() bool { return next.inside.Load() == 3 }, 5*time.Second, time.Millisecond)
	assert.Empty(t, l.slots)
	for range 3 {
		next.release <- struct{}{}
	}
	wg.Wait()
	assert.Empty(t, l.slots, "a turn given back early is not given back twice")
}

// gate stands in for fleet_identity's gRPC tap.
type gate struct {
	component.StartFunc
	component.ShutdownFunc
	mu   sync.Mutex
	busy func() bool
}

func (g *gate) SetBusy(busy func() bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.busy = busy
}

func (g *gate) get() func() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.busy
}

// The pipeline's front door learns at start how to ask whether too many
// records are held, and forgets at shutdown.
func TestGatewayTellsTheGateWhenBusy(t *testing.T) {
	t.Parallel()
	cfg := createDefaultConfig()
	cfg.Mode = ModeGateway
	cfg.Gateway = GatewayConfig{ID: "gw-1", MaxConcurrentBatches: 1, MaxPendingRecords: 2}
	next := &blockingLogs{release: make(chan struct{})}
	p, err := NewFactory().CreateLogs(context.Background(), processortest.NewNopSettings(metadata.Type), cfg, next)
	require.NoError(t, err)
	g := &gate{}
	require.NoError(t, p.Start(context.Background(), hostWith{component.MustNewID("fleet_identity"): g}))
	busy := g.get()
	require.NotNil(t, busy)
	assert.False(t, busy())

	ctx := authenticated(authData{fleetattr.DeviceID: "atm-1"})
	errs := make(chan error, 2)
	for range 2 {
		go func() { errs <- p.ConsumeLogs(ctx, logsWith(1)) }()
	}
	// One batch inside, one waiting: as many records held as may be.
	require.Eventually(t, busy, 5*time.Second, time.Millisecond)
	for range 2 {
		next.release <- struct{}{}
	}
	for range 2 {
		require.NoError(t, <-errs)
	}
	assert.False(t, busy())
	require.NoError(t, p.Shutdown(context.Background()))
	assert.Nil(t, g.get())
}
