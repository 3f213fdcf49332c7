package archive

import (
	"crypto/ed25519"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/plog"
)

// zstdFrames counts the zstd frames that payload is made of, one after the
// other (RFC 8878 §3.1.1), walking their headers and blocks.
func zstdFrames(payload []byte) (int, error) {
	n := 0
	for len(payload) > 0 {
		if len(payload) < 6 || binary.LittleEndian.Uint32(payload) != 0xFD2FB528 {
			return n, errors.New("not a zstd frame")
		}
		fhd := payload[4]
		single := fhd&0x20 != 0
		size := 5
		if !single {
			size++ // window descriptor
		}
		size += []int{0, 1, 2, 4}[fhd&3]
		switch fcs := fhd >> 6; {
		case fcs == 0 && single:
			size++
		case fcs > 0:
			size += 1 << fcs
		}
		for last := false; !last; {
			if len(payload) < size+3 {
				return n, errors.New("zstd frame ends inside a block header")
			}
			h := uint32(payload[size]) | uint32(payload[size+1])<<8 | uint32(payload[size+2])<<16
			last = h&1 != 0
			block := int(h >> 3)
			if (h>>1)&3 == 1 { // RLE: one byte
				block = 1
			}
			size += 3 + block
		}
		if fhd&4 != 0 {
			size += 4 // content checksum
		}
		if len(payload) < size {
			return n, errors.New("zstd frame ends inside a block")
		}
		payload = payload[size:]
		n++
	}
	return n, nil
}

// assertSingleZstdFrames checks that every frame of every segment in dir
// holds its payload as one zstd frame, and returns how many frames there are.
func assertSingleZstdFrames(t *testing.T, dir string) int {
	t.Helper()
	entries, err := scan(dir)
	require.NoError(t, err)
	frames := 0
	for _, e := range entries {
		if e.segment == "" {
			continue
		}
		data, err := os.ReadFile(joinRel(dir, e.segment))
		require.NoError(t, err)
		fs, _, err := ParseFrames(data)
		require.NoError(t, err)
		for _, f := range fs {
			n, err := zstdFrames(f.Payload)
			require.NoError(t, err, "frame %d", f.Seq)
			assert.Equal(t, 1, n, "frame %d: zstd frames in its payload", f.Seq)
		}
		frames += len(fs)
	}
	return frames
}

func TestZstdFramesCountsJoinedFrames(t *testing.T) {
	enc, err := newEncoder()
	require.NoError(t, err)
	defer enc.Close()
	var m plog.ProtoMarshaler
	var joined []byte
	for i := range 3 {
		raw, err := m.MarshalLogs(makeLogs("d", "f", "count", testEpoch, 1+100*i))
		require.NoError(t, err)
		joined = enc.EncodeAll(raw, joined)
		n, err := zstdFrames(joined)
		require.NoError(t, err)
		assert.Equal(t, i+1, n)
	}
	_, err = zstdFrames(joined[:len(joined)-1])
	assert.Error(t, err)
}

// The appends of a group are compressed together: each of the group's
// frames is one zstd frame, and the archive verifies, queries and proves.
func TestGroupCommitCompressesEachFrameOnce(t *testing.T) {
	dir := t.TempDir()
	pub, key := newKey(t)
	w, _ := openWriter(t, dir, key, &fakeClock{now: testEpoch})

	const appends = 12
	var batches []plog.Logs
	for i := range appends {
		batches = append(batches, makeLogs(fmt.Sprintf("dev-%d", i), "f", fmt.Sprintf("c%d", i), testEpoch, 5+i))
	}
	// And a batch large enough that its append compresses it itself.
	big := makeLogs("dev-big", "f", strings.Repeat("large ", 9<<10), testEpoch, 100)
	require.GreaterOrEqual(t, otlpSize(big), selfCompressBytes)
	results := appendQueued(t, w, append(batches, big))[:appends]
	// A batch alone is a group of one, the same way.
	appendLogs(t, w, makeLogs("dev-alone", "f", "alone", testEpoch, 3))
	w.mu.Lock()
	rel := w.open.rel
	w.mu.Unlock()

	frames := readFrames(t, dir, rel)
	require.Len(t, frames, 4, "the first append alone, the eleven that queued behind it, the large one, the last alone")
	assert.Len(t, frames[1].bodies, 11*5+(1+11)*11/2)
	var bytes int64
	for _, r := range results {
		bytes += r.Bytes
	}
	assert.Equal(t, frames[1].end, bytes, "the appends' shares add up to what was written")

	require.NoError(t, w.Checkpoint())
	require.NoError(t, w.Close())
	assert.Equal(t, 4, assertSingleZstdFrames(t, dir))
	total := 0
	for i := range appends {
		total += 5 + i
	}
	total += 100 + 3
	sum, err := Verify(dir, []ed25519.PublicKey{pub}, nil)
	require.NoError(t, err)
	assert.Equal(t, uint64(total), sum.Records)
	st, err := Query(dir, Filter{Device: "dev-7"}, func(*Record) error { return nil })
	require.NoError(t, err)
	assert.Equal(t, uint64(12), st.Matched)
	assertProves(t, dir, pub, "c9 4", "c0 2", "alone 2")
}

// Plans that went stale inside a group, against an earlier group or an
// earlier append of the same group, are planned and encoded again: every
// record is stored once, and the frames are still one zstd frame each.
func TestGroupCommitStalePlansStoreEachRecordOnce(t *testing.T) {
	dir := t.TempDir()
	pub, key := newKey(t)
	w, _ := openWriter(t, dir, key, &fakeClock{now: testEpoch})

	results := appendQueued(t, w, []plog.Logs{
		stamped("dev-1", spoolA, 1, 51),  // the first group, alone
		stamped("dev-1", spoolA, 41, 91), // stale after the first group
		stamped("dev-2", spoolB, 1, 21),
		stamped("dev-2", spoolB, 11, 41), // stale after the append before it
		stamped("dev-3", spoolA, 1, 31),
	})

	records, skipped := 0, 0
	for _, r := range results {
		records += r.Records
		skipped += r.Skipped
	}
	assert.Equal(t, 90+40+30, records)
	assert.Equal(t, 20, skipped)
	assert.Equal(t, 40, results[1].Records)
	assert.Equal(t, 20, results[3].Records)
	got := bodies(t, dir)
	assertOnce(t, got, "dev-1", spoolA, 1, 91)
	assertOnce(t, got, "dev-2", spoolB, 1, 41)
	assertOnce(t, got, "dev-3", spoolA, 1, 31)
	assert.Len(t, got, 160)

	require.NoError(t, w.Checkpoint())
	require.NoError(t, w.Close())
	assertSingleZstdFrames(t, dir)
	sum, err := Verify(dir, []ed25519.PublicKey{pub}, nil)
	require.NoError(t, err)
	assert.Equal(t, uint64(160), sum.Records)
	assertProves(t, dir, pub, "dev-2/b 33")
}

// Archives written before compressed each append's batch on its own and
// joined a group's zstd frames in one frame's payload. A writer recovers
// such an open segment and goes on after it with frames of one zstd frame;
// Verify, Query and Prove read both.
func TestJoinedPayloadFramesOfBefore(t *testing.T) {
	dir := t.TempDir()
	pub, key := newKey(t)
	enc, err := newEncoder()
	require.NoError(t, err)
	defer enc.Close()
	var m plog.ProtoMarshaler
	var data []byte
	var prev Hash
	for f := range 2 {
		var joined []byte // each append's zstd frame, one after the other
		records := 0
		for i := range 3 {
			ld := makeLogs(fmt.Sprintf("old-%d", i), "f", fmt.Sprintf("old%d-%d", f, i), testEpoch, 4+i)
			raw, err := m.MarshalLogs(ld)
			require.NoError(t, err)
			joined = enc.EncodeAll(raw, joined)
			records += ld.LogRecordCount()
		}
		data, prev = appendFrame(data, prev, uint64(f+1), uint32(records), joined)
	}
	old, _, err := ParseFrames(data)
	require.NoError(t, err)
	for _, f := range old {
		n, err := zstdFrames(f.Payload)
		require.NoError(t, err)
		require.Equal(t, 3, n, "a frame of before: its appends' zstd frames")
	}
	path := joinRel(dir, segmentPath(testEpoch, 1))
	require.NoError(t, os.MkdirAll(filepath.Dir(path), privateDirPerm))
	require.NoError(t, os.WriteFile(path, data, privateFilePerm))

	w, rec := openWriter(t, dir, key, &fakeClock{now: testEpoch})
	assert.Equal(t, uint64(2), rec.Frames)
	assert.Equal(t, uint64(30), rec.Records)
	assert.Zero(t, rec.TornBytes)
	appendLogs(t, w, makeLogs("new", "f", "new", testEpoch.Add(time.Minute), 20))
	require.NoError(t, w.Seal())
	appendLogs(t, w, makeLogs("new", "f", "newer", testEpoch.Add(time.Hour), 5))
	require.NoError(t, w.Checkpoint())
	require.NoError(t, w.Close())

	sum, err := Verify(dir, []ed25519.PublicKey{pub}, nil)
	require.NoError(t, err)
	assert.Equal(t, uint64(55), sum.Records)
	assert.Equal(t, uint64(4), sum.Frames)
	got := bodies(t, dir)
	assert.Len(t, got, 55)
	st, err := Query(dir, Filter{Device: "old-1"}, func(*Record) error { return nil })
	require.NoError(t, err)
	assert.Equal(t, uint64(10), st.Matched)
	assertProves(t, dir, pub, "old1-2 3", "old0-0 0", "new 7", "newer 4")
}
