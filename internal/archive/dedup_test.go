package archive

import (
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/fleetlog/fleetlog/internal/spoolstamp"
)

const (
	spoolA = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	spoolB = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
)

// stamped returns records from..to-1 of a spool, stamped (in the compact
// form) with their numbers as sequence numbers and with body
// "<device>/<spool's first letter> <seq>".
func stamped(device, spool string, from, to int) plog.Logs {
	ld := makeLogs(device, "fleet", device, testEpoch, 0)
	sl := ld.ResourceLogs().At(0).ScopeLogs().At(0)
	spoolstamp.StampScope(sl.Scope().Attributes(), spool)
	recs := sl.LogRecords()
	for i := from; i < to; i++ {
		lr := recs.AppendEmpty()
		lr.Body().SetStr(fmt.Sprintf("%s/%s %d", device, spool[:1], i))
		spoolstamp.StampSeq(lr.Attributes(), uint64(i))
	}
	return ld
}

// stampedPerRecord is stamped in the per-record form of agents of the
// previous version.
func stampedPerRecord(device, spool string, from, to int) plog.Logs {
	ld := makeLogs(device, "fleet", device, testEpoch, 0)
	recs := ld.ResourceLogs().At(0).ScopeLogs().At(0).LogRecords()
	for i := from; i < to; i++ {
		lr := recs.AppendEmpty()
		lr.Body().SetStr(fmt.Sprintf("%s/%s %d", device, spool[:1], i))
		spoolstamp.StampRecord(lr.Attributes(), spool, uint64(i))
	}
	return ld
}

// bodies counts the archive's records by body.
func bodies(t *testing.T, dir string) map[string]int {
	t.Helper()
	out := map[string]int{}
	_, err := Query(dir, Filter{}, func(r *Record) error {
		out[r.Body.Str()]++
		return nil
	})
	require.NoError(t, err)
	return out
}

// assertOnce checks that the archive holds records from..to-1 of device
// and spool once each.
func assertOnce(t *testing.T, got map[string]int, device, spool string, from, to int) {
	t.Helper()
	for i := from; i < to; i++ {
		body := fmt.Sprintf("%s/%s %d", device, spool[:1], i)
		require.Equal(t, 1, got[body], body)
	}
}

func TestDedupSkipsRedeliveries(t *testing.T) {
	_, key := newKey(t)
	dir := t.TempDir()
	w, _ := openWriter(t, dir, key, &fakeClock{now: testEpoch})
	defer w.Close()

	steps := []struct {
		name          string
		ld            plog.Logs
		wrote, skiped int
	}{
		{"first delivery", stamped("dev-1", spoolA, 1, 101), 100, 0},
		{"whole batch again", stamped("dev-1", spoolA, 1, 101), 0, 100},
		{"overlapping batch", stamped("dev-1", spoolA, 51, 151), 50, 50},
		{"after a gap (evictions)", stamped("dev-1", spoolA, 201, 211), 10, 0},
		{"below the mark after the gap", stamped("dev-1", spoolA, 160, 170), 0, 10},
		{"another device with the same spool identity", stamped("dev-2", spoolA, 1, 101), 100, 0},
		{"a new spool of the device (re-installed)", stamped("dev-1", spoolB, 1, 11), 10, 0},
		{"the per-record form of an older agent, below the mark", stampedPerRecord("dev-1", spoolA, 140, 150), 0, 10},
		{"the per-record form above the mark", stampedPerRecord("dev-1", spoolA, 211, 221), 10, 0},
		{"the agent upgraded: the compact form goes on from the mark", stamped("dev-1", spoolA, 215, 231), 10, 6},
		{"unstamped records are always stored", makeLogs("dev-1", "fleet", "plain", testEpoch, 5), 5, 0},
		{"unstamped again", makeLogs("dev-1", "fleet", "plain", testEpoch, 5), 5, 0},
	}
	for _, st := range steps {
		res, err := w.Append(st.ld)
		require.NoError(t, err, st.name)
		assert.Equal(t, st.wrote, res.Records, st.name)
		assert.Equal(t, st.skiped, res.Skipped, st.name)
	}
	got := bodies(t, dir)
	assertOnce(t, got, "dev-1", spoolA, 1, 151)
	assertOnce(t, got, "dev-1", spoolA, 201, 231)
	assertOnce(t, got, "dev-2", spoolA, 1, 101)
	assertOnce(t, got, "dev-1", spoolB, 1, 11)
	assert.Equal(t, 2, got["plain 0"])
}

func TestDedupWithinABatch(t *testing.T) {
	_, key := newKey(t)
	dir := t.TempDir()
	w, _ := openWriter(t, dir, key, &fakeClock{now: testEpoch})
	defer w.Close()
	ld := stamped("dev-1", spoolA, 1, 11)
	stamped("dev-1", spoolA, 5, 15).ResourceLogs().MoveAndAppendTo(ld.ResourceLogs())
	res, err := w.Append(ld)
	require.NoError(t, err)
	assert.Equal(t, 14, res.Records)
	assert.Equal(t, 6, res.Skipped)
	assertOnce(t, bodies(t, dir), "dev-1", spoolA, 1, 15)
}

// A batch of many devices' spools (more keys than a plan scans, so it
// indexes them), interleaved and partly re-delivered, each key on its own.
func TestDedupManyKeysInABatch(t *testing.T) {
	_, key := newKey(t)
	dir := t.TempDir()
	w, _ := openWriter(t, dir, key, &fakeClock{now: testEpoch})
	defer w.Close()
	const devices = 3 * maxListedKeys
	first := plog.NewLogs()
	for d := range devices {
		stamped(fmt.Sprintf("dev-%02d", d), spoolA, 1, 4).ResourceLogs().MoveAndAppendTo(first.ResourceLogs())
	}
	res, err := w.Append(first)
	require.NoError(t, err)
	assert.Equal(t, 3*devices, res.Records)
	// Again, records 2 to 6 of each, the devices in two passes: 2-3 are
	// stored already, 4-6 are new, and the second pass repeats 4-5.
	again := plog.NewLogs()
	for pass := range 2 {
		for d := range devices {
			stamped(fmt.Sprintf("dev-%02d", d), spoolA, 2+2*pass, 6+pass).ResourceLogs().MoveAndAppendTo(again.ResourceLogs())
		}
	}
	res, err = w.Append(again)
	require.NoError(t, err)
	assert.Equal(t, 3*devices, res.Records)
	assert.Equal(t, (4+3)*devices-3*devices, res.Skipped)
	got := bodies(t, dir)
	for d := range devices {
		assertOnce(t, got, fmt.Sprintf("dev-%02d", d), spoolA, 1, 7)
	}
	assert.Len(t, got, 6*devices)
}

// TestDedupSurvivesRestart checks every way Open rebuilds the marks: from
// the open segment, from the marks file written at a seal, from sealed
// segments when that file is missing or behind, and that records cut from
// a torn tail are not marked (their re-delivery is stored).
func TestDedupSurvivesRestart(t *testing.T) {
	tests := []struct {
		name string
		// between runs
		restart func(t *testing.T, w *Writer, dir string)
	}{
		{"open segment only", func(t *testing.T, w *Writer, _ string) { require.NoError(t, w.Close()) }},
		{"sealed, marks file", func(t *testing.T, w *Writer, _ string) {
			require.NoError(t, w.Seal())
			require.NoError(t, w.Close())
		}},
		{"sealed, marks file lost", func(t *testing.T, w *Writer, dir string) {
			require.NoError(t, w.Seal())
			require.NoError(t, w.Close())
			require.NoError(t, os.Remove(joinRel(dir, marksFile)))
		}},
		{"sealed, marks file damaged", func(t *testing.T, w *Writer, dir string) {
			require.NoError(t, w.Seal())
			require.NoError(t, w.Close())
			require.NoError(t, os.WriteFile(joinRel(dir, marksFile), []byte("{"), 0o600))
		}},
		{"sealed, crash before the marks file", func(t *testing.T, w *Writer, dir string) {
			// The marks file as the previous seal left it.
			require.NoError(t, w.Seal())
			old, err := os.ReadFile(joinRel(dir, marksFile))
			require.NoError(t, err)
			appendLogs(t, w, stamped("dev-1", spoolB, 1, 5))
			require.NoError(t, w.Seal())
			require.NoError(t, w.Close())
			require.NoError(t, os.WriteFile(joinRel(dir, marksFile), old, 0o600))
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, key := newKey(t)
			dir := t.TempDir()
			clock := &fakeClock{now: testEpoch}
			w, _ := openWriter(t, dir, key, clock)
			appendLogs(t, w, stamped("dev-1", spoolA, 1, 101))
			if tt.name != "open segment only" {
				require.NoError(t, w.Seal())
			}
			appendLogs(t, w, stamped("dev-1", spoolA, 101, 201))
			tt.restart(t, w, dir)

			w, _ = openWriter(t, dir, key, clock)
			defer w.Close()
			res, err := w.Append(stamped("dev-1", spoolA, 150, 250))
			require.NoError(t, err)
			assert.Equal(t, 49, res.Records)
			assert.Equal(t, 51, res.Skipped)
			assertOnce(t, bodies(t, dir), "dev-1", spoolA, 1, 250)
		})
	}
}

func TestDedupTornTailIsNotMarked(t *testing.T) {
	_, key := newKey(t)
	dir := t.TempDir()
	clock := &fakeClock{now: testEpoch}
	w, _ := openWriter(t, dir, key, clock)
	appendLogs(t, w, stamped("dev-1", spoolA, 1, 11))
	appendLogs(t, w, stamped("dev-1", spoolA, 11, 21))
	require.NoError(t, w.Close())
	entries, err := scan(dir)
	require.NoError(t, err)
	path := joinRel(dir, entries[0].segment)
	data, frames := framesOf(t, path)
	// The second append's frame was torn by a crash: it was never acknowledged.
	rewrite(t, path, data[:frames[1].Offset+10])

	w, rec := openWriter(t, dir, key, clock)
	defer w.Close()
	require.Positive(t, rec.TornBytes)
	res, err := w.Append(stamped("dev-1", spoolA, 11, 21))
	require.NoError(t, err)
	assert.Equal(t, 10, res.Records, "the re-delivery of the torn records is stored")
	assertOnce(t, bodies(t, dir), "dev-1", spoolA, 1, 21)
}

// TestDedupConcurrentRedeliveries appends the same batches from several
// goroutines at once, as a retry racing its original does: each record is
// stored once.
func TestDedupConcurrentRedeliveries(t *testing.T) {
	_, key := newKey(t)
	dir := t.TempDir()
	w, _ := openWriter(t, dir, key, &fakeClock{now: testEpoch})
	defer w.Close()
	var wg sync.WaitGroup
	var mu sync.Mutex
	written, skipped := 0, 0
	for g := range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for b := range 20 {
				// Overlapping windows, from each goroutine in its own order.
				from := 1 + ((b+g)%20)*50
				res, err := w.Append(stamped("dev-1", spoolA, from, from+100))
				assert.NoError(t, err)
				mu.Lock()
				written += res.Records
				skipped += res.Skipped
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	got := bodies(t, dir)
	total := 0
	for body, n := range got {
		assert.Equal(t, 1, n, body)
		total += n
	}
	assert.Equal(t, written, total)
	assert.Equal(t, 6*20*100, written+skipped)
}

func TestStoreRedeliveries(t *testing.T) {
	_, key := newKey(t)
	dir := t.TempDir()
	w, _, err := Open(Options{Dir: dir, Key: key, MaxSegmentSize: 64 << 20, MaxSegmentAge: time.Hour, StoreRedeliveries: true})
	require.NoError(t, err)
	defer w.Close()
	for range 2 {
		res, err := w.Append(stamped("dev-1", spoolA, 1, 11))
		require.NoError(t, err)
		assert.Equal(t, 10, res.Records)
		assert.Zero(t, res.Skipped)
	}
}
