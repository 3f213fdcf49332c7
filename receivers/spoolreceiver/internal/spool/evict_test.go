package spool

import (
	"context"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fleetlog/fleetlog/receivers/spoolreceiver/internal/spool/segfmt"
)

// Records in these tests take 39 bytes appended together (one frame group),
// so a 4 KiB segment holds about 100; appended one by one (a group each)
// about 53.
const evictMaxSize = 16 << 10

// groupBytes is what records from..to-1 of severity sev, numbered from
// firstSeq on, take on disk appended together (one frame group).
func groupBytes(sev uint8, from, to int, firstSeq uint64) int64 {
	var w segfmt.GroupWriter
	var buf []byte
	var total int64
	for i := from; i < to; i++ {
		r := rec(sev, i)
		var n int
		buf, n = w.Add(buf, firstSeq+uint64(i-from), r.Severity, r.Time, nil, r.Payload, nil)
		total += int64(n)
	}
	return total
}

// oneByOne is groupBytes for records appended one by one (a group each),
// numbered firstSeq, firstSeq+step, ...
func oneByOne(sev uint8, from, to int, firstSeq uint64, step uint64) int64 {
	var total int64
	for i := from; i < to; i++ {
		total += groupBytes(sev, i, i+1, firstSeq+step*uint64(i-from))
	}
	return total
}

// nextSeq is the sequence number s gives the next record.
func nextSeq(s *Spool) uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.nextSeq
}

type evictions struct {
	mu   sync.Mutex
	list []Eviction
}

func (e *evictions) add(ev Eviction) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.list = append(e.list, ev)
}

func (e *evictions) get() []Eviction {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.list)
}

func sec(n int) time.Time { return time.Unix(int64(n), 0) }

func TestEvictLowestSeverityFirst(t *testing.T) {
	var evs evictions
	s := openSpool(t, Options{MaxSize: evictMaxSize, OnEvict: evs.add})
	ctx := context.Background()
	require.NoError(t, s.Append(ctx, recs(sevDebug, 0, 100)))
	require.NoError(t, s.Append(ctx, recs(sevInfo, 100, 200)))
	require.NoError(t, s.Append(ctx, recs(sevWarn, 200, 300)))
	require.NoError(t, s.Append(ctx, recs(sevError, 300, 400)))
	require.Empty(t, evs.get(), "four bands of 100 records fit")

	// More errors: the debug band goes first, all of it, oldest first.
	require.NoError(t, s.Append(ctx, recs(sevError, 400, 500)))
	debugBytes, infoBytes := groupBytes(sevDebug, 0, 100, 1), groupBytes(sevInfo, 100, 200, 101)
	require.Equal(t, []Eviction{{Records: 100, Bytes: debugBytes, Severity: sevDebug, First: sec(0), Last: sec(99)}}, evs.get())
	// Then the info band.
	require.NoError(t, s.Append(ctx, recs(sevError, 500, 600)))
	require.Equal(t, Eviction{Records: 100, Bytes: infoBytes, Severity: sevInfo, First: sec(100), Last: sec(199)}, evs.get()[1])

	st := s.Stats()
	assert.EqualValues(t, 200, st.Evicted)
	assert.Equal(t, debugBytes+infoBytes, st.EvictedBytes)
	assert.EqualValues(t, 400, st.Records)
	assert.LessOrEqual(t, st.Bytes, int64(evictMaxSize))
	assert.Equal(t, seq(200, 600), readN(t, s, 400, true), "warn and error records survive, in order")
}

func TestEvictDropOldest(t *testing.T) {
	var evs evictions
	s := openSpool(t, Options{MaxSize: evictMaxSize, Full: DropOldest, OnEvict: evs.add})
	ctx := context.Background()
	for i := range 500 {
		// Errors first: under drop_oldest severity does not matter.
		sev := sevError
		if i >= 250 {
			sev = sevDebug
		}
		require.NoError(t, s.Append(ctx, []Record{rec(sev, i)}))
	}
	// Whole segments go, oldest first.
	require.NotEmpty(t, evs.get())
	evicted := 0
	for _, ev := range evs.get() {
		n := int(ev.Records)
		assert.Equal(t, Eviction{Records: ev.Records, Bytes: oneByOne(sevError, evicted, evicted+n, uint64(evicted+1), 1), Severity: sevError, First: sec(evicted), Last: sec(evicted + n - 1)}, ev)
		evicted += n
	}
	assert.Less(t, evicted, 250)
	assert.Equal(t, seq(evicted, 500), readN(t, s, 500-evicted, true))
}

func TestEvictPendingBatch(t *testing.T) {
	ctx := context.Background()
	for _, crash := range []bool{false, true} {
		t.Run(map[bool]string{false: "acknowledged", true: "crash before the ack"}[crash], func(t *testing.T) {
			var evs evictions
			dir := filepath.Join(t.TempDir(), "spool")
			s := openSpool(t, Options{Dir: dir, MaxSize: evictMaxSize, OnEvict: evs.add})
			require.NoError(t, s.Append(ctx, recs(sevDebug, 0, 100)))
			b, err := s.Read(ctx, 30, 1<<20)
			require.NoError(t, err)

			// Fill the spool with errors: the debug segment goes while 30 of
			// its records are out with the consumer. Those lose their only
			// durable copy, so they are reported with the 70 unread ones.
			require.NoError(t, s.Append(ctx, recs(sevError, 100, 500)))
			require.Len(t, evs.get(), 1)
			assert.Equal(t, Eviction{Records: 100, Bytes: groupBytes(sevDebug, 0, 100, 1), Severity: sevDebug, First: sec(0), Last: sec(99)}, evs.get()[0])

			if crash {
				require.NoError(t, s.Close())
				s = openSpool(t, Options{Dir: dir, MaxSize: evictMaxSize})
				assert.Equal(t, seq(100, 500), readN(t, s, 400, true), "every error survives; the debug loss was reported")
				return
			}
			require.NoError(t, s.Ack(b), "the batch can still be acknowledged")
			assert.Equal(t, seq(100, 500), readN(t, s, 400, true))
			st := s.Stats()
			assert.EqualValues(t, 430, st.Delivered)
			assert.EqualValues(t, 100, st.Evicted)
			assert.Zero(t, st.Records)
		})
	}
}

// TestEvictSparesPendingBatch: a segment with records out with the consumer
// is passed over while its chain has another one.
func TestEvictSparesPendingBatch(t *testing.T) {
	var evs evictions
	s := openSpool(t, Options{MaxSize: evictMaxSize, OnEvict: evs.add})
	ctx := context.Background()
	require.NoError(t, s.Append(ctx, recs(sevDebug, 0, 200))) // two segments
	b, err := s.Read(ctx, 30, 1<<20)
	require.NoError(t, err)
	require.NoError(t, s.Append(ctx, recs(sevError, 200, 500))) // room for one segment more
	require.Len(t, evs.get(), 1)
	assert.Equal(t, Eviction{Records: 95, Bytes: groupBytes(sevDebug, 105, 200, 106), Severity: sevDebug, First: sec(105), Last: sec(199)}, evs.get()[0],
		"the second debug segment goes, not the first with the batch out")
	require.NoError(t, s.Ack(b))
	got := readN(t, s, int(s.Stats().Records), true)
	assert.Equal(t, append(seq(30, 105), seq(200, 500)...), got, "the rest of the segment that was out survives")
}

func TestBlockWhenFull(t *testing.T) {
	s := openSpool(t, Options{MaxSize: evictMaxSize, Full: Block, OnEvict: func(Eviction) { t.Error("Block never evicts") }})
	ctx := context.Background()
	n := 0
	for ; n < 1000; n++ {
		if err := s.TryAppend([]Record{rec(sevInfo, n)}); err != nil {
			require.ErrorIs(t, err, ErrFull)
			break
		}
	}
	require.Less(t, n, 1000, "the spool never filled up")
	require.Greater(t, n, 300)

	short, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	require.ErrorIs(t, s.Append(short, []Record{rec(sevInfo, n)}), ErrFull)

	done := make(chan error)
	go func() { done <- s.Append(ctx, recs(sevInfo, n, n+50)) }()
	select {
	case err := <-done:
		t.Fatalf("Append did not wait: %v", err)
	case <-time.After(50 * time.Millisecond):
	}
	got := readN(t, s, n, true) // acknowledging frees whole segments
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(5 * time.Second):
		t.Fatal("Append still blocked after the spool was drained")
	}
	got = append(got, readN(t, s, 50, true)...)
	assert.Equal(t, seq(0, n+50), got)
	assert.Zero(t, s.Stats().Evicted)
}

func TestBlockBatchTooLarge(t *testing.T) {
	s := openSpool(t, Options{MaxSize: evictMaxSize, Full: Block})
	require.ErrorIs(t, s.TryAppend(recs(sevInfo, 0, 1000)), ErrTooLarge)
}

// fillUp appends records of severity sev from number from on until the
// spool has no room for another, without evicting; it returns the next
// number.
func fillUp(t *testing.T, s *Spool, sev uint8, from int) int {
	t.Helper()
	for s.Stats().Bytes+groupBytes(sev, from, from+1, nextSeq(s)) <= evictMaxSize {
		require.NoError(t, s.Append(context.Background(), []Record{rec(sev, from)}))
		from++
	}
	return from
}

func TestEvictIncomingReportedTogether(t *testing.T) {
	var evs evictions
	s := openSpool(t, Options{MaxSize: evictMaxSize, OnEvict: evs.add})
	ctx := context.Background()
	n := fillUp(t, s, sevError, 0)
	require.Empty(t, evs.get())
	at := nextSeq(s) // dropped records take no number: each costs as the next would
	for i := n; i < n+100; i++ {
		require.NoError(t, s.Append(ctx, []Record{rec(sevDebug, i)}))
	}
	assert.EqualValues(t, 100, s.Stats().Evicted, "every debug record dropped, no error")
	reports := evs.get()
	require.Len(t, reports, 1, "one report for the first drop, the rest wait a second")
	assert.Equal(t, Eviction{Records: 1, Bytes: oneByOne(sevDebug, n, n+1, at, 0), Severity: sevDebug, First: sec(n), Last: sec(n)}, reports[0])

	s.mu.Lock()
	s.lastReport = s.lastReport.Add(-time.Hour)
	s.mu.Unlock()
	require.NoError(t, s.Append(ctx, []Record{rec(sevDebug, n+100)}))
	reports = evs.get()
	require.Len(t, reports, 2, "the next Append a second later reports the rest")
	assert.Equal(t, Eviction{Records: 100, Bytes: oneByOne(sevDebug, n+1, n+101, at, 0), Severity: sevDebug, First: sec(n + 1), Last: sec(n + 100)}, reports[1])
	assert.Equal(t, seq(0, n), readN(t, s, n, true))

	// Without a later Append, a timer reports them.
	s.mu.Lock()
	s.reportEvery = 50 * time.Millisecond
	s.mu.Unlock()
	require.NoError(t, s.Append(ctx, recs(sevError, n+200, n+205)))
	fillUp(t, s, sevError, n+205)
	require.NoError(t, s.Append(ctx, recs(sevDebug, n+300, n+303)))
	require.Eventually(t, func() bool { return len(evs.get()) == 3 && evs.get()[2].Records == 3 }, 5*time.Second, 10*time.Millisecond)

	// ReportDrops reports at once, while the spool still takes the record
	// the report makes the caller append.
	s.mu.Lock()
	s.reportEvery = time.Hour
	s.mu.Unlock()
	at = nextSeq(s)
	require.NoError(t, s.Append(ctx, recs(sevDebug, n+350, n+352)))
	s.ReportDrops()
	reports = evs.get()
	require.Len(t, reports, 4)
	assert.Equal(t, Eviction{Records: 2, Bytes: oneByOne(sevDebug, n+350, n+352, at, 0), Severity: sevDebug, First: sec(n + 350), Last: sec(n + 351)}, reports[3])

	// Close reports what is left.
	at = nextSeq(s)
	require.NoError(t, s.Append(ctx, recs(sevDebug, n+400, n+402)))
	require.NoError(t, s.Close())
	reports = evs.get()
	require.Len(t, reports, 5)
	assert.Equal(t, Eviction{Records: 2, Bytes: oneByOne(sevDebug, n+400, n+402, at, 0), Severity: sevDebug, First: sec(n + 400), Last: sec(n + 401)}, reports[4])
}
