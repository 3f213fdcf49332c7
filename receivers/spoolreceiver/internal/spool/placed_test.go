package spool

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// segBytes is the size of the segment files on disk.
func segBytes(t *testing.T, dir string) int64 {
	t.Helper()
	matches, err := filepath.Glob(filepath.Join(dir, "*.seg"))
	require.NoError(t, err)
	var n int64
	for _, m := range matches {
		st, err := os.Stat(m)
		require.NoError(t, err)
		n += st.Size()
	}
	return n
}

func TestDurable(t *testing.T) {
	tests := []struct {
		name   string
		policy FsyncPolicy
		// durable says whether Durable follows Sync.
		durable bool
	}{
		{name: "interval", policy: FsyncInterval, durable: true},
		{name: "always", policy: FsyncAlways, durable: true},
		{name: "never", policy: FsyncNever, durable: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// A long interval: no background sync during the test.
			s := openSpool(t, Options{Fsync: tt.policy, FsyncInterval: 1 << 40})
			require.NoError(t, s.Append(context.Background(), recs(sevInfo, 0, 10)))
			require.NoError(t, s.Sync())
			if tt.durable {
				assert.Equal(t, s.nextSeq-1, s.Durable())
			} else {
				assert.Zero(t, s.Durable())
			}
		})
	}
}

// copyDir copies the spool's files as a crash of the process leaves them
// (what was written, not what was buffered).
func copyDir(t *testing.T, from, to string) {
	t.Helper()
	require.NoError(t, os.MkdirAll(to, 0o700))
	entries, err := os.ReadDir(from)
	require.NoError(t, err)
	for _, e := range entries {
		if !e.Type().IsRegular() || e.Name() == "LOCK" {
			continue
		}
		src, err := os.Open(filepath.Join(from, e.Name()))
		require.NoError(t, err)
		dst, err := os.Create(filepath.Join(to, e.Name()))
		require.NoError(t, err)
		_, err = io.Copy(dst, src)
		require.NoError(t, err)
		require.NoError(t, src.Close())
		require.NoError(t, dst.Close())
	}
}

func TestAppendPlaced(t *testing.T) {
	tests := []struct {
		name   string
		policy FullPolicy
		recs   []Record
		want   Placement
		// noPlace: the batch is too large to hold back.
		noPlace bool
	}{
		{
			name:   "bands",
			policy: EvictLowestSeverity,
			recs:   append(append(recs(sevInfo, 0, 5), recs(sevError, 5, 7)...), recs(sevDebug, 7, 8)...),
			want:   Placement{First: 1, Last: [numChains]uint64{chainDebug: 8, chainInfo: 5, chainError: 7}},
		},
		{
			name:   "one chain",
			policy: DropOldest,
			recs:   append(recs(sevInfo, 0, 5), recs(sevError, 5, 7)...),
			want:   Placement{First: 1, Last: [numChains]uint64{chainAll: 7}},
		},
		{
			// More than a write buffer: still nothing is written before
			// the placement is known.
			name:   "larger than the write buffer",
			policy: EvictLowestSeverity,
			recs:   recs(sevInfo, 0, 3000),
			want:   Placement{First: 1, Last: [numChains]uint64{chainInfo: 3000}},
		},
		{
			name:    "larger than a quarter segment",
			policy:  EvictLowestSeverity,
			recs:    recs(sevInfo, 0, 12000),
			noPlace: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "spool")
			s := openSpool(t, Options{Dir: dir, Full: tt.policy, SegmentSize: 4 << 20, Fsync: FsyncNever})
			var got Placement
			calls := 0
			require.NoError(t, s.AppendPlaced(context.Background(), tt.recs, func(p Placement) {
				calls++
				got = p
				assert.Zero(t, segBytes(t, dir), "nothing written before the placement")
			}))
			if tt.noPlace {
				assert.Zero(t, calls)
			} else {
				assert.Equal(t, 1, calls)
				assert.Equal(t, tt.want, got)
			}
			assert.Equal(t, seq(0, len(tt.recs)), readN(t, s, len(tt.recs), true))
		})
	}
}

// Held tells records that were in the files from records that were only
// buffered when the process died, and counts the records of a batch whose
// write was cut short that reached the file whole.
func TestHeldAfterCrash(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "spool")
	s := openSpool(t, Options{Dir: dir, Fsync: FsyncNever})
	ctx := context.Background()
	// The cut batch spans several frame groups (each at most maxGroup), so
	// a write cut short inside its last group leaves the groups before it.
	cutN := 3 * maxGroup / len(rec(sevWarn, 12).Payload)
	var written, other, cut, buffered Placement
	require.NoError(t, s.AppendPlaced(ctx, recs(sevInfo, 0, 10), func(p Placement) { written = p }))
	require.NoError(t, s.AppendPlaced(ctx, recs(sevError, 10, 12), func(p Placement) { other = p }))
	require.NoError(t, s.AppendPlaced(ctx, recs(sevWarn, 12, 12+cutN), func(p Placement) { cut = p }))
	require.NoError(t, s.Sync()) // writes the buffers out
	next := 12 + cutN
	require.NoError(t, s.AppendPlaced(ctx, append(recs(sevInfo, next, next+2), recs(sevWarn, next+2, next+3)...), func(p Placement) { buffered = p }))

	crashed := filepath.Join(t.TempDir(), "crashed")
	copyDir(t, dir, crashed)
	// The write of the warn chain cut short inside its last group: a torn
	// tail, which Open cuts off with the whole group.
	warn, err := filepath.Glob(filepath.Join(crashed, "warn-*.seg"))
	require.NoError(t, err)
	require.Len(t, warn, 1)
	st, err := os.Stat(warn[0])
	require.NoError(t, err)
	require.NoError(t, os.Truncate(warn[0], st.Size()-100))

	c := openSpool(t, Options{Dir: crashed, Fsync: FsyncNever})
	assert.Equal(t, 10, c.Held(written, 10))
	assert.Equal(t, 2, c.Held(other, 2))
	held := c.Held(cut, cutN)
	assert.Positive(t, held, "the whole groups before the cut")
	assert.Less(t, held, cutN, "not the group the cut tore")
	assert.Equal(t, cut.First+uint64(held)-1, c.openLast[chainWarn], "exactly the records the file kept")
	assert.Equal(t, 0, c.Held(buffered, 3))
	assert.Equal(t, 4, c.Held(Placement{}, 4), "no records")
	assert.Equal(t, 0, c.Held(Placement{First: 1, Last: [numChains]uint64{chainDebug: 1}}, 1), "a chain without files")
	// Over two chains, a part is not counted.
	assert.Equal(t, 0, c.Held(Placement{First: 12, Last: [numChains]uint64{chainInfo: 10, chainWarn: uint64(12 + cutN - 1)}}, cutN))
	// Without First, nor is a part of one chain.
	assert.Equal(t, 0, c.Held(Placement{Last: cut.Last}, cutN))

	// Acknowledged records count as held, whether their segment is left.
	require.NoError(t, s.Close())
	a := openSpool(t, Options{Dir: filepath.Join(t.TempDir(), "acked"), Fsync: FsyncNever})
	var first Placement
	require.NoError(t, a.AppendPlaced(ctx, recs(sevDebug, 0, 3), func(p Placement) { first = p }))
	readN(t, a, 3, true)
	require.NoError(t, a.Close())
	b := openSpool(t, Options{Dir: a.opts.Dir, Fsync: FsyncNever})
	assert.Equal(t, 3, b.Held(first, 3))
}

// A partial append (writes fail past the buffering bound) does not call
// placed.
func TestAppendPlacedPartial(t *testing.T) {
	s := openSpool(t, Options{Fsync: FsyncNever})
	ctx := context.Background()
	require.NoError(t, s.Append(ctx, recs(sevInfo, 0, 1)))
	require.NoError(t, s.Sync())
	s.mu.Lock()
	good := s.chains[chainInfo].wf.(*os.File)
	bad, err := os.Open(good.Name()) // read-only: every write fails
	require.NoError(t, err)
	s.chains[chainInfo].wf = bad
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.chains[chainInfo].wf = good
		s.mu.Unlock()
		_ = bad.Close()
	}()
	require.NoError(t, s.Append(ctx, recs(sevInfo, 1, 2)))
	require.Error(t, s.Sync(), "writes fail")
	big := make([]Record, 0, 40)
	for i := range 40 {
		big = append(big, Record{Severity: sevInfo, Payload: []byte(strings.Repeat("x", 60<<10)), Time: int64(i)})
	}
	called := false
	err = s.AppendPlaced(ctx, big, func(Placement) { called = true })
	var pe *PartialError
	require.ErrorAs(t, err, &pe)
	assert.False(t, called)
}
