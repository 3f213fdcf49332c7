// Package grpczstd registers the gRPC "zstd" compressor the agent's OTLP
// exporter uses, tuned for small devices: the fastest zstd level, a 64 KiB
// window, one encoder goroutine and no frame checksum.
//
// The collector's configgrpc registers its own "zstd" compressor at the
// default level and with one encoder goroutine per CPU, but only if none is
// registered yet, and it offers no level setting. Imported (blank) by a
// fleetlog component, this package's init runs first: Go initializes, among
// packages whose imports are ready, the one first by import path, and
// github.com/fleetlog sorts before go.opentelemetry.io. A test guards that
// order. Compressed output is standard zstd, so any zstd peer (a gateway, the
// contrib otlp receiver) decodes it.
package grpczstd // import "github.com/fleetlog/fleetlog/internal/grpczstd"

import (
	"io"
	"sync"

	"github.com/klauspost/compress/zstd"
	"google.golang.org/grpc/encoding"
)

// Name is the gRPC content-coding.
const Name = "zstd"

// Level is the encoder level. On OTLP log batches SpeedFastest costs about
// half the CPU of SpeedDefault for a few percent more bytes (see the
// benchmark in this package); on a device the CPU is the scarcer resource.
//
// The other encoder settings were measured on a request the agent sent
// (BenchmarkAgentBatch, testdata/agent-batch.pb.zst): EncodeAll on the whole
// message instead of the streaming writer gRPC uses, literal entropy coding
// on or off, 128 or 256 KiB windows all cost the same time within 4% for
// the same bytes; no entropy coding saves a fifth of the encoder's time for
// a fifth more bytes, and nothing measurable end to end (bench/README.md).
const Level = zstd.SpeedFastest

// windowSize bounds how far back the encoder looks for a match, and so its
// memory. Every request is a frame of its own, and what repeats in a batch
// (attribute keys and values, the observed time, the scope) repeats from
// one record to the next, a few hundred bytes back: on 2048-record batches
// of the benchmark workload a 64 KiB window takes about 8% less encoder CPU
// than 512 KiB and gives about 1% fewer bytes (zstd's block is the window
// when that is smaller, and the smaller blocks' tables fit the records
// better); at 32 KiB the output grows again (BenchmarkWindows).
const windowSize = 64 << 10

func init() {
	if encoding.GetCompressor(Name) == nil {
		encoding.RegisterCompressor(&compressor{})
	}
}

// compressor pools encoders and decoders: building one allocates its tables.
type compressor struct {
	encoders, decoders sync.Pool
}

func (c *compressor) Name() string { return Name }

func (c *compressor) Compress(w io.Writer) (io.WriteCloser, error) {
	if enc, ok := c.encoders.Get().(*zstd.Encoder); ok {
		enc.Reset(w)
		return &encoder{Encoder: enc, pool: &c.encoders}, nil
	}
	enc, err := zstd.NewWriter(w,
		zstd.WithEncoderLevel(Level),
		zstd.WithWindowSize(windowSize),
		zstd.WithEncoderConcurrency(1),
		zstd.WithLowerEncoderMem(true),
		// The frame checksum (xxhash of the content) is optional in zstd
		// and redundant here: TLS authenticates every byte of the stream.
		// Leaving it out saves about 3% of the encoder's time.
		zstd.WithEncoderCRC(false))
	if err != nil {
		return nil, err
	}
	return &encoder{Encoder: enc, pool: &c.encoders}, nil
}

func (c *compressor) Decompress(r io.Reader) (io.Reader, error) {
	if dec, ok := c.decoders.Get().(*zstd.Decoder); ok {
		if err := dec.Reset(r); err != nil {
			c.decoders.Put(dec)
			return nil, err
		}
		return &decoder{Decoder: dec, pool: &c.decoders}, nil
	}
	// No window limit below the library's: peers other than fleetlog agents
	// may compress with larger windows.
	dec, err := zstd.NewReader(r, zstd.WithDecoderConcurrency(1), zstd.WithDecoderLowmem(true))
	if err != nil {
		return nil, err
	}
	return &decoder{Decoder: dec, pool: &c.decoders}, nil
}

// encoder returns its Encoder to the pool on Close. gRPC always closes the
// writer it got from Compress.
type encoder struct {
	*zstd.Encoder
	pool *sync.Pool
}

func (e *encoder) Close() error {
	if e.Encoder == nil {
		return nil
	}
	err := e.Encoder.Close()
	e.Encoder.Reset(nil)
	e.pool.Put(e.Encoder)
	e.Encoder = nil
	return err
}

// decoder returns its Decoder to the pool once the stream ends. A reader
// abandoned before its end leaves the Decoder to the garbage collector;
// it runs no goroutines (concurrency 1), so nothing leaks.
type decoder struct {
	*zstd.Decoder
	pool *sync.Pool
}

func (d *decoder) Read(p []byte) (int, error) {
	if d.Decoder == nil {
		return 0, io.EOF
	}
	n, err := d.Decoder.Read(p)
	if err != nil {
		if d.Decoder.Reset(nil) == nil {
			d.pool.Put(d.Decoder)
		}
		d.Decoder = nil
	}
	return n, err
}
