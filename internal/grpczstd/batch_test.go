package grpczstd_test

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"testing"

	"github.com/klauspost/compress/zstd"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"google.golang.org/grpc/encoding"

	"github.com/fleetlog/fleetlog/internal/grpczstd"
)

// agentBatch is a request the agent sent in `make bench-e2e` (the shipped
// config, 1024 workload lines after pii and fleet_metadata, with the file
// attributes and the spool stamp), as marshalled for the wire, kept zstd
// compressed in testdata.
func agentBatch(tb testing.TB) (raw []byte, records int) {
	tb.Helper()
	z, err := os.ReadFile("testdata/agent-batch.pb.zst")
	require.NoError(tb, err)
	dec, err := zstd.NewReader(nil)
	require.NoError(tb, err)
	defer dec.Close()
	raw, err = dec.DecodeAll(z, nil)
	require.NoError(tb, err)
	req := plogotlp.NewExportRequest()
	require.NoError(tb, req.UnmarshalProto(raw))
	return raw, req.Logs().LogRecordCount()
}

func TestAgentBatchRoundTrip(t *testing.T) {
	in, n := agentBatch(t)
	require.Equal(t, 1024, n)
	c := encoding.GetCompressor(grpczstd.Name)
	r, err := c.Decompress(bytes.NewReader(compress(t, c, in)))
	require.NoError(t, err)
	got, err := io.ReadAll(r)
	require.NoError(t, err)
	require.Equal(t, in, got)
}

// encoderOptions are this package's settings, as Compress builds them.
func encoderOptions(more ...zstd.EOption) []zstd.EOption {
	return append([]zstd.EOption{
		zstd.WithEncoderLevel(grpczstd.Level),
		zstd.WithWindowSize(64 << 10),
		zstd.WithEncoderConcurrency(1),
		zstd.WithLowerEncoderMem(true),
		zstd.WithEncoderCRC(false),
	}, more...)
}

// BenchmarkAgentBatch compresses a request the agent sent with this
// package's compressor, as gRPC calls it (the streaming Write and Close), and
// with the variants of its settings that could cost less CPU per wire byte.
// It reports the compressed share of the input ("ratio"), the wire bytes
// per record and the time per record.
func BenchmarkAgentBatch(b *testing.B) {
	in, records := agentBatch(b)
	report := func(b *testing.B, out int) {
		b.SetBytes(int64(len(in)))
		b.ReportMetric(float64(out)/float64(len(in)), "ratio")
		b.ReportMetric(float64(out)/float64(records), "wireB/record")
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*records), "ns/record")
	}
	b.Run("shipped", func(b *testing.B) {
		c := encoding.GetCompressor(grpczstd.Name)
		var out bytes.Buffer
		for b.Loop() {
			out.Reset()
			w, err := c.Compress(&out)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := w.Write(in); err != nil {
				b.Fatal(err)
			}
			if err := w.Close(); err != nil {
				b.Fatal(err)
			}
		}
		report(b, out.Len())
	})
	for _, v := range []struct {
		name string
		opts []zstd.EOption
	}{
		{"EncodeAll", nil},
		{"EncodeAll-window128KiB", []zstd.EOption{zstd.WithWindowSize(128 << 10)}},
		{"EncodeAll-window256KiB", []zstd.EOption{zstd.WithWindowSize(256 << 10)}},
		{"EncodeAll-allLitEntropy", []zstd.EOption{zstd.WithAllLitEntropyCompression(true)}},
		{"EncodeAll-noLitEntropy", []zstd.EOption{zstd.WithAllLitEntropyCompression(false)}},
		{"EncodeAll-noEntropy", []zstd.EOption{zstd.WithNoEntropyCompression(true)}},
	} {
		b.Run(v.name, func(b *testing.B) {
			enc, err := zstd.NewWriter(nil, encoderOptions(v.opts...)...)
			require.NoError(b, err)
			var out []byte
			for b.Loop() {
				out = enc.EncodeAll(in, out[:0])
			}
			report(b, len(out))
		})
	}
}

// BenchmarkAgentBatchAttributes compresses the agent's request as sent and
// without some of its record attributes, with this package's compressor:
// what each costs on the wire and in the encoder. zstd's time follows the
// literals and matches it codes, not the raw bytes: attributes that repeat
// from record to record are long matches and cost little, a value that
// changes on every record (the sequence number) costs a match and a literal.
func BenchmarkAgentBatchAttributes(b *testing.B) {
	in, records := agentBatch(b)
	for _, v := range []struct {
		name   string
		remove []string
	}{
		{"as-sent", nil},
		{"without-log.file", []string{"log.file.name", "log.file.path"}},
		{"without-seq", []string{"fleetlog.spool.seq"}},
		{"without-any", []string{"log.file.name", "log.file.path", "fleetlog.spool.seq"}},
	} {
		b.Run(v.name, func(b *testing.B) {
			p := withoutAttributes(b, in, v.remove...)
			c := encoding.GetCompressor(grpczstd.Name)
			var out []byte
			for b.Loop() {
				out = compress(b, c, p)
			}
			b.SetBytes(int64(len(p)))
			b.ReportMetric(float64(len(p))/float64(records), "rawB/record")
			b.ReportMetric(float64(len(out))/float64(records), "wireB/record")
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*records), "ns/record")
		})
	}
}

// withoutAttributes returns the request in without the record attributes
// named, marshalled again.
func withoutAttributes(tb testing.TB, in []byte, names ...string) []byte {
	tb.Helper()
	req := plogotlp.NewExportRequest()
	require.NoError(tb, req.UnmarshalProto(in))
	rls := req.Logs().ResourceLogs()
	for i := range rls.Len() {
		sls := rls.At(i).ScopeLogs()
		for j := range sls.Len() {
			lrs := sls.At(j).LogRecords()
			for k := range lrs.Len() {
				for _, name := range names {
					require.True(tb, lrs.At(k).Attributes().Remove(name), fmt.Sprintf("record %d has %s", k, name))
				}
			}
		}
	}
	out, err := req.MarshalProto()
	require.NoError(tb, err)
	return out
}
