package archive

import (
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.uber.org/goleak"

	"github.com/fleetlog/fleetlog/internal/spoolstamp"
)

// indexLogs is n records of one device with the given severity, an app
// attribute, a per-record int and a host resource attribute.
func indexLogs(device, fleet, app string, sev plog.SeverityNumber, start time.Time, n int) plog.Logs {
	ld := makeLogs(device, fleet, device+" "+app, start, n)
	rl := ld.ResourceLogs().At(0)
	rl.Resource().Attributes().PutStr("host.name", device+".example")
	recs := rl.ScopeLogs().At(0).LogRecords()
	for i := range recs.Len() {
		lr := recs.At(i)
		lr.SetSeverityNumber(sev)
		lr.Attributes().PutStr("app", app)
		lr.Attributes().PutStr("note", strings.Repeat("x", maxIndexedValue+1))
		spoolstamp.StampRecord(lr.Attributes(), "0123456789abcdef0123456789abcdef", uint64(start.Unix())+uint64(i))
	}
	return ld
}

// indexArchive writes six sealed segments and an open one; the manifests
// of segments 1 and 2 are rewritten as the archive wrote them before the
// index existed.
func indexArchive(t *testing.T) (string, ed25519.PublicKey) {
	t.Helper()
	dir := t.TempDir()
	pub, key := newKey(t)
	clock := &fakeClock{now: testEpoch}
	w, _ := openWriter(t, dir, key, clock)
	segs := [][]plog.Logs{
		{indexLogs("dev-a", "atms", "vault", plog.SeverityNumberInfo, testEpoch.Add(-48*time.Hour), 5)},
		{indexLogs("dev-b", "kiosks", "pos", plog.SeverityNumberError, testEpoch.Add(-47*time.Hour), 5)},
		{indexLogs("dev-a", "atms", "vault", plog.SeverityNumberDebug, testEpoch.Add(-24*time.Hour), 5),
			indexLogs("dev-c", "atms", "pos", plog.SeverityNumberInfo, testEpoch.Add(-24*time.Hour), 5)},
		{indexLogs("dev-b", "kiosks", "kiosk", plog.SeverityNumberWarn, testEpoch, 5)},
		{indexLogs("dev-d", "kiosks", "pos", plog.SeverityNumberFatal, testEpoch.Add(time.Hour), 5)},
		{indexLogs("dev-a", "atms", "vault", plog.SeverityNumberError, testEpoch.Add(2*time.Hour), 5)},
	}
	for _, seg := range segs {
		for _, ld := range seg {
			appendLogs(t, w, ld)
		}
		require.NoError(t, w.Seal())
	}
	appendLogs(t, w, indexLogs("dev-e", "atms", "pos", plog.SeverityNumberError, testEpoch.Add(3*time.Hour), 5))
	require.NoError(t, w.Close())
	rewriteManifests(t, dir, key, func(m *Manifest) {
		if m.Seq <= 2 {
			m.Index = nil
		}
	})
	return dir, pub
}

// rewriteManifests edits and re-signs every manifest in order, keeping the
// manifest chain intact, so the archive still verifies.
func rewriteManifests(t *testing.T, dir string, key ed25519.PrivateKey, edit func(*Manifest)) {
	t.Helper()
	entries, err := scan(dir)
	require.NoError(t, err)
	var prev Hash
	for _, e := range entries {
		if e.manifest == "" {
			continue
		}
		path := joinRel(dir, e.manifest)
		data, err := os.ReadFile(path)
		require.NoError(t, err)
		p, err := parseManifest(data)
		require.NoError(t, err)
		m := p.Manifest
		m.PrevManifestHash = prev.String()
		edit(&m)
		out, hash, err := encodeManifest(&m, key)
		require.NoError(t, err)
		require.NoError(t, os.Chmod(path, 0o600))
		require.NoError(t, os.WriteFile(path, out, 0o444))
		prev = hash
	}
}

// fullScan is the reference: every record of every segment read, sorted
// by time within its segment, and tested with Filter.Match.
func fullScan(t *testing.T, dir string, f Filter) []string {
	t.Helper()
	entries, err := scan(dir)
	require.NoError(t, err)
	c, err := newCodec()
	require.NoError(t, err)
	defer c.close()
	var out []string
	for _, e := range entries {
		e.manifest = ""
		r := querySegment(c, dir, e, &Filter{}, false)
		require.NoError(t, r.err)
		for i := range r.recs {
			if f.Match(&r.recs[i]) {
				out = append(out, recordLine(t, &r.recs[i]))
			}
		}
	}
	return out
}

func recordLine(t *testing.T, r *Record) string {
	line, err := json.Marshal(r)
	require.NoError(t, err)
	return string(line)
}

func TestIndexQueryMatchesFullScan(t *testing.T) {
	dir, pub := indexArchive(t)
	_, err := Verify(dir, []ed25519.PublicKey{pub}, nil)
	require.NoError(t, err, "the rewritten archive still verifies")

	tests := []struct {
		name        string
		filter      Filter
		wantSkipped int // at least
		wantMatched int
		wantCounted int // segments a count takes from their manifest
	}{
		{name: "no filter", wantMatched: 40, wantCounted: 4},
		{name: "time only", filter: Filter{Since: testEpoch.Add(-24 * time.Hour), Until: testEpoch.Add(150 * time.Minute)}, wantSkipped: 2, wantMatched: 25, wantCounted: 4},
		{name: "device everywhere", filter: Filter{Device: "dev-a"}, wantSkipped: 2, wantMatched: 15},
		{name: "device in pre-index segment only", filter: Filter{Device: "dev-b", Until: testEpoch.Add(-time.Hour)}, wantSkipped: 3, wantMatched: 5},
		{name: "device in open segment", filter: Filter{Device: "dev-e"}, wantSkipped: 4, wantMatched: 5},
		{name: "device absent", filter: Filter{Device: "dev-z"}, wantSkipped: 4},
		{name: "fleet", filter: Filter{Fleet: "kiosks"}, wantSkipped: 2, wantMatched: 15},
		{name: "fleet absent", filter: Filter{Fleet: "trams"}, wantSkipped: 4},
		{name: "severity error", filter: Filter{MinSeverity: plog.SeverityNumberError}, wantSkipped: 2, wantMatched: 20, wantCounted: 2},
		{name: "severity fatal", filter: Filter{MinSeverity: plog.SeverityNumberFatal}, wantSkipped: 3, wantMatched: 5, wantCounted: 1},
		{name: "record attribute", filter: Filter{Attrs: map[string]string{"app": "pos"}}, wantSkipped: 2, wantMatched: 20},
		{name: "resource attribute", filter: Filter{Attrs: map[string]string{"host.name": "dev-d.example"}}, wantSkipped: 3, wantMatched: 5},
		{name: "int attribute", filter: Filter{Attrs: map[string]string{"i": "3", "app": "kiosk"}}, wantSkipped: 3, wantMatched: 1},
		{name: "attribute absent", filter: Filter{Attrs: map[string]string{"app": "none"}}, wantSkipped: 4},
		{name: "long value unindexed", filter: Filter{Attrs: map[string]string{"note": strings.Repeat("x", maxIndexedValue+1)}}, wantMatched: 40},
		{name: "spool seq unindexed", filter: Filter{Attrs: map[string]string{spoolstamp.SeqAttribute: fmt.Sprint(testEpoch.Unix() + 2)}}, wantMatched: 1},
		{name: "time and device", filter: Filter{Since: testEpoch, Device: "dev-a"}, wantSkipped: 4, wantMatched: 5},
		{name: "combined", filter: Filter{Fleet: "atms", MinSeverity: plog.SeverityNumberError, Attrs: map[string]string{"app": "vault"}}, wantSkipped: 3, wantMatched: 5},
		{name: "contains", filter: Filter{Contains: "dev-c pos 4"}, wantMatched: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := fullScan(t, dir, tt.filter)
			for _, workers := range []int{1, 3} {
				var got []string
				st, err := QueryWithOptions(dir, tt.filter, QueryOptions{Workers: workers}, func(r *Record) error {
					got = append(got, recordLine(t, r))
					return nil
				})
				require.NoError(t, err)
				assert.Equal(t, want, got, "workers %d", workers)
				assert.Len(t, got, tt.wantMatched)
				assert.GreaterOrEqual(t, st.Skipped, tt.wantSkipped, "workers %d", workers)
				assert.Equal(t, 7, st.Segments+st.Skipped)

				count, err := QueryWithOptions(dir, tt.filter, QueryOptions{Workers: workers, CountOnly: true}, func(*Record) error {
					t.Fatal("emit called with CountOnly")
					return nil
				})
				require.NoError(t, err)
				assert.Equal(t, uint64(tt.wantMatched), count.Matched)
				assert.Equal(t, tt.wantCounted, count.Counted)
			}
		})
	}
}

// Records without any time are outside every --since, whatever the
// segment's time range says: a count must read such a segment.
func TestCountWithUntimedRecords(t *testing.T) {
	dir := t.TempDir()
	_, key := newKey(t)
	w, _ := openWriter(t, dir, key, &fakeClock{now: testEpoch})
	ld := makeLogs("dev-a", "atms", "x", testEpoch, 5)
	for i := range 2 {
		lr := ld.ResourceLogs().At(0).ScopeLogs().At(0).LogRecords().At(i)
		lr.SetTimestamp(0)
		lr.SetObservedTimestamp(0)
	}
	appendLogs(t, w, ld)
	require.NoError(t, w.Seal())
	require.NoError(t, w.Close())
	for _, tt := range []struct {
		filter  Filter
		want    uint64
		counted int
	}{
		{filter: Filter{Since: testEpoch.Add(-time.Hour)}, want: 3},
		{filter: Filter{Until: testEpoch.Add(time.Hour)}, want: 5, counted: 1},
		{filter: Filter{}, want: 5, counted: 1},
	} {
		st, err := QueryWithOptions(dir, tt.filter, QueryOptions{CountOnly: true}, nil)
		require.NoError(t, err)
		assert.Equal(t, tt.want, st.Matched, "%+v", tt.filter)
		assert.Equal(t, uint64(len(fullScan(t, dir, tt.filter))), st.Matched)
		assert.Equal(t, tt.counted, st.Counted)
	}
}

func TestIndexPreIndexSegmentsCounted(t *testing.T) {
	dir, _ := indexArchive(t)
	st, err := Query(dir, Filter{Device: "dev-z"}, func(*Record) error { return nil })
	require.NoError(t, err)
	// Segments 1 and 2 have no index, the open segment no manifest.
	assert.Equal(t, 3, st.Unindexed)
	assert.Equal(t, 4, st.Skipped)
}

func TestIndexManifestContent(t *testing.T) {
	dir, _ := indexArchive(t)
	data, err := os.ReadFile(joinRel(dir, "2026/11/24/seg-0000000000000003.manifest"))
	require.NoError(t, err)
	m, err := parseManifest(data)
	require.NoError(t, err)
	ix := m.Index
	require.NotNil(t, ix)
	assert.Equal(t, 2, ix.DeviceCount)
	assert.Equal(t, []string{"dev-a", "dev-c"}, ix.Devices)
	assert.Equal(t, []string{"atms"}, ix.Fleets)
	assert.Equal(t, map[string]uint64{"5": 5, "9": 5}, ix.Severity)
	assert.Equal(t, []string{spoolstamp.SeqAttribute, "note"}, ix.Unindexed)
	assert.Equal(t, minBloomBits/8, len(ix.Filter.Bits), "a few keys fold to the smallest filter")
	assert.True(t, ix.Filter.MayContain("app", "pos"))
	assert.True(t, ix.Filter.MayContain(DeviceAttribute, "dev-c"))
}

func TestIndexIsSigned(t *testing.T) {
	dir, pub := indexArchive(t)
	path := joinRel(dir, "2026/11/24/seg-0000000000000003.manifest")
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	edited := strings.Replace(string(data), `"devices":["dev-a","dev-c"]`, `"devices":["dev-a"]`, 1)
	require.NotEqual(t, string(data), edited)
	require.NoError(t, os.Chmod(path, 0o600))
	require.NoError(t, os.WriteFile(path, []byte(edited), 0o444))
	_, err = Verify(dir, []ed25519.PublicKey{pub}, nil)
	var ve *VerifyError
	require.ErrorAs(t, err, &ve)
	assert.Equal(t, BadSignature, ve.Problem)
	assert.Equal(t, "2026/11/24/seg-0000000000000003.fla", ve.Segment)
}

// A segment left open by a restart is indexed with the records from before
// the restart too.
func TestIndexSurvivesReopen(t *testing.T) {
	dir := t.TempDir()
	_, key := newKey(t)
	clock := &fakeClock{now: testEpoch}
	w, _ := openWriter(t, dir, key, clock)
	appendLogs(t, w, indexLogs("dev-a", "atms", "vault", plog.SeverityNumberInfo, testEpoch, 3))
	require.NoError(t, w.Close())
	w, rec := openWriter(t, dir, key, clock)
	require.Equal(t, uint64(3), rec.Records)
	appendLogs(t, w, indexLogs("dev-b", "kiosks", "pos", plog.SeverityNumberWarn, testEpoch, 3))
	require.NoError(t, w.Seal())
	require.NoError(t, w.Close())
	var n int
	st, err := Query(dir, Filter{Device: "dev-a"}, func(*Record) error { n++; return nil })
	require.NoError(t, err)
	assert.Equal(t, 3, n)
	assert.Equal(t, 0, st.Skipped)
	assert.Equal(t, 0, st.Unindexed)
}

func TestBloomFalsePositiveRate(t *testing.T) {
	tests := []struct {
		name    string
		keys    int
		segment int64 // segment size the filter is sealed for
		maxRate float64
	}{
		// Folded to about bloomBitsPerKey: near 1%.
		{name: "sized by keys", keys: 10_000, segment: 64 << 20, maxRate: 0.02},
		{name: "few keys", keys: 50, segment: 64 << 20, maxRate: 0.001},
		// Capped by maxFilterShare of a small segment: the rate rises, the
		// size does not.
		{name: "capped by segment size", keys: 20_000, segment: 1 << 20, maxRate: 0.3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newSegmentIndex(64 << 20)
			b := &batchIndex{}
			var h keyHasher
			for i := range tt.keys {
				b.keys = append(b.keys, h.key("k", fmt.Sprint(i)))
			}
			s.add(b)
			ix := s.seal(tt.segment)
			f := &ix.Filter
			assert.LessOrEqual(t, float64(len(f.Bits)), float64(tt.segment)*maxFilterShare)
			for i := range tt.keys {
				require.True(t, f.MayContain("k", fmt.Sprint(i)), "no false negatives")
			}
			const probes = 100_000
			fp := 0
			for i := range probes {
				if f.MayContain("k", fmt.Sprint("absent-", i)) {
					fp++
				}
			}
			rate := float64(fp) / probes
			assert.LessOrEqual(t, rate, tt.maxRate)
			// The measured rate is close to the one the size predicts.
			assert.InDelta(t, f.FalsePositiveRate(float64(tt.keys)), rate, 0.01+f.FalsePositiveRate(float64(tt.keys))/5)
			t.Logf("%d keys: %d bytes, %.1f bits/key, false positives %.4f", tt.keys, len(f.Bits), float64(len(f.Bits)*8)/float64(tt.keys), rate)
		})
	}
}

func TestBloomMalformedMayContainAnything(t *testing.T) {
	for _, f := range []BloomFilter{{}, {Hashes: 7, Bits: make([]byte, 3)}, {Hashes: 0, Bits: make([]byte, 8)}} {
		assert.True(t, f.MayContain("k", "v"))
	}
}

func TestIndexIgnoresOutOfRangeSeverity(t *testing.T) {
	ld := makeLogs("dev-a", "atms", "x", testEpoch, 2)
	ld.ResourceLogs().At(0).ScopeLogs().At(0).LogRecords().At(0).SetSeverityNumber(30)
	ld.ResourceLogs().At(0).ScopeLogs().At(0).LogRecords().At(1).SetSeverityNumber(-1)
	s := newSegmentIndex(1 << 20)
	s.add(indexBatch(ld))
	ix := s.seal(1 << 20)
	assert.Equal(t, map[string]uint64{"24": 1, "0": 1}, ix.Severity)
	assert.True(t, ix.MayMatch(&Filter{MinSeverity: plog.SeverityNumberFatal4}), "as Match ranks 30 above fatal4")
}

// BenchmarkIndexBatch is the index's share of an append: summarising a
// 1000-record batch (outside the writer's lock) and merging it into the
// open segment's index (under it).
func BenchmarkIndexBatch(b *testing.B) {
	ld := benchLogs(1)
	s := newSegmentIndex(64 << 20)
	b.ResetTimer()
	var merge time.Duration
	for range b.N {
		bi := indexBatch(ld)
		t0 := time.Now()
		s.add(bi)
		merge += time.Since(t0)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*benchBatch), "ns/record")
	b.ReportMetric(float64(merge.Nanoseconds())/float64(b.N*benchBatch), "locked-ns/record")
}

// The filter's digests are part of the signed format: they must never change.
func TestKeyDigestIsStable(t *testing.T) {
	var h keyHasher
	assert.Equal(t, uint64(0xb7fe026ad0ba75fa), h.key("device.id", "dev-a"))
	assert.Equal(t, h.key("pid", "1234"), h.intKey("pid", 1234))
}

// Values repeated from record to record, alternating or not, all reach
// the filter once.
func TestIndexBatchRepeatedValues(t *testing.T) {
	ld := plog.NewLogs()
	recs := ld.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords()
	for i, v := range []string{"x", "x", "y", "x", "z"} {
		lr := recs.AppendEmpty()
		lr.Attributes().PutStr("s", v)
		lr.Attributes().PutInt("n", int64([]int{1, 1, 2, 1, 3}[i]))
	}
	b := indexBatch(ld)
	var h keyHasher
	want := []uint64{h.key("s", "x"), h.key("s", "y"), h.key("s", "z"), h.intKey("n", 1), h.intKey("n", 2), h.intKey("n", 3)}
	slices.Sort(want)
	slices.Sort(b.keys)
	assert.Equal(t, want, b.keys)
}

// A query stopped by its caller stops its readers.
func TestQueryStopsOnEmitError(t *testing.T) {
	dir, _ := indexArchive(t)
	defer goleak.VerifyNone(t)
	stop := errors.New("enough")
	n := 0
	_, err := QueryWithOptions(dir, Filter{}, QueryOptions{Workers: 3}, func(*Record) error {
		n++
		if n == 7 {
			return stop
		}
		return nil
	})
	require.ErrorIs(t, err, stop)
	assert.Equal(t, 7, n)
}
