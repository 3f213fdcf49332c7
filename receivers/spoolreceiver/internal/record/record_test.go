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

func TestRoundTrip(t *testing.T) {
	t.Parallel()
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
		{Observed: 4, Body: map[string]any{"k": []any{1.5, false}}},
	}
	dec := NewDecoder()
	for i := range entries {
		require.NoError(t, dec.Decode(Append(nil, &entries[i])))
	}
	logs := dec.Logs()
	require.Equal(t, 4, logs.LogRecordCount())
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

	body := logs.ResourceLogs().At(1).ScopeLogs().At(0).LogRecords().At(0).Body()
	assert.Equal(t, map[string]any{"k": []any{1.5, false}}, body.Map().AsRaw())
}

func TestDecodeRejects(t *testing.T) {
	t.Parallel()
	good := Append(nil, &Entry{Observed: 1, Attributes: map[string]any{"k": "v"}, Body: "b"})
	tests := []struct {
		name    string
		payload []byte
		want    error
	}{
		{"empty", nil, ErrTruncated},
		{"version", append([]byte{9}, good[1:]...), ErrVersion},
		{"truncated", good[:len(good)-1], ErrTruncated},
		{"trailing", append(append([]byte{}, good...), 0), ErrMalformed},
		{"huge count", []byte{version, 0, 0, 0, 0, 0, 1, 0, 0xff, 0xff, 0x03}, ErrMalformed},
		{"bad tag", []byte{version, 0, 0, 0, 0, 0, 1, 0, 0, 0x77}, ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dec := NewDecoder()
			require.ErrorIs(t, dec.Decode(tt.payload), tt.want)
			assert.Equal(t, 0, dec.Logs().LogRecordCount(), "a rejected payload appends nothing")
		})
	}
}

func TestDeepNestingIsBounded(t *testing.T) {
	t.Parallel()
	var v any = "leaf"
	for range maxDepth * 2 {
		v = []any{v}
	}
	dec := NewDecoder()
	require.NoError(t, dec.Decode(Append(nil, &Entry{Body: v})))
}

func FuzzDecode(f *testing.F) {
	f.Add(Append(nil, &Entry{Observed: 1, Severity: 9, Scope: "s", Resource: map[string]any{"r": "1"}, Attributes: map[string]any{"a": int64(1), "m": map[string]any{"x": []any{true, 2.5}}}, Body: "hello"}))
	f.Add([]byte{version})
	f.Fuzz(func(t *testing.T, p []byte) {
		dec := NewDecoder()
		before := 0
		if err := dec.Decode(p); err == nil {
			before = 1
		}
		require.Equal(t, before, dec.Logs().LogRecordCount())
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
		buf = Append(buf[:0], &Entry{Observed: 1, Attributes: attrs, BodyBytes: line})
		if err := dec.Decode(buf); err != nil {
			b.Fatal(err)
		}
		_ = dec.Logs()
	}
}

// BenchmarkDecodeBatch decodes a delivery batch of file lines that share
// their attributes, as the spool receiver does.
func BenchmarkDecodeBatch(b *testing.B) {
	const batch = 2048
	raw := AppendAttributes(nil, map[string]any{"log.file.name": "app.log", "log.file.path": "/var/log/fleetlog/app.log"})
	var payloads [][]byte
	for i := range batch {
		line := fmt.Appendf(nil, "2026-11-25T00:00:%02dZ INFO request %d served path=/api/v1/things status=200 duration=3ms", i%60, i)
		payloads = append(payloads, Append(nil, &Entry{Observed: 1, AttributesRaw: raw, BodyBytes: line}))
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
	require.NoError(t, dec.DecodeStamped(Append(nil, &e), id, 7))
	require.NoError(t, dec.DecodeStamped(Append(nil, &Entry{Observed: 2, Body: "next"}), id, 8))
	require.ErrorIs(t, dec.DecodeStamped([]byte{version, 1}, id, 9), ErrTruncated)
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
