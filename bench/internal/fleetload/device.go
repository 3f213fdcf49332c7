package fleetload

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"regexp"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/mem"
	"google.golang.org/grpc/status"

	// The agent's zstd compressor, registered as "zstd".
	_ "github.com/fleetlog/fleetlog/internal/grpczstd"
)

// exportMethod is the OTLP logs service's one method.
const exportMethod = "/opentelemetry.proto.collector.logs.v1.LogsService/Export"

// Device is one simulated agent.
type Device struct {
	ID       string
	Resource Resource
	// SpoolID is the agent's spool identity, stamped on every record.
	SpoolID string
	// Rate is the device's steady records per second.
	Rate float64
	Cert tls.Certificate

	// acked is the number of records the gateway acknowledged: the
	// records stamped 1..acked.
	acked atomic.Uint64
}

// Acked is how many records the gateway acknowledged: those stamped with
// sequence numbers 1 to Acked.
func (d *Device) Acked() uint64 { return d.acked.Load() }

// Fleet is what every device shares: where to send, how to batch, and what
// disturbs the steady rate.
type Fleet struct {
	Addr       string
	ServerName string
	RootCAs    *x509.CertPool
	Pool       *Pool
	// MaxRecords and Flush batch as the agent's spool does (batch::
	// max_records, batch::timeout): a request when MaxRecords are waiting
	// or Flush after the previous one.
	MaxRecords int
	Flush      time.Duration
	// Timeout bounds one export, as the agent exporter's timeout.
	Timeout time.Duration
	// Retry is the first wait after a failed export before the same batch
	// is sent again, RetryMax the longest: the spool retries until the
	// batch is acknowledged, each wait 1.5 times the one before, ±50%
	// (the agent config's retry_on_failure).
	Retry, RetryMax time.Duration
	// Compression is the gRPC compressor ("zstd" as the agent, or "").
	Compression string
	// A device bursts, on average every BurstEvery, to BurstFactor times
	// its rate for BurstFor. Zero BurstEvery: no bursts.
	BurstEvery, BurstFor time.Duration
	BurstFactor          float64
	// A device drops its connection and dials again, on average every
	// ReconnectEvery. Zero: never.
	ReconnectEvery time.Duration
	Stats          *Stats

	// bufs holds the buffers requests are built in (*[]byte), scratch
	// those they are compressed into (*bytes.Buffer): one is needed only
	// until the request is compressed, and a device that held its own
	// would keep its largest batch's size for the whole run.
	bufs, scratch sync.Pool
}

var addrRE = regexp.MustCompile(`\d+\.\d+\.\d+\.\d+:\d+|\[[0-9a-f:]+\]:\d+`)

// Stats counts what the fleet did. It is safe for concurrent use.
type Stats struct {
	Acked, Requests   atomic.Int64
	Failed, Rejected  atomic.Int64
	Dials, Reconnects atomic.Int64
	// Latency is the time from send to acknowledgement of every export
	// while measuring (StartWindow), Bytes the request bytes sent
	// (before compression).
	Latency   Histogram
	Bytes     atomic.Int64
	measuring atomic.Bool

	mu   sync.Mutex
	errs map[string]int64
}

// StartWindow starts recording latencies.
func (s *Stats) StartWindow() { s.measuring.Store(true) }

// StopWindow stops recording latencies.
func (s *Stats) StopWindow() { s.measuring.Store(false) }

func (s *Stats) fail(err error) {
	s.Failed.Add(1)
	msg := status.Code(err).String() + ": " + status.Convert(err).Message()
	// One line per kind of error, not per connection.
	msg = addrRE.ReplaceAllString(msg, "ADDR")
	if len(msg) > 160 {
		msg = msg[:160]
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.errs == nil {
		s.errs = map[string]int64{}
	}
	s.errs[msg]++
}

// Errors returns each distinct error with its count, the most frequent first.
func (s *Stats) Errors() []ErrorCount {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]ErrorCount, 0, len(s.errs))
	for m, n := range s.errs {
		out = append(out, ErrorCount{Message: m, Count: n})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Count > out[j].Count })
	return out
}

// ErrorCount is one distinct export error.
type ErrorCount struct {
	Message string
	Count   int64
}

// Run sends d's records until ctx is done. It returns when the last export
// has returned.
func (f *Fleet) Run(ctx context.Context, d *Device, rng *rand.Rand) {
	creds := credentials.NewTLS(&tls.Config{
		Certificates: []tls.Certificate{d.Cert}, RootCAs: f.RootCAs,
		ServerName: f.ServerName, MinVersion: tls.VersionTLS13,
	})
	dialOpts := []grpc.DialOption{
		grpc.WithTransportCredentials(creds),
		// 10,000 connections in one process: small read buffers (gRPC
		// holds a write buffer only while a write is in progress).
		grpc.WithReadBufferSize(16 << 10),
		grpc.WithKeepaliveParams(keepalive.ClientParameters{Time: 15 * time.Second, Timeout: 5 * time.Second, PermitWithoutStream: true}),
	}
	var comp encoding.Compressor
	if f.Compression != "" {
		if comp = encoding.GetCompressor(f.Compression); comp == nil {
			f.Stats.fail(fmt.Errorf("no gRPC compressor %q", f.Compression))
			return
		}
		dialOpts = append(dialOpts, withPrecompressed(f.Compression))
	}
	dial := func() (*grpc.ClientConn, error) {
		conn, err := grpc.NewClient(f.Addr, dialOpts...)
		if err != nil {
			return nil, err
		}
		conn.Connect()
		f.Stats.Dials.Add(1)
		return conn, nil
	}
	conn, err := dial()
	if err != nil {
		f.Stats.fail(err)
		return
	}
	defer func() { conn.Close() }()

	callOpts := []grpc.CallOption{grpc.ForceCodecV2(rawCodec{})}
	exp := func(mean time.Duration) time.Duration {
		if mean <= 0 {
			return math.MaxInt64
		}
		return time.Duration(rng.ExpFloat64() * float64(mean))
	}
	now := time.Now()
	last := now
	// The first batch at a random point of the first flush interval, so
	// that the devices do not send in step.
	flushAt := now.Add(time.Duration(rng.Int64N(int64(f.Flush))))
	burstAt, burstUntil := now.Add(exp(f.BurstEvery)), time.Time{}
	reconnectAt := now.Add(exp(f.ReconnectEvery))
	cursor := rng.IntN(f.Pool.Len())
	var (
		waiting float64 // records accrued and not yet sent
		seq     uint64  = 1
		b       batch
	)
	timer := time.NewTimer(time.Until(flushAt))
	defer timer.Stop()
	for {
		rate := d.Rate
		if now.Before(burstUntil) {
			rate *= f.BurstFactor
		}
		// Wake when the batch is full or at the flush deadline.
		wait := time.Until(flushAt)
		if rate > 0 {
			wait = min(wait, time.Duration((float64(f.MaxRecords)-waiting)/rate*float64(time.Second)))
		}
		timer.Reset(max(wait, 0))
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		now = time.Now()
		waiting += rate * now.Sub(last).Seconds()
		last = now
		if !now.After(burstUntil) && now.After(burstAt) {
			burstUntil = now.Add(f.BurstFor)
			burstAt = burstUntil.Add(exp(f.BurstEvery))
		}
		n := min(int(waiting), f.MaxRecords)
		if n == 0 {
			flushAt = now.Add(f.Flush)
			continue
		}
		if now.After(reconnectAt) {
			conn.Close()
			if conn, err = dial(); err != nil {
				f.Stats.fail(err)
				return
			}
			f.Stats.Reconnects.Add(1)
			reconnectAt = now.Add(exp(f.ReconnectEvery))
		}
		if cursor+n > f.Pool.Len() {
			cursor = 0
		}
		if err := f.build(&b, d, cursor, n, seq, uint64(now.UnixNano())); err != nil {
			f.Stats.fail(err)
			return
		}
		// Send until acknowledged, as the spool does.
		backoff := f.Retry
		for {
			if ctx.Err() != nil {
				return
			}
			ok, err := f.export(ctx, conn, &b, comp, callOpts)
			if ok {
				break
			}
			if ctx.Err() != nil {
				return
			}
			f.Stats.fail(err)
			t := time.NewTimer(backoff/2 + time.Duration(rng.Int64N(int64(backoff))))
			backoff = min(backoff*3/2, max(f.RetryMax, f.Retry))
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
		}
		b.wire = nil
		f.Stats.Acked.Add(int64(n))
		seq += uint64(n)
		d.acked.Store(seq - 1)
		waiting -= float64(n)
		cursor += n
		now = time.Now()
		flushAt = now.Add(f.Flush)
		if waiting >= float64(f.MaxRecords) {
			flushAt = now // a backlog: send the next batch at once
		}
	}
}

// batch is a device's request, built once and sent until acknowledged.
type batch struct {
	// req is the request until it is compressed, in a buffer of the
	// fleet's; size its length.
	req  *[]byte
	size int
	// wire is the request as sent, compressed once, on its first send: a
	// batch sent again is the same bytes, so the gateway gets what it
	// would get from an agent's retry, without the simulator compressing
	// it again.
	wire []byte
}

// export sends one request and reports whether the gateway took every record.
func (f *Fleet) export(ctx context.Context, conn *grpc.ClientConn, b *batch, comp encoding.Compressor, opts []grpc.CallOption) (bool, error) {
	ctx, cancel := context.WithTimeout(ctx, f.Timeout)
	defer cancel()
	var resp []byte
	// From the call until the answer, as conn.Invoke alone was timed: the
	// first send of a batch includes its compression.
	start := time.Now()
	if b.wire == nil {
		if err := f.compress(b, comp); err != nil {
			return false, err
		}
	}
	err := conn.Invoke(ctx, exportMethod, &b.wire, &resp, opts...)
	took := time.Since(start)
	f.Stats.Requests.Add(1)
	f.Stats.Bytes.Add(int64(b.size))
	if err != nil {
		return false, err
	}
	if len(resp) > 0 {
		r := plogotlp.NewExportResponse()
		if err := r.UnmarshalProto(resp); err != nil {
			return false, fmt.Errorf("decode response: %w", err)
		}
		if ps := r.PartialSuccess(); ps.RejectedLogRecords() > 0 {
			f.Stats.Rejected.Add(ps.RejectedLogRecords())
			return false, fmt.Errorf("gateway rejected %d records: %s", ps.RejectedLogRecords(), ps.ErrorMessage())
		}
	}
	if f.Stats.measuring.Load() {
		f.Stats.Latency.Record(took)
	}
	return true, nil
}

// build builds b's request: records [start, start+n) of the pool, stamped
// seq0 onwards.
func (f *Fleet) build(b *batch, d *Device, start, n int, seq0, observedNanos uint64) error {
	buf, ok := f.bufs.Get().(*[]byte)
	if !ok {
		buf = new([]byte)
	}
	var err error
	if *buf, err = f.Pool.Build((*buf)[:0], d.Resource, start, n, d.SpoolID, seq0, observedNanos); err != nil {
		f.bufs.Put(buf)
		return err
	}
	b.req, b.size, b.wire = buf, len(*buf), nil
	return nil
}

// compress sets b.wire to b's request compressed by comp (as it is, if
// comp is nil), as gRPC itself calls a compressor on a message: Compress,
// one Write, Close. The request's buffer goes back to the fleet once
// compressed; on an error it is kept, for the batch's next send.
func (f *Fleet) compress(b *batch, comp encoding.Compressor) error {
	if comp == nil {
		b.wire = bytes.Clone(*b.req)
	} else {
		out, ok := f.scratch.Get().(*bytes.Buffer)
		if !ok {
			out = new(bytes.Buffer)
		}
		defer f.scratch.Put(out)
		out.Reset()
		w, err := comp.Compress(out)
		if err != nil {
			return fmt.Errorf("compress: %w", err)
		}
		if _, err := w.Write(*b.req); err != nil {
			w.Close()
			return fmt.Errorf("compress: %w", err)
		}
		if err := w.Close(); err != nil {
			return fmt.Errorf("compress: %w", err)
		}
		b.wire = bytes.Clone(out.Bytes())
	}
	f.bufs.Put(b.req)
	b.req = nil
	return nil
}

// precompressed is a gRPC compressor that sends a message as it is, since
// it is compressed already (batch.wire), and names the compression that
// was applied in the request's grpc-encoding header.
type precompressed struct{ name string }

func (p precompressed) Do(w io.Writer, b []byte) error {
	_, err := w.Write(b)
	return err
}

func (p precompressed) Type() string { return p.name }

// withPrecompressed has a connection send its messages as precompressed
// with name. gRPC's original compressor API (grpc.Compressor) is the one
// that can: a compressor registered in the encoding package would be
// looked up by its name, which is the agent's zstd's. It is deprecated but
// "supported throughout 1.x". Responses are decompressed by the registered
// compressor the gateway's grpc-encoding names, as before.
func withPrecompressed(name string) grpc.DialOption {
	//lint:ignore SA1019 the one API that sends a message compressed beforehand, see above.
	return grpc.WithCompressor(precompressed{name: name})
}

// rawCodec sends pre-encoded protobuf bytes as they are and returns the
// response's bytes undecoded. Named "proto", so the wire is plain OTLP.
type rawCodec struct{}

func (rawCodec) Marshal(v any) (mem.BufferSlice, error) {
	b, ok := v.(*[]byte)
	if !ok {
		return nil, errors.New("rawCodec marshals *[]byte only")
	}
	return mem.BufferSlice{mem.SliceBuffer(*b)}, nil
}

func (rawCodec) Unmarshal(data mem.BufferSlice, v any) error {
	b, ok := v.(*[]byte)
	if !ok {
		return errors.New("rawCodec unmarshals into *[]byte only")
	}
	*b = data.Materialize()
	return nil
}

func (rawCodec) Name() string { return "proto" }

// Rates draws n per-device rates from a Pareto distribution of shape alpha
// (heavy-tailed: alpha 1.2 puts about 60% of the records on a fifth of the
// devices), scaled so that they add up to total records per second, none
// above maxRate.
func Rates(rng *rand.Rand, n int, total, alpha, maxRate float64) []float64 {
	rates := make([]float64, n)
	for i := range rates {
		rates[i] = 1 / math.Pow(1-rng.Float64(), 1/alpha)
	}
	// Scale to the total, then cap and spread the excess over the others.
	sum := 0.0
	for _, r := range rates {
		sum += r
	}
	for i := range rates {
		rates[i] *= total / sum
	}
	for range 50 {
		capped, free := 0.0, 0.0
		for i, r := range rates {
			if r >= maxRate {
				rates[i] = maxRate
				capped += maxRate
			} else {
				free += r
			}
		}
		if free == 0 || capped+free >= total*(1-1e-9) {
			break
		}
		k := (total - capped) / free
		for i, r := range rates {
			if r < maxRate {
				rates[i] = r * k
			}
		}
	}
	return rates
}
