package archive

import (
	"encoding/binary"
	"math"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"google.golang.org/protobuf/encoding/protowire"
)

// otlpEncoder encodes a batch to OTLP protobuf (an ExportLogsServiceRequest)
// into a buffer it reuses. pdata's ProtoMarshaler.MarshalLogs allocates a
// new buffer for every batch and has no way to encode into the caller's;
// under many small appends those buffers were a seventh of the gateway's
// allocated bytes.
//
// The encoding is pdata's own, byte for byte: pdata writes each message
// from its end (its fields in reverse order of number, repeated fields in
// order), and so does this encoder, through the public API, into a buffer
// of exactly ProtoMarshaler.LogsSize bytes. What the public API does not
// reach (a resource's entity references, deprecated or profile-only fields)
// would make the encoding come out at another size: encode then reports
// false and the caller uses MarshalLogs, so nothing of a record is ever left
// out.
// TestOTLPEncoderIsPdatas and FuzzOTLPEncoder compare the two.
type otlpEncoder struct {
	buf []byte
	pos int
	// kvs is a stack of maps' entries, which a map gives only forwards.
	kvs []otlpKV
}

type otlpKV struct {
	k string
	v pcommon.Value
}

// maxEncoderBuffer bounds the buffer an encoder keeps between batches.
const maxEncoderBuffer = 4 << 20

// encode returns the OTLP encoding of ld, in a buffer the next call
// reuses, or false when it cannot give pdata's encoding.
func (e *otlpEncoder) encode(ld plog.Logs) ([]byte, bool) {
	var m plog.ProtoMarshaler
	size := m.LogsSize(ld)
	if cap(e.buf) < size {
		e.buf = make([]byte, size)
	}
	e.buf = e.buf[:size]
	e.pos = size
	ok := e.request(ld)
	clear(e.kvs) // drop the references to the batch
	e.kvs = e.kvs[:0]
	if !ok || e.pos != 0 {
		return nil, false
	}
	return e.buf, true
}

// marshal returns the OTLP encoding of ld: encode's, or when it declines,
// MarshalLogs' (a buffer of its own). The result is valid until the next
// call.
func (e *otlpEncoder) marshal(ld plog.Logs) ([]byte, error) {
	if raw, ok := e.encode(ld); ok {
		return raw, nil
	}
	var m plog.ProtoMarshaler
	return m.MarshalLogs(ld)
}

// detach returns raw, a result of marshal, for the caller to keep: if it is
// e's buffer, e takes spare (which may be nil) as its buffer instead.
func (e *otlpEncoder) detach(raw, spare []byte) []byte {
	if len(raw) > 0 && len(e.buf) > 0 && &raw[0] == &e.buf[0] {
		e.buf = spare[:0]
	}
	return raw
}

// release drops a buffer grown past maxEncoderBuffer.
func (e *otlpEncoder) release() {
	if cap(e.buf) > maxEncoderBuffer {
		e.buf = nil
	}
}

// The writes below go backwards from e.pos; each reports false, writing
// nothing, when the buffer has no room (the encoding is not pdata's).

func (e *otlpEncoder) room(n int) bool { return e.pos >= n }

// tag writes a field's tag; every field the encoder writes has a tag of one
// byte.
func (e *otlpEncoder) tag(num protowire.Number, typ protowire.Type) bool {
	if e.pos < 1 {
		return false
	}
	e.pos--
	e.buf[e.pos] = byte(protowire.EncodeTag(num, typ))
	return true
}

func (e *otlpEncoder) varint(v uint64) bool {
	if v < 0x80 {
		if e.pos < 1 {
			return false
		}
		e.pos--
		e.buf[e.pos] = byte(v)
		return true
	}
	n := protowire.SizeVarint(v)
	if !e.room(n) {
		return false
	}
	e.pos -= n
	protowire.AppendVarint(e.buf[e.pos:e.pos], v)
	return true
}

func (e *otlpEncoder) fixed64(num protowire.Number, v uint64) bool {
	if !e.room(8) {
		return false
	}
	e.pos -= 8
	binary.LittleEndian.PutUint64(e.buf[e.pos:], v)
	return e.tag(num, protowire.Fixed64Type)
}

func (e *otlpEncoder) fixed32(num protowire.Number, v uint32) bool {
	if !e.room(4) {
		return false
	}
	e.pos -= 4
	binary.LittleEndian.PutUint32(e.buf[e.pos:], v)
	return e.tag(num, protowire.Fixed32Type)
}

func (e *otlpEncoder) varintField(num protowire.Number, v uint64) bool {
	return e.varint(v) && e.tag(num, protowire.VarintType)
}

// str writes a length-delimited field of s.
func (e *otlpEncoder) str(num protowire.Number, s string) bool {
	if !e.room(len(s)) {
		return false
	}
	e.pos -= len(s)
	copy(e.buf[e.pos:], s)
	return e.varint(uint64(len(s))) && e.tag(num, protowire.BytesType)
}

// strNonEmpty is str for a proto3 string, left out when empty.
func (e *otlpEncoder) strNonEmpty(num protowire.Number, s string) bool {
	return s == "" || e.str(num, s)
}

// raw writes a length-delimited field of b.
func (e *otlpEncoder) raw(num protowire.Number, b []byte) bool {
	if !e.room(len(b)) {
		return false
	}
	e.pos -= len(b)
	copy(e.buf[e.pos:], b)
	return e.varint(uint64(len(b))) && e.tag(num, protowire.BytesType)
}

// closeField writes the length and tag of a length-delimited field
// numbered num whose content was written since e.pos was end.
func (e *otlpEncoder) closeField(num protowire.Number, end int) bool {
	return e.varint(uint64(end-e.pos)) && e.tag(num, protowire.BytesType)
}

func (e *otlpEncoder) request(ld plog.Logs) bool {
	rls := ld.ResourceLogs()
	for i := rls.Len() - 1; i >= 0; i-- {
		end := e.pos
		if !e.resourceLogs(rls.At(i)) || !e.closeField(1, end) {
			return false
		}
	}
	return true
}

// Each message below writes its fields in the order pdata's MarshalProto
// does (which, writing backwards, puts the first of them last).

func (e *otlpEncoder) resourceLogs(rl plog.ResourceLogs) bool {
	res := rl.Resource()
	end := e.pos
	if !e.attributes(1, res.Attributes()) || !e.droppedCount(2, res.DroppedAttributesCount()) || !e.closeField(1, end) {
		return false
	}
	sls := rl.ScopeLogs()
	for i := sls.Len() - 1; i >= 0; i-- {
		end := e.pos
		if !e.scopeLogs(sls.At(i)) || !e.closeField(2, end) {
			return false
		}
	}
	return e.strNonEmpty(3, rl.SchemaUrl())
}

func (e *otlpEncoder) scopeLogs(sl plog.ScopeLogs) bool {
	scope := sl.Scope()
	end := e.pos
	if !e.strNonEmpty(1, scope.Name()) ||
		!e.strNonEmpty(2, scope.Version()) ||
		!e.attributes(3, scope.Attributes()) ||
		!e.droppedCount(4, scope.DroppedAttributesCount()) ||
		!e.closeField(1, end) {
		return false
	}
	lrs := sl.LogRecords()
	for i := lrs.Len() - 1; i >= 0; i-- {
		end := e.pos
		if !e.logRecord(lrs.At(i)) || !e.closeField(2, end) {
			return false
		}
	}
	return e.strNonEmpty(3, sl.SchemaUrl())
}

func (e *otlpEncoder) droppedCount(num protowire.Number, n uint32) bool {
	return n == 0 || e.varintField(num, uint64(n))
}

func (e *otlpEncoder) logRecord(lr plog.LogRecord) bool {
	if ts := lr.Timestamp(); ts != 0 && !e.fixed64(1, uint64(ts)) {
		return false
	}
	if ts := lr.ObservedTimestamp(); ts != 0 && !e.fixed64(11, uint64(ts)) {
		return false
	}
	if sev := lr.SeverityNumber(); sev != 0 && !e.varintField(2, uint64(sev)) {
		return false
	}
	if !e.strNonEmpty(3, lr.SeverityText()) {
		return false
	}
	end := e.pos
	if !e.value(lr.Body()) || !e.closeField(5, end) {
		return false
	}
	if !e.attributes(6, lr.Attributes()) || !e.droppedCount(7, lr.DroppedAttributesCount()) {
		return false
	}
	if f := uint32(lr.Flags()); f != 0 && !e.fixed32(8, f) {
		return false
	}
	// Trace and span IDs are written even when empty, as pdata does.
	trace := lr.TraceID()
	traceBytes := trace[:]
	if trace.IsEmpty() {
		traceBytes = nil
	}
	if !e.raw(9, traceBytes) {
		return false
	}
	span := lr.SpanID()
	spanBytes := span[:]
	if span.IsEmpty() {
		spanBytes = nil
	}
	return e.raw(10, spanBytes) && e.strNonEmpty(12, lr.EventName())
}

// attributes writes m's entries as repeated KeyValue fields numbered num.
func (e *otlpEncoder) attributes(num protowire.Number, m pcommon.Map) bool {
	if m.Len() == 0 {
		return true
	}
	base := len(e.kvs)
	for k, v := range m.All() {
		e.kvs = append(e.kvs, otlpKV{k, v})
	}
	ok := true
	for i := len(e.kvs) - 1; ok && i >= base; i-- {
		kv := e.kvs[i]
		end := e.pos
		if ok = e.strNonEmpty(1, kv.k); !ok {
			break
		}
		valueEnd := e.pos
		ok = e.value(kv.v) && e.closeField(2, valueEnd) && e.closeField(num, end)
	}
	clear(e.kvs[base:])
	e.kvs = e.kvs[:base]
	return ok
}

// value writes an AnyValue's content.
func (e *otlpEncoder) value(v pcommon.Value) bool {
	switch v.Type() {
	case pcommon.ValueTypeEmpty:
		return true
	case pcommon.ValueTypeStr:
		return e.str(1, v.Str())
	case pcommon.ValueTypeBool:
		b := uint64(0)
		if v.Bool() {
			b = 1
		}
		return e.varintField(2, b)
	case pcommon.ValueTypeInt:
		return e.varintField(3, uint64(v.Int()))
	case pcommon.ValueTypeDouble:
		return e.fixed64(4, math.Float64bits(v.Double()))
	case pcommon.ValueTypeSlice:
		s := v.Slice()
		end := e.pos
		for i := s.Len() - 1; i >= 0; i-- {
			itemEnd := e.pos
			if !e.value(s.At(i)) || !e.closeField(1, itemEnd) {
				return false
			}
		}
		return e.closeField(5, end)
	case pcommon.ValueTypeMap:
		end := e.pos
		return e.attributes(1, v.Map()) && e.closeField(6, end)
	case pcommon.ValueTypeBytes:
		b := v.Bytes()
		n := b.Len()
		if !e.room(n) {
			return false
		}
		e.pos -= n
		for i, c := range b.All() {
			e.buf[e.pos+i] = c
		}
		return e.varint(uint64(n)) && e.tag(7, protowire.BytesType)
	default:
		return false
	}
}
