package spool

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/fleetlog/fleetlog/receivers/spoolreceiver/internal/spool/segfmt"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// Severity numbers as plog has them.
const (
	sevDebug uint8 = 5
	sevInfo  uint8 = 9
	sevWarn  uint8 = 13
	sevError uint8 = 17
)

func openSpool(t testing.TB, opts Options) *Spool {
	t.Helper()
	if opts.Dir == "" {
		opts.Dir = filepath.Join(t.TempDir(), "spool")
	}
	if opts.MaxSize == 0 {
		opts.MaxSize = 64 << 20
	}
	s, err := Open(opts)
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// rec is record i: its payload names it (30 bytes below 10000: in a frame
// group of records a second apart, 39 bytes), its time is i seconds.
func rec(sev uint8, i int) Record {
	return Record{Severity: sev, Time: int64(i) * int64(time.Second), Payload: fmt.Appendf(nil, "record-%04d%s", i, recPad)}
}

const recPad = "..................."

func recs(sev uint8, from, to int) []Record {
	out := make([]Record, 0, to-from)
	for i := from; i < to; i++ {
		out = append(out, rec(sev, i))
	}
	return out
}

func recNum(t testing.TB, r Record) int {
	t.Helper()
	n, err := strconv.Atoi(strings.TrimSuffix(strings.TrimPrefix(string(r.Payload), "record-"), recPad))
	require.NoError(t, err, "payload %q", r.Payload)
	return n
}

// readN reads exactly n records, acknowledging each batch when ack is set,
// and returns their numbers in delivery order.
func readN(t testing.TB, s *Spool, n int, ack bool) []int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var got []int
	for len(got) < n {
		b, err := s.Read(ctx, min(n-len(got), 100), 1<<20)
		require.NoError(t, err, "after %d of %d records", len(got), n)
		for _, r := range b.Records {
			got = append(got, recNum(t, r))
		}
		if ack {
			require.NoError(t, s.Ack(b))
		}
	}
	return got
}

// assertEmpty checks that nothing more is readable.
func assertEmpty(t testing.TB, s *Spool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	b, err := s.Read(ctx, 10, 1<<20)
	require.ErrorIs(t, err, context.DeadlineExceeded, "unexpected %d records", len(b.Records))
}

func seq(from, to int) []int {
	out := make([]int, 0, to-from)
	for i := from; i < to; i++ {
		out = append(out, i)
	}
	return out
}

func TestAppendReadAck(t *testing.T) {
	for _, policy := range []FsyncPolicy{FsyncAlways, FsyncInterval, FsyncNever} {
		t.Run(fmt.Sprint(policy), func(t *testing.T) {
			t.Parallel()
			s := openSpool(t, Options{MaxSize: 1 << 20, SegmentSize: 4 << 10, Fsync: policy, FsyncInterval: 5 * time.Millisecond})
			// Severities interleave, so the bands' chains must merge back
			// into append order.
			sevs := []uint8{sevDebug, sevInfo, sevWarn, sevError, 0, 24}
			n := 1000
			if policy == FsyncAlways {
				n = 200 // an fsync each
			}
			for i := range n {
				require.NoError(t, s.Append(context.Background(), []Record{rec(sevs[i%len(sevs)], i)}))
			}
			require.NoError(t, s.Sync())
			assert.Equal(t, seq(0, n), readN(t, s, n, true))
			assertEmpty(t, s)
			st := s.Stats()
			assert.EqualValues(t, n, st.Appended)
			assert.EqualValues(t, n, st.Delivered)
			assert.Zero(t, st.Records)
			assert.True(t, st.Oldest.IsZero())
			// Only the segments still open for appends remain.
			assert.LessOrEqual(t, st.Bytes, int64(numChains*(4<<10+64)))
		})
	}
}

func TestReadBatchLimits(t *testing.T) {
	s := openSpool(t, Options{})
	require.NoError(t, s.Append(context.Background(), recs(sevInfo, 0, 50)))
	b, err := s.Read(context.Background(), 10, 1<<20)
	require.NoError(t, err)
	assert.Len(t, b.Records, 10)
	// A byte limit smaller than one record still returns one.
	b2, err := s.Read(context.Background(), 10, 1)
	require.NoError(t, err)
	assert.Len(t, b2.Records, 1)
	assert.Less(t, b2.Bytes, int64(segfmt.MaxOverhead+len(b2.Records[0].Payload)))
	assert.Greater(t, b2.Bytes, int64(len(b2.Records[0].Payload)))
	require.NoError(t, s.Ack(b))
	require.NoError(t, s.Ack(b2))
	require.NoError(t, s.Ack(b2), "a second Ack is a no-op")
	assert.EqualValues(t, 11, s.Stats().Delivered)
	assert.EqualValues(t, 39, s.Stats().Records)
}

func TestReadWaitsAndCloseWakes(t *testing.T) {
	s := openSpool(t, Options{})
	got := make(chan []Record)
	go func() {
		b, err := s.Read(context.Background(), 10, 1<<20)
		assert.NoError(t, err)
		got <- b.Records
	}()
	time.Sleep(20 * time.Millisecond)
	require.NoError(t, s.Append(context.Background(), recs(sevInfo, 0, 3)))
	select {
	case r := <-got:
		assert.NotEmpty(t, r)
	case <-time.After(5 * time.Second):
		t.Fatal("Read did not wake up on Append")
	}

	errc := make(chan error)
	go func() {
		_, err := s.Read(context.Background(), 10, 1<<20)
		if err == nil { // the rest of the records
			_, err = s.Read(context.Background(), 10, 1<<20)
		}
		errc <- err
	}()
	time.Sleep(20 * time.Millisecond)
	require.NoError(t, s.Close())
	select {
	case err := <-errc:
		assert.ErrorIs(t, err, ErrClosed)
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not wake Read")
	}
	assert.ErrorIs(t, s.Append(context.Background(), recs(sevInfo, 0, 1)), ErrClosed)
	assert.ErrorIs(t, s.Sync(), ErrClosed)
	assert.NoError(t, s.Close(), "a second Close")
}

func TestCrashRedelivery(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "spool")
	opts := Options{Dir: dir, MaxSize: 1 << 20, SegmentSize: 4 << 10}
	s, err := Open(opts)
	require.NoError(t, err)
	require.NoError(t, s.Append(context.Background(), recs(sevInfo, 0, 200)))
	readN(t, s, 200, false) // delivered but never acknowledged
	require.NoError(t, s.Close())

	s, err = Open(opts)
	require.NoError(t, err)
	assert.Equal(t, seq(0, 100), readN(t, s, 100, true), "everything comes again")
	assert.Equal(t, seq(100, 200), readN(t, s, 100, false))
	require.NoError(t, s.Close())

	s, err = Open(opts)
	require.NoError(t, err)
	assert.EqualValues(t, 100, s.Stats().Records)
	assert.Equal(t, seq(100, 200), readN(t, s, 100, true), "only what was not acknowledged")
	require.NoError(t, s.Append(context.Background(), recs(sevInfo, 200, 210)))
	assert.Equal(t, seq(200, 210), readN(t, s, 10, true))
	assertEmpty(t, s)
	require.NoError(t, s.Close())
}

func TestPermissionsAndLock(t *testing.T) {
	parent := t.TempDir()
	dir := filepath.Join(parent, "spool")
	require.NoError(t, os.Mkdir(dir, 0o755)) // too open: Open tightens it
	s := openSpool(t, Options{Dir: dir, SegmentSize: 4 << 10})
	require.NoError(t, s.Append(context.Background(), recs(sevInfo, 0, 300)))
	b, err := s.Read(context.Background(), 10, 1<<20)
	require.NoError(t, err)
	require.NoError(t, s.Quarantine(b))
	require.NoError(t, s.Sync())

	_, err = Open(Options{Dir: dir, MaxSize: 1 << 20})
	require.ErrorIs(t, err, ErrLocked)

	fi, err := os.Stat(dir)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(dirPerm), fi.Mode().Perm(), dir)
	n := 0
	require.NoError(t, filepath.Walk(dir, func(path string, fi os.FileInfo, err error) error {
		require.NoError(t, err)
		want := os.FileMode(filePerm)
		if fi.IsDir() {
			want = dirPerm
		}
		assert.Equal(t, want, fi.Mode().Perm(), path)
		n++
		return nil
	}))
	assert.Greater(t, n, 4)

	require.NoError(t, s.Close())
	s2, err := Open(Options{Dir: dir, MaxSize: 1 << 20})
	require.NoError(t, err, "the lock is released on Close")
	require.NoError(t, s2.Close())
}

func TestQuarantine(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "spool")
	s := openSpool(t, Options{Dir: dir})
	require.NoError(t, s.Append(context.Background(), recs(sevWarn, 0, 20)))
	b, err := s.Read(context.Background(), 5, 1<<20)
	require.NoError(t, err)
	require.NoError(t, s.Quarantine(b))
	assert.Equal(t, seq(5, 20), readN(t, s, 15, true))
	st := s.Stats()
	assert.EqualValues(t, 5, st.Quarantined)
	assert.EqualValues(t, 20, st.Delivered)

	// The quarantine file is a segment holding the refused records.
	files, err := filepath.Glob(filepath.Join(dir, quarantineDir, "*"+segSuffix))
	require.NoError(t, err)
	require.Len(t, files, 1)
	data, err := os.ReadFile(files[0])
	require.NoError(t, err)
	var got []int
	_, err = segfmt.Scan(strings.NewReader(string(data)), int64(len(data)), segfmt.HeaderVersion(data), func(f *segfmt.Frame) {
		got = append(got, recNum(t, Record{Payload: f.Payload}))
	})
	require.NoError(t, err)
	assert.Equal(t, seq(0, 5), got)
}

func TestConcurrentAppenders(t *testing.T) {
	const writers, per = 8, 100
	for _, policy := range []FsyncPolicy{FsyncAlways, FsyncInterval} {
		t.Run(fmt.Sprint(policy), func(t *testing.T) {
			t.Parallel()
			s := openSpool(t, Options{MaxSize: 4 << 20, SegmentSize: 16 << 10, Fsync: policy, FsyncInterval: time.Millisecond})
			var wg sync.WaitGroup
			for w := range writers {
				wg.Go(func() {
					for i := range per {
						n := w*per + i
						assert.NoError(t, s.Append(context.Background(), []Record{rec(uint8(n%24+1), n)}))
					}
				})
			}
			got := readN(t, s, writers*per, true)
			wg.Wait()
			seen := make(map[int]bool, len(got))
			for _, n := range got {
				assert.False(t, seen[n], "record %d twice", n)
				seen[n] = true
			}
			assert.Len(t, seen, writers*per)
			assertEmpty(t, s)
		})
	}
}

func TestTooLarge(t *testing.T) {
	s := openSpool(t, Options{MaxSize: 64 << 10})
	err := s.Append(context.Background(), []Record{{Payload: make([]byte, 32<<10)}})
	require.ErrorIs(t, err, ErrTooLarge)
	assert.Zero(t, s.Stats().Appended)
}

func TestInvalidOptions(t *testing.T) {
	for _, tt := range []struct {
		name string
		opts Options
		want string
	}{
		{"no dir", Options{MaxSize: 1 << 20}, "Dir is required"},
		{"max size", Options{Dir: t.TempDir(), MaxSize: 10}, "MaxSize must be at least"},
		{"fsync", Options{Dir: t.TempDir(), MaxSize: 1 << 20, Fsync: 7}, "unknown fsync policy"},
		{"full", Options{Dir: t.TempDir(), MaxSize: 1 << 20, Full: 7}, "unknown full policy"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Open(tt.opts)
			assert.ErrorContains(t, err, tt.want)
		})
	}
}

func TestWriteFailureKeepsRecords(t *testing.T) {
	s := openSpool(t, Options{Fsync: FsyncNever})
	ctx := context.Background()
	require.NoError(t, s.Append(ctx, recs(sevInfo, 0, 10)))
	require.NoError(t, s.Sync())
	require.NoError(t, s.Append(ctx, recs(sevInfo, 10, 20))) // buffered only

	// Writes start failing under the open segment (a stand-in for a full
	// disk): Sync says so, the records stay buffered, Read serves what was
	// written and waits for the rest.
	s.mu.Lock()
	good := s.chains[chainInfo].wf.(*os.File)
	bad, err := os.Open(good.Name()) // read-only: every write fails
	require.NoError(t, err)
	s.chains[chainInfo].wf = bad
	s.mu.Unlock()
	require.Error(t, s.Sync())
	assert.Equal(t, seq(0, 10), readN(t, s, 10, true))
	assertEmpty(t, s)

	// Past the buffering bound Append refuses records.
	big := make([]Record, 0, 100)
	for i := range 100 {
		big = append(big, Record{Severity: sevInfo, Payload: make([]byte, 16<<10), Time: int64(i)})
	}
	require.Error(t, s.Append(ctx, big))
	st := s.Stats()
	assert.Zero(t, st.Lost)
	assert.Less(t, st.Records, int64(10+100))

	// The disk comes back: everything taken is delivered.
	s.mu.Lock()
	s.chains[chainInfo].wf = good
	s.mu.Unlock()
	_ = bad.Close()
	require.NoError(t, s.Sync())
	assert.Equal(t, seq(10, 20), readN(t, s, 10, true))
	for n := st.Records - 10; n > 0; {
		b, err := s.Read(ctx, 1000, 1<<30)
		require.NoError(t, err)
		n -= int64(len(b.Records))
		require.NoError(t, s.Ack(b))
	}
	st = s.Stats()
	assert.Zero(t, st.Records)
	assert.Equal(t, st.Appended, st.Records+st.Delivered+st.Evicted+st.Lost)
}

func TestWriteFailureKeepsOrder(t *testing.T) {
	s := openSpool(t, Options{Fsync: FsyncNever})
	ctx := context.Background()
	require.NoError(t, s.Append(ctx, recs(sevInfo, 0, 5)))
	require.NoError(t, s.Append(ctx, recs(sevWarn, 5, 6)))
	require.NoError(t, s.Sync())
	s.mu.Lock()
	good := s.chains[chainWarn].wf.(*os.File)
	bad, err := os.Open(good.Name())
	require.NoError(t, err)
	s.chains[chainWarn].wf = bad
	s.mu.Unlock()

	// The warn band cannot write 6 and 7; the info band writes 8 and 9.
	require.NoError(t, s.Append(ctx, recs(sevWarn, 6, 8)))
	require.NoError(t, s.Append(ctx, recs(sevInfo, 8, 10)))
	require.Error(t, s.Sync())
	assert.Equal(t, seq(0, 6), readN(t, s, 6, true))
	assertEmpty(t, s) // 8 and 9 wait for 6 and 7

	s.mu.Lock()
	s.chains[chainWarn].wf = good
	s.mu.Unlock()
	_ = bad.Close()
	assert.Equal(t, seq(6, 10), readN(t, s, 4, true))
}

func TestStatsOldest(t *testing.T) {
	s := openSpool(t, Options{})
	assert.True(t, s.Stats().Oldest.IsZero())
	ctx := context.Background()
	require.NoError(t, s.Append(ctx, recs(sevWarn, 10, 20)))
	require.NoError(t, s.Append(ctx, recs(sevDebug, 20, 30)))
	assert.Equal(t, time.Unix(10, 0), s.Stats().Oldest)
	readN(t, s, 5, true)
	// Bounded by the last acknowledged record (14) and the next one (15).
	assert.Equal(t, time.Unix(14, 0), s.Stats().Oldest)
	readN(t, s, 10, true)
	assert.Equal(t, time.Unix(24, 0), s.Stats().Oldest)
	readN(t, s, 5, true)
	assert.True(t, s.Stats().Oldest.IsZero())
}
