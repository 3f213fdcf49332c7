package record

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/fleetlog/fleetlog/internal/spoolstamp"
)

// encode makes the spooled form of e in the given format version.
func encode(version int, e *Entry) Spooled {
	if version == 1 {
		return Spooled{Payload: AppendV1(nil, e)}
	}
	return Spooled{Shared: AppendShared(nil, e), Payload: AppendRecord(nil, e), Observed: e.Observed, Severity: e.Severity}
}

func TestRoundTrip(t *testing.T) {
	t.Parallel()
	for _, v := range []int{1, 2} {
		t.Run(fmt.Sprintf("version %d", v), func(t *testing.T) { testRoundTrip(t, v) })
	}
}

func testRoundTrip(t *testing.T, version int) {
	big := strings.Repeat("r", 300) // resource blob needs a 2-byte length prefix
	entries := []Entry{
		{
			Timestamp: 1700000000123456789, Observed: 1700000001000000000,
			Severity: 17, SeverityText: "err", Scope: "syslog",
			Resource:   map[string]any{"host.name": "edge-1", "pad": big},
			Attributes: map[string]any{"appname": "sshd", "proc_id": int64(42), "ok": true, "ratio": 0.5, "raw": []byte{1, 2}, "sd": map[string]any{"a@1": map[string]any{"k": "v"}}, "list": []any{"x", int64(1)}, "none": nil},
			Body:       "Failed password for root",
		},
		{
			Observed:   1700000002000000000,
			Resource:   map[string]any{"pad": big, "host.name": "edge-1"},
			Scope:      "syslog",
			Attributes: map[string]any{"log.file.name": "a.log"},
			BodyBytes:  []byte("line 2"),
		},
		{Observed: 3, Scope: "file", Resource: map[string]any{"pad": big, "host.name": "edge-1"}, Body: int64(7)},
		{Observed: 4, Body: map[string]any{"k": []any{1.5, false}}, Severity: 13, SeverityText: "my-own-level"},
		{Observed: 5, Timestamp: 6, BodyBytes: []byte{}, Severity: 9, SeverityText: "INFO"},
	}
	dec := NewDecoder()
	for i := range entries {
		require.NoError(t, dec.Decode(encode(version, &entries[i])))
	}
	logs := dec.Logs()
	require.Equal(t, 5, logs.LogRecordCount())
	// Same resource (whatever the key order) shares one ResourceLogs; a new
	// scope opens a ScopeLogs in it.
	require.Equal(t, 2, logs.ResourceLogs().Len())
	rl := logs.ResourceLogs().At(0)
	require.Equal(t, 2, rl.ScopeLogs().Len())
	assert.Equal(t, "file", rl.ScopeLogs().At(1).Scope().Name())
	host, _ := rl.Resource().Attributes().Get("host.name")
	assert.Equal(t, "edge-1", host.Str())

	lr := rl.ScopeLogs().At(0).LogRecords().At(0)
	assert.Equal(t, int64(1700000000123456789), int64(lr.Timestamp()))
	assert.Equal(t, int64(1700000001000000000), int64(lr.ObservedTimestamp()))
	assert.Equal(t, plog.SeverityNumberError, lr.SeverityNumber())
	assert.Equal(t, "err", lr.SeverityText())
	assert.Equal(t, "Failed password for root", lr.Body().Str())
	assert.Equal(t, map[string]any{
		"appname": "sshd", "proc_id": int64(42), "ok": true, "ratio": 0.5, "raw": []byte{1, 2},
		"sd": map[string]any{"a@1": map[string]any{"k": "v"}}, "list": []any{"x", int64(1)}, "none": nil,
	}, lr.Attributes().AsRaw())
	assert.Equal(t, "line 2", rl.ScopeLogs().At(0).LogRecords().At(1).Body().Str())
	assert.Equal(t, int64(7), rl.ScopeLogs().At(1).LogRecords().At(0).Body().Int())

	last := logs.ResourceLogs().At(1).ScopeLogs().At(0).LogRecords()
	body := last.At(0).Body()
	assert.Equal(t, map[string]any{"k": []any{1.5, false}}, body.Map().AsRaw())
	assert.Equal(t, "my-own-level", last.At(0).SeverityText())
	assert.Equal(t, plog.SeverityNumberWarn, last.At(0).SeverityNumber())
	assert.Equal(t, int64(4), int64(last.At(0).ObservedTimestamp()))
	assert.Equal(t, "INFO", last.At(1).SeverityText())
	assert.Equal(t, int64(6), int64(last.At(1).Timestamp()))
	assert.Equal(t, "", last.At(1).Body().Str())
}

// TestSizeOfALine pins what a file line costs beyond its bytes in version
// 2: the head and the body's length, the attributes being shared.
func TestSizeOfALine(t *testing.T) {
	line := []byte(strings.Repeat("x", 105))
	e := Entry{Observed: 1, Severity: 17, SeverityText: "ERROR", Attributes: map[string]any{"log.file.name": "a.log"}, BodyBytes: line}
	assert.Len(t, AppendRecord(nil, &e), len(line)+2)
	assert.Len(t, AppendRecordHead(nil, &e), 2)
}

// TestKnownSeverityTexts pins the table version 2 records index: a text's
// position is part of the format.
func TestKnownSeverityTexts(t *testing.T) {
	assert.Equal(t, [...]string{
		"TRACE", "VERBOSE", "FINEST", "FINER", "FINE", "DEBUG", "INFO", "INFORMATION",
		"NOTICE", "WARN", "WARNING", "ERROR", "SEVERE", "CRITICAL", "ALERT", "FATAL",
		"PANIC", "EMERGENCY",
		"emerg", "alert", "crit", "err", "warning", "notice", "info", "debug",
	}, KnownSeverityTexts)
}

func TestDecodeRejects(t *testing.T) {
	t.Parallel()
	good := AppendV1(nil, &Entry{Observed: 1, Attributes: map[string]any{"k": "v"}, Body: "b"})
	e := &Entry{Observed: 1, Attributes: map[string]any{"k": "v"}, BodyBytes: []byte("b")}
	shared, rec := AppendShared(nil, e), AppendRecord(nil, e)
	valueRec := AppendRecord(nil, &Entry{Body: "b"})
	tests := []struct {
		name string
		in   Spooled
		want error
	}{
		{"v1 empty", Spooled{}, ErrTruncated},
		{"v1 version", Spooled{Payload: append([]byte{9}, good[1:]...)}, ErrVersion},
		{"v1 truncated", Spooled{Payload: good[:len(good)-1]}, ErrTruncated},
		{"v1 trailing", Spooled{Payload: append(append([]byte{}, good...), 0)}, ErrMalformed},
		{"v1 huge count", Spooled{Payload: []byte{version1, 0, 0, 0, 0, 0, 1, 0, 0xff, 0xff, 0x03}}, ErrMalformed},
		{"v1 bad tag", Spooled{Payload: []byte{version1, 0, 0, 0, 0, 0, 1, 0, 0, 0x77}}, ErrMalformed},
		{"v2 shared version", Spooled{Shared: append([]byte{9}, shared[1:]...), Payload: rec}, ErrVersion},
		{"v2 shared truncated", Spooled{Shared: shared[:len(shared)-1], Payload: rec}, ErrTruncated},
		{"v2 shared trailing", Spooled{Shared: append(append([]byte{}, shared...), 0), Payload: rec}, ErrMalformed},
		{"v2 record empty", Spooled{Shared: shared}, ErrTruncated},
		{"v2 record truncated", Spooled{Shared: shared, Payload: rec[:len(rec)-1]}, ErrTruncated},
		{"v2 record trailing", Spooled{Shared: shared, Payload: append(append([]byte{}, rec...), 0)}, ErrMalformed},
		{"v2 value trailing", Spooled{Shared: shared, Payload: append(append([]byte{}, valueRec...), 0)}, ErrMalformed},
		{"v2 severity code", Spooled{Shared: shared, Payload: []byte{byte((sevLiteral + 1) << headSevShift), tagNil}}, ErrMalformed},
		{"v2 bad tag", Spooled{Shared: shared, Payload: []byte{0, 0x77}}, ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dec := NewDecoder()
			require.ErrorIs(t, dec.Decode(tt.in), tt.want)
			assert.Equal(t, 0, dec.Logs().LogRecordCount(), "a rejected payload appends nothing")
		})
	}
}

// TestSharedAttributesAreCopied decodes records whose shared parts repeat,
// change and come back, with a malformed one between them: each record gets
// its shared part's attributes as a map of its own.
func TestSharedAttributesAreCopied(t *testing.T) {
	t.Parallel()
	a := &Entry{Observed: 1, Attributes: map[string]any{"log.file.name": "a.log", "n": map[string]any{"k": "v"}}, BodyBytes: []byte("1")}
	b := &Entry{Observed: 1, Attributes: map[string]any{"log.file.name": "b.log"}, BodyBytes: []byte("2")}
	sharedA, sharedB := AppendShared(nil, a), AppendShared(nil, b)
	recA, recB := AppendRecord(nil, a), AppendRecord(nil, b)
	dec := NewDecoder()
	for _, in := range []struct {
		Spooled
		bad bool
	}{
		{Spooled: Spooled{Shared: sharedA, Payload: recA}},
		{Spooled: Spooled{Shared: sharedA, Payload: recA}},
		{Spooled: Spooled{Shared: sharedB, Payload: recB}},
		{Spooled: Spooled{Shared: sharedA[:len(sharedA)-1], Payload: recA}, bad: true},
		{Spooled: Spooled{Shared: sharedA, Payload: recA}},
	} {
		err := dec.Decode(in.Spooled)
		if in.bad {
			require.ErrorIs(t, err, ErrTruncated)
			continue
		}
		require.NoError(t, err)
	}
	logs := dec.Logs()
	require.Equal(t, 4, logs.LogRecordCount())
	var got []map[string]any
	for i := range logs.ResourceLogs().Len() {
		sls := logs.ResourceLogs().At(i).ScopeLogs()
		for j := range sls.Len() {
			recs := sls.At(j).LogRecords()
			for k := range recs.Len() {
				got = append(got, recs.At(k).Attributes().AsRaw())
			}
		}
	}
	wantA, wantB := map[string]any{"log.file.name": "a.log", "n": map[string]any{"k": "v"}}, map[string]any{"log.file.name": "b.log"}
	assert.Equal(t, []map[string]any{wantA, wantA, wantB, wantA}, got)

	// Changing one record's attributes leaves the others alone.
	first := logs.ResourceLogs().At(0).ScopeLogs().At(0).LogRecords().At(0).Attributes()
	first.PutStr("log.file.name", "changed")
	n, _ := first.Get("n")
	n.Map().PutStr("k", "changed")
	require.NoError(t, dec.Decode(Spooled{Shared: sharedA, Payload: recA}))
	again := dec.Logs().ResourceLogs().At(0).ScopeLogs().At(0).LogRecords().At(0).Attributes().AsRaw()
	assert.Equal(t, wantA, again)

	// Nothing decoded points into the buffer the shared part was read
	// from, which the spool reuses.
	c := &Entry{Observed: 1, Attributes: map[string]any{"b": []byte("raw"), "s": "str"}, BodyBytes: []byte("3")}
	buf := AppendShared(nil, c)
	require.NoError(t, dec.Decode(Spooled{Shared: buf, Payload: AppendRecord(nil, c)}))
	first3 := dec.Logs()
	clear(buf)
	require.NoError(t, dec.Decode(Spooled{Shared: AppendShared(nil, c), Payload: AppendRecord(nil, c)}))
	wantC := map[string]any{"b": []byte("raw"), "s": "str"}
	assert.Equal(t, wantC, first3.ResourceLogs().At(0).ScopeLogs().At(0).LogRecords().At(0).Attributes().AsRaw())
	assert.Equal(t, wantC, dec.Logs().ResourceLogs().At(0).ScopeLogs().At(0).LogRecords().At(0).Attributes().AsRaw())
	second := logs.ResourceLogs().At(0).ScopeLogs().At(0).LogRecords().At(1).Attributes().AsRaw()
	assert.Equal(t, wantA, second)
}

func TestDeepNestingIsBounded(t *testing.T) {
	t.Parallel()
	var v any = "leaf"
	for range maxDepth * 2 {
		v = []any{v}
	}
	for _, version := range []int{1, 2} {
		dec := NewDecoder()
		require.NoError(t, dec.Decode(encode(version, &Entry{Body: v})))
	}
}

// FuzzDecode feeds version 1 payloads to the decoder: it must not panic and
// must append a record exactly when it reports no error.
func FuzzDecode(f *testing.F) {
	f.Add(AppendV1(nil, &Entry{Observed: 1, Severity: 9, Scope: "s", Resource: map[string]any{"r": "1"}, Attributes: map[string]any{"a": int64(1), "m": map[string]any{"x": []any{true, 2.5}}}, Body: "hello"}))
	f.Add([]byte{version1})
	f.Fuzz(func(t *testing.T, p []byte) {
		dec := NewDecoder()
		before := 0
		if err := dec.Decode(Spooled{Payload: p}); err == nil {
			before = 1
		}
		require.Equal(t, before, dec.Logs().LogRecordCount())
	})
}

// FuzzDecodeShared is FuzzDecode for version 2 records: a shared part and
// the record's own, decoded twice in a row (the second time with the shared
// part known good, as the decoder caches it).
func FuzzDecodeShared(f *testing.F) {
	e := &Entry{Timestamp: 5, Observed: 1, Severity: 9, SeverityText: "INFO", Scope: "s", Resource: map[string]any{"r": "1"}, Attributes: map[string]any{"a": int64(1), "m": map[string]any{"x": []any{true, 2.5}}}, BodyBytes: []byte("hello")}
	f.Add(AppendShared(nil, e), AppendRecord(nil, e))
	e = &Entry{SeverityText: "custom", Body: map[string]any{"k": "v"}}
	f.Add(AppendShared(nil, e), AppendRecord(nil, e))
	f.Add([]byte{version2}, []byte{0})
	f.Fuzz(func(t *testing.T, shared, payload []byte) {
		if len(shared) == 0 {
			return // a version 1 payload: FuzzDecode's
		}
		dec := NewDecoder()
		want := 0
		for range 2 {
			if err := dec.Decode(Spooled{Shared: shared, Payload: payload, Observed: 1, Severity: 9}); err == nil {
				want++
			}
		}
		require.Equal(t, want, dec.Logs().LogRecordCount())
	})
}

func BenchmarkAppendDecode(b *testing.B) {
	attrs := map[string]any{"log.file.name": "app.log", "log.file.path": "/var/log/app/app.log"}
	line := []byte("2026-11-25T00:00:00Z INFO request served path=/api/v1/things status=200 duration=3ms")
	var buf []byte
	b.ReportAllocs()
	b.SetBytes(int64(len(line)))
	dec := NewDecoder()
	for b.Loop() {
		e := &Entry{Observed: 1, Attributes: attrs, BodyBytes: line}
		shared := AppendShared(nil, e)
		buf = AppendRecord(buf[:0], e)
		if err := dec.Decode(Spooled{Shared: shared, Payload: buf}); err != nil {
			b.Fatal(err)
		}
		_ = dec.Logs()
	}
}

// BenchmarkDecodeBatch decodes a delivery batch of file lines that share
// their attributes, as the spool receiver does.
func BenchmarkDecodeBatch(b *testing.B) {
	const batch = 2048
	shared := AppendShared(nil, &Entry{Attributes: map[string]any{"log.file.name": "app.log", "log.file.path": "/var/log/fleetlog/app.log"}})
	var payloads []Spooled
	for i := range batch {
		line := fmt.Appendf(nil, "2026-11-25T00:00:%02dZ INFO request %d served path=/api/v1/things status=200 duration=3ms", i%60, i)
		payloads = append(payloads, Spooled{Shared: shared, Payload: AppendRecord(nil, &Entry{Observed: 1, BodyBytes: line}), Observed: 1})
	}
	b.ReportAllocs()
	dec := NewDecoder()
	for b.Loop() {
		for _, p := range payloads {
			if err := dec.Decode(p); err != nil {
				b.Fatal(err)
			}
		}
		_ = dec.Logs()
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*batch), "ns/record")
}

func TestDecodeStamped(t *testing.T) {
	t.Parallel()
	const id = "0123456789abcdef0123456789abcdef"
	// A record claiming a stamp of its own gets the spool's instead.
	e := Entry{Observed: 1, Attributes: map[string]any{"k": "v", spoolstamp.IDAttribute: "forged", spoolstamp.SeqAttribute: int64(1)}, Body: "line"}
	dec := NewDecoder()
	require.NoError(t, dec.DecodeStamped(encode(2, &e), id, 7))
	require.NoError(t, dec.DecodeStamped(encode(1, &Entry{Observed: 2, Body: "next"}), id, 8))
	require.ErrorIs(t, dec.DecodeStamped(Spooled{Payload: []byte{version1, 1}}, id, 9), ErrTruncated)
	logs := dec.Logs()
	require.Equal(t, 2, logs.LogRecordCount())
	require.Equal(t, 1, logs.ResourceLogs().At(0).ScopeLogs().Len(), "one scope holds both")
	sl := logs.ResourceLogs().At(0).ScopeLogs().At(0)
	assert.Equal(t, map[string]any{spoolstamp.IDAttribute: id}, sl.Scope().Attributes().AsRaw())
	recs := sl.LogRecords()
	for i, want := range []uint64{7, 8} {
		_, forged := recs.At(i).Attributes().Get(spoolstamp.IDAttribute)
		assert.False(t, forged, "the record's own identity is removed")
		gotID, seq, ok := spoolstamp.Read(sl.Scope().Attributes(), recs.At(i).Attributes())
		require.True(t, ok)
		assert.Equal(t, id, gotID)
		assert.Equal(t, want, seq)
	}
	v, _ := recs.At(0).Attributes().Get("k")
	assert.Equal(t, "v", v.Str())
}
