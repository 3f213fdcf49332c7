// Package fleetload simulates a fleet of agents sending OTLP/gRPC to a
// gateway: pre-encoded requests in the shape an agent sends (its resource
// attributes, the spool's stamp in its compact form, the file attributes),
// a device loop that batches as the agent's spool does, and a latency
// histogram.
//
// Requests are built from bytes encoded once: a pool of log records and each
// device's resource. Building a request copies a run of the pool and patches
// the fixed-width fields that differ per send (the spool identity on the
// scope, each record's sequence number and observed time), so the simulator
// spends its CPU on TLS and gRPC, as a real agent's exporter would, rather
// than on protobuf.
package fleetload

import (
	"encoding/binary"
	"fmt"
	"strings"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/fleetlog/fleetlog/bench/internal/workload"
	"github.com/fleetlog/fleetlog/internal/spoolstamp"
)

// Field numbers of the OTLP logs protocol (opentelemetry/proto/logs/v1,
// common/v1, collector/logs/v1).
const (
	fRequestResourceLogs = 1
	fResourceLogsRes     = 1
	fResourceLogsScope   = 2
	fResourceAttributes  = 1
	fScopeLogsScope      = 1
	fScopeLogsRecords    = 2
	fScopeName           = 1
	fScopeVersion        = 2
	fScopeAttributes     = 3
	fRecordSevNumber     = 2
	fRecordSevText       = 3
	fRecordBody          = 5
	fRecordAttributes    = 6
	fRecordObserved      = 11
	fKeyValueKey         = 1
	fKeyValueValue       = 2
	fAnyString           = 1
	fAnyInt              = 3
)

// seqWidth is the width of the patched sequence number: a varint padded to
// the longest form (protobuf decoders accept non-minimal varints), so any
// uint64 fits in place.
const seqWidth = binary.MaxVarintLen64

// Attribute values every record carries, as the agent's file input sets them.
const (
	FileName = "app.log"
	FilePath = "/var/log/fleetlog/app.log"
)

// Pool is a run of encoded log records (each with its field tag) from the
// benchmark workload, and where in each record the per-send fields are.
type Pool struct {
	buf []byte
	// off[i] is where record i starts in buf (its tag); off[len] = len(buf).
	off []int
	// Offsets inside record i, from its start.
	seqAt, obsAt []int
	pii          int
	// scope is the ScopeLogs.scope field, with the spool identity at
	// scopeIDAt.
	scope     []byte
	scopeIDAt int
}

// NewPool encodes n lines of workload seed.
func NewPool(seed uint64, n int) *Pool {
	g := workload.New(seed)
	p := &Pool{off: make([]int, 0, n+1)}
	line := make([]byte, 0, 256)
	placeholderID := strings.Repeat("0", spoolstamp.IDLen)
	for range n {
		var isPII bool
		line, isPII = g.Next(line[:0])
		if isPII {
			p.pii++
		}
		var rec []byte
		sevNum, sevText := uint64(9), "INFO" // SEVERITY_NUMBER_INFO
		rec = protowire.AppendTag(rec, fRecordObserved, protowire.Fixed64Type)
		obs := len(rec)
		rec = protowire.AppendFixed64(rec, 0)
		rec = protowire.AppendTag(rec, fRecordSevNumber, protowire.VarintType)
		rec = protowire.AppendVarint(rec, sevNum)
		rec = protowire.AppendTag(rec, fRecordSevText, protowire.BytesType)
		rec = protowire.AppendString(rec, sevText)
		rec = protowire.AppendTag(rec, fRecordBody, protowire.BytesType)
		rec = protowire.AppendBytes(rec, anyString(nil, string(line)))
		rec = appendKV(rec, fRecordAttributes, "log.file.name", anyString(nil, FileName))
		rec = appendKV(rec, fRecordAttributes, "log.file.path", anyString(nil, FilePath))
		// The stamp's compact form, as the agent's spool writes it: only
		// the sequence number on the record, the identity on the scope.
		// The padded seq is the last bytes of its attribute, so its offset
		// is known.
		rec = appendKV(rec, fRecordAttributes, spoolstamp.SeqAttribute, anyPaddedInt(nil, 1))
		seq := len(rec) - seqWidth

		start := len(p.buf)
		p.off = append(p.off, start)
		p.buf = protowire.AppendTag(p.buf, fScopeLogsRecords, protowire.BytesType)
		p.buf = protowire.AppendVarint(p.buf, uint64(len(rec)))
		head := len(p.buf) - start
		p.buf = append(p.buf, rec...)
		p.seqAt = append(p.seqAt, head+seq)
		p.obsAt = append(p.obsAt, head+obs)
	}
	p.off = append(p.off, len(p.buf))
	p.scope = protowire.AppendTag(nil, fScopeLogsScope, protowire.BytesType)
	var sc []byte
	sc = protowire.AppendTag(sc, fScopeName, protowire.BytesType)
	sc = protowire.AppendString(sc, "github.com/fleetlog/fleetlog/receivers/spoolreceiver")
	sc = protowire.AppendTag(sc, fScopeVersion, protowire.BytesType)
	sc = protowire.AppendString(sc, "0.1.0")
	// The id's 32 characters are the last bytes of the scope.
	sc = appendKV(sc, fScopeAttributes, spoolstamp.IDAttribute, anyString(nil, placeholderID))
	p.scope = protowire.AppendBytes(p.scope, sc)
	p.scopeIDAt = len(p.scope) - spoolstamp.IDLen
	return p
}

// Len is the number of records in the pool.
func (p *Pool) Len() int { return len(p.off) - 1 }

// PII is how many of the pool's records carry PII or a secret.
func (p *Pool) PII() int { return p.pii }

// Resource is a device's encoded resource (the ResourceLogs.resource field).
type Resource []byte

// NewResource encodes what an agent's fleet_metadata stamps on a device's
// resource.
func NewResource(deviceID, fleet, site string) Resource {
	var attrs []byte
	for _, kv := range [][2]string{
		{"device.id", deviceID}, {"fleet.name", fleet}, {"fleet.site", site},
		{"host.name", deviceID}, {"os.type", "linux"}, {"host.arch", "amd64"},
		{"device.firmware.version", "4.2.1"}, {"fleetlog.agent.version", "0.1.0"},
	} {
		attrs = appendKV(attrs, fResourceAttributes, kv[0], anyString(nil, kv[1]))
	}
	r := protowire.AppendTag(nil, fResourceLogsRes, protowire.BytesType)
	return protowire.AppendBytes(r, attrs)
}

// Build appends to dst an ExportLogsServiceRequest with records
// [start, start+n) of the pool under res, stamped with spool id and the
// sequence numbers seq0, seq0+1, ..., observed at observedNanos.
func (p *Pool) Build(dst []byte, res Resource, start, n int, id string, seq0 uint64, observedNanos uint64) ([]byte, error) {
	if start < 0 || n <= 0 || start+n > p.Len() {
		return dst, fmt.Errorf("records [%d, %d) outside the pool of %d", start, start+n, p.Len())
	}
	if len(id) != spoolstamp.IDLen {
		return dst, fmt.Errorf("spool id %q is not %d characters", id, spoolstamp.IDLen)
	}
	recs := p.buf[p.off[start]:p.off[start+n]]
	scopeLen := len(p.scope) + len(recs)
	rlLen := len(res) + protowire.SizeTag(fResourceLogsScope) + protowire.SizeVarint(uint64(scopeLen)) + scopeLen
	dst = protowire.AppendTag(dst, fRequestResourceLogs, protowire.BytesType)
	dst = protowire.AppendVarint(dst, uint64(rlLen))
	dst = append(dst, res...)
	dst = protowire.AppendTag(dst, fResourceLogsScope, protowire.BytesType)
	dst = protowire.AppendVarint(dst, uint64(scopeLen))
	at := len(dst)
	dst = append(dst, p.scope...)
	copy(dst[at+p.scopeIDAt:], id)
	base := len(dst) - p.off[start]
	dst = append(dst, recs...)
	for i := start; i < start+n; i++ {
		r := base + p.off[i]
		putPaddedVarint(dst[r+p.seqAt[i]:], seq0+uint64(i-start))
		binary.LittleEndian.PutUint64(dst[r+p.obsAt[i]:], observedNanos)
	}
	return dst, nil
}

func anyString(b []byte, s string) []byte {
	b = protowire.AppendTag(b, fAnyString, protowire.BytesType)
	return protowire.AppendString(b, s)
}

func anyPaddedInt(b []byte, v uint64) []byte {
	b = protowire.AppendTag(b, fAnyInt, protowire.VarintType)
	b = append(b, make([]byte, seqWidth)...)
	putPaddedVarint(b[len(b)-seqWidth:], v)
	return b
}

func appendKV(b []byte, field protowire.Number, key string, value []byte) []byte {
	var kv []byte
	kv = protowire.AppendTag(kv, fKeyValueKey, protowire.BytesType)
	kv = protowire.AppendString(kv, key)
	kv = protowire.AppendTag(kv, fKeyValueValue, protowire.BytesType)
	kv = protowire.AppendBytes(kv, value)
	b = protowire.AppendTag(b, field, protowire.BytesType)
	return protowire.AppendBytes(b, kv)
}

// putPaddedVarint writes v as a varint of exactly seqWidth bytes.
func putPaddedVarint(b []byte, v uint64) {
	for i := range seqWidth - 1 {
		b[i] = byte(v>>(7*i))&0x7f | 0x80
	}
	b[seqWidth-1] = byte(v >> (7 * (seqWidth - 1)))
}
