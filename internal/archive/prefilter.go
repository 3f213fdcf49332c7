package archive

import (
	"bytes"
	"errors"

	"google.golang.org/protobuf/encoding/protowire"
)

// Building pdata from a frame's protobuf is most of a full-text search's
// cost (allocating every record, attribute and string). The prefilter walks
// the decompressed OTLP bytes with protowire instead, and keeps only the
// records that may match the filter's body substring, time range and
// minimum severity; only those are then decoded and tested with the full
// Match. It never drops a record Match would keep: a record whose body is
// not a plain string (AsString renders maps, numbers and bytes), or that it
// cannot read, is kept.
//
// Field numbers are OTLP's (opentelemetry/proto/logs/v1/logs.proto and
// common/v1/common.proto), which are stable.
// The container fields (fieldResourceLogs, ...) are the leaf walk's
// (leaf.go).
const (
	fieldTime         = 1  // LogRecord.time_unix_nano, fixed64
	fieldSeverity     = 2  // LogRecord.severity_number, enum
	fieldBody         = 5  // LogRecord.body, AnyValue
	fieldObservedTime = 11 // LogRecord.observed_time_unix_nano, fixed64

	fieldStringValue = 1 // AnyValue.string_value; 1-7 are the oneof
	lastValueField   = 7
)

var errPrefilter = errors.New("not an OTLP logs request the prefilter can read")

// prefilter holds a matcher and the buffers it reuses between frames.
type prefilter struct {
	m               *matcher
	needle          []byte
	out, res, scope []byte
}

// usePrefilter reports whether f is worth prefiltering: a body substring,
// the filter that makes a query decode everything to keep little.
func (f *Filter) usePrefilter() bool { return f.Contains != "" }

// reduce returns a request holding only the records of raw that may match,
// with their resources and scopes, and how many records raw holds. all is
// set when every record may match (raw itself is to be decoded). An error
// means raw could not be walked; decode it whole.
func (p *prefilter) reduce(raw []byte) (reduced []byte, records uint64, all bool, err error) {
	p.out = p.out[:0]
	kept := uint64(0)
	for len(raw) > 0 {
		num, typ, n := protowire.ConsumeTag(raw)
		if n < 0 {
			return nil, 0, false, errPrefilter
		}
		raw = raw[n:]
		if num != fieldResourceLogs || typ != protowire.BytesType {
			if n = protowire.ConsumeFieldValue(num, typ, raw); n < 0 {
				return nil, 0, false, errPrefilter
			}
			raw = raw[n:]
			continue
		}
		rl, n := protowire.ConsumeBytes(raw)
		if n < 0 {
			return nil, 0, false, errPrefilter
		}
		raw = raw[n:]
		total, k, err := p.resourceLogs(rl)
		if err != nil {
			return nil, 0, false, err
		}
		records += total
		kept += k
	}
	return p.out, records, kept == records, nil
}

// resourceLogs appends to p.out the ResourceLogs rl with only its records
// that may match, unless it keeps none.
func (p *prefilter) resourceLogs(rl []byte) (total, kept uint64, err error) {
	p.res = p.res[:0] // rl's fields but scope_logs, then the kept scope logs
	var scopes [][]byte
	for b := rl; len(b) > 0; {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return 0, 0, errPrefilter
		}
		start := b
		b = b[n:]
		if n = protowire.ConsumeFieldValue(num, typ, b); n < 0 {
			return 0, 0, errPrefilter
		}
		field := start[:len(start)-len(b)+n]
		if num == fieldScopeLogs && typ == protowire.BytesType {
			sl, _ := protowire.ConsumeBytes(b)
			scopes = append(scopes, sl)
		} else {
			p.res = append(p.res, field...)
		}
		b = b[n:]
	}
	for _, sl := range scopes {
		t, k, err := p.scopeLogs(sl)
		if err != nil {
			return 0, 0, err
		}
		total += t
		kept += k
	}
	if kept > 0 {
		p.out = protowire.AppendTag(p.out, fieldResourceLogs, protowire.BytesType)
		p.out = protowire.AppendBytes(p.out, p.res)
	}
	return total, kept, nil
}

// scopeLogs appends to p.res the ScopeLogs sl with only its records that
// may match, unless it keeps none.
func (p *prefilter) scopeLogs(sl []byte) (total, kept uint64, err error) {
	p.scope = p.scope[:0]
	var records []byte
	for b := sl; len(b) > 0; {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return 0, 0, errPrefilter
		}
		start := b
		b = b[n:]
		if n = protowire.ConsumeFieldValue(num, typ, b); n < 0 {
			return 0, 0, errPrefilter
		}
		field := start[:len(start)-len(b)+n]
		if num == fieldLogRecords && typ == protowire.BytesType {
			total++
			lr, _ := protowire.ConsumeBytes(b)
			if p.mayMatch(lr) {
				kept++
				records = append(records, field...)
			}
		} else {
			p.scope = append(p.scope, field...)
		}
		b = b[n:]
	}
	if kept > 0 {
		p.res = protowire.AppendTag(p.res, fieldScopeLogs, protowire.BytesType)
		p.res = protowire.AppendVarint(p.res, uint64(len(p.scope)+len(records)))
		p.res = append(append(p.res, p.scope...), records...)
	}
	return total, kept, nil
}

// mayMatch reports whether a LogRecord may pass the matcher's time range,
// minimum severity and body substring; when unsure, it may.
func (p *prefilter) mayMatch(lr []byte) bool {
	var ts, observed uint64
	var severity int32
	var body []byte
	bodies := 0
	for len(lr) > 0 {
		num, typ, n := protowire.ConsumeTag(lr)
		if n < 0 {
			return true
		}
		lr = lr[n:]
		switch {
		case num == fieldTime && typ == protowire.Fixed64Type:
			ts, n = protowire.ConsumeFixed64(lr)
		case num == fieldObservedTime && typ == protowire.Fixed64Type:
			observed, n = protowire.ConsumeFixed64(lr)
		case num == fieldSeverity && typ == protowire.VarintType:
			var v uint64
			v, n = protowire.ConsumeVarint(lr)
			severity = int32(v)
		case num == fieldBody && typ == protowire.BytesType:
			body, n = protowire.ConsumeBytes(lr)
			bodies++
		default:
			n = protowire.ConsumeFieldValue(num, typ, lr)
		}
		if n < 0 {
			return true
		}
		lr = lr[n:]
	}
	m := p.m
	if m.since != 0 || m.until != 0 {
		t := int64(ts)
		if ts == 0 {
			t = int64(observed)
		}
		if (m.since != 0 && t < m.since) || (m.until != 0 && t >= m.until) {
			return false
		}
	}
	if m.f.MinSeverity != 0 && severity < int32(m.f.MinSeverity) {
		return false
	}
	if bodies > 1 {
		return true // merged messages: leave it to pdata
	}
	text, plain := stringValue(body)
	return !plain || bytes.Contains(text, p.needle)
}

// stringValue returns the string an AnyValue holds, and whether it holds
// exactly a string (or nothing, which renders as ""): the oneof field that
// comes last wins, as in protobuf.
func stringValue(v []byte) ([]byte, bool) {
	var text []byte
	last := protowire.Number(0)
	for len(v) > 0 {
		num, typ, n := protowire.ConsumeTag(v)
		if n < 0 {
			return nil, false
		}
		v = v[n:]
		switch {
		case num == fieldStringValue && typ != protowire.BytesType:
			return nil, false
		case num == fieldStringValue:
			text, n = protowire.ConsumeBytes(v)
		default:
			n = protowire.ConsumeFieldValue(num, typ, v)
		}
		if n < 0 {
			return nil, false
		}
		if num >= fieldStringValue && num <= lastValueField {
			last = num
		}
		v = v[n:]
	}
	return text, last == fieldStringValue || last == 0
}
