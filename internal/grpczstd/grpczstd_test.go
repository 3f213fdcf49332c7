package grpczstd_test

import (
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"testing"

	"github.com/klauspost/compress/zstd"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"google.golang.org/grpc/encoding"

	"github.com/fleetlog/fleetlog/internal/grpczstd"
)

// payload is an OTLP export request of n workload lines, as the agent
// sends them.
func payload(tb testing.TB, n int) []byte {
	tb.Helper()
	logs := plog.NewLogs()
	rl := logs.ResourceLogs().AppendEmpty()
	rl.Resource().Attributes().PutStr("device.id", "bench-device")
	rl.Resource().Attributes().PutStr("fleet.name", "bench")
	sl := rl.ScopeLogs().AppendEmpty()
	sl.Scope().Attributes().PutStr("fleetlog.spool.id", "0123456789abcdef0123456789abcdef")
	lrs := sl.LogRecords()
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range n {
		lr := lrs.AppendEmpty()
		lr.Body().SetStr(fmt.Sprintf("2026-01-01T00:00:%02d.%03dZ edge-%04d sshd[%d]: Accepted key for u%d from 10.%d.%d.%d port %d",
			i/1000%60, i%1000, rng.IntN(100), rng.IntN(32000), rng.IntN(50), rng.IntN(256), rng.IntN(256), rng.IntN(256), rng.IntN(60000)))
		lr.Attributes().PutStr("log.file.name", "app.log")
		lr.Attributes().PutStr("log.file.path", "/var/log/fleetlog/app.log")
		lr.Attributes().PutInt("fleetlog.spool.seq", int64(1_000_000+i))
		lr.SetObservedTimestamp(pcommon.Timestamp(1_767_323_045_000_000_000 + int64(i/100)*1_000_000))
		lr.SetSeverityNumber(plog.SeverityNumberInfo)
		lr.SetSeverityText("INFO")
	}
	b, err := plogotlp.NewExportRequestFromLogs(logs).MarshalProto()
	require.NoError(tb, err)
	return b
}

func compress(tb testing.TB, c encoding.Compressor, in []byte) []byte {
	tb.Helper()
	var out bytes.Buffer
	w, err := c.Compress(&out)
	require.NoError(tb, err)
	_, err = w.Write(in)
	require.NoError(tb, err)
	require.NoError(tb, w.Close())
	return out.Bytes()
}

func TestRoundTripWithStandardZstd(t *testing.T) {
	c := encoding.GetCompressor(grpczstd.Name)
	in := payload(t, 500)
	for range 3 { // the second and third round use pooled coders
		z := compress(t, c, in)

		std, err := zstd.NewReader(bytes.NewReader(z))
		require.NoError(t, err)
		got, err := io.ReadAll(std)
		std.Close()
		require.NoError(t, err)
		assert.Equal(t, in, got, "a standard decoder reads what this package writes")

		stdEnc, err := zstd.NewWriter(nil)
		require.NoError(t, err)
		r, err := c.Decompress(bytes.NewReader(stdEnc.EncodeAll(in, nil)))
		require.NoError(t, err)
		got, err = io.ReadAll(r)
		require.NoError(t, err)
		assert.Equal(t, in, got, "this package reads what a standard encoder writes")
	}
}

func TestDecompressRejectsGarbage(t *testing.T) {
	c := encoding.GetCompressor(grpczstd.Name)
	r, err := c.Decompress(bytes.NewReader([]byte("not zstd at all")))
	if err == nil {
		_, err = io.ReadAll(r)
	}
	assert.Error(t, err)
}

// configgrpcLike encodes as configgrpc v0.160 does: default level, 512 KiB
// window, default concurrency, one reused encoder.
type configgrpcLike struct{ enc *zstd.Encoder }

func (c *configgrpcLike) Name() string { return grpczstd.Name }
func (c *configgrpcLike) Compress(w io.Writer) (io.WriteCloser, error) {
	if c.enc == nil {
		enc, err := zstd.NewWriter(w, zstd.WithWindowSize(512<<10))
		c.enc = enc
		return enc, err
	}
	c.enc.Reset(w)
	return c.enc, nil
}
func (c *configgrpcLike) Decompress(r io.Reader) (io.Reader, error) { return zstd.NewReader(r) }

// BenchmarkCompressBatch compresses one 2048-line OTLP batch with this
// package's compressor and with configgrpc's settings, in the same run, and
// reports the CPU and size ratios.
func BenchmarkCompressBatch(b *testing.B) {
	in := payload(b, 2048)
	var nsOurs, nsTheirs float64
	var sizeOurs, sizeTheirs int
	for _, bc := range []struct {
		name string
		c    encoding.Compressor
		ns   *float64
		size *int
	}{
		{"fleetlog", encoding.GetCompressor(grpczstd.Name), &nsOurs, &sizeOurs},
		{"configgrpc", &configgrpcLike{}, &nsTheirs, &sizeTheirs},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.SetBytes(int64(len(in)))
			var out []byte
			for b.Loop() {
				out = compress(b, bc.c, in)
			}
			*bc.ns = float64(b.Elapsed().Nanoseconds()) / float64(b.N)
			*bc.size = len(out)
			b.ReportMetric(float64(len(out))/float64(len(in)), "ratio")
		})
	}
	b.Run("ratio", func(b *testing.B) {
		for b.Loop() {
		}
		if nsOurs > 0 && sizeTheirs > 0 {
			b.ReportMetric(nsTheirs/nsOurs, "configgrpc/fleetlog-cpu")
			b.ReportMetric(float64(sizeOurs)/float64(sizeTheirs), "fleetlog/configgrpc-size")
		}
	})
}

// BenchmarkLevels compresses one 2048-line OTLP batch at each zstd level
// with this package's other settings and reports, beside the time, the
// compressed share of the input ("ratio") and the CPU per byte of it
// saved from the wire ("ns/saved-byte"): what a level costs the device for
// what it spares the link.
func BenchmarkLevels(b *testing.B) {
	in := payload(b, 2048)
	for _, level := range []zstd.EncoderLevel{zstd.SpeedFastest, zstd.SpeedDefault, zstd.SpeedBetterCompression} {
		b.Run(level.String(), func(b *testing.B) {
			enc, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(level), zstd.WithWindowSize(512<<10),
				zstd.WithEncoderConcurrency(1), zstd.WithLowerEncoderMem(true), zstd.WithEncoderCRC(false))
			require.NoError(b, err)
			b.SetBytes(int64(len(in)))
			var out []byte
			for b.Loop() {
				out = enc.EncodeAll(in, out[:0])
			}
			ns := float64(b.Elapsed().Nanoseconds()) / float64(b.N)
			b.ReportMetric(float64(len(out))/float64(len(in)), "ratio")
			b.ReportMetric(ns/float64(len(in)-len(out)), "ns/saved-byte")
		})
	}
}

// BenchmarkWindows compresses one 2048-line OTLP batch with this package's
// settings at several window sizes and reports, beside the time, the
// compressed share of the input ("ratio"). Each request is a frame of its
// own, so the window only reaches back within one batch, whose records
// repeat what they share (attribute keys and values, the observed time)
// from one record to the next.
func BenchmarkWindows(b *testing.B) {
	in := payload(b, 2048)
	for _, window := range []int{512 << 10, 128 << 10, 64 << 10, 32 << 10} {
		b.Run(fmt.Sprintf("%dKiB", window>>10), func(b *testing.B) {
			enc, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(grpczstd.Level), zstd.WithWindowSize(window),
				zstd.WithEncoderConcurrency(1), zstd.WithLowerEncoderMem(true), zstd.WithEncoderCRC(false))
			require.NoError(b, err)
			b.SetBytes(int64(len(in)))
			var out bytes.Buffer
			for b.Loop() {
				out.Reset()
				enc.Reset(&out)
				if _, err := enc.Write(in); err != nil {
					b.Fatal(err)
				}
				if err := enc.Close(); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(out.Len())/float64(len(in)), "ratio")
		})
	}
}
