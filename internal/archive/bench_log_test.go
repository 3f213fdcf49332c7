package archive

import (
	"crypto/ed25519"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/plog"
)

// BenchmarkVerify verifies an archive of 64 batches of 1000 records (four
// sealed segments and an open one), Merkle tree and checkpoints included,
// and reports records/s.
func BenchmarkVerify(b *testing.B) {
	pub, key := newKey(b)
	dir := b.TempDir()
	w, _, err := Open(Options{Dir: dir, Key: key, MaxSegmentSize: 600 << 10, MaxSegmentAge: time.Hour, Fsync: FsyncOnSeal})
	if err != nil {
		b.Fatal(err)
	}
	for i := range 64 {
		if _, err := w.Append(benchLogs(i)); err != nil {
			b.Fatal(err)
		}
		if i%8 == 7 {
			if err := w.Checkpoint(); err != nil {
				b.Fatal(err)
			}
		}
	}
	if err := w.Close(); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	var records uint64
	for range b.N {
		sum, err := Verify(dir, []ed25519.PublicKey{pub}, nil)
		if err != nil {
			b.Fatal(err)
		}
		records += sum.Records
	}
	b.ReportMetric(float64(records)/b.Elapsed().Seconds(), "records/s")
}

// BenchmarkLeafHashes hashes the leaves of a 1000-record batch from its
// protobuf bytes, as the writer does beside compression.
func BenchmarkLeafHashes(b *testing.B) {
	var m plog.ProtoMarshaler
	raw, err := m.MarshalLogs(benchLogs(1))
	if err != nil {
		b.Fatal(err)
	}
	lh := newLeafHasher()
	b.SetBytes(int64(len(raw)))
	b.ResetTimer()
	for range b.N {
		if _, _, err := lh.appendLeaves(make([]byte, 0, HashSize*benchBatch), raw); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkIngestCPU is BenchmarkIngest without fsync (FsyncOnSeal): what an
// append costs in CPU, which is what a loaded gateway pays.
func BenchmarkIngestCPU(b *testing.B) {
	_, key := newKey(b)
	w, _, err := Open(Options{Dir: b.TempDir(), Key: key, GatewayID: "bench", MaxSegmentSize: 64 << 20, MaxSegmentAge: time.Hour, Fsync: FsyncOnSeal})
	if err != nil {
		b.Fatal(err)
	}
	defer w.Close()
	batches := make([]plog.Logs, 16)
	for i := range batches {
		batches[i] = benchLogs(i)
	}
	b.SetBytes(int64(otlpSize(batches[0])))
	b.ResetTimer()
	for i := range b.N {
		if _, err := w.Append(batches[i%len(batches)]); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N*benchBatch)/b.Elapsed().Seconds(), "records/s")
}

// BenchmarkCheckWitness checks a device's checkpoint that lies in the middle
// of the open segment (64 batches of 1000 records, the checkpoint after 32:
// the segment is read and the 32,000 records before the checkpoint hashed)
// and one at the archive's size (no read).
func BenchmarkCheckWitness(b *testing.B) {
	_, key := newKey(b)
	dir := b.TempDir()
	w, _, err := Open(Options{Dir: dir, Key: key, MaxSegmentSize: 64 << 20, MaxSegmentAge: time.Hour, Fsync: FsyncOnSeal})
	if err != nil {
		b.Fatal(err)
	}
	defer w.Close()
	var middle []byte
	for i := range 64 {
		if _, err := w.Append(benchLogs(i)); err != nil {
			b.Fatal(err)
		}
		if i == 31 {
			if err := w.Checkpoint(); err != nil {
				b.Fatal(err)
			}
			middle = w.LatestCheckpointNote()
		}
	}
	if err := w.Checkpoint(); err != nil {
		b.Fatal(err)
	}
	newest := w.LatestCheckpointNote()
	for _, c := range []struct {
		name string
		note []byte
	}{{"middle of a segment", middle}, {"at the archive's size", newest}} {
		b.Run(c.name, func(b *testing.B) {
			for range b.N {
				if err := w.CheckWitness(c.note); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
