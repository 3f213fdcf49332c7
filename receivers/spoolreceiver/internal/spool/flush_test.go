package spool

import (
	"context"
	"os"
	"path/filepath"
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

func TestFlushWritesWithoutSync(t *testing.T) {
	tests := []struct {
		name   string
		policy FsyncPolicy
		// durable says whether Durable follows Sync.
		durable bool
	}{
		{name: "interval", policy: FsyncInterval, durable: true},
		{name: "never", policy: FsyncNever, durable: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "spool")
			// A long interval: no background sync during the test.
			s := openSpool(t, Options{Dir: dir, Fsync: tt.policy, FsyncInterval: 1 << 40})
			ctx := context.Background()
			require.NoError(t, s.Append(ctx, recs(sevInfo, 0, 10)))
			require.NoError(t, s.Append(ctx, recs(sevError, 10, 20)))
			assert.Zero(t, segBytes(t, dir), "buffered")
			assert.Zero(t, s.Durable())

			last, err := s.Flush()
			require.NoError(t, err)
			assert.Equal(t, s.nextSeq-1, last)
			written := segBytes(t, dir)
			assert.Positive(t, written, "in the files")
			assert.Zero(t, s.Durable(), "not synced")

			require.NoError(t, s.Sync())
			if tt.durable {
				assert.Equal(t, last, s.Durable())
			} else {
				assert.Zero(t, s.Durable())
			}
			require.NoError(t, s.Close())
			_, err = s.Flush()
			require.ErrorIs(t, err, ErrClosed)
		})
	}
}

func TestFlushFailureKeepsRecords(t *testing.T) {
	s := openSpool(t, Options{Fsync: FsyncNever})
	ctx := context.Background()
	require.NoError(t, s.Append(ctx, recs(sevInfo, 0, 10)))
	s.mu.Lock()
	good := s.chains[chainInfo].wf.(*os.File)
	bad, err := os.Open(good.Name()) // read-only: every write fails
	require.NoError(t, err)
	s.chains[chainInfo].wf = bad
	s.mu.Unlock()
	_, err = s.Flush()
	require.Error(t, err)

	s.mu.Lock()
	s.chains[chainInfo].wf = good
	s.mu.Unlock()
	_ = bad.Close()
	_, err = s.Flush()
	require.NoError(t, err)
	assert.Equal(t, seq(0, 10), readN(t, s, 10, true))
}
