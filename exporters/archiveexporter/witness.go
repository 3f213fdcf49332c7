package archiveexporter // import "github.com/fleetlog/fleetlog/exporters/archiveexporter"

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componentstatus"
	"go.uber.org/zap"

	"github.com/fleetlog/fleetlog/internal/archive"
	"github.com/fleetlog/fleetlog/internal/fleetproto"
)

// Witnesses: the devices keep the archive's checkpoints (fleet_control
// hands them out); the archive is checked against them before it takes
// records, and whenever a device reports new ones.
const (
	// witnessQueue bounds the reports waiting for the check; a report that
	// finds it full is checked with the device's next new checkpoints.
	witnessQueue = 256
	// witnessCacheSize bounds the checkpoints known to be consistent.
	witnessCacheSize = 4096
	// maxNamedDevices bounds how many devices a refusal names.
	maxNamedDevices = 5
	// maxRefusalFindings bounds the findings a refusal raises alerts for
	// (fleet_control keeps no more).
	maxRefusalFindings = 64
)

// ErrWitnessed is the refusal: devices hold checkpoints the archive is
// inconsistent with.
var ErrWitnessed = errors.New("the archive is inconsistent with checkpoints devices hold")

// errWitnessRefused is what a refused archive answers a batch with,
// retryably: the devices keep their records. It names no device (the
// answer goes to devices); the log and the alert do.
var errWitnessRefused = fmt.Errorf("%w: it takes no records until the operator puts it right", ErrWitnessed)

// witnessRefusal is the archive's refusal to take records: the devices that
// hold checkpoints it is inconsistent with, each a finding for the alert.
type witnessRefusal struct {
	findings []fleetproto.WitnessFinding // sorted by device, at most maxRefusalFindings
	msg      string
}

func (r *witnessRefusal) Error() string { return r.msg }
func (r *witnessRefusal) Unwrap() error { return ErrWitnessed }

type witnessReport struct {
	device string
	notes  []string
}

// witnessesOf returns the first extension (by ID) that keeps devices'
// checkpoints, or nil.
func witnessesOf(host component.Host) fleetproto.CheckpointWitnesses {
	w, _ := fleetproto.Extension[fleetproto.CheckpointWitnesses](host)
	return w
}

// checkWitnesses checks the archive against every device's checkpoints in
// the fleet registry. A checkpoint the archive is inconsistent with refuses
// the archive (a *witnessRefusal); one that proves nothing (not signed by
// the archive's keys) is logged.
func (e *archiveExporter) checkWitnesses(wit fleetproto.CheckpointWitnesses) error {
	var reports []witnessReport
	open := wit.RangeWitnessed(func(device string, notes []string) bool {
		reports = append(reports, witnessReport{device, append([]string(nil), notes...)})
		return true
	})
	if !open {
		e.logger.Warn("The fleet registry is not open (a full disk): the archive starts without checking it against the checkpoints devices hold; it checks each device's at its next report")
		return nil
	}
	sort.Slice(reports, func(i, j int) bool { return reports[i].device < reports[j].device })
	seen := map[string]error{}
	var found []string
	var findings []fleetproto.WitnessFinding
	devices, checked := 0, 0
	origin := e.writer.Origin()
	otherOrigin := map[string]string{} // device → the other archive it witnessed
	for _, r := range reports {
		var bad *archive.WitnessError
		if o := otherArchive(r.notes, origin); o != "" {
			otherOrigin[r.device] = o
		}
		for _, n := range r.notes {
			err, ok := seen[n]
			if !ok {
				err = e.writer.CheckWitness([]byte(n))
				seen[n] = err
				checked++
			}
			var we *archive.WitnessError
			switch {
			case err == nil:
			case errors.As(err, &we):
				if bad == nil {
					bad = we
				}
			case errors.Is(err, archive.ErrWitnessForged):
				e.logger.Error("A device holds a checkpoint of this archive that the archive's keys did not sign; it proves nothing, investigate the device",
					zap.String("device", r.device), zap.Error(err))
			case errors.Is(err, archive.ErrWitnessOther):
				e.logger.Debug("A device holds another archive's checkpoint", zap.String("device", r.device), zap.Error(err))
			case errors.Is(err, archive.ErrWitnessUnchecked):
				e.logger.Info("A device's checkpoint covers records retention deleted; it is not checked", zap.String("device", r.device), zap.Error(err))
			default:
				return fmt.Errorf("'directory': check the archive against device %s's checkpoints: %w", r.device, err)
			}
		}
		if bad != nil {
			devices++
			if len(found) < maxNamedDevices {
				found = append(found, fmt.Sprintf("device %s: %s", r.device, bad.Diagnosis()))
			}
			if len(findings) < maxRefusalFindings {
				findings = append(findings, fleetproto.WitnessFinding{
					Device: r.device, Problem: string(bad.Problem), Detail: bad.Error(), At: time.Now()})
			}
		}
	}
	if devices > 0 {
		more := ""
		if devices > len(found) {
			more = fmt.Sprintf(" (and %d more devices)", devices-len(found))
		}
		return &witnessRefusal{findings: findings, msg: fmt.Sprintf("'directory': %v: %s%s. The archive was rolled back, truncated or rewritten since those checkpoints were signed: put the newest copy of the archive directory back, or copy the device's checkpoints (the agent's %s) and run 'fleetlogctl archive verify --checkpoint FILE' to see what changed; a device that cannot be trusted is no witness once it is on the deny list",
			ErrWitnessed, strings.Join(found, "; "), more, fleetproto.WitnessFile)}
	}
	if len(otherOrigin) > 0 {
		var example string
		for d, o := range otherOrigin {
			if example == "" || d < example {
				example = d + " holds " + o
			}
		}
		e.logger.Warn("Devices hold checkpoints only of another archive than this one: unless the archive was started over on purpose (a new signing key), it was replaced; their checkpoints prove nothing about this one",
			zap.String("archive", origin), zap.Int("devices", len(otherOrigin)), zap.String("for_example", example))
	}
	if checked > 0 {
		e.logger.Info("The archive is consistent with the checkpoints devices hold", zap.Int("devices", len(reports)), zap.Int("checkpoints", checked))
	}
	e.witnessOK = make(map[[sha256.Size]byte]struct{}, len(seen))
	for n, err := range seen {
		if err == nil {
			e.witnessOK[sha256.Sum256([]byte(n))] = struct{}{}
		}
	}
	return nil
}

// refuse keeps the archive closed: batches are refused retryably (the
// devices spool them), each inconsistent device raises the alert
// archive_witness_inconsistent (fleet_control hands the findings to the
// alert connector, and every recheck again, so the alert fires while the
// refusal lasts), and the exporter's status is a permanent error. Writing on
// would extend a history that devices' checkpoints contradict; exiting would
// leave no process to send the alert.
func (e *archiveExporter) refuse(host component.Host, r *witnessRefusal) {
	prev := e.notOpen.Swap(&errWitnessRefused)
	first := prev == nil || *prev != errWitnessRefused
	for _, f := range r.findings {
		e.witnesses.RecordWitnessFinding(f)
	}
	if !first {
		e.logger.Warn("The archive is still inconsistent with checkpoints devices hold; it takes no records", zap.Error(r), zap.Duration("next_check", e.witnessRetry))
		return
	}
	e.logger.Error("The archive refuses records: it is inconsistent with checkpoints devices hold. Devices keep their records in their spools; it is checked again every next_check and opens once it is put right",
		zap.Error(r), zap.Duration("next_check", e.witnessRetry))
	componentstatus.ReportStatus(host, componentstatus.NewPermanentErrorEvent(r))
}

// onWitnessReport queues a device's new checkpoints for the check; it
// never blocks the control plane.
func (e *archiveExporter) onWitnessReport(device string, notes []string) {
	select {
	case e.witnessCh <- witnessReport{device, notes}:
	default:
		e.logger.Debug("Witness check queue full; the device's checkpoints are checked at its next new report", zap.String("device", device))
	}
}

// runWitnessChecks checks queued reports until shutdown.
func (e *archiveExporter) runWitnessChecks() {
	defer e.wg.Done()
	for {
		select {
		case <-e.stop:
			return
		case r := <-e.witnessCh:
			e.checkReport(r)
		}
	}
}

// checkReport checks one report's checkpoints; an inconsistency is logged
// and raised as an alert (fleet_control keeps it for the alert connector).
func (e *archiveExporter) checkReport(r witnessReport) {
	for _, n := range r.notes {
		sum := sha256.Sum256([]byte(n))
		if _, ok := e.witnessOK[sum]; ok {
			continue
		}
		err := e.writer.CheckWitness([]byte(n))
		var we *archive.WitnessError
		switch {
		case err == nil:
			if len(e.witnessOK) >= witnessCacheSize {
				clear(e.witnessOK)
			}
			e.witnessOK[sum] = struct{}{}
		case errors.As(err, &we):
			e.logger.Error("The archive is inconsistent with a checkpoint a device holds: it was rolled back, truncated or rewritten",
				zap.String("device", r.device), zap.String("problem", string(we.Problem)), zap.Error(err))
			e.witnesses.RecordWitnessFinding(fleetproto.WitnessFinding{
				Device: r.device, Problem: string(we.Problem), Detail: err.Error(), At: time.Now()})
			return
		case errors.Is(err, archive.ErrWitnessForged):
			e.logger.Error("A device holds a checkpoint of this archive that the archive's keys did not sign; it proves nothing, investigate the device",
				zap.String("device", r.device), zap.Error(err))
		case errors.Is(err, archive.ErrWitnessOther), errors.Is(err, archive.ErrWitnessUnchecked):
		default:
			e.logger.Warn("Checking a device's checkpoint failed; it is checked again at its next new report", zap.String("device", r.device), zap.Error(err))
		}
	}
}

// publish hands the archive's newest checkpoint to fleet_control when it
// changed.
func (e *archiveExporter) publish() {
	if e.witnesses == nil {
		return
	}
	note := e.writer.LatestCheckpointNote()
	if len(note) == 0 || string(note) == string(e.published) {
		return
	}
	e.published = note
	e.witnesses.PublishCheckpoint(note)
}

// otherArchive returns the origin of a device's checkpoints when they are all
// of another archive than origin, else "".
func otherArchive(notes []string, origin string) string {
	other := ""
	for _, n := range notes {
		cp, err := archive.ParseCheckpoint([]byte(n))
		if err != nil {
			continue
		}
		if cp.Origin == origin {
			return ""
		}
		other = cp.Origin
	}
	return other
}
