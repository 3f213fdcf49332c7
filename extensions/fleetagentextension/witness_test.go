package fleetagentextension

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fleetlog/fleetlog/internal/fleetproto"
)

func testNote(origin string, size int) []byte {
	return fmt.Appendf(nil, "fleetlog.archive/%s\n%d\nroot=\nkey-epoch 0\n\n\u2014 fleetlog.archive/%s sig%d\n", origin, size, origin, size)
}

func TestWitnessStore(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	require.NoError(t, os.Mkdir(dir, 0o700))
	s, err := openWitnessStore(dir)
	require.NoError(t, err)

	for _, bad := range [][]byte{
		[]byte("hello"),
		[]byte("fleetlog.archive/a\nnot a size\nx\n\n\u2014 sig\n"),
		[]byte("other.log/a\n1\nx\n\n\u2014 sig\n"),
		append(testNote("a", 1), strings.Repeat("x", fleetproto.MaxCheckpointBytes)...),
	} {
		_, err := s.add(bad)
		assert.ErrorIs(t, err, errNotCheckpoint, "%q", bad)
	}
	for size := 10; size <= 60; size += 10 {
		changed, err := s.add(testNote("a", size))
		require.NoError(t, err)
		assert.True(t, changed)
	}
	changed, err := s.add(testNote("a", 60))
	require.NoError(t, err)
	assert.False(t, changed, "the same checkpoint again")
	require.Len(t, s.notes(), fleetproto.WitnessCheckpoints)
	assert.Equal(t, string(testNote("a", 20)), s.notes()[0], "the smallest went")

	// A gateway put back to an earlier state hands out smaller checkpoints:
	// they go, the larger ones stay.
	_, err = s.add(testNote("a", 15))
	require.NoError(t, err)
	assert.NotContains(t, s.notes(), string(testNote("a", 15)))
	assert.Contains(t, s.notes(), string(testNote("a", 60)))

	// A new archive's checkpoint pushes out the old archive's first.
	_, err = s.add(testNote("b", 1))
	require.NoError(t, err)
	_, err = s.add(testNote("b", 2))
	require.NoError(t, err)
	notes := s.notes()
	assert.Equal(t, []string{string(testNote("a", 40)), string(testNote("a", 50)), string(testNote("a", 60)),
		string(testNote("b", 1)), string(testNote("b", 2))}, notes)

	// Kept durably, 0600, across a restart.
	st, err := os.Stat(filepath.Join(dir, fleetproto.WitnessFile))
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), st.Mode().Perm())
	again, err := openWitnessStore(dir)
	require.NoError(t, err)
	assert.Equal(t, notes, again.notes())

	// A damaged file starts over.
	require.NoError(t, os.WriteFile(filepath.Join(dir, fleetproto.WitnessFile), []byte("garbage\n\nmore"), 0o600))
	broken, err := openWitnessStore(dir)
	assert.Error(t, err)
	assert.Empty(t, broken.notes())

	// Without a directory they live in memory.
	mem, err := openWitnessStore("")
	require.NoError(t, err)
	_, err = mem.add(testNote("a", 1))
	require.NoError(t, err)
	assert.Len(t, mem.notes(), 1)
}
