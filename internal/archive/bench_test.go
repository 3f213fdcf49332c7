package archive

import (
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/fleetlog/fleetlog/internal/spoolstamp"
)

const benchBatch = 1000

var benchUsers = []string{"ops", "maria", "kiosk", "root", "deploy"}

// benchLogs is a batch of log lines shaped like a device's: syslog-style
// bodies, a few attributes, one device resource.
func benchLogs(seed int) plog.Logs {
	return benchDeviceLogs(fmt.Sprintf("atm-%04d", seed%500), seed, benchBatch)
}

// benchDeviceLogs is benchLogs' batch of records records for device, its
// times and bodies drawn from seed.
func benchDeviceLogs(device string, seed, records int) plog.Logs {
	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	res := rl.Resource().Attributes()
	res.PutStr(DeviceAttribute, device)
	res.PutStr(FleetAttribute, "atms")
	res.PutStr("host.name", device+".branch.example")
	res.PutStr("os.type", "linux")
	sl := rl.ScopeLogs().AppendEmpty()
	base := testEpoch.Add(time.Duration(seed) * time.Second)
	for i := range records {
		lr := sl.LogRecords().AppendEmpty()
		ts := pcommon.NewTimestampFromTime(base.Add(time.Duration(i) * time.Millisecond))
		lr.SetTimestamp(ts)
		lr.SetObservedTimestamp(ts + 1500)
		lr.SetSeverityNumber(severities[i%len(severities)])
		lr.Body().SetStr(fmt.Sprintf("sshd[%d]: Accepted publickey for %s from 10.%d.%d.%d port %d ssh2: ED25519 SHA256:%x",
			1000+i, benchUsers[i%len(benchUsers)], seed%256, i%256, (i*7)%256, 30000+i, uint64(seed*records+i)*0x9e3779b97f4a7c15))
		lr.Attributes().PutStr("log.file.name", "auth.log")
		lr.Attributes().PutInt("pid", int64(1000+i))
	}
	return ld
}

// cpuClock reads the process's CPU time (user and system, every thread), so
// a benchmark can report CPU per record beside records/s: on a shared
// machine the one is steadier than the other.
type cpuClock struct{ start time.Duration }

func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func startCPU(b *testing.B) cpuClock { return cpuClock{start: processCPU(b)} }

// report reports the CPU since start per record, in ns.
func (c cpuClock) report(b *testing.B, records int) {
	b.ReportMetric(float64(processCPU(b)-c.start)/float64(records), "cpu-ns/record")
}

// reportSegmentBytes reports the bytes of dir's segment files (sealed or
// open) per record written.
func reportSegmentBytes(b *testing.B, dir string, records int) {
	b.Helper()
	entries, err := scan(dir)
	if err != nil {
		b.Fatal(err)
	}
	var total int64
	for _, e := range entries {
		if e.segment == "" {
			continue
		}
		st, err := os.Stat(joinRel(dir, e.segment))
		if err != nil {
			b.Fatal(err)
		}
		total += st.Size()
	}
	b.ReportMetric(float64(total)/float64(records), "segment-bytes/record")
}

func otlpSize(ld plog.Logs) int {
	var s plog.ProtoMarshaler
	return s.LogsSize(ld)
}

// BenchmarkIngest appends 1000-record batches with the exporter's defaults
// (fsync on every append, 64 MiB segments) and reports records/s, input
// MB/s (OTLP protobuf) and on-disk bytes per record.
func BenchmarkIngest(b *testing.B) {
	_, key := newKey(b)
	dir := b.TempDir()
	w, _, err := Open(Options{Dir: dir, Key: key, GatewayID: "bench", MaxSegmentSize: 64 << 20, MaxSegmentAge: time.Hour, Fsync: FsyncAlways})
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
	cpu := startCPU(b)
	var disk int64
	for i := range b.N {
		res, err := w.Append(batches[i%len(batches)])
		if err != nil {
			b.Fatal(err)
		}
		disk += res.Bytes
	}
	b.StopTimer()
	cpu.report(b, b.N*benchBatch)
	records := float64(b.N * benchBatch)
	b.ReportMetric(records/b.Elapsed().Seconds(), "records/s")
	b.ReportMetric(float64(disk)/records, "disk-bytes/record")
	reportSegmentBytes(b, dir, b.N*benchBatch)
}

// BenchmarkIngestStamped is BenchmarkIngest with every record stamped by
// its spool (what agents send), so each append also checks and moves the
// de-duplication mark; "redelivered" appends batches the archive holds
// already (all skipped).
func BenchmarkIngestStamped(b *testing.B) {
	for _, redelivered := range []bool{false, true} {
		name := "new"
		if redelivered {
			name = "redelivered"
		}
		b.Run(name, func(b *testing.B) {
			_, key := newKey(b)
			w, _, err := Open(Options{Dir: b.TempDir(), Key: key, GatewayID: "bench", MaxSegmentSize: 64 << 20, MaxSegmentAge: time.Hour, Fsync: FsyncAlways})
			if err != nil {
				b.Fatal(err)
			}
			defer w.Close()
			const spool = "0123456789abcdef0123456789abcdef"
			batches := make([]plog.Logs, 16)
			for i := range batches {
				batches[i] = benchLogs(0) // one device: one mark
				sl := batches[i].ResourceLogs().At(0).ScopeLogs().At(0)
				spoolstamp.StampScope(sl.Scope().Attributes(), spool)
				recs := sl.LogRecords()
				for j := range recs.Len() {
					spoolstamp.StampSeq(recs.At(j).Attributes(), uint64(i*benchBatch+j+1))
				}
			}
			if redelivered {
				for _, ld := range batches {
					if _, err := w.Append(ld); err != nil {
						b.Fatal(err)
					}
				}
			}
			b.SetBytes(int64(otlpSize(batches[0])))
			b.ResetTimer()
			for i := range b.N {
				ld := batches[i%len(batches)]
				if !redelivered && i > 0 && i%len(batches) == 0 {
					// A new device each round, so the batches are new again.
					ld.ResourceLogs().At(0).Resource().Attributes().PutStr(DeviceAttribute, fmt.Sprintf("atm-%d", i))
					for _, other := range batches[1:] {
						other.ResourceLogs().At(0).Resource().Attributes().PutStr(DeviceAttribute, fmt.Sprintf("atm-%d", i))
					}
				}
				if _, err := w.Append(ld); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(b.N*benchBatch)/b.Elapsed().Seconds(), "records/s")
		})
	}
}

// BenchmarkQueryScan scans a sealed archive with a filter that matches
// nothing, so every frame is read and decoded; MB/s is on-disk bytes.
func BenchmarkQueryScan(b *testing.B) {
	_, key := newKey(b)
	dir := b.TempDir()
	w, _, err := Open(Options{Dir: dir, Key: key, MaxSegmentSize: 4 << 20, MaxSegmentAge: time.Hour, Fsync: FsyncOnSeal})
	if err != nil {
		b.Fatal(err)
	}
	var disk int64
	for i := range 100 {
		res, err := w.Append(benchLogs(i))
		if err != nil {
			b.Fatal(err)
		}
		disk += res.Bytes
	}
	if err := w.Close(); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(disk)
	b.ResetTimer()
	for range b.N {
		st, err := Query(dir, Filter{Contains: "no such text"}, func(*Record) error { return nil })
		if err != nil {
			b.Fatal(err)
		}
		if st.Records != 100*benchBatch {
			b.Fatalf("scanned %d records", st.Records)
		}
	}
	b.ReportMetric(float64(100*benchBatch*b.N)/b.Elapsed().Seconds(), "records/s")
}

// BenchmarkIngestParallel appends small batches (20 records, as many
// devices' exports would arrive) from concurrent callers with fsync on every
// append; fsyncs are shared between callers.
func BenchmarkIngestParallel(b *testing.B) { benchIngestParallel(b, FsyncAlways) }

// benchIngestParallel appends 20-record batches from 8 callers per core
// with the given fsync policy.
func benchIngestParallel(b *testing.B, fsync FsyncPolicy) {
	_, key := newKey(b)
	dir := b.TempDir()
	w, _, err := Open(Options{Dir: dir, Key: key, MaxSegmentSize: 64 << 20, MaxSegmentAge: time.Hour, Fsync: fsync})
	if err != nil {
		b.Fatal(err)
	}
	defer w.Close()
	small := makeLogs("atm-0001", "atms", "sshd[812]: Accepted publickey for ops from 10.1.2.3 port 52144 ssh2", testEpoch, 20)
	b.SetBytes(int64(otlpSize(small)))
	b.SetParallelism(8)
	b.ResetTimer()
	cpu := startCPU(b)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := w.Append(small); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.StopTimer()
	cpu.report(b, b.N*20)
	b.ReportMetric(float64(b.N*20)/b.Elapsed().Seconds(), "records/s")
	reportSegmentBytes(b, dir, b.N*20)
}

// BenchmarkIngestVsPlainFile compares, batch by batch, the archive with what
// a file exporter does for the same durability: marshal to OTLP protobuf,
// zstd-compress, write length-prefixed, fsync. (The contrib fileexporter
// v0.160.0 cannot be built on this platform; this is its write path.) The
// ratio is archive time / plain time: the price of chaining and framing.
func BenchmarkIngestVsPlainFile(b *testing.B) {
	_, key := newKey(b)
	dir := b.TempDir()
	w, _, err := Open(Options{Dir: filepath.Join(dir, "archive"), Key: key, MaxSegmentSize: 64 << 20, MaxSegmentAge: time.Hour, Fsync: FsyncAlways})
	if err != nil {
		b.Fatal(err)
	}
	defer w.Close()
	plain, err := os.OpenFile(filepath.Join(dir, "plain.otlp.zst"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		b.Fatal(err)
	}
	defer plain.Close()
	enc, err := newEncoder()
	if err != nil {
		b.Fatal(err)
	}
	defer enc.Close()
	batches := make([]plog.Logs, 16)
	for i := range batches {
		batches[i] = benchLogs(i)
	}
	var archiveTime, plainTime time.Duration
	var buf []byte
	b.ResetTimer()
	for i := range b.N {
		ld := batches[i%len(batches)]
		t0 := time.Now()
		if _, err := w.Append(ld); err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		var m plog.ProtoMarshaler
		raw, err := m.MarshalLogs(ld)
		if err != nil {
			b.Fatal(err)
		}
		buf = binary.BigEndian.AppendUint32(buf[:0], 0)
		buf = enc.EncodeAll(raw, buf)
		binary.BigEndian.PutUint32(buf, uint32(len(buf)-4))
		if _, err := plain.Write(buf); err != nil {
			b.Fatal(err)
		}
		if err := plain.Sync(); err != nil {
			b.Fatal(err)
		}
		archiveTime += t1.Sub(t0)
		plainTime += time.Since(t1)
	}
	b.StopTimer()
	records := float64(b.N * benchBatch)
	b.ReportMetric(records/archiveTime.Seconds(), "archive-records/s")
	b.ReportMetric(records/plainTime.Seconds(), "plain-records/s")
	b.ReportMetric(float64(archiveTime)/float64(plainTime), "archive/plain-time")
}

// BenchmarkIngestParallelCPU is BenchmarkIngestParallel without fsync
// (FsyncOnSeal): the CPU and the serialisation of concurrent small appends,
// without the disk's latency.
func BenchmarkIngestParallelCPU(b *testing.B) { benchIngestParallel(b, FsyncOnSeal) }

// BenchmarkIngestFleet is the gateway's write path under many devices: 128
// concurrent callers (the gateway's default bound of batches in its pipeline
// on 2 cores), each a device of its own sending 50-record batches stamped by
// its spool, fsync on every append. It reports records/s and frames per
// append (how many appends share a frame).
func BenchmarkIngestFleet(b *testing.B) {
	_, key := newKey(b)
	w, _, err := Open(Options{Dir: b.TempDir(), Key: key, MaxSegmentSize: 64 << 20, MaxSegmentAge: time.Hour, Fsync: FsyncAlways})
	if err != nil {
		b.Fatal(err)
	}
	defer w.Close()
	const callers, records = 128, 50
	var next atomic.Int64
	b.SetParallelism((callers + runtime.GOMAXPROCS(0) - 1) / runtime.GOMAXPROCS(0))
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		device := fmt.Sprintf("atm-%04d", next.Add(1))
		ld := makeLogs(device, "atms", "sshd[812]: Accepted publickey for ops from 10.1.2.3 port 52144 ssh2", testEpoch, records)
		sl := ld.ResourceLogs().At(0).ScopeLogs().At(0)
		spoolstamp.StampScope(sl.Scope().Attributes(), fmt.Sprintf("%032x", next.Load()))
		seq := uint64(0)
		for pb.Next() {
			for _, lr := range sl.LogRecords().All() {
				seq++
				spoolstamp.StampSeq(lr.Attributes(), seq)
			}
			if _, err := w.Append(ld); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.StopTimer()
	b.ReportMetric(float64(b.N*records)/b.Elapsed().Seconds(), "records/s")
	w.mu.Lock()
	if w.open != nil {
		b.ReportMetric(float64(w.open.frames)/float64(b.N), "frames/append")
	}
	w.mu.Unlock()
}

// BenchmarkIngestDevices is close to a gateway's write path under a large
// fleet: 32 concurrent callers, each sending in turn for 8 devices of its own
// (256 distinct device identities, each with its own spool stamps), batches
// of syslog-shaped records. "fsync" syncs every append, as the exporter's
// default does; "nofsync" (FsyncOnSeal) leaves the disk out, so what is
// measured is the CPU and the allocations per append. Batches are of 40
// records, and with "nofsync" also of 5 and 130 (a fleet's exports range
// from the one to the other). It reports records/s, segment bytes per record
// and, with -benchmem, B/op and allocs/op per append.
func BenchmarkIngestDevices(b *testing.B) {
	for _, c := range []struct {
		name    string
		fsync   FsyncPolicy
		records int
	}{{"fsync", FsyncAlways, 40}, {"nofsync", FsyncOnSeal, 40}, {"nofsync-5", FsyncOnSeal, 5}, {"nofsync-130", FsyncOnSeal, 130}} {
		b.Run(c.name, func(b *testing.B) { benchIngestDevices(b, c.fsync, c.records) })
	}
}

func benchIngestDevices(b *testing.B, fsync FsyncPolicy, records int) {
	const callers, devicesPerCaller = 32, 8
	_, key := newKey(b)
	dir := b.TempDir()
	w, _, err := Open(Options{Dir: dir, Key: key, GatewayID: "bench", MaxSegmentSize: 64 << 20, MaxSegmentAge: time.Hour, Fsync: fsync})
	if err != nil {
		b.Fatal(err)
	}
	defer w.Close()
	var next atomic.Int64
	b.SetParallelism((callers + runtime.GOMAXPROCS(0) - 1) / runtime.GOMAXPROCS(0))
	b.ReportAllocs()
	b.ResetTimer()
	cpu := startCPU(b)
	b.RunParallel(func(pb *testing.PB) {
		caller := int(next.Add(1))
		type device struct {
			ld  plog.Logs
			seq uint64
		}
		devices := make([]device, devicesPerCaller)
		for d := range devices {
			id := caller*devicesPerCaller + d
			ld := benchDeviceLogs(fmt.Sprintf("atm-%05d", id), id, records)
			sl := ld.ResourceLogs().At(0).ScopeLogs().At(0)
			spoolstamp.StampScope(sl.Scope().Attributes(), fmt.Sprintf("%032x", id))
			for _, lr := range sl.LogRecords().All() {
				spoolstamp.StampSeq(lr.Attributes(), 0)
			}
			devices[d] = device{ld: ld}
		}
		turn := 0
		for pb.Next() {
			d := &devices[turn%len(devices)]
			turn++
			for _, lr := range d.ld.ResourceLogs().At(0).ScopeLogs().At(0).LogRecords().All() {
				d.seq++
				spoolstamp.StampSeq(lr.Attributes(), d.seq)
			}
			if _, err := w.Append(d.ld); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.StopTimer()
	cpu.report(b, b.N*records)
	b.ReportMetric(float64(b.N*records)/b.Elapsed().Seconds(), "records/s")
	reportSegmentBytes(b, dir, b.N*records)
	w.mu.Lock()
	if w.open != nil && w.open.frames > 0 {
		b.ReportMetric(float64(b.N)/float64(w.open.frames), "appends/frame")
	}
	w.mu.Unlock()
}
