package archive

import (
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"google.golang.org/protobuf/encoding/protowire"
)

// richLogs uses every field of the logs data model the public API reaches,
// every kind of attribute value, and empty messages where they may be.
func richLogs() plog.Logs {
	ld := plog.NewLogs()
	ld.ResourceLogs().AppendEmpty() // a resource with nothing
	rl := ld.ResourceLogs().AppendEmpty()
	rl.SetSchemaUrl("https://opentelemetry.io/schemas/1.26.0")
	res := rl.Resource()
	res.Attributes().PutStr(DeviceAttribute, "atm-0001")
	res.Attributes().PutStr(FleetAttribute, "atms")
	res.Attributes().PutInt("neg", -42)
	res.SetDroppedAttributesCount(3)
	rl.ScopeLogs().AppendEmpty() // a scope with no records
	sl := rl.ScopeLogs().AppendEmpty()
	sl.SetSchemaUrl("https://example.com/scope")
	sl.Scope().SetName("filelog")
	sl.Scope().SetVersion("v0.160.0")
	sl.Scope().Attributes().PutStr("fleetlog.spool.id", "0123456789abcdef0123456789abcdef")
	sl.Scope().SetDroppedAttributesCount(1)
	sl.LogRecords().AppendEmpty() // a record with nothing
	lr := sl.LogRecords().AppendEmpty()
	lr.SetTimestamp(pcommon.Timestamp(1764580000123456789))
	lr.SetObservedTimestamp(pcommon.Timestamp(1764580000223456789))
	lr.SetSeverityNumber(plog.SeverityNumberWarn)
	lr.SetSeverityText("WARN")
	lr.Body().SetStr("sshd[812]: Accepted publickey for ops from 10.1.2.3 port 52144 ssh2")
	lr.SetDroppedAttributesCount(7)
	lr.SetFlags(plog.DefaultLogRecordFlags.WithIsSampled(true))
	lr.SetTraceID(pcommon.TraceID{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16})
	lr.SetSpanID(pcommon.SpanID{8, 7, 6, 5, 4, 3, 2, 1})
	lr.SetEventName("login")
	a := lr.Attributes()
	a.PutStr("str", "value")
	a.PutStr("empty", "")
	a.PutStr("", "empty key")
	a.PutInt("int", 1<<40)
	a.PutInt("negint", math.MinInt64)
	a.PutDouble("double", -2.5)
	a.PutDouble("zero", 0)
	a.PutBool("true", true)
	a.PutBool("false", false)
	a.PutEmptyBytes("bytes").FromRaw([]byte{0, 1, 2, 255})
	a.PutEmptyBytes("nobytes")
	a.PutEmpty("nothing")
	m := a.PutEmptyMap("map")
	m.PutStr("inner", "x")
	m.PutEmptyMap("empty map")
	m.PutEmptyMap("nested").PutEmptySlice("list").AppendEmpty().SetInt(5)
	s := a.PutEmptySlice("slice")
	s.AppendEmpty().SetStr("a")
	s.AppendEmpty()
	s.AppendEmpty().SetEmptyMap().PutBool("b", true)
	s.AppendEmpty().SetEmptySlice()
	a.PutEmptySlice("empty slice")
	lr.Body().SetEmptyMap().PutStr("msg", "a structured body") // the body too
	neg := sl.LogRecords().AppendEmpty()
	neg.SetSeverityNumber(-1)
	neg.Body().SetEmptyBytes().FromRaw([]byte("raw body"))
	neg.Attributes().PutStr("log.file.name", "auth.log")
	return ld
}

func TestOTLPEncoderIsPdatas(t *testing.T) {
	var enc otlpEncoder
	var m plog.ProtoMarshaler
	for _, tt := range []struct {
		name string
		ld   plog.Logs
	}{
		{"empty", plog.NewLogs()},
		{"rich", richLogs()},
		{"device batch", benchLogs(3)},
		{"small batch", makeLogs("dev-a", "f", "x", testEpoch, 3)},
		{"stamped", stamped("dev-1", spoolA, 1, 20)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			want, err := m.MarshalLogs(tt.ld)
			require.NoError(t, err)
			for range 2 { // and again, reusing the buffer
				got, ok := enc.encode(tt.ld)
				require.True(t, ok)
				require.Equal(t, string(want), string(got))
			}
		})
	}
}

// A field the public API does not reach (a resource's entity references)
// makes the encoder decline, so the caller falls back to pdata's.
func TestOTLPEncoderDeclinesWhatItCannotReach(t *testing.T) {
	var ref []byte
	ref = protowire.AppendTag(ref, 2, protowire.BytesType) // EntityRef.type
	ref = protowire.AppendString(ref, "service")
	var res []byte
	res = protowire.AppendTag(res, 3, protowire.BytesType) // Resource.entity_refs
	res = protowire.AppendBytes(res, ref)
	var rl []byte
	rl = protowire.AppendTag(rl, 1, protowire.BytesType) // ResourceLogs.resource
	rl = protowire.AppendBytes(rl, res)
	var req []byte
	req = protowire.AppendTag(req, 1, protowire.BytesType)
	req = protowire.AppendBytes(req, rl)
	var u plog.ProtoUnmarshaler
	ld, err := u.UnmarshalLogs(req)
	require.NoError(t, err)
	var m plog.ProtoMarshaler
	want, err := m.MarshalLogs(ld)
	require.NoError(t, err)
	require.Equal(t, req, want, "pdata keeps the entity reference")

	var enc otlpEncoder
	_, ok := enc.encode(ld)
	assert.False(t, ok)
	// The writer's encoding is pdata's all the same.
	got, err := enc.marshal(ld)
	require.NoError(t, err)
	assert.Equal(t, want, got)
}

// FuzzOTLPEncoder decodes arbitrary bytes as OTLP logs and checks that the
// encoder gives pdata's encoding of them, or declines.
func FuzzOTLPEncoder(f *testing.F) {
	var m plog.ProtoMarshaler
	for _, ld := range []plog.Logs{richLogs(), makeLogs("dev-a", "f", "x", testEpoch, 2), stamped("dev-1", spoolA, 1, 3)} {
		raw, err := m.MarshalLogs(ld)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(raw)
	}
	var enc otlpEncoder
	f.Fuzz(func(t *testing.T, data []byte) {
		var u plog.ProtoUnmarshaler
		ld, err := u.UnmarshalLogs(data)
		if err != nil {
			return
		}
		want, err := m.MarshalLogs(ld)
		if err != nil {
			t.Fatal(err)
		}
		if got, ok := enc.encode(ld); ok && string(got) != string(want) {
			t.Fatalf("encoded %x, pdata %x", got, want)
		}
	})
}

// BenchmarkOTLPEncoder compares the encoder with pdata's MarshalLogs on a
// device's 1000-record batch.
func BenchmarkOTLPEncoder(b *testing.B) {
	ld := benchLogs(1)
	b.Run("pdata", func(b *testing.B) {
		var m plog.ProtoMarshaler
		b.ReportAllocs()
		for range b.N {
			if _, err := m.MarshalLogs(ld); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("reused", func(b *testing.B) {
		var enc otlpEncoder
		b.ReportAllocs()
		for range b.N {
			if _, ok := enc.encode(ld); !ok {
				b.Fatal("declined")
			}
		}
	})
}
