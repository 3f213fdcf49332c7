package archive

import (
	"errors"
	"fmt"

	"github.com/klauspost/compress/zstd"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
)

// ErrUnencodable means a batch could not be encoded; retrying cannot help.
var ErrUnencodable = errors.New("cannot encode log records")

// maxDecodedPayload bounds what one frame may decompress to, so a crafted
// frame cannot exhaust memory.
const maxDecodedPayload = 256 << 20

// codec decodes frame payloads. Its zstd decoder and buffer are created once
// and reused; a codec is not safe for concurrent use.
type codec struct {
	dec *zstd.Decoder
	raw []byte
}

// encoderLevel compresses frames. On device-shaped batches (BenchmarkIngest's
// records) SpeedFastest took 40 to 65% of SpeedDefault's time for 1000
// records and 85% for 20, and its frames were no larger (32.6 against 33.3
// bytes a record): the archive's compression was a quarter of the gateway's
// CPU under the fleet simulator.
const encoderLevel = zstd.SpeedFastest

func newEncoder() (*zstd.Encoder, error) {
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderConcurrency(1), zstd.WithEncoderLevel(encoderLevel))
	if err != nil {
		return nil, fmt.Errorf("create zstd encoder: %w", err)
	}
	return enc, nil
}

func newCodec() (*codec, error) {
	dec, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxMemory(maxDecodedPayload))
	if err != nil {
		return nil, fmt.Errorf("create zstd decoder: %w", err)
	}
	return &codec{dec: dec}, nil
}

// decode returns the log records of a frame payload.
func (c *codec) decode(payload []byte) (plog.Logs, error) {
	raw, err := c.decompress(payload)
	if err != nil {
		return plog.Logs{}, err
	}
	return c.unmarshal(raw)
}

// decompress returns the OTLP bytes of a frame payload, in a buffer the
// next call reuses.
func (c *codec) decompress(payload []byte) ([]byte, error) {
	raw, err := c.dec.DecodeAll(payload, c.raw[:0])
	if err != nil {
		return nil, fmt.Errorf("decompress frame: %w", err)
	}
	c.raw = raw
	return raw, nil
}

// unmarshal decodes OTLP bytes; the records do not alias raw.
func (c *codec) unmarshal(raw []byte) (plog.Logs, error) {
	var u plog.ProtoUnmarshaler
	ld, err := u.UnmarshalLogs(raw)
	if err != nil {
		return plog.Logs{}, fmt.Errorf("decode frame: %w", err)
	}
	return ld, nil
}

func (c *codec) close() { c.dec.Close() }

// recordTime is the time a record is filed under: its timestamp, or when it
// has none, the time it was observed.
func recordTime(lr plog.LogRecord) pcommon.Timestamp {
	if ts := lr.Timestamp(); ts != 0 {
		return ts
	}
	return lr.ObservedTimestamp()
}

// splitLogs cuts ld into batches of at most n records, each keeping its
// records' resource and scope, so a frame stays bounded.
func splitLogs(ld plog.Logs, n int) []plog.Logs {
	if ld.LogRecordCount() <= n {
		return []plog.Logs{ld}
	}
	var out []plog.Logs
	count := n // forces a new batch at the first record
	for _, rl := range ld.ResourceLogs().All() {
		for _, sl := range rl.ScopeLogs().All() {
			var dst plog.LogRecordSlice
			started := false
			for _, lr := range sl.LogRecords().All() {
				if count == n {
					out = append(out, plog.NewLogs())
					count = 0
					started = false
				}
				if !started {
					nrl := out[len(out)-1].ResourceLogs().AppendEmpty()
					rl.Resource().CopyTo(nrl.Resource())
					nrl.SetSchemaUrl(rl.SchemaUrl())
					nsl := nrl.ScopeLogs().AppendEmpty()
					sl.Scope().CopyTo(nsl.Scope())
					nsl.SetSchemaUrl(sl.SchemaUrl())
					dst = nsl.LogRecords()
					started = true
				}
				lr.CopyTo(dst.AppendEmpty())
				count++
			}
		}
	}
	return out
}
