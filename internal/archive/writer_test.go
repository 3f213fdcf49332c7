package archive

import (
	"crypto/ed25519"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/plog"
)

func TestWriterSealsAndVerifies(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "archive")
	pub, key := newKey(t)
	clock := &fakeClock{now: testEpoch}
	w, rec := openWriter(t, dir, key, clock)
	assert.Empty(t, rec.Segment)
	for i := range 3 {
		appendLogs(t, w, makeLogs("dev-1", "atms", "seg", testEpoch.Add(time.Duration(i)*time.Hour), 10))
		require.NoError(t, w.Seal())
		clock.now = clock.now.Add(25 * time.Hour)
	}
	appendLogs(t, w, makeLogs("dev-1", "atms", "open", testEpoch, 5))
	require.NoError(t, w.Close())

	sum, err := Verify(dir, []ed25519.PublicKey{pub}, nil)
	require.NoError(t, err)
	assert.Equal(t, 3, sum.Sealed)
	assert.Equal(t, uint64(35), sum.Records)
	assert.NotEmpty(t, sum.Open)
	assert.Equal(t, testEpoch, sum.First)
	assert.Equal(t, testEpoch.Add(2*time.Hour+9*time.Second), sum.Last)

	// Layout and permissions.
	st, err := os.Stat(dir)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o700), st.Mode().Perm())
	entries, err := scan(dir)
	require.NoError(t, err)
	require.Len(t, entries, 4)
	assert.Equal(t, "2026/11/24/seg-0000000000000001.fla", entries[0].segment)
	assert.Equal(t, "2026/11/25/seg-0000000000000002.fla", entries[1].segment)
	for _, e := range entries[:3] {
		for _, rel := range []string{e.segment, e.manifest} {
			st, err := os.Stat(joinRel(dir, rel))
			require.NoError(t, err)
			assert.Equal(t, os.FileMode(0o444), st.Mode().Perm(), rel)
		}
	}
	st, err = os.Stat(joinRel(dir, entries[3].segment))
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), st.Mode().Perm())
}

func TestWriterSealsOnSizeAndAge(t *testing.T) {
	dir := t.TempDir()
	_, key := newKey(t)
	clock := &fakeClock{now: testEpoch}
	w, _, err := Open(Options{Dir: dir, Key: key, MaxSegmentSize: 1, MaxSegmentAge: time.Minute, Now: clock.Now})
	require.NoError(t, err)
	defer w.Close()
	res, err := w.Append(makeLogs("d", "f", "x", testEpoch, 3))
	require.NoError(t, err)
	assert.True(t, res.Sealed)
	assert.NoError(t, res.SealErr)
	assert.Equal(t, 3, res.Records)

	w.opts.MaxSegmentSize = 1 << 30
	appendLogs(t, w, makeLogs("d", "f", "y", testEpoch, 3))
	sealed, err := w.SealIfOlder()
	require.NoError(t, err)
	assert.False(t, sealed)
	clock.now = clock.now.Add(time.Minute)
	sealed, err = w.SealIfOlder()
	require.NoError(t, err)
	assert.True(t, sealed)
	entries, err := scan(dir)
	require.NoError(t, err)
	require.Len(t, entries, 2)
	assert.NotEmpty(t, entries[1].manifest)
}

func TestWriterSplitsLargeBatches(t *testing.T) {
	dir := t.TempDir()
	pub, key := newKey(t)
	w, _ := openWriter(t, dir, key, &fakeClock{now: testEpoch})
	ld := makeLogs("d", "f", "x", testEpoch, maxFrameRecords*2+5)
	appendLogs(t, w, ld)
	require.NoError(t, w.Close())
	sum, err := Verify(dir, []ed25519.PublicKey{pub}, nil)
	require.NoError(t, err)
	assert.Equal(t, uint64(3), sum.Frames)
	assert.Equal(t, uint64(maxFrameRecords*2+5), sum.Records)
}

func TestWriterLocksDirectory(t *testing.T) {
	dir := t.TempDir()
	_, key := newKey(t)
	w, _ := openWriter(t, dir, key, &fakeClock{now: testEpoch})
	_, _, err := Open(Options{Dir: dir, Key: key})
	require.ErrorIs(t, err, ErrLocked)
	require.NoError(t, w.Close())
	w2, _ := openWriter(t, dir, key, &fakeClock{now: testEpoch})
	require.NoError(t, w2.Close())
}

func TestCrashRecovery(t *testing.T) {
	pub, key := newKey(t)
	tests := []struct {
		name string
		// crash damages the archive after the acknowledged appends.
		crash       func(t *testing.T, dir string, open string)
		wantTorn    bool
		wantDamaged bool
		wantRecords uint64
	}{
		{
			name: "partial frame at the tail",
			crash: func(t *testing.T, dir, open string) {
				// The first part of a frame that never finished.
				frame, _ := appendFrame(nil, Hash{}, 99, 1, []byte("payload that never made it"))
				appendBytes(t, joinRel(dir, open), frame[:30])
			},
			wantTorn: true,
		},
		{
			name: "zeroes at the tail",
			crash: func(t *testing.T, dir, open string) {
				appendBytes(t, joinRel(dir, open), make([]byte, 4096))
			},
			wantTorn: true,
		},
		{
			name: "a damaged frame before the last",
			crash: func(t *testing.T, dir, open string) {
				path := joinRel(dir, open)
				data, frames := framesOf(t, path)
				data[frames[0].Offset+frameHeaderSize] ^= 1
				rewrite(t, path, data)
			},
			wantTorn: true, wantDamaged: true, wantRecords: 0,
		},
		{
			name:  "clean stop",
			crash: func(*testing.T, string, string) {},
		},
		{
			name: "between writing a manifest and sealing the segment",
			crash: func(t *testing.T, dir, open string) {
				// Simulated by undoing the last step of a seal.
				entries, err := scan(dir)
				require.NoError(t, err)
				require.NoError(t, os.Chmod(joinRel(dir, entries[0].segment), 0o600))
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			clock := &fakeClock{now: testEpoch}
			w, _ := openWriter(t, dir, key, clock)
			appendLogs(t, w, makeLogs("d", "f", "sealed", testEpoch, 7))
			require.NoError(t, w.Seal())
			appendLogs(t, w, makeLogs("d", "f", "acked-a", testEpoch, 4))
			appendLogs(t, w, makeLogs("d", "f", "acked-b", testEpoch, 4))
			open := w.open.rel
			// A crash: the process dies without Close; the lock goes with it.
			w.closeFiles()
			tt.crash(t, dir, open)

			w, rec := openWriter(t, dir, key, clock)
			assert.Equal(t, open, rec.Segment)
			if !tt.wantDamaged {
				tt.wantRecords = 8
			}
			assert.Equal(t, tt.wantRecords, rec.Records)
			assert.Equal(t, tt.wantDamaged, rec.Damaged)
			if tt.wantTorn {
				assert.Positive(t, rec.TornBytes)
				_, err := os.Stat(joinRel(dir, rec.TornFile))
				assert.NoError(t, err, "the cut tail is kept")
			} else {
				assert.Zero(t, rec.TornBytes)
			}
			sum, err := Verify(dir, []ed25519.PublicKey{pub}, nil)
			require.NoError(t, err, "after recovery")
			assert.Zero(t, sum.OpenTorn)

			// The chain continues in the recovered segment and past it.
			appendLogs(t, w, makeLogs("d", "f", "after", testEpoch, 2))
			require.NoError(t, w.Seal())
			appendLogs(t, w, makeLogs("d", "f", "next", testEpoch, 1))
			require.NoError(t, w.Close())
			sum, err = Verify(dir, []ed25519.PublicKey{pub}, nil)
			require.NoError(t, err)
			assert.Equal(t, 2, sum.Sealed)
			if tt.wantDamaged {
				// Damage is cut out of the chain (and kept beside it), not hidden.
				assert.Equal(t, uint64(7+2+1), sum.Records)
				return
			}
			assert.Equal(t, uint64(7+8+2+1), sum.Records, "no acknowledged record is missing")

			var bodies []string
			_, err = Query(dir, Filter{}, func(r *Record) error {
				bodies = append(bodies, r.Body.AsString())
				return nil
			})
			require.NoError(t, err)
			for _, want := range []string{"acked-a 3", "acked-b 3", "after 1", "next 0"} {
				assert.Contains(t, bodies, want)
			}
		})
	}
}

func TestRetentionWritesTombstones(t *testing.T) {
	dir := t.TempDir()
	pub, key := newKey(t)
	clock := &fakeClock{now: testEpoch}
	w, _ := openWriter(t, dir, key, clock)
	for i := range 4 {
		appendLogs(t, w, makeLogs("d", "f", "r", testEpoch.Add(time.Duration(i)*24*time.Hour), 3))
		require.NoError(t, w.Seal())
		clock.now = clock.now.Add(24 * time.Hour)
	}
	appendLogs(t, w, makeLogs("d", "f", "open", clock.now, 1))
	// Segments sealed 4, 3, 2 and 1 days ago; keep 2 days.
	deleted, err := w.ApplyRetention(48*time.Hour, "2d")
	require.NoError(t, err)
	assert.Equal(t, 3, deleted)
	require.NoError(t, w.Close())

	sum, err := Verify(dir, []ed25519.PublicKey{pub}, nil)
	require.NoError(t, err)
	assert.Equal(t, 3, sum.Tombstones)
	assert.Equal(t, 1, sum.Sealed)
	assert.Equal(t, uint64(4), sum.Records)

	// The writer continues the chain after a restart with tombstones only behind it.
	w, _ = openWriter(t, dir, key, clock)
	appendLogs(t, w, makeLogs("d", "f", "more", clock.now, 1))
	require.NoError(t, w.Close())
	_, err = Verify(dir, []ed25519.PublicKey{pub}, nil)
	require.NoError(t, err)

	// Deleting a tombstone is tampering.
	entries, err := scan(dir)
	require.NoError(t, err)
	require.NoError(t, os.Remove(joinRel(dir, entries[1].tombstone)))
	_, err = Verify(dir, []ed25519.PublicKey{pub}, nil)
	var ve *VerifyError
	require.ErrorAs(t, err, &ve)
	assert.Equal(t, Missing, ve.Problem)
}

func TestAppendEmptyWritesNothing(t *testing.T) {
	dir := t.TempDir()
	_, key := newKey(t)
	w, _ := openWriter(t, dir, key, &fakeClock{now: testEpoch})
	res, err := w.Append(plog.NewLogs())
	require.NoError(t, err)
	assert.Zero(t, res.Records)
	require.NoError(t, w.Close())
	entries, err := scan(dir)
	require.NoError(t, err)
	assert.Empty(t, entries)
}

func appendBytes(t *testing.T, path string, data []byte) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	require.NoError(t, err)
	_, err = f.Write(data)
	require.NoError(t, err)
	require.NoError(t, f.Close())
}

func TestConcurrentAppendsKeepOneChain(t *testing.T) {
	dir := t.TempDir()
	pub, key := newKey(t)
	w, _, err := Open(Options{Dir: dir, Key: key, MaxSegmentSize: 2 << 10, MaxSegmentAge: time.Hour, Fsync: FsyncAlways})
	require.NoError(t, err)
	const workers, appends, perAppend = 6, 25, 20
	appendConcurrently(t, w, workers, appends, perAppend, "w")
	require.NoError(t, w.Close())
	sum, err := Verify(dir, []ed25519.PublicKey{pub}, nil)
	require.NoError(t, err)
	assert.Equal(t, uint64(workers*appends*perAppend), sum.Records)
	assert.Greater(t, sum.Sealed, 1, "segments sealed on size while appends raced")
}

func TestOpenRefusesAnUnsealedSegmentBehindSealedOnes(t *testing.T) {
	_, key := newKey(t)
	dir, entries := tamperArchive(t, key)
	require.NoError(t, os.Remove(joinRel(dir, entries[0].manifest)))
	_, _, err := Open(Options{Dir: dir, Key: key})
	require.ErrorContains(t, err, "has no manifest but is not the open segment")
}
