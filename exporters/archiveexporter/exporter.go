package archiveexporter // import "github.com/fleetlog/fleetlog/exporters/archiveexporter"

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.uber.org/zap"

	"github.com/fleetlog/fleetlog/exporters/archiveexporter/internal/metadata"
	"github.com/fleetlog/fleetlog/internal/archive"
	"github.com/fleetlog/fleetlog/internal/pipelineturn"
	"github.com/fleetlog/fleetlog/internal/pki"
)

// maxSealCheck bounds how late an aged segment is sealed.
const maxSealCheck = 10 * time.Second

type archiveExporter struct {
	cfg       *Config
	logger    *zap.Logger
	telemetry *metadata.TelemetryBuilder

	writer *archive.Writer
	stop   chan struct{}
	wg     sync.WaitGroup
}

func newArchiveExporter(cfg *Config, set exporter.Settings) (*archiveExporter, error) {
	tb, err := metadata.NewTelemetryBuilder(set.TelemetrySettings)
	if err != nil {
		return nil, err
	}
	return &archiveExporter{cfg: cfg, logger: set.Logger, telemetry: tb}, nil
}

func (e *archiveExporter) start(_ context.Context, _ component.Host) error {
	key, err := pki.LoadEd25519PrivateKey(e.cfg.SigningKeyFile)
	if err != nil {
		return fmt.Errorf("'signing_key_file': %w", err)
	}
	gatewayID := e.cfg.GatewayID
	if gatewayID == "" {
		if gatewayID, err = os.Hostname(); err != nil {
			return fmt.Errorf("'gateway_id' is not set and the host name is unknown: %w", err)
		}
	}
	// Several queue consumers write a spool's batches out of order, and
	// skipping records at or below the spool's mark would then skip some
	// that were never stored.
	unordered := e.cfg.QueueConfig.HasValue() && e.cfg.QueueConfig.Get().NumConsumers > 1
	if unordered {
		e.logger.Warn("'sending_queue' with more than one consumer writes batches out of order: re-deliveries of agents' records are stored again, not skipped")
	}
	w, rec, err := archive.Open(archive.Options{
		Dir:               e.cfg.Directory,
		Key:               key,
		GatewayID:         gatewayID,
		MaxSegmentSize:    e.cfg.MaxSegmentSize,
		MaxSegmentAge:     e.cfg.MaxSegmentAge,
		Fsync:             e.cfg.Fsync.archivePolicy(),
		StoreRedeliveries: unordered,
	})
	if err != nil {
		return fmt.Errorf("'directory': %w", err)
	}
	e.writer = w
	if rec.Segment != "" {
		e.logger.Info("Continuing the open archive segment",
			zap.String("segment", rec.Segment), zap.Uint64("frames", rec.Frames), zap.Uint64("records", rec.Records))
	}
	if rec.Damaged {
		e.logger.Error("The open archive segment was damaged before its end: the frames from the first bad one on were cut from the chain and kept beside it; investigate",
			zap.String("segment", rec.Segment), zap.Int64("bytes", rec.TornBytes), zap.String("kept_in", rec.TornFile))
	} else if rec.TornBytes > 0 {
		e.logger.Warn("Cut an incomplete write from the end of the open archive segment; the cut bytes are kept beside it",
			zap.String("segment", rec.Segment), zap.Int64("bytes", rec.TornBytes), zap.String("kept_in", rec.TornFile))
	}
	if rec.Resealed > 0 {
		e.logger.Info("Finished sealing archive segments after an interrupted seal", zap.Int("segments", rec.Resealed))
	}
	e.stop = make(chan struct{})
	e.wg.Add(1)
	go e.maintain()
	return nil
}

// maintain seals aged segments and applies retention until shutdown.
func (e *archiveExporter) maintain() {
	defer e.wg.Done()
	seal := time.NewTicker(min(e.cfg.MaxSegmentAge, maxSealCheck))
	defer seal.Stop()
	retention := time.NewTicker(e.cfg.RetentionCheckInterval)
	defer retention.Stop()
	e.applyRetention()
	for {
		select {
		case <-e.stop:
			return
		case <-seal.C:
			sealed, err := e.writer.SealIfOlder()
			if err != nil {
				e.logger.Warn("Sealing the archive segment failed; retrying", zap.Error(err))
			} else if sealed {
				e.telemetry.ArchiveSegmentsSealed.Add(context.Background(), 1)
			}
		case <-retention.C:
			e.applyRetention()
		}
	}
}

func (e *archiveExporter) applyRetention() {
	if e.cfg.Retention <= 0 {
		return
	}
	n, err := e.writer.ApplyRetention(time.Duration(e.cfg.Retention), e.cfg.Retention.String())
	if n > 0 {
		e.telemetry.ArchiveSegmentsDeleted.Add(context.Background(), int64(n))
		e.logger.Info("Deleted archive segments past retention", zap.Int("segments", n), zap.Stringer("retention", e.cfg.Retention))
	}
	if err != nil {
		e.logger.Warn("Archive retention failed; retrying at the next check", zap.Error(err))
	}
}

func (e *archiveExporter) pushLogs(ctx context.Context, ld plog.Logs) error {
	// Once the records are written only the fsync is left: the batch gives
	// its turn in the gateway's pipeline to the next one (pipelineturn).
	res, err := e.writer.AppendThen(ld, func() { pipelineturn.Release(ctx) })
	if err != nil {
		e.telemetry.ArchiveWriteErrors.Add(ctx, 1)
		if errors.Is(err, archive.ErrUnencodable) {
			return consumererror.NewPermanent(err)
		}
		return err
	}
	e.telemetry.ArchiveRecordsWritten.Add(ctx, int64(res.Records))
	if res.Skipped > 0 {
		e.telemetry.ArchiveRecordsDuplicate.Add(ctx, int64(res.Skipped))
	}
	e.telemetry.ArchiveBytesWritten.Add(ctx, res.Bytes)
	if res.Sealed {
		e.telemetry.ArchiveSegmentsSealed.Add(ctx, 1)
	}
	if res.SealErr != nil {
		e.logger.Warn("Sealing the full archive segment failed; the records are written and sealing is retried", zap.Error(res.SealErr))
	}
	return nil
}

func (e *archiveExporter) shutdown(context.Context) error {
	if e.stop != nil {
		close(e.stop)
		e.wg.Wait()
		e.stop = nil
	}
	var err error
	if e.writer != nil {
		err = e.writer.Close()
		e.writer = nil
	}
	e.telemetry.Shutdown()
	return err
}
