// Package record is the spool's payload format: a compact binary encoding of
// one log record with its resource and scope, and its decoding back into plog.
//
// The format is written for this receiver alone, not for interchange, so it
// carries only what stanza inputs produce: timestamps, severity, a body and
// attributes whose values are strings, integers, floats, booleans, bytes,
// maps and slices. Everything is length-prefixed with uvarints.
//
// A record is two parts (version 2). The shared part is what consecutive
// records of one input have in common, and the spool stores it once per
// frame group of a segment (its dictionary, see segfmt):
//
//	version(1)=2 scope(str) resource(bytes: map) attributes(map)
//
// The record's own part holds the rest, the observed time being the spool
// frame's:
//
//	head(uvarint) [ts(uvarint)] [severityText(str)] body
//
// head's bit 0 says a timestamp follows, bit 1 that the body is a string
// given as its length and bytes (a file line), else a value; head>>2 is 0
// for no severity text, 1 + the index of a text in KnownSeverityTexts, or
// len(KnownSeverityTexts)+1 when the text follows as a string.
//
// Version 1, which spools of earlier versions hold, is one part with
// everything inline, the observed time included:
//
//	version(1)=1 ts(uvarint) observed(uvarint) severity(1) severityText(str)
//	scope(str) resource(bytes: map) attributes(map) body(value)
//
// The resource is stored as one length-prefixed blob so the decoder can group
// consecutive records of the same resource by comparing bytes.
package record // import "github.com/fleetlog/fleetlog/receivers/spoolreceiver/internal/record"

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/fleetlog/fleetlog/internal/spoolstamp"
)

// Format versions: the first byte of a version 1 payload and of a version 2
// shared part.
const (
	version1 = 1
	version2 = 2
)

// KnownSeverityTexts are the severity texts a version 2 record stores as an
// index (the level sniffer's and stanza's syslog parser's): part of the
// format, so only ever extended at the end.
var KnownSeverityTexts = [...]string{
	"TRACE", "VERBOSE", "FINEST", "FINER", "FINE", "DEBUG", "INFO", "INFORMATION",
	"NOTICE", "WARN", "WARNING", "ERROR", "SEVERE", "CRITICAL", "ALERT", "FATAL",
	"PANIC", "EMERGENCY",
	"emerg", "alert", "crit", "err", "warning", "notice", "info", "debug",
}

// head bits of a version 2 record.
const (
	headTimestamp  = 1 << 0
	headBodyString = 1 << 1
	headSevShift   = 2
	sevLiteral     = uint64(len(KnownSeverityTexts) + 1)
)

// knownSeverity maps a known text to its code in head.
var knownSeverity = func() map[string]uint64 {
	m := make(map[string]uint64, len(KnownSeverityTexts))
	for i, t := range KnownSeverityTexts {
		m[t] = uint64(i + 1)
	}
	return m
}()

// maxDepth bounds nesting of maps and slices on both sides, so a hostile or
// damaged payload cannot exhaust the stack.
const maxDepth = 32

// Value tags.
const (
	tagNil byte = iota
	tagString
	tagInt
	tagDouble
	tagBool
	tagBytes
	tagMap
	tagSlice
)

var (
	// ErrVersion is returned for a payload of an unknown format version.
	ErrVersion = errors.New("record: unknown payload version")
	// ErrTruncated is returned for a payload that ends inside a field.
	ErrTruncated = errors.New("record: truncated payload")
	// ErrMalformed is returned for a payload with an invalid tag, length or nesting.
	ErrMalformed = errors.New("record: malformed payload")
)

// Entry is one log record to encode. Body holds a string, []byte, int64,
// float64, bool, map[string]any or []any (other integer widths are widened);
// BodyBytes, when non-nil, is used instead of Body and encoded as a string,
// which saves converting a file line to a string. Observed is the spool
// frame's time in version 2, and only encoded in version 1.
type Entry struct {
	Timestamp    int64 // Unix ns; 0 = unset
	Observed     int64 // Unix ns
	Severity     uint8 // plog.SeverityNumber
	SeverityText string
	Scope        string
	Resource     map[string]any
	Attributes   map[string]any
	Body         any
	BodyBytes    []byte
}

// AppendShared appends the shared part of e (version 2): its scope,
// resource and attributes.
func AppendShared(dst []byte, e *Entry) []byte {
	dst = append(dst, version2)
	dst = appendString(dst, e.Scope)
	dst = appendResource(dst, e.Resource)
	return appendMap(dst, e.Attributes, false, 0)
}

// AppendRecord appends the record's own part of e (version 2).
func AppendRecord(dst []byte, e *Entry) []byte {
	dst = AppendRecordHead(dst, e)
	if e.BodyBytes != nil {
		return append(dst, e.BodyBytes...)
	}
	return dst
}

// AppendRecordHead is AppendRecord without the bytes of e.BodyBytes, when
// set, which the caller appends (or has the spool append, so that a line is
// copied once on its way to disk).
func AppendRecordHead(dst []byte, e *Entry) []byte {
	var head uint64
	if e.Timestamp != 0 {
		head |= headTimestamp
	}
	if e.BodyBytes != nil {
		head |= headBodyString
	}
	sev, literal := uint64(0), false
	if e.SeverityText != "" {
		if sev = knownSeverity[e.SeverityText]; sev == 0 {
			sev, literal = sevLiteral, true
		}
	}
	dst = binary.AppendUvarint(dst, head|sev<<headSevShift)
	if e.Timestamp != 0 {
		dst = binary.AppendUvarint(dst, uint64(e.Timestamp))
	}
	if literal {
		dst = appendString(dst, e.SeverityText)
	}
	if e.BodyBytes != nil {
		return binary.AppendUvarint(dst, uint64(len(e.BodyBytes)))
	}
	return appendValue(dst, e.Body, 0)
}

// appendResource appends the resource as a length-prefixed blob; it
// reserves one byte and shifts when the blob needs a longer prefix (rare:
// resources are small).
func appendResource(dst []byte, res map[string]any) []byte {
	mark := len(dst)
	dst = append(dst, 0)
	dst = appendMap(dst, res, true, 0)
	n := len(dst) - mark - 1
	if n < 0x80 {
		dst[mark] = byte(n)
		return dst
	}
	var pfx [binary.MaxVarintLen64]byte
	p := binary.PutUvarint(pfx[:], uint64(n))
	dst = append(dst, pfx[:p-1]...)
	copy(dst[mark+p:], dst[mark+1:mark+1+n])
	copy(dst[mark:], pfx[:p])
	return dst
}

// AppendV1 appends e's encoding in version 1, which spools of earlier
// versions hold (tests make such payloads with it).
func AppendV1(dst []byte, e *Entry) []byte {
	dst = append(dst, version1)
	dst = binary.AppendUvarint(dst, uint64(e.Timestamp))
	dst = binary.AppendUvarint(dst, uint64(e.Observed))
	dst = append(dst, e.Severity)
	dst = appendString(dst, e.SeverityText)
	dst = appendString(dst, e.Scope)

	dst = appendResource(dst, e.Resource)
	dst = appendMap(dst, e.Attributes, false, 0)
	if e.BodyBytes != nil {
		dst = append(dst, tagString)
		dst = binary.AppendUvarint(dst, uint64(len(e.BodyBytes)))
		return append(dst, e.BodyBytes...)
	}
	return appendValue(dst, e.Body, 0)
}

func appendString(dst []byte, s string) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(s)))
	return append(dst, s...)
}

// appendMap encodes m; sorted orders keys so equal maps encode to equal bytes
// (needed for the resource, which the decoder compares).
func appendMap(dst []byte, m map[string]any, sorted bool, depth int) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(m)))
	if sorted && len(m) > 1 {
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			dst = appendString(dst, k)
			dst = appendValue(dst, m[k], depth+1)
		}
		return dst
	}
	for k, v := range m {
		dst = appendString(dst, k)
		dst = appendValue(dst, v, depth+1)
	}
	return dst
}

func appendValue(dst []byte, v any, depth int) []byte {
	if depth >= maxDepth {
		return appendString(append(dst, tagString), "<nested too deep>")
	}
	switch x := v.(type) {
	case nil:
		return append(dst, tagNil)
	case string:
		return appendString(append(dst, tagString), x)
	case []byte:
		dst = append(dst, tagBytes)
		dst = binary.AppendUvarint(dst, uint64(len(x)))
		return append(dst, x...)
	case bool:
		if x {
			return append(dst, tagBool, 1)
		}
		return append(dst, tagBool, 0)
	case int:
		return binary.AppendVarint(append(dst, tagInt), int64(x))
	case int8:
		return binary.AppendVarint(append(dst, tagInt), int64(x))
	case int16:
		return binary.AppendVarint(append(dst, tagInt), int64(x))
	case int32:
		return binary.AppendVarint(append(dst, tagInt), int64(x))
	case int64:
		return binary.AppendVarint(append(dst, tagInt), x)
	case uint:
		return binary.AppendVarint(append(dst, tagInt), int64(x))
	case uint8:
		return binary.AppendVarint(append(dst, tagInt), int64(x))
	case uint16:
		return binary.AppendVarint(append(dst, tagInt), int64(x))
	case uint32:
		return binary.AppendVarint(append(dst, tagInt), int64(x))
	case uint64:
		return binary.AppendVarint(append(dst, tagInt), int64(x))
	case float32:
		return binary.LittleEndian.AppendUint64(append(dst, tagDouble), math.Float64bits(float64(x)))
	case float64:
		return binary.LittleEndian.AppendUint64(append(dst, tagDouble), math.Float64bits(x))
	case time.Time:
		return appendString(append(dst, tagString), x.UTC().Format(time.RFC3339Nano))
	case map[string]any:
		return appendMap(append(dst, tagMap), x, false, depth)
	case map[string]string:
		dst = append(dst, tagMap)
		dst = binary.AppendUvarint(dst, uint64(len(x)))
		for k, s := range x {
			dst = appendString(dst, k)
			dst = appendString(append(dst, tagString), s)
		}
		return dst
	case []any:
		dst = append(dst, tagSlice)
		dst = binary.AppendUvarint(dst, uint64(len(x)))
		for _, e := range x {
			dst = appendValue(dst, e, depth+1)
		}
		return dst
	case []string:
		dst = append(dst, tagSlice)
		dst = binary.AppendUvarint(dst, uint64(len(x)))
		for _, s := range x {
			dst = appendString(append(dst, tagString), s)
		}
		return dst
	default:
		return appendString(append(dst, tagString), fmt.Sprint(x))
	}
}

// Decoder turns payloads into plog.Logs, grouping consecutive records that
// share a resource and scope into one ResourceLogs / ScopeLogs.
type Decoder struct {
	// strs interns attribute keys and short attribute values, which repeat
	// from record to record (file names, host names, app names).
	strs     map[string]string
	logs     plog.Logs
	resource []byte
	scope    string
	sl       plog.ScopeLogs
	spoolID  string // the identity on sl's scope, if stamped
	started  bool
	// shared is the last shared part found well-formed: records of one
	// input repeat it, so it is checked once, and its attributes are
	// decoded once, into attrs, which each of its records gets a copy of.
	shared []byte
	attrs  pcommon.Map
	// expect is how many records the caller said it decodes into this
	// plog.Logs, count how many it did: the first ScopeLogs makes room for
	// them at once.
	expect, count int
}

// NewDecoder returns a Decoder that appends into a fresh plog.Logs.
func NewDecoder() *Decoder {
	return &Decoder{logs: plog.NewLogs(), strs: map[string]string{}}
}

// Logs returns what was decoded so far and starts a new plog.Logs.
func (d *Decoder) Logs() plog.Logs {
	l := d.logs
	*d = Decoder{logs: plog.NewLogs(), strs: d.strs, shared: d.shared, attrs: d.attrs}
	return l
}

// Expect says that about n records follow until Logs, so that the record
// slices are made once at their size rather than grown.
func (d *Decoder) Expect(n int) { d.expect = n }

// Spooled is a record as the spool gives it back: the two parts of a
// version 2 record (Shared empty: Payload is a version 1 record) and what
// the spool frame holds of it.
type Spooled struct {
	Shared, Payload []byte
	// Observed is the frame's time (Unix ns) and Severity its severity;
	// a version 1 payload holds its own.
	Observed int64
	Severity uint8
}

// Decode appends the record. On error nothing is appended.
func (d *Decoder) Decode(in Spooled) error { return d.decode(in, "", 0) }

// DecodeStamped is Decode that also stamps the record in spoolstamp's
// compact form: its sequence number seq on the record, replacing an
// attribute of that name and removing a spool identity the record had, and
// the spool's identity on the scope of the ScopeLogs it lands in (records of
// different identities never share one).
func (d *Decoder) DecodeStamped(in Spooled, spoolID string, seq uint64) error {
	return d.decode(in, spoolID, seq)
}

func (d *Decoder) decode(in Spooled, spoolID string, seq uint64) error {
	if len(in.Shared) == 0 {
		return d.decodeV1(in.Payload, spoolID, seq)
	}
	sh := reader{b: in.Shared}
	if v := sh.byte(); v != version2 {
		return fmt.Errorf("%w: %d", ErrVersion, v)
	}
	scope := sh.bytes()
	res := sh.bytes()
	if sh.err != nil {
		return sh.err
	}
	if len(d.shared) == 0 || !bytes.Equal(in.Shared, d.shared) {
		// Decoded into a map of its own first: a malformed part appends
		// nothing to the output.
		attrs := pcommon.NewMap()
		ar := reader{b: sh.b, strs: d.strs}
		ar.mapInto(attrs, 0)
		if ar.err == nil && len(ar.b) != 0 {
			ar.err = fmt.Errorf("%w: %d trailing bytes", ErrMalformed, len(ar.b))
		}
		if ar.err != nil {
			d.shared = d.shared[:0]
			return ar.err
		}
		d.shared = append(d.shared[:0], in.Shared...)
		d.attrs = attrs
	}

	r := reader{b: in.Payload}
	head := r.uvarint()
	var ts uint64
	if head&headTimestamp != 0 {
		ts = r.uvarint()
	}
	var sevText []byte
	known := ""
	switch code := head >> headSevShift; {
	case code == sevLiteral:
		sevText = r.bytes()
	case code > sevLiteral:
		r.fail(fmt.Errorf("%w: severity text code %d", ErrMalformed, code))
	case code > 0:
		known = KnownSeverityTexts[code-1]
	}
	var body []byte
	bodyString := head&headBodyString != 0
	if bodyString {
		body = r.bytes()
	} else {
		v := r
		v.skipValue(0)
		if v.err != nil {
			return v.err
		}
		body = r.b[:len(r.b)-len(v.b)]
		r.b = v.b
	}
	if r.err == nil && len(r.b) != 0 {
		r.fail(fmt.Errorf("%w: %d trailing bytes", ErrMalformed, len(r.b)))
	}
	if r.err != nil {
		return r.err
	}
	resAttrs, newResource, err := d.resourceOf(res)
	if err != nil {
		return err
	}
	out := d.next(resAttrs, newResource, res, scope, spoolID)
	if n := d.attrs.Len(); n > 0 || spoolID != "" {
		// Room for the stamp too, so that adding it does not grow the map
		// again (CopyTo keeps the capacity it finds).
		if spoolID != "" {
			n++
		}
		out.Attributes().EnsureCapacity(n)
		d.attrs.CopyTo(out.Attributes())
	}
	if spoolID != "" {
		spoolstamp.StampSeq(out.Attributes(), seq)
	}
	if bodyString {
		out.Body().SetStr(string(body))
	} else {
		br := reader{b: body}
		br.valueInto(out.Body(), 0)
	}
	out.SetTimestamp(pcommon.Timestamp(ts))
	out.SetObservedTimestamp(pcommon.Timestamp(in.Observed))
	out.SetSeverityNumber(plog.SeverityNumber(in.Severity))
	switch {
	case known != "":
		out.SetSeverityText(known)
	case len(sevText) > 0:
		out.SetSeverityText(intern(d.internTable(), sevText))
	}
	return nil
}

// internTable returns the string cache, emptied when it grew too large.
func (d *Decoder) internTable() map[string]string {
	if len(d.strs) > maxInterned {
		clear(d.strs)
	}
	return d.strs
}

// resourceOf decodes the resource blob res when it differs from the last
// record's (newResource).
func (d *Decoder) resourceOf(res []byte) (attrs pcommon.Map, newResource bool, err error) {
	if d.started && slices.Equal(res, d.resource) {
		return pcommon.Map{}, false, nil
	}
	attrs = pcommon.NewMap()
	rr := reader{b: res}
	rr.mapInto(attrs, 0)
	if rr.err == nil && len(rr.b) != 0 {
		rr.err = ErrMalformed
	}
	if rr.err != nil {
		return pcommon.Map{}, false, rr.err
	}
	return attrs, true, nil
}

// next appends a log record in the ScopeLogs of resource res and scope,
// starting a ResourceLogs or ScopeLogs when they differ from the last
// record's.
func (d *Decoder) next(resAttrs pcommon.Map, newResource bool, res, scope []byte, spoolID string) plog.LogRecord {
	if newResource {
		rl := d.logs.ResourceLogs().AppendEmpty()
		resAttrs.MoveTo(rl.Resource().Attributes())
		d.sl = rl.ScopeLogs().AppendEmpty()
		d.scope = string(scope)
		d.sl.Scope().SetName(d.scope)
		d.resource = append(d.resource[:0], res...)
		d.started = true
		d.spoolID = ""
	} else if string(scope) != d.scope || spoolID != d.spoolID {
		rl := d.logs.ResourceLogs().At(d.logs.ResourceLogs().Len() - 1)
		d.sl = rl.ScopeLogs().AppendEmpty()
		d.scope = string(scope)
		d.sl.Scope().SetName(d.scope)
		d.spoolID = ""
	}
	if spoolID != "" && d.spoolID == "" {
		spoolstamp.StampScope(d.sl.Scope().Attributes(), spoolID)
		d.spoolID = spoolID
	}
	if len(d.strs) > maxInterned {
		clear(d.strs)
	}
	lrs := d.sl.LogRecords()
	if d.count == 0 && d.expect > 0 {
		// Only for the first ScopeLogs: records of one input, the common
		// case, share one; where they alternate, sizing every ScopeLogs
		// for the rest would take far more than it saves.
		lrs.EnsureCapacity(d.expect)
	}
	d.count++
	return lrs.AppendEmpty()
}

// decodeV1 decodes a version 1 payload.
func (d *Decoder) decodeV1(p []byte, spoolID string, seq uint64) error {
	r := reader{b: p}
	if v := r.byte(); v != version1 {
		if r.err != nil {
			return r.err
		}
		return fmt.Errorf("%w: %d", ErrVersion, v)
	}
	ts := r.uvarint()
	obs := r.uvarint()
	sev := r.byte()
	sevText := r.bytes()
	scope := r.bytes() // compared as bytes: a string per record would allocate
	res := r.bytes()
	if r.err != nil {
		return r.err
	}
	resAttrs, newResource, err := d.resourceOf(res)
	if err != nil {
		return err
	}
	// Check the rest of the payload before touching the output, so a
	// malformed record appends nothing (decoding twice only on this path
	// would cost more than the check: it walks without allocating).
	if err := validateTail(r); err != nil {
		return err
	}
	out := d.next(resAttrs, newResource, res, scope, spoolID)
	r.strs = d.strs
	if spoolID != "" {
		r.extra = 1
	}
	r.mapInto(out.Attributes(), 0)
	if spoolID != "" {
		spoolstamp.StampSeq(out.Attributes(), seq)
	}
	r.valueInto(out.Body(), 0)
	out.SetTimestamp(pcommon.Timestamp(ts))
	out.SetObservedTimestamp(pcommon.Timestamp(obs))
	out.SetSeverityNumber(plog.SeverityNumber(sev))
	if len(sevText) > 0 {
		// A handful of texts repeat over every record ("INFO", "ERROR").
		out.SetSeverityText(intern(r.strs, sevText))
	}
	return r.err
}

// validateTail walks the attributes and body of r (a copy) without building
// anything and reports whether they decode completely.
func validateTail(r reader) error {
	r.skipMap(0)
	r.skipValue(0)
	if r.err != nil {
		return r.err
	}
	if len(r.b) != 0 {
		return fmt.Errorf("%w: %d trailing bytes", ErrMalformed, len(r.b))
	}
	return nil
}

func (r *reader) skipMap(depth int) {
	if depth > maxDepth {
		r.fail(ErrMalformed)
		return
	}
	n := r.count()
	for i := 0; i < n && r.err == nil; i++ {
		r.bytes()
		r.skipValue(depth + 1)
	}
}

func (r *reader) skipValue(depth int) {
	if depth > maxDepth {
		r.fail(ErrMalformed)
		return
	}
	switch tag := r.byte(); tag {
	case tagNil:
	case tagString, tagBytes:
		r.bytes()
	case tagInt:
		r.varint()
	case tagDouble:
		if len(r.b) < 8 {
			r.fail(ErrTruncated)
			return
		}
		r.b = r.b[8:]
	case tagBool:
		r.byte()
	case tagMap:
		r.skipMap(depth)
	case tagSlice:
		n := r.count()
		for i := 0; i < n && r.err == nil; i++ {
			r.skipValue(depth + 1)
		}
	default:
		if r.err == nil {
			r.fail(fmt.Errorf("%w: value tag %d", ErrMalformed, tag))
		}
	}
}

// maxInterned bounds the Decoder's string cache.
const (
	maxInterned    = 4096
	maxInternedLen = 256
)

// reader walks a payload; the first error sticks and later reads return zero values.
type reader struct {
	b    []byte
	err  error
	strs map[string]string // nil: no interning
	// extra is room for attributes the caller adds to the top map (the
	// stamp), so that adding them does not grow it again.
	extra int
}

// interned returns a string for an attribute key or value, shared with
// earlier records when it repeats.
func (r *reader) interned() string {
	return intern(r.strs, r.bytes())
}

// intern returns b as a string, the one in strs if it is there (nil strs:
// no interning).
func intern(strs map[string]string, b []byte) string {
	if strs == nil || len(b) > maxInternedLen {
		return string(b)
	}
	if s, ok := strs[string(b)]; ok {
		return s
	}
	s := string(b)
	strs[s] = s
	return s
}

func (r *reader) fail(err error) {
	if r.err == nil {
		r.err = err
	}
	r.b = nil
}

func (r *reader) byte() byte {
	if r.err != nil {
		return 0
	}
	if len(r.b) < 1 {
		r.fail(ErrTruncated)
		return 0
	}
	v := r.b[0]
	r.b = r.b[1:]
	return v
}

func (r *reader) uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.fail(ErrTruncated)
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) varint() int64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Varint(r.b)
	if n <= 0 {
		r.fail(ErrTruncated)
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) bytes() []byte {
	n := r.uvarint()
	if r.err != nil {
		return nil
	}
	if n > uint64(len(r.b)) {
		r.fail(ErrTruncated)
		return nil
	}
	v := r.b[:n:n]
	r.b = r.b[n:]
	return v
}

func (r *reader) str() string { return string(r.bytes()) }

// count reads an element count and rejects one that cannot fit in the rest
// of the payload (every element takes at least one byte), so a bad count
// cannot make the decoder allocate or loop far beyond the input.
func (r *reader) count() int {
	n := r.uvarint()
	if r.err == nil && n > uint64(len(r.b)) {
		r.fail(ErrMalformed)
		return 0
	}
	return int(n)
}

func (r *reader) mapInto(m pcommon.Map, depth int) {
	if depth > maxDepth {
		r.fail(ErrMalformed)
		return
	}
	n := r.count()
	if depth == 0 {
		m.EnsureCapacity(n + r.extra)
	} else {
		m.EnsureCapacity(n)
	}
	for i := 0; i < n && r.err == nil; i++ {
		k := r.interned()
		v := m.PutEmpty(k)
		if len(r.b) > 0 && r.b[0] == tagString {
			r.b = r.b[1:]
			v.SetStr(r.interned())
			continue
		}
		r.valueInto(v, depth+1)
	}
}

func (r *reader) valueInto(v pcommon.Value, depth int) {
	if depth > maxDepth {
		r.fail(ErrMalformed)
		return
	}
	switch tag := r.byte(); tag {
	case tagNil:
	case tagString:
		v.SetStr(r.str())
	case tagInt:
		v.SetInt(r.varint())
	case tagDouble:
		if len(r.b) < 8 {
			r.fail(ErrTruncated)
			return
		}
		v.SetDouble(math.Float64frombits(binary.LittleEndian.Uint64(r.b)))
		r.b = r.b[8:]
	case tagBool:
		v.SetBool(r.byte() != 0)
	case tagBytes:
		v.SetEmptyBytes().FromRaw(r.bytes())
	case tagMap:
		r.mapInto(v.SetEmptyMap(), depth)
	case tagSlice:
		s := v.SetEmptySlice()
		n := r.count()
		s.EnsureCapacity(n)
		for i := 0; i < n && r.err == nil; i++ {
			r.valueInto(s.AppendEmpty(), depth+1)
		}
	default:
		if r.err == nil {
			r.fail(fmt.Errorf("%w: value tag %d", ErrMalformed, tag))
		}
	}
}
