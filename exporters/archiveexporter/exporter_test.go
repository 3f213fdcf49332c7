package archiveexporter

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/metric/metricdata/metricdatatest"

	"github.com/fleetlog/fleetlog/exporters/archiveexporter/internal/metadatatest"
	"github.com/fleetlog/fleetlog/internal/archive"
	"github.com/fleetlog/fleetlog/internal/pipelineturn"
	"github.com/fleetlog/fleetlog/internal/spoolstamp"
)

// testConfig returns a config for a fresh archive directory and signing key.
func testConfig(t testing.TB) (*Config, ed25519.PublicKey) {
	t.Helper()
	dir := t.TempDir()
	pub, key, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	der, err := x509.MarshalPKCS8PrivateKey(key)
	require.NoError(t, err)
	keyFile := filepath.Join(dir, "archive-key.pem")
	require.NoError(t, os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600))
	cfg := createDefaultConfig().(*Config)
	cfg.Directory = filepath.Join(dir, "archive")
	cfg.SigningKeyFile = keyFile
	cfg.GatewayID = "gw-test"
	return cfg, pub
}

func testLogs(n int) plog.Logs {
	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	rl.Resource().Attributes().PutStr("device.id", "dev-1")
	sl := rl.ScopeLogs().AppendEmpty()
	for i := range n {
		lr := sl.LogRecords().AppendEmpty()
		lr.SetTimestamp(pcommon.NewTimestampFromTime(time.Date(2026, 11, 24, 9, 0, i, 0, time.UTC)))
		lr.Body().SetStr("hello")
	}
	return ld
}

func TestExporterWritesVerifiableArchive(t *testing.T) {
	cfg, pub := testConfig(t)
	cfg.MaxSegmentSize = minMaxSegmentSize
	tel := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tel.Shutdown(context.Background())) })
	exp, err := NewFactory().CreateLogs(context.Background(), metadatatest.NewSettings(tel), cfg)
	require.NoError(t, err)
	require.NoError(t, exp.Start(context.Background(), componenttest.NewNopHost()))
	require.NoError(t, exp.ConsumeLogs(context.Background(), testLogs(3)))
	// Incompressible bodies fill the 4 KiB segment and seal it.
	big := testLogs(1)
	buf := make([]byte, 6000)
	_, _ = rand.Read(buf)
	big.ResourceLogs().At(0).ScopeLogs().At(0).LogRecords().At(0).Body().SetEmptyBytes().FromRaw(buf)
	require.NoError(t, exp.ConsumeLogs(context.Background(), big))
	require.NoError(t, exp.ConsumeLogs(context.Background(), testLogs(2)))
	require.NoError(t, exp.Shutdown(context.Background()))

	sum, err := archive.Verify(cfg.Directory, []ed25519.PublicKey{pub}, nil)
	require.NoError(t, err)
	assert.Equal(t, 1, sum.Sealed)
	assert.NotEmpty(t, sum.Open)
	assert.Equal(t, uint64(6), sum.Records)

	metadatatest.AssertEqualArchiveRecordsWritten(t, tel, []metricdata.DataPoint[int64]{{Value: 6}}, metricdatatest.IgnoreTimestamp(), metricdatatest.IgnoreExemplars())
	metadatatest.AssertEqualArchiveSegmentsSealed(t, tel, []metricdata.DataPoint[int64]{{Value: 1}}, metricdatatest.IgnoreTimestamp(), metricdatatest.IgnoreExemplars())

	// A restart continues the same chain.
	exp, err = NewFactory().CreateLogs(context.Background(), metadatatest.NewSettings(tel), cfg)
	require.NoError(t, err)
	require.NoError(t, exp.Start(context.Background(), componenttest.NewNopHost()))
	require.NoError(t, exp.ConsumeLogs(context.Background(), testLogs(1)))
	require.NoError(t, exp.Shutdown(context.Background()))
	sum, err = archive.Verify(cfg.Directory, []ed25519.PublicKey{pub}, nil)
	require.NoError(t, err)
	assert.Equal(t, uint64(7), sum.Records)
}

func TestExporterSealsOnAge(t *testing.T) {
	cfg, pub := testConfig(t)
	cfg.MaxSegmentAge = 50 * time.Millisecond
	exp, err := NewFactory().CreateLogs(context.Background(), metadatatest.NewSettings(componenttest.NewTelemetry()), cfg)
	require.NoError(t, err)
	require.NoError(t, exp.Start(context.Background(), componenttest.NewNopHost()))
	require.NoError(t, exp.ConsumeLogs(context.Background(), testLogs(2)))
	require.Eventually(t, func() bool {
		sum, err := archive.Verify(cfg.Directory, []ed25519.PublicKey{pub}, nil)
		return err == nil && sum.Sealed == 1
	}, 5*time.Second, 20*time.Millisecond)
	require.NoError(t, exp.Shutdown(context.Background()))
}

func TestExporterStartErrorsNameTheKey(t *testing.T) {
	cfg, _ := testConfig(t)
	cfg.SigningKeyFile = filepath.Join(t.TempDir(), "missing.pem")
	exp, err := NewFactory().CreateLogs(context.Background(), metadatatest.NewSettings(componenttest.NewTelemetry()), cfg)
	require.NoError(t, err)
	assert.ErrorContains(t, exp.Start(context.Background(), componenttest.NewNopHost()), "'signing_key_file'")
	require.NoError(t, exp.Shutdown(context.Background()))

	// A second writer on the same directory is refused.
	cfg, _ = testConfig(t)
	first, err := NewFactory().CreateLogs(context.Background(), metadatatest.NewSettings(componenttest.NewTelemetry()), cfg)
	require.NoError(t, err)
	require.NoError(t, first.Start(context.Background(), componenttest.NewNopHost()))
	second, err := NewFactory().CreateLogs(context.Background(), metadatatest.NewSettings(componenttest.NewTelemetry()), cfg)
	require.NoError(t, err)
	err = second.Start(context.Background(), componenttest.NewNopHost())
	assert.ErrorIs(t, err, archive.ErrLocked)
	assert.ErrorContains(t, err, "'directory'")
	require.NoError(t, second.Shutdown(context.Background()))
	require.NoError(t, first.Shutdown(context.Background()))
}

func TestPushErrorsAreRetryable(t *testing.T) {
	cfg, _ := testConfig(t)
	e, err := newArchiveExporter(cfg, metadatatest.NewSettings(componenttest.NewTelemetry()))
	require.NoError(t, err)
	require.NoError(t, e.start(context.Background(), componenttest.NewNopHost()))
	// A writer that can no longer write, as after a failed disk.
	require.NoError(t, e.writer.Close())
	err = e.pushLogs(context.Background(), testLogs(1))
	require.Error(t, err)
	assert.False(t, consumererror.IsPermanent(err), "I/O failures are retried")
	e.writer = nil
	require.NoError(t, e.shutdown(context.Background()))
}

func TestExporterAppliesRetention(t *testing.T) {
	cfg, pub := testConfig(t)
	cfg.MaxSegmentAge = 20 * time.Millisecond
	cfg.Retention = Retention(50 * time.Millisecond)
	cfg.RetentionCheckInterval = 20 * time.Millisecond
	tel := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tel.Shutdown(context.Background())) })
	exp, err := NewFactory().CreateLogs(context.Background(), metadatatest.NewSettings(tel), cfg)
	require.NoError(t, err)
	require.NoError(t, exp.Start(context.Background(), componenttest.NewNopHost()))
	require.NoError(t, exp.ConsumeLogs(context.Background(), testLogs(2)))
	require.Eventually(t, func() bool {
		sum, err := archive.Verify(cfg.Directory, []ed25519.PublicKey{pub}, nil)
		return err == nil && sum.Tombstones == 1 && sum.Sealed == 0
	}, 10*time.Second, 20*time.Millisecond, "sealed, then deleted with a tombstone that verifies")
	require.NoError(t, exp.Shutdown(context.Background()))
	metadatatest.AssertEqualArchiveSegmentsDeleted(t, tel, []metricdata.DataPoint[int64]{{Value: 1}}, metricdatatest.IgnoreTimestamp(), metricdatatest.IgnoreExemplars())
}

// TestExporterSkipsRedeliveries: a batch delivered again (the agent did not
// get the acknowledgement) is acknowledged, counted and not stored again,
// also after a restart.
func TestExporterSkipsRedeliveries(t *testing.T) {
	cfg, pub := testConfig(t)
	tel := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tel.Shutdown(context.Background())) })
	stampedLogs := func(from, to int) plog.Logs {
		ld := testLogs(0)
		sl := ld.ResourceLogs().At(0).ScopeLogs().At(0)
		spoolstamp.StampScope(sl.Scope().Attributes(), "0123456789abcdef0123456789abcdef")
		recs := sl.LogRecords()
		for i := from; i < to; i++ {
			lr := recs.AppendEmpty()
			lr.Body().SetStr("line")
			spoolstamp.StampSeq(lr.Attributes(), uint64(i))
		}
		return ld
	}
	for range 2 { // the second time after a restart
		exp, err := NewFactory().CreateLogs(context.Background(), metadatatest.NewSettings(tel), cfg)
		require.NoError(t, err)
		require.NoError(t, exp.Start(context.Background(), componenttest.NewNopHost()))
		require.NoError(t, exp.ConsumeLogs(context.Background(), stampedLogs(1, 11)))
		require.NoError(t, exp.ConsumeLogs(context.Background(), stampedLogs(6, 16)))
		require.NoError(t, exp.Shutdown(context.Background()))
	}
	sum, err := archive.Verify(cfg.Directory, []ed25519.PublicKey{pub}, nil)
	require.NoError(t, err)
	assert.Equal(t, uint64(15), sum.Records)
	metadatatest.AssertEqualArchiveRecordsWritten(t, tel, []metricdata.DataPoint[int64]{{Value: 15}}, metricdatatest.IgnoreTimestamp(), metricdatatest.IgnoreExemplars())
	metadatatest.AssertEqualArchiveRecordsDuplicate(t, tel, []metricdata.DataPoint[int64]{{Value: 25}}, metricdatatest.IgnoreTimestamp(), metricdatatest.IgnoreExemplars())
}

func TestExporterSignsCheckpointsAndOutlivesItsFirstKey(t *testing.T) {
	cfg, pub := testConfig(t)
	cfg.CheckpointInterval = 20 * time.Millisecond
	start := func() exporter.Logs {
		exp, err := NewFactory().CreateLogs(context.Background(), metadatatest.NewSettings(componenttest.NewTelemetry()), cfg)
		require.NoError(t, err)
		require.NoError(t, exp.Start(context.Background(), componenttest.NewNopHost()))
		return exp
	}
	exp := start()
	require.NoError(t, exp.ConsumeLogs(context.Background(), testLogs(3)))
	require.Eventually(t, func() bool {
		cp, err := archive.LatestCheckpoint(cfg.Directory)
		return err == nil && cp != nil && cp.Size == 3
	}, 5*time.Second, 10*time.Millisecond, "a checkpoint while records arrive")
	require.NoError(t, exp.Shutdown(context.Background()))

	// Once the archive has its epoch keys, the configured key (erased when
	// the first epoch ends) is not needed to start.
	require.NoError(t, os.Remove(cfg.SigningKeyFile))
	exp = start()
	require.NoError(t, exp.ConsumeLogs(context.Background(), testLogs(2)))
	require.NoError(t, exp.Shutdown(context.Background()))
	sum, err := archive.Verify(cfg.Directory, []ed25519.PublicKey{pub}, nil)
	require.NoError(t, err)
	assert.Equal(t, uint64(5), sum.TreeSize)
	assert.Positive(t, sum.Checkpoints)

	// An archive that lost records its own checkpoint covers does not start.
	segs, err := filepath.Glob(filepath.Join(cfg.Directory, "*", "*", "*", "*.fla"))
	require.NoError(t, err)
	require.Len(t, segs, 1, "the open segment holds all five records")
	require.NoError(t, os.Remove(segs[0]))
	bad, err := NewFactory().CreateLogs(context.Background(), metadatatest.NewSettings(componenttest.NewTelemetry()), cfg)
	require.NoError(t, err)
	err = bad.Start(context.Background(), componenttest.NewNopHost())
	assert.ErrorIs(t, err, archive.ErrCheckpointAhead)
	require.NoError(t, bad.Shutdown(context.Background()))
}

// TestFullDiskAtStartIsRetried: a disk too full to open the archive on does
// not stop the gateway; records are refused, retryably, until the archive
// opens once there is room.
func TestFullDiskAtStartIsRetried(t *testing.T) {
	cfg, pub := testConfig(t)
	e, err := newArchiveExporter(cfg, metadatatest.NewSettings(componenttest.NewTelemetry()))
	require.NoError(t, err)
	var full atomic.Bool
	full.Store(true)
	e.openRetry = 10 * time.Millisecond
	e.openArchive = func(o archive.Options) (*archive.Writer, *archive.Recovery, error) {
		if full.Load() {
			return nil, nil, &os.PathError{Op: "write", Path: o.Dir, Err: syscall.ENOSPC}
		}
		return archive.Open(o)
	}
	require.NoError(t, e.start(context.Background(), componenttest.NewNopHost()))
	err = e.pushLogs(context.Background(), testLogs(2))
	require.ErrorIs(t, err, errNotOpen)
	assert.False(t, consumererror.IsPermanent(err), "devices must keep the records and retry")

	full.Store(false)
	require.Eventually(t, func() bool { return e.pushLogs(context.Background(), testLogs(2)) == nil },
		5*time.Second, 10*time.Millisecond)
	require.NoError(t, e.shutdown(context.Background()))
	sum, err := archive.Verify(cfg.Directory, []ed25519.PublicKey{pub}, nil)
	require.NoError(t, err)
	assert.Equal(t, uint64(2), sum.Records)
}

// TestFullDiskShutdownWhileRetrying: shutdown stops the retries of an
// archive that never opened.
func TestFullDiskShutdownWhileRetrying(t *testing.T) {
	cfg, _ := testConfig(t)
	e, err := newArchiveExporter(cfg, metadatatest.NewSettings(componenttest.NewTelemetry()))
	require.NoError(t, err)
	e.openRetry = time.Millisecond
	e.openArchive = func(o archive.Options) (*archive.Writer, *archive.Recovery, error) {
		return nil, nil, &os.PathError{Op: "write", Path: o.Dir, Err: syscall.EDQUOT}
	}
	require.NoError(t, e.start(context.Background(), componenttest.NewNopHost()))
	require.NoError(t, e.shutdown(context.Background()))
}

// Batches from many devices at once are each acknowledged after their
// records are in the archive, give their pipeline turn back before that, and
// the archive holds every record once.
func TestExporterConcurrentBatches(t *testing.T) {
	cfg, pub := testConfig(t)
	exp, err := NewFactory().CreateLogs(context.Background(), metadatatest.NewSettings(componenttest.NewTelemetry()), cfg)
	require.NoError(t, err)
	require.NoError(t, exp.Start(context.Background(), componenttest.NewNopHost()))
	const devices, batches, records = 12, 15, 25
	var wg sync.WaitGroup
	var released atomic.Int64
	for d := range devices {
		wg.Add(1)
		go func() {
			defer wg.Done()
			spool := fmt.Sprintf("%032x", d+1)
			for b := range batches {
				ld := testLogs(records)
				rl := ld.ResourceLogs().At(0)
				rl.Resource().Attributes().PutStr("device.id", fmt.Sprintf("dev-%d", d))
				sl := rl.ScopeLogs().At(0)
				spoolstamp.StampScope(sl.Scope().Attributes(), spool)
				for i, lr := range sl.LogRecords().All() {
					spoolstamp.StampSeq(lr.Attributes(), uint64(b*records+i+1))
				}
				var turn atomic.Bool
				ctx, done := pipelineturn.With(context.Background(), func() {
					turn.Store(true)
					released.Add(1)
				})
				assert.NoError(t, exp.ConsumeLogs(ctx, ld))
				assert.True(t, turn.Load(), "the turn is given back before the batch is acknowledged")
				done()
			}
		}()
	}
	wg.Wait()
	require.NoError(t, exp.Shutdown(context.Background()))
	assert.Equal(t, int64(devices*batches), released.Load())
	sum, err := archive.Verify(cfg.Directory, []ed25519.PublicKey{pub}, nil)
	require.NoError(t, err)
	assert.Equal(t, uint64(devices*batches*records), sum.Records)
}
