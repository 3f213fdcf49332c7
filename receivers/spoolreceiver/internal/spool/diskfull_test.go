package spool

import (
	"bytes"
	"context"
	"errors"
	"os"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// faults makes the segment files of a spool fail their writes with err
// while it is set, after writing half of what they were given when half is
// set (a write cut short by a full disk).
type faults struct {
	mu   sync.Mutex
	err  error
	half bool
}

func (f *faults) set(err error, half bool) {
	f.mu.Lock()
	f.err, f.half = err, half
	f.mu.Unlock()
}

func (f *faults) create(path string) (segFile, error) {
	file, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL|os.O_APPEND, filePerm)
	if err != nil {
		return nil, err
	}
	return &faultyFile{File: file, f: f}, nil
}

type faultyFile struct {
	*os.File
	f *faults
}

func (ff *faultyFile) Write(b []byte) (int, error) {
	ff.f.mu.Lock()
	err, half := ff.f.err, ff.f.half
	ff.f.mu.Unlock()
	if err == nil {
		return ff.File.Write(b)
	}
	if half && len(b) > 1 {
		n, _ := ff.File.Write(b[:len(b)/2])
		return n, &os.PathError{Op: "write", Path: ff.Name(), Err: err}
	}
	return 0, &os.PathError{Op: "write", Path: ff.Name(), Err: err}
}

// appendRetrying appends recs as the receiver's intake does: on a failure it
// retries what was not taken, here after clearing the fault at the tries'th
// failure. It returns how many failures it met.
func appendRetrying(t *testing.T, s *Spool, recs []Record, f *faults, clearAfter int) int {
	t.Helper()
	failures := 0
	for len(recs) > 0 {
		err := s.Append(context.Background(), recs)
		if err == nil {
			return failures
		}
		var pe *PartialError
		if errors.As(err, &pe) {
			require.Positive(t, pe.Appended)
			recs = recs[pe.Appended:]
		}
		require.NotErrorIs(t, err, ErrTooLarge)
		failures++
		if failures == clearAfter {
			f.set(nil, false)
		}
	}
	return failures
}

// TestWriteErrorsRetried fills a spool while its writes fail as on a full
// disk or a failing device: Append takes records while it can buffer them,
// then fails, reporting exactly what it took; Sync fails (so no checkpoint
// passes the buffered records); once writes work again, every record is read
// exactly once, in order.
func TestWriteErrorsRetried(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		err  error
		half bool
	}{
		{"ENOSPC", syscall.ENOSPC, false},
		{"ENOSPC after a short write", syscall.ENOSPC, true},
		{"EIO", syscall.EIO, false},
		{"EDQUOT", syscall.EDQUOT, true},
	}
	for _, policy := range []FsyncPolicy{FsyncNever, FsyncAlways} {
		for _, tt := range tests {
			t.Run(policy.String()+"/"+tt.name, func(t *testing.T) {
				t.Parallel()
				f := &faults{}
				s := openSpool(t, Options{Fsync: policy, createFile: f.create})
				// Batches of 64 records of 1KiB each, as a file input gives them.
				const batches, per = 40, 64
				var all []Record
				for i := range batches * per {
					r := rec(sevInfo, i)
					r.Payload = append(r.Payload, make([]byte, 1000)...)
					all = append(all, r)
				}
				require.NoError(t, s.Append(context.Background(), all[:per]))
				require.NoError(t, s.Sync())
				f.set(tt.err, tt.half)
				failures := 0
				for b := 1; b < batches; b++ {
					batch := all[b*per : (b+1)*per]
					if b == batches/2 {
						// The disk fills again under a batch that the spool
						// takes whole but cannot make durable: no checkpoint
						// may pass it, and it is not to be appended again.
						f.set(tt.err, tt.half)
						if err := s.Append(context.Background(), batch); err != nil {
							var pe *PartialError
							require.ErrorAs(t, err, &pe)
							require.Equal(t, per, pe.Appended)
						}
						require.Error(t, s.Sync())
						f.set(nil, false)
						continue
					}
					failures += appendRetrying(t, s, batch, f, 3)
				}
				assert.Positive(t, failures, "the writes never failed")
				require.NoError(t, s.Sync())
				got := readPadded(t, s, len(all))
				assert.Equal(t, seq(0, len(all)), got)
				assertEmpty(t, s)
				st := s.Stats()
				assert.Zero(t, st.Lost+st.Evicted)
				assert.Equal(t, int64(len(all)), st.Delivered)
			})
		}
	}
}

// readPadded is readN for records whose payload has padding after its name.
func readPadded(t *testing.T, s *Spool, n int) []int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var got []int
	for len(got) < n {
		b, err := s.Read(ctx, 1000, 1<<30)
		require.NoError(t, err, "after %d of %d records", len(got), n)
		for _, r := range b.Records {
			r.Payload = bytes.TrimRight(r.Payload, "\x00")
			got = append(got, recNum(t, r))
		}
		require.NoError(t, s.Ack(b))
	}
	return got
}

func TestDefaultMinFree(t *testing.T) {
	t.Parallel()
	const mib, gib = 1 << 20, 1 << 30
	tests := []struct {
		size, want int64
	}{
		{16 * mib, 8 * mib},    // small: half
		{1 * gib, 256 * mib},   // 256MiB beats 5%
		{100 * gib, 5 * gib},   // 5% beats 256MiB
		{512 * mib, 256 * mib}, // both rules meet
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, defaultMinFree(tt.size), "filesystem of %d bytes", tt.size)
	}
}

// TestMinFree keeps more free space than the test's filesystem has: the
// spool counts as full at once. Block refuses (TryAppend) and waits
// (Append); the evicting policy drops the incoming records, counted.
func TestMinFree(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	free, size, err := statDisk(dir)
	if err != nil {
		t.Skipf("free space: %v", err)
	}
	require.Positive(t, size)
	huge := size + 1

	t.Run("block", func(t *testing.T) {
		t.Parallel()
		s := openSpool(t, Options{Full: Block, MinFree: huge})
		require.ErrorIs(t, s.TryAppend(recs(sevInfo, 0, 1)), ErrFull)
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		defer cancel()
		require.ErrorIs(t, s.Append(ctx, recs(sevInfo, 0, 1)), ErrFull)
		st := s.Stats()
		assert.Equal(t, huge, st.MinFree)
		assert.Positive(t, st.FreeBytes)
		assert.Zero(t, st.Limit)
	})
	t.Run("evict_lowest_severity", func(t *testing.T) {
		t.Parallel()
		s := openSpool(t, Options{MinFree: huge})
		require.NoError(t, s.Append(context.Background(), recs(sevError, 0, 3)))
		st := s.Stats()
		assert.Equal(t, int64(3), st.Evicted)
		assert.Zero(t, st.Records)
	})
	t.Run("room left", func(t *testing.T) {
		t.Parallel()
		s := openSpool(t, Options{Full: Block, MinFree: 1})
		require.NoError(t, s.TryAppend(recs(sevInfo, 0, 3)))
		st := s.Stats()
		assert.Equal(t, int64(1), st.MinFree)
		assert.Equal(t, s.opts.MaxSize, st.Limit)
		assert.InDelta(t, float64(free), float64(st.FreeBytes), float64(size)/10)
	})
	t.Run("off", func(t *testing.T) {
		t.Parallel()
		s := openSpool(t, Options{Full: Block})
		require.NoError(t, s.TryAppend(recs(sevInfo, 0, 3)))
		assert.Zero(t, s.Stats().MinFree)
	})
}
