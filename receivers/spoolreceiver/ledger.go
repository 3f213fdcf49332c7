package spoolreceiver // import "github.com/fleetlog/fleetlog/receivers/spoolreceiver"

import (
	"context"
	"errors"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/stanza/operator"
	"go.opentelemetry.io/collector/extension/xextension/storage"
	"go.uber.org/zap"

	"github.com/fleetlog/fleetlog/receivers/spoolreceiver/internal/ledger"
	"github.com/fleetlog/fleetlog/receivers/spoolreceiver/internal/spool"
)

const (
	// ledgerSubdir holds one ledger per file input (package ledger).
	ledgerSubdir = "ledger"
	ledgerExt    = ".ledger"
)

// ledgerFile is the file name of input name's ledger.
func ledgerFile(name string) string {
	return "files-" + url.PathEscape(name) + ledgerExt
}

// openLedgers opens each file input's ledger, so that lines a crash left
// spooled past the input's saved checkpoint are skipped when read again, and
// removes the ledgers of inputs no longer configured. An input whose ledger
// cannot be opened runs without one: after a crash its lines since the last
// checkpoint are spooled again, as they would be without ledgers.
func (r *spoolReceiver) openLedgers() {
	dir := filepath.Join(r.cfg.Directory, ledgerSubdir)
	boot := ledger.BootID()
	r.ledgers = make(map[*FileConfig]*ledger.Ledger, len(r.cfg.Files))
	keep := map[string]bool{}
	for _, name := range sortedKeys(r.cfg.Files) {
		file := ledgerFile(name)
		keep[file] = true
		lg, err := ledger.Open(ledger.Options{
			Path: filepath.Join(dir, file), SpoolID: r.sp.ID(), BootID: boot, Held: r.sp.Held,
		})
		if err != nil {
			r.set.Logger.Warn("File input runs without its ledger: after a crash, lines since its last checkpoint are spooled again",
				zap.String("input", name), zap.Error(err))
			continue
		}
		if st := lg.Stats(); st.Loaded > 0 || st.Untrusted > 0 {
			r.set.Logger.Info("File input resumes past the batches it spooled before the restart",
				zap.String("input", name), zap.Int("batches", st.Loaded), zap.Int("batches_not_trusted", st.Untrusted))
		}
		r.ledgers[r.cfg.Files[name]] = lg
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if n := e.Name(); strings.HasSuffix(n, ledgerExt) && !keep[n] {
			_ = os.Remove(filepath.Join(dir, n))
		}
	}
}

// closeLedgers closes the ledgers (after the file inputs stopped).
func (r *spoolReceiver) closeLedgers() {
	for _, lg := range r.ledgers {
		_ = lg.Close()
	}
	r.ledgers = nil
}

// skipSpooled returns how many leading lines of one emit call lg knows as
// spooled before this start (see package ledger), counting them.
func (r *spoolReceiver) skipSpooled(ctx context.Context, lg *ledger.Ledger, tokens [][]byte, lastRecord int64, offsets []int64) int {
	n := lg.Skip(tokens, lastRecord, offsets)
	if n > 0 && r.telemetry != nil {
		r.telemetry.SpoolRereadSkippedRecords.Add(ctx, int64(n))
	}
	return n
}

// appendLines appends the records of one emit call's lines (tokens at
// offsets) as appendRecords does with waitForRoom, and records the batch in
// lg: the spool calls back once every record is buffered and before any is
// written to its files, so a crash leaves the ledger entry with or without
// the records (which the spool tells at the next start), never the records
// without the entry. perLine says recs are one per token, in order: then
// a crash that leaves the spool with the batch's first records only lets
// the restart skip their lines. When the first try does not take the whole
// batch (a full disk, shutdown), the rest goes through appendRecords
// unrecorded: after a crash those lines are read again.
func (r *spoolReceiver) appendLines(ctx context.Context, lg *ledger.Ledger, recs []spool.Record, perLine bool, tokens [][]byte, lastRecord int64, offsets []int64) error {
	if lg == nil || r.sp == nil {
		return r.appendRecords(ctx, recs, waitForRoom)
	}
	var werr error
	err := r.sp.AppendPlaced(ctx, recs, func(where spool.Placement) {
		if !perLine || len(recs) != len(tokens) {
			where.First = 0 // which lines a part of the records holds is unknown
		}
		werr = lg.Record(tokens, lastRecord, offsets, where, r.sp.Durable())
	})
	if werr != nil {
		r.ledgerFailed(werr)
	}
	if err == nil {
		r.intakeResumed()
		return nil
	}
	var pe *spool.PartialError
	if errors.As(err, &pe) {
		if recs = recs[pe.Appended:]; len(recs) == 0 {
			return nil // taken, not yet durable: as appendRecords
		}
	}
	if errors.Is(err, spool.ErrClosed) || errors.Is(err, spool.ErrTooLarge) || ctx.Err() != nil {
		return err
	}
	return r.appendRecords(ctx, recs, waitForRoom)
}

// ledgerFailed logs a ledger that stopped recording (once per stop).
func (r *spoolReceiver) ledgerFailed(err error) {
	r.set.Logger.Warn("File input ledger not written: after a crash, lines since its last checkpoint are spooled again", zap.Error(err))
}

// ledgerPersister is a file input's checkpoint persister: once fileconsumer
// saved its offsets, the input's ledger is cut back (the checkpoint covers
// every batch it holds).
type ledgerPersister struct {
	operator.Persister
	lg     *ledger.Ledger
	logger *zap.Logger
}

// Batch applies ops and tells the ledger when they saved the offsets.
func (p ledgerPersister) Batch(ctx context.Context, ops ...*storage.Operation) error {
	saves := false
	for _, op := range ops {
		// (Read the key before the scoped persister below prefixes it.)
		saves = saves || (op.Type == storage.Set && op.Key == knownFilesKey)
	}
	if err := p.Persister.Batch(ctx, ops...); err != nil {
		return err
	}
	if !saves {
		return nil
	}
	skipped, err := p.lg.Saved()
	if skipped > 0 {
		p.logger.Info("File input skipped the lines it had spooled before the restart", zap.Int64("lines", skipped))
	}
	if err != nil {
		// The offsets are saved: only the ledger stops recording until
		// the next checkpoint, so a crash meanwhile re-reads lines.
		p.logger.Warn("File input ledger not cut back at its checkpoint", zap.Error(err))
	}
	return nil
}

// Set stores one value, as Batch.
func (p ledgerPersister) Set(ctx context.Context, key string, value []byte) error {
	return p.Batch(ctx, storage.SetOperation(key, value))
}
