package archive

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// checkpointNotes returns the archive's checkpoint notes in tree order.
func checkpointNotes(t *testing.T, dir string) [][]byte {
	t.Helper()
	cps, err := readCheckpoints(dir)
	require.NoError(t, err)
	out := make([][]byte, len(cps))
	for i, cp := range cps {
		out[i] = cp.Note
	}
	return out
}

func TestCheckWitness(t *testing.T) {
	dir, _, _, clock := epochArchive(t)
	notes := checkpointNotes(t, dir)
	require.Greater(t, len(notes), 8)

	// A backup now, then more records and checkpoints a witness keeps.
	backup := filepath.Join(t.TempDir(), "backup")
	copyDir(t, dir, backup)
	w := epochWriter(t, dir, nil, "", clock)
	appendLogs(t, w, makeLogs("d", "f", "later", testEpoch, 5))
	require.NoError(t, w.Seal())
	clock.now = clock.now.Add(time.Minute)
	appendLogs(t, w, makeLogs("d", "f", "open", testEpoch, 3))
	require.NoError(t, w.Checkpoint())
	newest := w.LatestCheckpointNote()
	require.NotNil(t, newest)
	for i, n := range append(notes, newest) {
		assert.NoError(t, w.CheckWitness(n), "checkpoint %d of a clean archive", i)
	}

	// A checkpoint of the same archive, signed by a key that is not its
	// epoch's, and one of another archive, prove nothing.
	cp, err := ParseCheckpoint(newest)
	require.NoError(t, err)
	_, otherKey := newKey(t)
	forged := *cp
	forged.Size += 1000
	forgedNote, err := signCheckpoint(&forged, otherKey)
	require.NoError(t, err)
	assert.ErrorIs(t, w.CheckWitness(forgedNote), ErrWitnessForged)
	other := *cp
	other.Origin = originPrefix + "0000000000000000"
	otherNote, err := signCheckpoint(&other, otherKey)
	require.NoError(t, err)
	assert.ErrorIs(t, w.CheckWitness(otherNote), ErrWitnessOther)
	assert.ErrorIs(t, w.CheckWitness([]byte("not a note")), ErrWitnessOther)
	// Forged in a past epoch, whose key the archive's checkpoints give.
	for _, n := range notes {
		old, err := ParseCheckpoint(n)
		require.NoError(t, err)
		if old.Epoch == 1 {
			forgedOld, err := signCheckpoint(old, otherKey)
			require.NoError(t, err)
			assert.ErrorIs(t, w.CheckWitness(forgedOld), ErrWitnessForged)
			break
		}
	}
	// Signed in an epoch the archive's keys do not reach: no evidence,
	// unless it claims records the archive does not hold.
	later := *cp
	later.Epoch += 5
	laterNote, err := signCheckpoint(&later, otherKey)
	require.NoError(t, err)
	assert.ErrorIs(t, w.CheckWitness(laterNote), ErrWitnessForged)
	later.Size += 10
	laterNote, err = signCheckpoint(&later, otherKey)
	require.NoError(t, err)
	var ahead *WitnessError
	require.ErrorAs(t, w.CheckWitness(laterNote), &ahead)
	assert.Equal(t, RolledBack, ahead.Problem)
	assert.Contains(t, ahead.Error(), "forged")
	require.NoError(t, w.Close())

	// The operator puts the backup back: the newest checkpoint covers
	// records the archive no longer holds.
	require.NoError(t, os.RemoveAll(dir))
	require.NoError(t, os.Rename(backup, dir))
	w = epochWriter(t, dir, nil, "", clock)
	err = w.CheckWitness(newest)
	var we *WitnessError
	require.ErrorAs(t, err, &we)
	assert.ErrorIs(t, err, ErrWitnessInconsistent)
	assert.Equal(t, RolledBack, we.Problem)
	assert.Equal(t, cp.Size, we.Size)
	assert.Contains(t, err.Error(), "rolled back")
	// The older checkpoints it holds still agree.
	for i, n := range notes {
		assert.NoError(t, w.CheckWitness(n), "checkpoint %d", i)
	}

	// Other records at a witnessed size: the same size, another root, and
	// a smaller size whose records changed.
	appendLogs(t, w, makeLogs("d", "f", "rewritten", testEpoch, int(cp.Size-w.treeSize(t))))
	require.Equal(t, cp.Size, w.treeSize(t))
	err = w.CheckWitness(newest)
	require.ErrorAs(t, err, &we)
	assert.Equal(t, Inconsistent, we.Problem)
	appendLogs(t, w, makeLogs("d", "f", "more", testEpoch, 4))
	err = w.CheckWitness(newest)
	require.ErrorAs(t, err, &we)
	assert.Equal(t, Inconsistent, we.Problem, "a smaller checkpoint is checked against the archive's first records")
	require.NoError(t, w.Close())
}

func TestCheckWitnessAfterTruncation(t *testing.T) {
	clock := &fakeClock{now: testEpoch}
	_, key := newKey(t)
	dir := filepath.Join(t.TempDir(), "archive")
	w := epochWriter(t, dir, key, "", clock)
	appendLogs(t, w, makeLogs("d", "f", "first", testEpoch, 10))
	require.NoError(t, w.Seal())
	first := w.LatestCheckpointNote()
	appendLogs(t, w, makeLogs("d", "f", "second", testEpoch, 10))
	require.NoError(t, w.Seal())
	second := w.LatestCheckpointNote()
	require.NoError(t, w.Close())

	// Delete the newest segment, its manifest and the checkpoints that
	// cover it, as someone hiding the newest records would.
	entries, err := scan(dir)
	require.NoError(t, err)
	last := entries[len(entries)-1]
	for _, rel := range []string{last.segment, last.manifest} {
		require.NoError(t, os.Remove(joinRel(dir, rel)))
	}
	rels, err := listCheckpoints(dir)
	require.NoError(t, err)
	for _, rel := range rels {
		if size, _, _ := checkpointName(filepath.Base(rel)); size > 10 {
			require.NoError(t, os.Remove(joinRel(dir, rel)))
		}
	}
	w = epochWriter(t, dir, key, "", clock)
	defer func() { require.NoError(t, w.Close()) }()
	assert.NoError(t, w.CheckWitness(first))
	var we *WitnessError
	require.ErrorAs(t, w.CheckWitness(second), &we)
	assert.Equal(t, RolledBack, we.Problem)
	assert.Equal(t, uint64(20), we.Size)
	assert.Equal(t, uint64(10), we.Held)
}

func (w *Writer) treeSize(t *testing.T) uint64 {
	t.Helper()
	size, _, _ := w.log.current(false)
	return size
}

func TestCheckWitnessAfterRetention(t *testing.T) {
	dir, _, _, clock := epochArchive(t)
	notes := checkpointNotes(t, dir)
	w := epochWriter(t, dir, nil, "", clock)
	defer func() { require.NoError(t, w.Close()) }()
	clock.now = clock.now.Add(30 * time.Minute)
	deleted, err := w.ApplyRetention(time.Hour+30*time.Minute, "90m")
	require.NoError(t, err)
	require.Equal(t, 2, deleted)
	var unchecked, ok int
	for _, n := range notes {
		cp, err := ParseCheckpoint(n)
		require.NoError(t, err)
		err = w.CheckWitness(n)
		switch {
		case cp.Size < 24 && cp.Size != 12 && cp.Size != 0:
			assert.ErrorIs(t, err, ErrWitnessUnchecked, "size %d: its records are gone", cp.Size)
			unchecked++
		default:
			assert.NoError(t, err, "size %d", cp.Size)
			ok++
		}
	}
	assert.Positive(t, unchecked)
	assert.Positive(t, ok)
}
