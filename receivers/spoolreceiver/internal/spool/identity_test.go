package spool

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fleetlog/fleetlog/internal/spoolstamp"
)

// editIdentity rewrites the identity file of a closed spool, as a run that
// ended otherwise would have left it.
func editIdentity(t *testing.T, dir string, edit func(*identityState)) {
	t.Helper()
	path := filepath.Join(dir, identityName)
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	var st identityState
	require.NoError(t, json.Unmarshal(data, &st))
	edit(&st)
	require.NoError(t, writeIdentity(path, st))
}

func TestIdentity(t *testing.T) {
	tests := []struct {
		name string
		// between runs, on the closed spool's directory
		damage func(t *testing.T, dir string)
		keep   bool
	}{
		{name: "closed cleanly", damage: func(*testing.T, string) {}, keep: true},
		{name: "process crash in the same boot", keep: true, damage: func(t *testing.T, dir string) {
			editIdentity(t, dir, func(st *identityState) { st.Clean = false })
		}},
		{name: "machine crash", damage: func(t *testing.T, dir string) {
			editIdentity(t, dir, func(st *identityState) { st.Clean, st.Boot = false, "an earlier boot" })
		}},
		{name: "a clean close before a reboot", keep: true, damage: func(t *testing.T, dir string) {
			editIdentity(t, dir, func(st *identityState) { st.Boot = "an earlier boot" })
		}},
		{name: "cursor lost", damage: func(t *testing.T, dir string) {
			require.NoError(t, os.Remove(filepath.Join(dir, cursorName)))
		}},
		{name: "identity file damaged", damage: func(t *testing.T, dir string) {
			require.NoError(t, os.WriteFile(filepath.Join(dir, identityName), []byte("{not json"), filePerm))
		}},
		{name: "identity file gone (a re-installed agent)", damage: func(t *testing.T, dir string) {
			require.NoError(t, os.Remove(filepath.Join(dir, identityName)))
		}},
		{name: "identity write torn by a crash", damage: func(t *testing.T, dir string) {
			path := filepath.Join(dir, identityName)
			data, err := os.ReadFile(path)
			require.NoError(t, err)
			require.Len(t, data, identitySize)
			require.NoError(t, os.WriteFile(path, data[:20], filePerm))
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if bootID() == "" && tt.keep && tt.name == "process crash in the same boot" {
				t.Skip("the boot is unknown on this platform: only a clean close keeps the identity")
			}
			dir := filepath.Join(t.TempDir(), "spool")
			opts := Options{Dir: dir, MaxSize: 1 << 20, SegmentSize: 4 << 10}
			s, err := Open(opts)
			require.NoError(t, err)
			first := s.ID()
			require.True(t, spoolstamp.ValidID(first), first)
			require.NoError(t, s.Append(context.Background(), recs(sevInfo, 0, 10)))
			readN(t, s, 10, true)
			require.NoError(t, s.Close())

			tt.damage(t, dir)
			s, err = Open(opts)
			require.NoError(t, err)
			defer s.Close()
			assert.True(t, spoolstamp.ValidID(s.ID()), s.ID())
			if tt.keep {
				assert.Equal(t, first, s.ID())
			} else {
				assert.NotEqual(t, first, s.ID())
			}
		})
	}
}

func TestIdentityDiffersPerDirectory(t *testing.T) {
	a := openSpool(t, Options{})
	b := openSpool(t, Options{})
	assert.NotEqual(t, a.ID(), b.ID())
}

// TestReadSeq checks that records carry increasing sequence numbers that
// survive a restart: a re-delivered record keeps its number, a new one gets
// a higher number than any before it.
func TestReadSeq(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "spool")
	opts := Options{Dir: dir, MaxSize: 1 << 20, SegmentSize: 4 << 10}
	s, err := Open(opts)
	require.NoError(t, err)
	// Severities in different bands: the chains merge in sequence order.
	for i := range 30 {
		require.NoError(t, s.Append(context.Background(), []Record{rec([]uint8{sevDebug, sevInfo, sevError}[i%3], i)}))
	}
	readSeqs := func(n int, ack bool) map[int]uint64 {
		out := map[int]uint64{}
		var last uint64
		for len(out) < n {
			b, err := s.Read(context.Background(), n-len(out), 1<<20)
			require.NoError(t, err)
			for _, r := range b.Records {
				require.Greater(t, r.Seq, last)
				last = r.Seq
				out[recNum(t, r)] = r.Seq
			}
			if ack {
				require.NoError(t, s.Ack(b))
			}
		}
		return out
	}
	before := readSeqs(20, true)
	unacked := readSeqs(10, false)
	require.NoError(t, s.Close())

	s, err = Open(opts)
	require.NoError(t, err)
	defer s.Close()
	assert.Equal(t, unacked, readSeqs(10, true), "a re-delivery keeps its sequence numbers")
	require.NoError(t, s.Append(context.Background(), recs(sevInfo, 30, 31)))
	next := readSeqs(1, true)
	for _, v := range before {
		assert.Greater(t, next[30], v)
	}
	for _, v := range unacked {
		assert.Greater(t, next[30], v)
	}
}

// TestIdentityUnwritable: a spool whose identity cannot be recorded (a full
// or read-only disk) still opens, and the file is gone so that the next
// start cannot keep an identity whose state was not recorded.
func TestIdentityUnwritable(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "spool")
	opts := Options{Dir: dir, MaxSize: 1 << 20}
	s, err := Open(opts)
	require.NoError(t, err)
	require.NoError(t, s.Close())
	// A directory in its place cannot be read or written, even by root.
	path := filepath.Join(dir, identityName)
	require.NoError(t, os.Remove(path))
	require.NoError(t, os.Mkdir(path, dirPerm))
	s, err = Open(opts)
	require.NoError(t, err)
	defer s.Close()
	assert.True(t, spoolstamp.ValidID(s.ID()))
	_, err = os.Stat(path)
	assert.ErrorIs(t, err, os.ErrNotExist)
}
