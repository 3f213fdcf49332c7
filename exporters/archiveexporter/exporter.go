package archiveexporter // import "github.com/fleetlog/fleetlog/exporters/archiveexporter"

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componentstatus"
	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.uber.org/zap"

	"github.com/fleetlog/fleetlog/exporters/archiveexporter/internal/metadata"
	"github.com/fleetlog/fleetlog/internal/archive"
	"github.com/fleetlog/fleetlog/internal/durable"
	"github.com/fleetlog/fleetlog/internal/fleetproto"
	"github.com/fleetlog/fleetlog/internal/pipelineturn"
	"github.com/fleetlog/fleetlog/internal/pki"
)

// maxSealCheck bounds how late an aged segment is sealed.
const maxSealCheck = 10 * time.Second

// openRetry is how often an archive that a full disk kept from opening is
// tried again.
const openRetry = 5 * time.Second

// errNotOpen refuses records, retryably, while a full disk keeps the archive
// from opening: the devices keep them in their spools.
var errNotOpen = errors.New("the archive is not open yet: its disk is full")

// witnessRetry is how often an archive refused for its witnesses is opened
// and checked again: it opens once the newest copy is back or the devices
// are denied.
const witnessRetry = time.Minute

type archiveExporter struct {
	cfg       *Config
	logger    *zap.Logger
	telemetry *metadata.TelemetryBuilder

	// writer is set once the archive is open, before live and before the
	// goroutines that use it start; pushLogs reads live, which stays nil
	// while a full disk or the witnesses keep the archive from opening (see
	// start), and notOpen, which says why.
	writer  *archive.Writer
	live    atomic.Pointer[archive.Writer]
	notOpen atomic.Pointer[error]
	// openArchive, openRetry and witnessRetry are archive.Open and its
	// retry periods on a full disk and on a witness refusal; tests replace
	// them.
	openArchive  func(archive.Options) (*archive.Writer, *archive.Recovery, error)
	openRetry    time.Duration
	witnessRetry time.Duration
	stop         chan struct{}
	wg           sync.WaitGroup

	// witnesses is fleet_control when the gateway runs it (witness.go);
	// witnessCh, witnessOK and published belong to the maintenance
	// goroutines.
	witnesses fleetproto.CheckpointWitnesses
	witnessCh chan witnessReport
	witnessOK map[[sha256.Size]byte]struct{}
	published []byte
}

func newArchiveExporter(cfg *Config, set exporter.Settings) (*archiveExporter, error) {
	tb, err := metadata.NewTelemetryBuilder(set.TelemetrySettings)
	if err != nil {
		return nil, err
	}
	return &archiveExporter{cfg: cfg, logger: set.Logger, telemetry: tb, openArchive: archive.Open, openRetry: openRetry, witnessRetry: witnessRetry}, nil
}

func (e *archiveExporter) start(_ context.Context, host component.Host) error {
	key, err := pki.LoadEd25519PrivateKey(e.cfg.SigningKeyFile)
	if err != nil {
		// The key signs the first epoch only and is erased when it ends:
		// an archive with its own epoch keys needs it no more.
		if !errors.Is(err, os.ErrNotExist) || !archive.HasKeyChain(e.cfg.Directory) {
			return fmt.Errorf("'signing_key_file': %w", err)
		}
		key = nil
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
	opts := archive.Options{
		Dir:               e.cfg.Directory,
		Key:               key,
		KeyFile:           e.cfg.SigningKeyFile,
		KeyEpoch:          e.cfg.KeyEpoch,
		CheckpointCopy:    e.cfg.CheckpointCopyFile,
		GatewayID:         gatewayID,
		MaxSegmentSize:    e.cfg.MaxSegmentSize,
		MaxSegmentAge:     e.cfg.MaxSegmentAge,
		Fsync:             e.cfg.Fsync.archivePolicy(),
		StoreRedeliveries: unordered,
	}
	e.stop = make(chan struct{})
	err = e.open(opts, host)
	var refusal *witnessRefusal
	switch {
	case err == nil:
		return nil
	case durable.IsDiskFull(err):
		// A full disk passes when space is freed: the gateway starts,
		// refuses records (retryably: the devices spool them) and opens
		// the archive once there is room, as the fleet registry does.
		e.logger.Error("The archive cannot be written: its disk is full; records are refused until it opens, tried again every few seconds", zap.Error(err), zap.Duration("retry", e.openRetry))
		e.notOpen.Store(&errNotOpen)
	case errors.As(err, &refusal):
		e.refuse(host, refusal)
	default:
		return err
	}
	e.wg.Add(1)
	go e.reopen(opts, host)
	return nil
}

// reopen tries to open the archive until it opens or shutdown: every few
// seconds while its disk is full, every witnessRetry while it is refused.
func (e *archiveExporter) reopen(opts archive.Options, host component.Host) {
	defer e.wg.Done()
	period := func() time.Duration {
		if *e.notOpen.Load() == errNotOpen {
			return e.openRetry
		}
		return e.witnessRetry
	}
	t := time.NewTimer(period())
	defer t.Stop()
	for {
		select {
		case <-e.stop:
			return
		case <-t.C:
		}
		err := e.open(opts, host)
		var refusal *witnessRefusal
		switch {
		case err == nil:
			if *e.notOpen.Load() == errNotOpen {
				e.logger.Info("The archive's disk has room again; the archive is open")
			} else {
				e.logger.Info("The archive is consistent with the checkpoints devices hold again; it is open and takes records")
				componentstatus.ReportStatus(host, componentstatus.NewEvent(componentstatus.StatusOK))
			}
			return
		case durable.IsDiskFull(err):
		case errors.As(err, &refusal):
			e.refuse(host, refusal)
		default:
			// What start would have refused (a damaged key chain) stops
			// the gateway here too.
			componentstatus.ReportStatus(host, componentstatus.NewFatalErrorEvent(err))
			return
		}
		t.Reset(period())
	}
}

// open opens the archive, reports what recovery found, checks it against the
// checkpoints devices hold, and starts the maintenance goroutines; only then
// does it take records.
func (e *archiveExporter) open(opts archive.Options, host component.Host) error {
	w, rec, err := e.openArchive(opts)
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
	if rec.KeyIgnored {
		e.logger.Warn("'signing_key_file' is not the archive's first key: the archive goes on with its own epoch keys and does not use it; to start over with a new key, start a new archive directory",
			zap.String("signing_key_file", e.cfg.SigningKeyFile))
	}
	if rec.Resealed > 0 {
		e.logger.Info("Finished sealing archive segments after an interrupted seal", zap.Int("segments", rec.Resealed))
	}
	e.witnessOK = map[[sha256.Size]byte]struct{}{}
	if e.witnesses = witnessesOf(host); e.witnesses != nil {
		// Before the archive takes any record.
		if err := e.checkWitnesses(e.witnesses); err != nil {
			_ = w.Close()
			e.writer = nil
			return err
		}
	}
	e.publish()
	e.wg.Add(1)
	go e.maintain()
	if e.witnesses != nil {
		e.witnessCh = make(chan witnessReport, witnessQueue)
		e.wg.Add(1)
		go e.runWitnessChecks()
		e.witnesses.SetWitnessCheck(e.onWitnessReport)
	}
	e.live.Store(w)
	return nil
}

// maintain seals aged segments and applies retention until shutdown.
func (e *archiveExporter) maintain() {
	defer e.wg.Done()
	seal := time.NewTicker(min(e.cfg.MaxSegmentAge, maxSealCheck))
	defer seal.Stop()
	retention := time.NewTicker(e.cfg.RetentionCheckInterval)
	defer retention.Stop()
	checkpoint := time.NewTicker(e.cfg.CheckpointInterval)
	defer checkpoint.Stop()
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
				e.publish()
			}
		case <-retention.C:
			e.applyRetention()
		case <-checkpoint.C:
			e.checkpoint()
			e.publish()
		}
	}
}

// checkpoint ends the key epoch when due and signs a checkpoint if the tree
// grew.
func (e *archiveExporter) checkpoint() {
	err := e.writer.Checkpoint()
	switch {
	case errors.Is(err, archive.ErrNotErased):
		e.logger.Error("An old archive signing key could not be erased: until it is, whoever reads it can re-sign that epoch's part of the archive; erase it by hand", zap.Error(err))
	case err != nil:
		e.logger.Warn("Signing an archive checkpoint failed; retrying at the next interval", zap.Error(err))
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
	w := e.live.Load()
	if w == nil {
		e.telemetry.ArchiveWriteErrors.Add(ctx, 1)
		if why := e.notOpen.Load(); why != nil {
			return *why
		}
		return errNotOpen
	}
	// Once the records are written only the fsync is left: the batch gives
	// its turn in the gateway's pipeline to the next one (pipelineturn).
	res, err := w.AppendThen(ld, func() { pipelineturn.Release(ctx) })
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
		e.wg.Wait() // the opener too: e.witnesses and e.writer are settled
		e.stop = nil
	}
	if e.witnesses != nil {
		e.witnesses.SetWitnessCheck(nil) // onWitnessReport never blocks
	}
	e.live.Store(nil)
	var err error
	if e.writer != nil {
		err = e.writer.Close()
		e.writer = nil
	}
	e.telemetry.Shutdown()
	return err
}
