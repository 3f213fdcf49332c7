package spool

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// benchPayload is the size of a typical encoded log record.
const benchPayload = 200

func benchRecords(n int) []Record {
	out := make([]Record, n)
	for i := range out {
		p := make([]byte, benchPayload)
		for j := range p {
			p[j] = byte('a' + (i+j)%26)
		}
		out[i] = Record{Severity: sevInfo, Time: time.Now().UnixNano(), Payload: p}
	}
	return out
}

// reportThroughput reports records/s beside the MB/s that SetBytes gives.
func reportThroughput(b *testing.B, records int) {
	b.ReportMetric(float64(records)/b.Elapsed().Seconds(), "records/s")
}

// drainBench reads and acknowledges n records in batches of up to 1000.
func drainBench(b *testing.B, s *Spool, n int) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for n > 0 {
		batch, err := s.Read(ctx, 1000, 1<<20)
		if err != nil {
			b.Fatal(err)
		}
		n -= len(batch.Records)
		if err := s.Ack(batch); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAppend measures Append per record (b.N records) in batches of 64,
// as a file input hands them over, and one at a time, as syslog does.
func BenchmarkAppend(b *testing.B) {
	for _, policy := range []FsyncPolicy{FsyncAlways, FsyncInterval, FsyncNever} {
		for _, batch := range []int{64, 1} {
			b.Run(fmt.Sprintf("fsync=%s/batch=%d", policy, batch), func(b *testing.B) {
				s := openSpool(b, Options{MaxSize: 256 << 20, Fsync: policy})
				recs := benchRecords(batch)
				ctx := context.Background()
				b.SetBytes(benchPayload) // of payload
				b.ReportAllocs()
				b.ResetTimer()
				for i := 0; i < b.N; i += batch {
					if err := s.Append(ctx, recs[:min(batch, b.N-i)]); err != nil {
						b.Fatal(err)
					}
				}
				if err := s.Sync(); err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				reportThroughput(b, b.N)
			})
		}
	}
}

// BenchmarkRead measures Read and Ack per record (b.N records) in batches
// of up to 1000, across segment files. The spool is filled outside the
// timer, up to a million records at a time.
func BenchmarkRead(b *testing.B) {
	for _, policy := range []FsyncPolicy{FsyncAlways, FsyncInterval, FsyncNever} {
		b.Run("fsync="+policy.String(), func(b *testing.B) {
			s := openSpool(b, Options{MaxSize: 1 << 30, Fsync: policy})
			recs := benchRecords(10000)
			b.SetBytes(benchPayload) // of payload
			b.ReportAllocs()
			b.ResetTimer()
			for done := 0; done < b.N; {
				n := min(b.N-done, 1<<20)
				b.StopTimer()
				for i := 0; i < n; i += len(recs) {
					if err := s.TryAppend(recs[:min(len(recs), n-i)]); err != nil {
						b.Fatal(err)
					}
				}
				if err := s.Sync(); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				drainBench(b, s, n)
				done += n
			}
			b.StopTimer()
			reportThroughput(b, b.N)
		})
	}
}

// BenchmarkAppendRead runs one appender and one reader at once, the agent's
// steady state: b.N records go through.
func BenchmarkAppendRead(b *testing.B) {
	s := openSpool(b, Options{MaxSize: 256 << 20})
	recs := benchRecords(64)
	ctx := context.Background()
	b.SetBytes(benchPayload) // of payload
	b.ReportAllocs()
	b.ResetTimer()
	done := make(chan error, 1)
	go func() {
		for i := 0; i < b.N; i += len(recs) {
			if err := s.Append(ctx, recs[:min(len(recs), b.N-i)]); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	drainBench(b, s, b.N)
	if err := <-done; err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	reportThroughput(b, b.N)
}

// BenchmarkOpen measures recovery: Open reads and checks a 32 MiB spool
// (b.N times), then Close.
func BenchmarkOpen(b *testing.B) {
	const size = 32 << 20
	dir := b.TempDir()
	opts := Options{Dir: dir, MaxSize: 2 * size, Fsync: FsyncNever}
	s, err := Open(opts)
	if err != nil {
		b.Fatal(err)
	}
	recs := benchRecords(1000)
	for s.Stats().Bytes < size {
		if err := s.Append(context.Background(), recs); err != nil {
			b.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(size)
	b.ResetTimer()
	for range b.N {
		s, err := Open(opts)
		if err != nil {
			b.Fatal(err)
		}
		if err := s.Close(); err != nil {
			b.Fatal(err)
		}
	}
}
