package archive

import (
	"crypto/sha256"
	"errors"
	"fmt"

	"github.com/klauspost/compress/zstd"
	"go.opentelemetry.io/collector/pdata/plog"
	"google.golang.org/protobuf/encoding/protowire"
)

// The Merkle tree's leaves are the archive's records, one leaf per record, in
// frame order. A record's leaf data is a standalone OTLP
// ExportLogsServiceRequest holding that record alone, with its resource and
// scope:
//
//	resource_logs {            // field 1
//	  <the ResourceLogs' fields other than scope_logs, as encoded in the frame>
//	  scope_logs {             // field 2
//	    <the ScopeLogs' fields other than log_records, as encoded in the frame>
//	    log_records { <the record's bytes, as encoded in the frame> }  // field 2
//	  }
//	}
//
// and its leaf hash is RFC 6962's SHA-256(0x00 || leaf data). The bytes are
// cut from the frame's own protobuf encoding, so they are hashed as a frame is
// built, with no second encoding, and anyone can decode a leaf with any OTLP
// library.

// OTLP field numbers the leaf walk needs.
const (
	fieldResourceLogs = 1 // ExportLogsServiceRequest.resource_logs
	fieldScopeLogs    = 2 // ResourceLogs.scope_logs
	fieldLogRecords   = 2 // ScopeLogs.log_records
)

// errBadOTLP means frame bytes that are not an OTLP logs request.
var errBadOTLP = errors.New("not an OTLP logs request")

// leafSink receives the parts of one record's leaf data, in order.
type leafSink func(rlOther, slOther [][]byte, record []byte) error

// otherFields appends to dst every field of msg but those numbered skip.
func otherFields(msg []byte, skip protowire.Number, dst [][]byte) ([][]byte, error) {
	err := eachField(msg, func(num protowire.Number, field, _ []byte) error {
		if num != skip {
			dst = append(dst, field)
		}
		return nil
	})
	return dst, err
}

// walkLeaves calls sink with the parts of every record of the encoded
// ExportLogsServiceRequest raw, in order. The slices alias raw.
func walkLeaves(raw []byte, sink leafSink) error {
	var sc leafScratch
	return sc.walk(raw, sink)
}

// leafScratch is walkLeaves' lists of parts, kept for the next walk.
type leafScratch struct {
	rlOther, slOther [][]byte
}

func (sc *leafScratch) walk(raw []byte, sink leafSink) error {
	rlOther, slOther := sc.rlOther[:0], sc.slOther[:0]
	defer func() {
		// Drop the references into raw.
		clear(rlOther)
		clear(slOther)
		sc.rlOther, sc.slOther = rlOther[:0], slOther[:0]
	}()
	return eachField(raw, func(num protowire.Number, field, rl []byte) error {
		if num != fieldResourceLogs {
			return nil
		}
		var err error
		if rlOther, err = otherFields(rl, fieldScopeLogs, rlOther[:0]); err != nil {
			return err
		}
		return eachField(rl, func(num protowire.Number, _, sl []byte) error {
			if num != fieldScopeLogs {
				return nil
			}
			var err error
			if slOther, err = otherFields(sl, fieldLogRecords, slOther[:0]); err != nil {
				return err
			}
			return eachField(sl, func(num protowire.Number, _, lr []byte) error {
				if num != fieldLogRecords {
					return nil
				}
				return sink(rlOther, slOther, lr)
			})
		})
	})
}

// eachField calls fn with every field of the protobuf message msg: its
// number, its whole encoding (tag included) and, for a length-delimited
// field, its content (nil otherwise).
func eachField(msg []byte, fn func(num protowire.Number, field, content []byte) error) error {
	for len(msg) > 0 {
		num, typ, n := protowire.ConsumeTag(msg)
		if n < 0 {
			return fmt.Errorf("%w: %w", errBadOTLP, protowire.ParseError(n))
		}
		var content []byte
		var m int
		if typ == protowire.BytesType {
			content, m = protowire.ConsumeBytes(msg[n:])
		} else {
			m = protowire.ConsumeFieldValue(num, typ, msg[n:])
		}
		if m < 0 {
			return fmt.Errorf("%w: %w", errBadOTLP, protowire.ParseError(m))
		}
		if err := fn(num, msg[:n+m], content); err != nil {
			return err
		}
		msg = msg[n+m:]
	}
	return nil
}

func partsLen(parts [][]byte) int {
	n := 0
	for _, p := range parts {
		n += len(p)
	}
	return n
}

// leafHeaders returns the three length-delimited headers of a leaf: the
// resource_logs, scope_logs and log_records tags and lengths.
func leafHeaders(buf []byte, rlOther, slOther [][]byte, record []byte) (rlH, slH, lrH []byte) {
	lrLen := len(record)
	slLen := partsLen(slOther) + protowire.SizeTag(fieldLogRecords) + protowire.SizeBytes(lrLen)
	rlLen := partsLen(rlOther) + protowire.SizeTag(fieldScopeLogs) + protowire.SizeBytes(slLen)
	buf = protowire.AppendTag(buf[:0], fieldResourceLogs, protowire.BytesType)
	buf = protowire.AppendVarint(buf, uint64(rlLen))
	a := len(buf)
	buf = protowire.AppendTag(buf, fieldScopeLogs, protowire.BytesType)
	buf = protowire.AppendVarint(buf, uint64(slLen))
	b := len(buf)
	buf = protowire.AppendTag(buf, fieldLogRecords, protowire.BytesType)
	buf = protowire.AppendVarint(buf, uint64(lrLen))
	return buf[:a], buf[a:b], buf[b:]
}

// leafHasher computes leaf hashes. It assembles each leaf in a scratch
// buffer and hashes it in one call, which costs less than feeding a hash the
// pieces.
type leafHasher struct {
	buf []byte
	sc  leafScratch
}

func newLeafHasher() *leafHasher { return &leafHasher{buf: make([]byte, 0, 1024)} }

// appendLeaves appends the leaf hash of every record of raw to dst and
// returns it with the number of records.
func (lh *leafHasher) appendLeaves(dst []byte, raw []byte) ([]byte, int, error) {
	n := 0
	var hdr [32]byte
	err := lh.sc.walk(raw, func(rlOther, slOther [][]byte, record []byte) error {
		rlH, slH, lrH := leafHeaders(hdr[:0], rlOther, slOther, record)
		b := append(lh.buf[:0], 0) // RFC 6962 leaf prefix
		b = append(b, rlH...)
		for _, p := range rlOther {
			b = append(b, p...)
		}
		b = append(b, slH...)
		for _, p := range slOther {
			b = append(b, p...)
		}
		b = append(append(b, lrH...), record...)
		lh.buf = b
		sum := sha256.Sum256(b)
		dst = append(dst, sum[:]...)
		n++
		return nil
	})
	return dst, n, err
}

// leafData returns the leaf data of every record of raw, assembled.
func leafData(raw []byte) ([][]byte, error) {
	var out [][]byte
	var hdr [32]byte
	err := walkLeaves(raw, func(rlOther, slOther [][]byte, record []byte) error {
		rlH, slH, lrH := leafHeaders(hdr[:0], rlOther, slOther, record)
		var b []byte
		b = append(b, rlH...)
		for _, p := range rlOther {
			b = append(b, p...)
		}
		b = append(b, slH...)
		for _, p := range slOther {
			b = append(b, p...)
		}
		b = append(append(b, lrH...), record...)
		out = append(out, b)
		return nil
	})
	return out, err
}

// parallelHashBytes is the group size from which the writer folds the
// leaves into the tree while the fsync runs rather than before it.
const parallelHashBytes = 64 << 10

// selfCompressBytes is the OTLP size from which an append compresses its
// part itself, into a frame of its own, rather than leave it to the group
// writer to compress with the other appends of its frame (commit.go): a part
// that large could not share a frame anyway (maxFrameRaw), and compressing
// it beside the hashing keeps it off the writer's lock. Below it joining
// pays at every size: device records compressed 400 to a frame took 1.4
// times the CPU and 1.4 times the bytes of the same compressed 4,096 to a
// frame, 1,000 to a frame 1.2 and 1.1 times.
const selfCompressBytes = maxFrameRaw

// encodeHashed returns the OTLP encoding of ld and its size, appends the leaf
// hash of every record to leaves, and calls side.run, which reads ld (the
// index's summary). A batch of less than selfCompressBytes is returned as it
// is (compressed false), in oe's buffer, which oe gives up for spare: the
// group writer compresses it with the other appends of its frame. A larger
// one is compressed, appended to spare, and hashed and summarised while it
// is compressed (on another core when there is one).
func encodeHashed(enc *zstd.Encoder, lh *leafHasher, oe *otlpEncoder, ld plog.Logs, spare, leaves []byte, side batchSide) (payload []byte, compressed bool, raw int, _ []byte, _ error) {
	otlp, err := oe.marshal(ld)
	if err != nil {
		return nil, false, 0, leaves, fmt.Errorf("%w: %w", ErrUnencodable, err)
	}
	var (
		n    int
		herr error
	)
	if len(otlp) < selfCompressBytes {
		leaves, n, herr = lh.appendLeaves(leaves, otlp)
		side.run()
		payload = oe.detach(otlp, spare)
	} else {
		payload, leaves, n, herr = encodeBeside(enc, lh, otlp, spare, leaves, side)
		compressed = true
	}
	if herr != nil {
		return nil, false, 0, leaves, fmt.Errorf("%w: %w", ErrUnencodable, herr)
	}
	if n != ld.LogRecordCount() {
		return nil, false, 0, leaves, fmt.Errorf("%w: %d records encoded, %d found", ErrUnencodable, ld.LogRecordCount(), n)
	}
	return payload, compressed, len(otlp), leaves, nil
}

// batchSide is what encodeHashed runs beside the hashing (an interface
// rather than a closure, which a small batch would allocate).
type batchSide interface{ run() }

// encodeBeside compresses raw while another goroutine hashes its leaves and
// runs side.
func encodeBeside(enc *zstd.Encoder, lh *leafHasher, raw, dst, leaves []byte, side batchSide) ([]byte, []byte, int, error) {
	var (
		n    int
		herr error
	)
	done := make(chan struct{})
	go func() {
		defer close(done)
		leaves, n, herr = lh.appendLeaves(leaves, raw)
		side.run()
	}()
	payload := enc.EncodeAll(raw, dst)
	<-done
	return payload, leaves, n, herr
}
