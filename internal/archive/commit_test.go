package archive

import (
	"crypto/ed25519"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/plog"
)

// storedFrame is one frame of a segment file with its records' bodies.
type storedFrame struct {
	end    int64 // offset of the byte after the frame
	bodies []string
}

// readFrames decodes every frame of the segment rel, in order.
func readFrames(t *testing.T, dir, rel string) []storedFrame {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, rel))
	require.NoError(t, err)
	frames, off, err := ParseFrames(data)
	require.NoError(t, err)
	require.Equal(t, int64(len(data)), off)
	c, err := newCodec()
	require.NoError(t, err)
	defer c.close()
	out := make([]storedFrame, 0, len(frames))
	for _, f := range frames {
		ld, err := c.decode(f.Payload)
		require.NoError(t, err)
		require.Equal(t, int(f.Records), ld.LogRecordCount(), "frame %d", f.Seq)
		sf := storedFrame{end: f.Offset + f.Size()}
		for _, rl := range ld.ResourceLogs().All() {
			for _, sl := range rl.ScopeLogs().All() {
				for _, lr := range sl.LogRecords().All() {
					sf.bodies = append(sf.bodies, lr.Body().Str())
				}
			}
		}
		out = append(out, sf)
	}
	return out
}

// syncedSize is how far the open segment's fsyncs have covered it.
func syncedSize(w *Writer) (string, int64) {
	w.mu.Lock()
	seg := w.open
	w.mu.Unlock()
	if seg == nil {
		return "", 0
	}
	seg.sync.mu.Lock()
	defer seg.sync.mu.Unlock()
	return seg.rel, seg.sync.synced
}

// Many concurrent appends: every record is stored once, each batch's
// records in order and together, the archive verifies, and no append
// returns before an fsync covered its records.
func TestGroupCommitConcurrentAppends(t *testing.T) {
	dir := t.TempDir()
	pub, key := newKey(t)
	w, _, err := Open(Options{Dir: dir, Key: key, MaxSegmentSize: 64 << 20, MaxSegmentAge: time.Hour, Fsync: FsyncAlways})
	require.NoError(t, err)
	const workers, appends = 16, 30
	type ack struct {
		prefix string
		n      int
		synced int64 // the segment's fsynced size when the append returned
		seg    string
	}
	acks := make(chan ack, workers*appends)
	var wg sync.WaitGroup
	for g := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range appends {
				prefix := fmt.Sprintf("g%02d-a%02d", g, i)
				n := 1 + (g*7+i*5)%40
				var ld plog.Logs
				if g%2 == 0 {
					ld = makeLogs(fmt.Sprintf("dev-%d", g), "f", prefix, testEpoch, n)
				} else {
					// Stamped by a spool of its own: planned and checked
					// against the marks.
					ld = stamped(fmt.Sprintf("dev-%d", g), strings.Repeat(fmt.Sprintf("%x", g), 32), i*100+1, i*100+1+n)
					for j, lr := range ld.ResourceLogs().At(0).ScopeLogs().At(0).LogRecords().All() {
						lr.Body().SetStr(fmt.Sprintf("%s %d", prefix, j))
					}
				}
				res, err := w.Append(ld)
				if !assert.NoError(t, err) {
					return
				}
				assert.Equal(t, n, res.Records)
				seg, synced := syncedSize(w)
				acks <- ack{prefix: prefix, n: n, synced: synced, seg: seg}
			}
		}()
	}
	wg.Wait()
	close(acks)
	w.mu.Lock()
	rel := w.open.rel
	w.mu.Unlock()
	require.NoError(t, w.Close())

	frames := readFrames(t, dir, rel)
	type place struct {
		frame int
		index int
	}
	where := map[string]place{}
	total := 0
	for fi, f := range frames {
		for i, b := range f.bodies {
			_, dup := where[b]
			require.False(t, dup, "record %q stored twice", b)
			where[b] = place{fi, i}
			total++
		}
	}
	joined := 0
	for _, f := range frames {
		if len(f.bodies) > 0 && strings.Split(f.bodies[0], " ")[0] != strings.Split(f.bodies[len(f.bodies)-1], " ")[0] {
			joined++
		}
	}
	t.Logf("%d appends in %d frames (%d joining several)", workers*appends, len(frames), joined)

	count := 0
	for a := range acks {
		count++
		require.Equal(t, rel, a.seg)
		var last place
		for j := range a.n {
			p, ok := where[fmt.Sprintf("%s %d", a.prefix, j)]
			require.True(t, ok, "record %s %d missing", a.prefix, j)
			if j > 0 {
				// In order, and one after the other (a batch is never
				// interleaved with another).
				next := place{last.frame, last.index + 1}
				if last.index+1 == len(frames[last.frame].bodies) {
					next = place{last.frame + 1, 0}
				}
				require.Equal(t, next, p, "record %s %d", a.prefix, j)
			}
			last = p
			assert.GreaterOrEqual(t, a.synced, frames[p.frame].end, "%s acknowledged before an fsync covered it", a.prefix)
		}
	}
	require.Equal(t, workers*appends, count)

	sum, err := Verify(dir, []ed25519.PublicKey{pub}, nil)
	require.NoError(t, err)
	assert.Equal(t, uint64(total), sum.Records)
	assert.Equal(t, uint64(total), sum.TreeSize)
	assert.Equal(t, uint64(len(frames)), sum.Frames)
}

// appendQueued appends each batch on a goroutine of its own while the
// writer's lock is held, each once the one before it is queued (the first
// becomes the group writer and waits for the lock, the others queue behind
// it), then lets them write and returns their results in order.
func appendQueued(t *testing.T, w *Writer, batches []plog.Logs) []AppendResult {
	t.Helper()
	w.mu.Lock()
	var wg sync.WaitGroup
	results := make([]AppendResult, len(batches))
	for i, ld := range batches {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var err error
			results[i], err = w.Append(ld)
			assert.NoError(t, err)
		}()
		waitQueue(t, w, i)
	}
	w.mu.Unlock()
	wg.Wait()
	return results
}

// assertProves proves the record of each body in dir's archive and checks
// that the proof holds under pub and names that record.
func assertProves(t *testing.T, dir string, pub ed25519.PublicKey, bodies ...string) {
	t.Helper()
	for _, body := range bodies {
		p, err := Prove(dir, RecordSelector{Filter: &Filter{Contains: body}}, nil)
		require.NoError(t, err, body)
		pr, err := CheckProof(p, []ed25519.PublicKey{pub})
		require.NoError(t, err, body)
		assert.Equal(t, body, pr.Logs.ResourceLogs().At(0).ScopeLogs().At(0).LogRecords().At(0).Body().Str())
	}
}

// waitQueue blocks until n appends wait in the commit queue behind a group
// writer.
func waitQueue(t *testing.T, w *Writer, n int) {
	t.Helper()
	require.Eventually(t, func() bool {
		w.commits.mu.Lock()
		defer w.commits.mu.Unlock()
		return w.commits.writing && len(w.commits.waiting) == n
	}, 10*time.Second, time.Millisecond)
}

// Appends that queue while a group is written are written as one frame, and
// the frame verifies, queries and proves as any other.
func TestGroupCommitJoinsQueuedAppends(t *testing.T) {
	dir := t.TempDir()
	pub, key := newKey(t)
	w, _ := openWriter(t, dir, key, &fakeClock{now: testEpoch})

	var batches []plog.Logs
	for i := range 5 {
		batches = append(batches, makeLogs(fmt.Sprintf("dev-%d", i), "f", fmt.Sprintf("b%d", i), testEpoch.Add(time.Duration(i)*time.Hour), 10+i))
	}
	results := appendQueued(t, w, batches)
	w.mu.Lock()
	rel := w.open.rel
	w.mu.Unlock()

	frames := readFrames(t, dir, rel)
	require.Len(t, frames, 2, "the first append alone, then the four that queued behind it")
	want := [][]string{nil, nil}
	for i := range 5 {
		for j := range 10 + i {
			want[min(i, 1)] = append(want[min(i, 1)], fmt.Sprintf("b%d %d", i, j))
		}
	}
	assert.Equal(t, want[0], frames[0].bodies)
	assert.Equal(t, want[1], frames[1].bodies)
	var bytes int64
	for _, r := range results {
		bytes += r.Bytes
	}
	assert.Equal(t, frames[1].end, bytes, "the appends' bytes add up to what was written")

	require.NoError(t, w.Checkpoint())
	require.NoError(t, w.Close())
	sum, err := Verify(dir, []ed25519.PublicKey{pub}, nil)
	require.NoError(t, err)
	assert.Equal(t, uint64(60), sum.Records)
	assert.Equal(t, uint64(2), sum.Frames)

	got := bodies(t, dir)
	assert.Len(t, got, 60)
	st, err := Query(dir, Filter{Device: "dev-3"}, func(*Record) error { return nil })
	require.NoError(t, err)
	assert.Equal(t, uint64(13), st.Matched)

	assertProves(t, dir, pub, "b3 7")
}

// Within a group, each append's de-duplication sees the marks of the
// appends before it: the next batch of a spool is written with the one
// before, and a re-delivery of both is planned again and skipped.
func TestGroupCommitDedupWithinAGroup(t *testing.T) {
	dir := t.TempDir()
	_, key := newKey(t)
	w, _ := openWriter(t, dir, key, &fakeClock{now: testEpoch})
	defer w.Close()

	results := appendQueued(t, w, []plog.Logs{
		stamped("dev-1", spoolA, 1, 51),
		stamped("dev-1", spoolA, 51, 101),
		stamped("dev-1", spoolA, 1, 101), // a re-delivery of both
	})

	assert.Equal(t, 50, results[0].Records)
	assert.Equal(t, 50, results[1].Records, "written in the group after the first, whose mark it extends")
	assert.Equal(t, 0, results[2].Records)
	assert.Equal(t, 100, results[2].Skipped)
	assertOnce(t, bodies(t, dir), "dev-1", spoolA, 1, 101)
	w.mu.Lock()
	frames := w.open.frames
	w.mu.Unlock()
	assert.Equal(t, uint64(2), frames)
}

// A group whose write fails acknowledges none of its appends and moves no
// mark: their records are sent again and stored.
func TestGroupCommitFailedWrite(t *testing.T) {
	dir := t.TempDir()
	pub, key := newKey(t)
	w, _ := openWriter(t, dir, key, &fakeClock{now: testEpoch})
	appendLogs(t, w, stamped("dev-0", spoolA, 1, 11))

	w.mu.Lock()
	require.NoError(t, w.open.f.Close()) // every write (and the rollback) fails
	var wg sync.WaitGroup
	errs := make([]error, 3)
	acked := make([]bool, 3)
	appendAt := func(i int) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = w.AppendThen(stamped(fmt.Sprintf("dev-%d", i), spoolB, 1, 21), func() { acked[i] = true })
		}()
	}
	appendAt(0)
	waitQueue(t, w, 0)
	appendAt(1)
	waitQueue(t, w, 1)
	appendAt(2)
	waitQueue(t, w, 2)
	w.mu.Unlock()
	wg.Wait()
	for i := range 3 {
		assert.Error(t, errs[i], "append %d", i)
		assert.False(t, acked[i], "append %d", i)
	}
	w.marksMu.Lock()
	for i := range 3 {
		assert.Zero(t, w.marks[markKey{fmt.Sprintf("dev-%d", i), spoolB}], "dev-%d", i)
	}
	w.marksMu.Unlock()
	_ = w.Close()

	// The writer stopped; the next run recovers and takes the records.
	w, _ = openWriter(t, dir, key, &fakeClock{now: testEpoch})
	for i := range 3 {
		res, err := w.Append(stamped(fmt.Sprintf("dev-%d", i), spoolB, 1, 21))
		require.NoError(t, err)
		assert.Equal(t, 20, res.Records)
	}
	require.NoError(t, w.Close())
	for i := range 3 {
		assertOnce(t, bodies(t, dir), fmt.Sprintf("dev-%d", i), spoolB, 1, 21)
	}
	sum, err := Verify(dir, []ed25519.PublicKey{pub}, nil)
	require.NoError(t, err)
	assert.Equal(t, uint64(70), sum.Records)
}

// Concurrent appends into small segments: groups fill and seal segments
// while others wait for their fsync; every record is stored once and the
// archive verifies.
func TestGroupCommitAcrossSeals(t *testing.T) {
	dir := t.TempDir()
	pub, key := newKey(t)
	w, _, err := Open(Options{Dir: dir, Key: key, MaxSegmentSize: 8 << 10, MaxSegmentAge: time.Hour, Fsync: FsyncAlways})
	require.NoError(t, err)
	const workers, appends, perAppend = 12, 20, 15
	n := appendConcurrently(t, w, workers, appends, perAppend, "g")
	require.NoError(t, w.Close())
	sum, err := Verify(dir, []ed25519.PublicKey{pub}, nil)
	require.NoError(t, err)
	assert.Equal(t, uint64(workers*appends*perAppend), sum.Records)
	assert.Equal(t, sum.Sealed, n, "one append reports each seal")
	got := bodies(t, dir)
	assert.Len(t, got, workers*appends*perAppend)
	for b, c := range got {
		assert.Equal(t, 1, c, b)
	}
}

// Batches and their buffers are reused once written: after concurrent
// appends of many devices into small segments, a query by device finds each
// device's records, and only its, and the segments' indexes let it skip a
// segment without them.
func TestGroupCommitReusedBatchesKeepTheIndex(t *testing.T) {
	dir := t.TempDir()
	pub, key := newKey(t)
	w, _, err := Open(Options{Dir: dir, Key: key, MaxSegmentSize: 16 << 10, MaxSegmentAge: time.Hour, Fsync: FsyncOnSeal})
	require.NoError(t, err)
	const workers, appends, perAppend = 8, 25, 12
	appendConcurrently(t, w, workers, appends, perAppend, "r")
	// A segment of another device alone, which every query above skips.
	require.NoError(t, w.Seal())
	appendLogs(t, w, makeLogs("dev-solo", "f", "solo", testEpoch, 5))
	require.NoError(t, w.Seal())
	require.NoError(t, w.Close())
	_, err = Verify(dir, []ed25519.PublicKey{pub}, nil)
	require.NoError(t, err)
	st, err := Query(dir, Filter{Device: "dev-solo"}, func(*Record) error { return nil })
	require.NoError(t, err)
	assert.Equal(t, uint64(5), st.Records)
	for g := range workers {
		device := fmt.Sprintf("dev-%d", g)
		got := map[string]bool{}
		st, err := Query(dir, Filter{Device: device}, func(r *Record) error {
			v, _ := r.Resource.Get(DeviceAttribute)
			require.Equal(t, device, v.AsString())
			got[r.Body.AsString()] = true
			return nil
		})
		require.NoError(t, err)
		require.Len(t, got, appends*perAppend, device)
		for i := range appends {
			for j := range perAppend {
				require.True(t, got[fmt.Sprintf("r%d-%d %d", g, i, j)], "%s: record r%d-%d %d", device, g, i, j)
			}
		}
		assert.Positive(t, st.Skipped, "%s: the index skipped no segment", device)
	}
}
