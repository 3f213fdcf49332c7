// Package registry is the gateway's fleet registry: every device's newest
// report, its state, and the remote configuration assignments with their
// rollouts. The live state is in memory behind one mutex; Flush writes what
// changed to the store in one transaction, so thousands of heartbeats cost a
// few batched writes rather than one synchronous write each. Assignments and
// serial reservations, which are rare and must never be lost, are written
// before the call that makes them returns.
package registry

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/fleetlog/fleetlog/extensions/fleetcontrolextension/internal/rollout"
	"github.com/fleetlog/fleetlog/extensions/fleetcontrolextension/internal/store"
	"github.com/fleetlog/fleetlog/internal/fleetapi"
	"github.com/fleetlog/fleetlog/internal/fleetproto"
	"github.com/fleetlog/fleetlog/internal/pki"
)

// serialBlock is how many serials one durable reservation covers.
const serialBlock = 1024

// Errors of the assignment calls.
var (
	ErrNotFound        = errors.New("not found")
	ErrInvalid         = errors.New("invalid assignment")
	ErrRemoteConfigOff = errors.New("remote configuration is off: the gateway has no config signing key")
)

// Thresholds decide when a reporting device is degraded.
type Thresholds struct {
	// SilentAfter without a report makes a device silent.
	SilentAfter time.Duration
	// SpoolFillRatio of the spool's max_bytes in use makes it degraded.
	SpoolFillRatio float64
	// AckAge: records spooled and the oldest waiting longer than this (or,
	// when the age is unknown, no acknowledgement for longer).
	AckAge time.Duration
	// LossWindow: evicted or dropped records grew within this window.
	LossWindow time.Duration
	// MismatchHold: records claimed another device within this window.
	MismatchHold time.Duration
}

// Options configure a Registry.
type Options struct {
	Thresholds Thresholds
	// SigningKey signs remote configuration; nil turns it off.
	SigningKey ed25519.PrivateKey
	Policy     fleetproto.Policy
	// Denied reports whether a device is on the deny list.
	Denied func(id string) bool
	Now    func() time.Time
}

// Report is what one OpAMP message told about a device. A nil or empty
// field was not in the message (OpAMP sends unchanged parts only once).
type Report struct {
	Identity pki.DeviceIdentity
	// Described is true when the message carried the agent description;
	// Claimed, Labels and Version are only read then.
	Described           bool
	Claimed             fleetapi.Claims
	Labels              map[string]string
	Description         map[string]string
	Version             string
	Health              *fleetapi.Health
	EffectiveConfigHash string
	RemoteConfigStatus  *fleetapi.RemoteConfigStatus
	Status              *fleetproto.Status
}

// Delivery is a remote configuration to send a device.
type Delivery struct {
	Envelope []byte
	// Hash is the SHA-256 of Envelope, the OpAMP config hash.
	Hash []byte
}

// desired is the configuration the gateway holds for a device.
type desired struct {
	// Name and AssignmentSerial identify the assignment ("" and 0: back to
	// the local configuration).
	Name             string `json:"name"`
	AssignmentSerial uint64 `json:"assignment_serial"`
	// Serial is the envelope's serial, unique to this device and content.
	Serial   uint64 `json:"serial"`
	Envelope []byte `json:"envelope"`
	Hash     []byte `json:"hash"`
	Outcome  string `json:"outcome"`
	Error    string `json:"error,omitempty"`
}

// record is one device as stored.
type record struct {
	Device  fleetapi.Device `json:"device"`
	Desired *desired        `json:"desired,omitempty"`
	// LossTotal is evicted+dropped of the previous report; LossGrewAt when
	// it last grew.
	LossTotal  int64     `json:"loss_total"`
	LossGrewAt time.Time `json:"loss_grew_at,omitzero"`
	// DeniedAt is when a denied device last tried to connect.
	DeniedAt time.Time `json:"denied_at,omitzero"`
	// RecordsClaimed is the other device ID the device's records last
	// claimed (fleet_metadata), and RecordsClaimedAt when.
	RecordsClaimed   string    `json:"records_claimed,omitempty"`
	RecordsClaimedAt time.Time `json:"records_claimed_at,omitzero"`
}

// Registry is the fleet registry.
type Registry struct {
	opts  Options
	store *store.Store

	mu          sync.Mutex
	devices     map[string]*record
	assignments map[string]*fleetapi.Assignment
	dirty       map[string]struct{}
	nextSerial  uint64
	reserved    uint64
}

// Open loads the registry from st.
func Open(st *store.Store, opts Options) (*Registry, error) {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Denied == nil {
		opts.Denied = func(string) bool { return false }
	}
	r := &Registry{
		opts:        opts,
		store:       st,
		devices:     map[string]*record{},
		assignments: map[string]*fleetapi.Assignment{},
		dirty:       map[string]struct{}{},
	}
	err := st.Devices(func(id string, b []byte) error {
		var rec record
		if err := json.Unmarshal(b, &rec); err != nil {
			return fmt.Errorf("registry: device %s: %w", id, err)
		}
		rec.Device.Connected = false // no connection survives a restart
		r.devices[id] = &rec
		return nil
	})
	if err != nil {
		return nil, err
	}
	err = st.Assignments(func(name string, b []byte) error {
		var a fleetapi.Assignment
		if err := json.Unmarshal(b, &a); err != nil {
			return fmt.Errorf("registry: assignment %s: %w", name, err)
		}
		r.assignments[name] = &a
		return nil
	})
	if err != nil {
		return nil, err
	}
	reserved, err := st.SerialReserved()
	if err != nil {
		return nil, err
	}
	// Every serial below the reservation may have been issued before a
	// restart: continue above it.
	r.nextSerial, r.reserved = reserved, reserved
	return r, nil
}

// allocSerial returns a serial above every one issued before. Called with mu held.
func (r *Registry) allocSerial() (uint64, error) {
	if r.nextSerial+1 > r.reserved {
		if err := r.store.ReserveSerials(r.nextSerial + serialBlock); err != nil {
			return 0, fmt.Errorf("reserve serials: %w", err)
		}
		r.reserved = r.nextSerial + serialBlock
	}
	r.nextSerial++
	return r.nextSerial, nil
}

// Result is what the gateway answers a report with.
type Result struct {
	// Delivery is the remote configuration to send, or nil.
	Delivery *Delivery
	// NeedDescription is true while the registry holds no agent
	// description of the device: the answer asks for the agent's full state.
	NeedDescription bool
}

// Report records a device's message and returns the remote configuration to
// send it, if any.
func (r *Registry) Report(rep *Report) (Result, error) {
	del, err := r.report(rep)
	r.mu.Lock()
	rec := r.devices[rep.Identity.DeviceID]
	need := rec != nil && rec.Device.Claimed == nil
	r.mu.Unlock()
	return Result{Delivery: del, NeedDescription: need}, err
}

func (r *Registry) report(rep *Report) (*Delivery, error) {
	now := r.opts.Now()
	id := rep.Identity.DeviceID
	r.mu.Lock()
	defer r.mu.Unlock()
	rec := r.recordFor(rep.Identity, now)
	d := &rec.Device
	d.LastSeen = now
	d.Reports++
	if rep.Described {
		d.Claimed = &rep.Claimed
		d.Labels = rep.Labels
		d.Description = rep.Description
		if rep.Version != "" {
			d.Version = rep.Version
		}
	}
	if rep.Health != nil {
		d.Health = rep.Health
	}
	if rep.EffectiveConfigHash != "" {
		d.EffectiveConfigHash = rep.EffectiveConfigHash
	}
	if rep.RemoteConfigStatus != nil {
		d.RemoteConfigStatus = rep.RemoteConfigStatus
	}
	if s := rep.Status; s != nil {
		d.Status = s
		if s.Version != "" {
			d.Version = s.Version
		}
		if !s.AgentTime.IsZero() {
			d.ClockOffsetSeconds = s.AgentTime.Sub(now).Seconds()
		}
		if s.Spool != nil {
			total := s.Spool.Evicted + s.Spool.Dropped
			if total > rec.LossTotal && d.Reports > 1 {
				rec.LossGrewAt = now
			}
			rec.LossTotal = total
		}
	}
	r.dirty[id] = struct{}{}
	if err := r.updateDesired(rec); err != nil {
		return nil, err
	}
	r.updateOutcome(rec)
	ds := rec.Desired
	if ds == nil || ds.Outcome != fleetapi.OutcomePending {
		return nil, nil
	}
	if rcs := d.RemoteConfigStatus; rcs != nil && rcs.Hash == hex.EncodeToString(ds.Hash) {
		return nil, nil // it has it and is still applying
	}
	return &Delivery{Envelope: ds.Envelope, Hash: ds.Hash}, nil
}

// recordFor returns the device's record, created on first sight, with its
// identity refreshed from the certificate. Called with mu held.
func (r *Registry) recordFor(id pki.DeviceIdentity, now time.Time) *record {
	rec, ok := r.devices[id.DeviceID]
	if !ok {
		rec = &record{Device: fleetapi.Device{ID: id.DeviceID, FirstSeen: now}}
		r.devices[id.DeviceID] = rec
	}
	rec.Device.Fleet, rec.Device.Site = id.Fleet, id.Site
	return rec
}

// RefusedDenied records a connection attempt of a denied device.
func (r *Registry) RefusedDenied(id pki.DeviceIdentity) {
	now := r.opts.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	rec := r.recordFor(id, now)
	rec.DeniedAt = now
	r.dirty[id.DeviceID] = struct{}{}
}

// RecordIdentityMismatch records that the device's records claimed another
// device ID (seen by the gateway's fleet_metadata processor).
func (r *Registry) RecordIdentityMismatch(id pki.DeviceIdentity, claimed string) {
	now := r.opts.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	rec := r.recordFor(id, now)
	rec.RecordsClaimed, rec.RecordsClaimedAt = claimed, now
	r.dirty[id.DeviceID] = struct{}{}
}

// SetConnected records whether a device holds a WebSocket connection.
func (r *Registry) SetConnected(id pki.DeviceIdentity, connected bool) {
	now := r.opts.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	r.recordFor(id, now).Device.Connected = connected
}

// target returns the rollout view of a device.
func target(rec *record) rollout.Target {
	return rollout.Target{ID: rec.Device.ID, Fleet: rec.Device.Fleet, Site: rec.Device.Site, Labels: rec.Device.Labels}
}

// selects reports whether a selects the device; a denied device is never
// selected. Called with mu held.
func (r *Registry) selects(a *fleetapi.Assignment, rec *record) bool {
	return !r.opts.Denied(rec.Device.ID) && rollout.Selects(a.Selector, target(rec))
}

// choose returns the assignment a device should run: the newest that selects
// it and is released to it (or that it already has, even when halted since).
// Called with mu held.
func (r *Registry) choose(rec *record) *fleetapi.Assignment {
	var best *fleetapi.Assignment
	t := target(rec)
	for _, a := range r.assignments {
		if best != nil && a.Serial < best.Serial {
			continue
		}
		if !r.selects(a, rec) {
			continue
		}
		has := rec.Desired != nil && rec.Desired.Name == a.Name && rec.Desired.AssignmentSerial == a.Serial
		if has || rollout.Released(a, t.ID) {
			best = a
		}
	}
	return best
}

// updateDesired seals a new envelope when the device's assignment changed.
// Called with mu held.
func (r *Registry) updateDesired(rec *record) error {
	a := r.choose(rec)
	var name, fragment string
	var aSerial uint64
	if a != nil {
		name, fragment, aSerial = a.Name, a.Fragment, a.Serial
	}
	cur := rec.Desired
	switch {
	case cur == nil && a == nil:
		return nil // never configured remotely
	case cur != nil && cur.Name == name && cur.AssignmentSerial == aSerial:
		return nil
	case r.opts.SigningKey == nil:
		return nil
	}
	serial, err := r.allocSerial()
	if err != nil {
		return err
	}
	env, err := fleetproto.Seal(&fleetproto.Assignment{
		Serial: serial, Name: name, Device: rec.Device.ID, Fragment: []byte(fragment), IssuedAt: r.opts.Now().UTC(),
	}, r.opts.SigningKey)
	if err != nil {
		return err
	}
	h := sha256.Sum256(env)
	rec.Desired = &desired{Name: name, AssignmentSerial: aSerial, Serial: serial, Envelope: env, Hash: h[:], Outcome: fleetapi.OutcomePending}
	r.dirty[rec.Device.ID] = struct{}{}
	return nil
}

// updateOutcome reads the device's reports for the outcome of its desired
// configuration. Called with mu held.
func (r *Registry) updateOutcome(rec *record) {
	ds := rec.Desired
	if ds == nil {
		return
	}
	d := &rec.Device
	if s := d.Status; s != nil && s.RemoteConfig != nil {
		rc := s.RemoteConfig
		switch {
		case rc.Serial == ds.Serial && rc.State == fleetproto.RemoteConfigApplied, rc.AppliedSerial == ds.Serial:
			ds.Outcome, ds.Error = fleetapi.OutcomeApplied, ""
			return
		case rc.Serial == ds.Serial && (rc.State == fleetproto.RemoteConfigRefused || rc.State == fleetproto.RemoteConfigRolledBack):
			ds.Outcome, ds.Error = fleetapi.OutcomeFailed, rc.State+": "+rc.Error
			return
		}
	}
	if rcs := d.RemoteConfigStatus; rcs != nil && rcs.Hash == hex.EncodeToString(ds.Hash) {
		switch rcs.Status {
		case "APPLIED":
			ds.Outcome, ds.Error = fleetapi.OutcomeApplied, ""
		case "FAILED":
			ds.Outcome, ds.Error = fleetapi.OutcomeFailed, rcs.Error
		}
	}
}

// state computes a device's state and its reasons.
func (r *Registry) state(rec *record, now time.Time) (string, []string) {
	d := &rec.Device
	th := r.opts.Thresholds
	if r.opts.Denied(d.ID) {
		return fleetapi.StateDenied, []string{"on the deny list"}
	}
	reasons := mismatches(d)
	if !rec.RecordsClaimedAt.IsZero() && now.Sub(rec.RecordsClaimedAt) < th.MismatchHold {
		reasons = append(reasons, fmt.Sprintf("records claim device %q (last at %s)", rec.RecordsClaimed, rec.RecordsClaimedAt.UTC().Format(time.RFC3339)))
	}
	if len(reasons) > 0 {
		return fleetapi.StateIdentityMismatch, reasons
	}
	if d.LastSeen.IsZero() || now.Sub(d.LastSeen) > th.SilentAfter {
		return fleetapi.StateSilent, []string{"no report since " + d.LastSeen.UTC().Format(time.RFC3339)}
	}
	if h := d.Health; h != nil && !h.Healthy {
		reasons = append(reasons, "unhealthy: "+strings.TrimSpace(h.Status+" "+h.LastError))
	}
	if s := d.Status; s != nil && s.Spool != nil {
		sp := s.Spool
		if sp.MaxBytes > 0 && float64(sp.Bytes) >= th.SpoolFillRatio*float64(sp.MaxBytes) {
			reasons = append(reasons, fmt.Sprintf("spool %.0f%% full", 100*float64(sp.Bytes)/float64(sp.MaxBytes)))
		}
		if sp.Records > 0 {
			waited := time.Duration(sp.OldestAgeSeconds * float64(time.Second))
			if sp.OldestAgeSeconds == 0 && !s.LastAck.IsZero() {
				waited = s.AgentTime.Sub(s.LastAck)
			}
			if waited > th.AckAge {
				reasons = append(reasons, fmt.Sprintf("%d records spooled, undelivered for %s", sp.Records, waited.Round(time.Second)))
			}
		}
	}
	if !rec.LossGrewAt.IsZero() && now.Sub(rec.LossGrewAt) < th.LossWindow {
		reasons = append(reasons, "spool evicted or dropped records at "+rec.LossGrewAt.UTC().Format(time.RFC3339))
	}
	if ds := rec.Desired; ds != nil && ds.Outcome == fleetapi.OutcomeFailed {
		reasons = append(reasons, fmt.Sprintf("remote config %q failed: %s", ds.Name, ds.Error))
	}
	if len(reasons) > 0 {
		return fleetapi.StateDegraded, reasons
	}
	return fleetapi.StateHealthy, nil
}

// mismatches lists where the device's claims differ from its certificate.
func mismatches(d *fleetapi.Device) []string {
	c := d.Claimed
	if c == nil {
		return nil
	}
	var out []string
	for _, m := range []struct{ what, claimed, cert string }{
		{"device", c.DeviceID, d.ID}, {"fleet", c.Fleet, d.Fleet}, {"site", c.Site, d.Site},
	} {
		// A certificate that names no fleet or site leaves the claim
		// unconfirmed, as fleet_metadata does: how the device was
		// provisioned, not a sign of spoofing. A device ID is always named.
		if m.claimed != "" && m.cert != "" && m.claimed != m.cert {
			out = append(out, fmt.Sprintf("claims %s %q, certificate says %q", m.what, m.claimed, m.cert))
		}
	}
	return out
}

// view returns the API view of a record. Called with mu held.
func (r *Registry) view(rec *record, now time.Time) fleetapi.Device {
	d := rec.Device
	d.Labels = maps.Clone(d.Labels)
	d.Description = maps.Clone(d.Description)
	d.State, d.Reasons = r.state(rec, now)
	if ds := rec.Desired; ds != nil {
		d.Assignment = &fleetapi.DeviceAssignment{Name: ds.Name, Serial: ds.Serial, Outcome: ds.Outcome, Error: ds.Error}
	}
	return d
}

// Filter selects devices; empty fields match all.
type Filter struct{ Fleet, Site, State string }

// Devices lists the devices the filter selects, sorted by ID.
func (r *Registry) Devices(f Filter) []fleetapi.Device {
	now := r.opts.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]fleetapi.Device, 0, len(r.devices))
	for _, rec := range r.devices {
		if (f.Fleet != "" && rec.Device.Fleet != f.Fleet) || (f.Site != "" && rec.Device.Site != f.Site) {
			continue
		}
		d := r.view(rec, now)
		if f.State != "" && d.State != f.State {
			continue
		}
		out = append(out, d)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// RangeHeartbeats calls fn with each device's identity and its last report,
// until fn returns false. fn runs under the registry's lock: it must not
// call back into the registry.
func (r *Registry) RangeHeartbeats(fn func(device, fleet, site string, last time.Time) bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for id, rec := range r.devices {
		if !fn(id, rec.Device.Fleet, rec.Device.Site, rec.Device.LastSeen) {
			return
		}
	}
}

// RangeWitnessed calls fn with each device's checkpoints of its newest
// report (newest last), skipping denied devices and those that hold none,
// until fn returns false. fn runs under the registry's lock: it must not
// call back into the registry.
func (r *Registry) RangeWitnessed(fn func(device string, notes []string) bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for id, rec := range r.devices {
		s := rec.Device.Status
		if s == nil || len(s.Checkpoints) == 0 || (r.opts.Denied != nil && r.opts.Denied(id)) {
			continue
		}
		if !fn(id, s.Checkpoints) {
			return
		}
	}
}

// Device returns one device.
func (r *Registry) Device(id string) (fleetapi.Device, bool) {
	now := r.opts.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	rec, ok := r.devices[id]
	if !ok {
		return fleetapi.Device{}, false
	}
	return r.view(rec, now), true
}

// Counts returns the number of devices per state.
func (r *Registry) Counts() map[string]int {
	now := r.opts.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make(map[string]int, len(fleetapi.States))
	for _, s := range fleetapi.States {
		out[s] = 0
	}
	for _, rec := range r.devices {
		s, _ := r.state(rec, now)
		out[s]++
	}
	return out
}

// SetAssignment validates and stores an assignment, replacing one of the
// same name, and returns it. The devices it selects get it from their next
// message on (see Changed).
func (r *Registry) SetAssignment(spec fleetapi.AssignmentSpec) (*fleetapi.Assignment, error) {
	if err := r.validate(&spec); err != nil {
		return nil, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	serial, err := r.allocSerial()
	if err != nil {
		return nil, err
	}
	a := &fleetapi.Assignment{
		AssignmentSpec: spec,
		Serial:         serial,
		CreatedAt:      r.opts.Now().UTC(),
		Stage:          fleetapi.StageAll,
		State:          fleetapi.RolloutInProgress,
	}
	if rollout.Staged(&spec) {
		a.Stage = fleetapi.StageFirst
	}
	b, err := json.Marshal(a)
	if err != nil {
		return nil, err
	}
	if err := r.store.PutAssignment(a.Name, b); err != nil {
		return nil, fmt.Errorf("store assignment: %w", err)
	}
	r.assignments[a.Name] = a
	out := r.assignmentView(a, false)
	return &out, nil
}

func (r *Registry) validate(spec *fleetapi.AssignmentSpec) error {
	if r.opts.SigningKey == nil {
		return ErrRemoteConfigOff
	}
	if err := pki.ValidateName("assignment", spec.Name); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	if spec.Selector.Empty() {
		return fmt.Errorf("%w: the selector selects no device: name a fleet, site, label or devices", ErrInvalid)
	}
	if spec.Percent < 0 || spec.Percent > 100 {
		return fmt.Errorf("%w: percent %d is not between 0 and 100", ErrInvalid, spec.Percent)
	}
	if spec.MaxFailureRate < 0 || spec.MaxFailureRate > 1 {
		return fmt.Errorf("%w: max_failure_rate %g is not between 0 and 1", ErrInvalid, spec.MaxFailureRate)
	}
	m, err := fleetproto.ParseFragment([]byte(spec.Fragment))
	if err != nil {
		return fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	if err := r.opts.Policy.Check(m); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	return nil
}

// DeleteAssignment removes an assignment; its devices go back to the next
// assignment that selects them or to their local configuration.
func (r *Registry) DeleteAssignment(name string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.assignments[name]; !ok {
		return fmt.Errorf("assignment %q: %w", name, ErrNotFound)
	}
	if err := r.store.DeleteAssignment(name); err != nil {
		return fmt.Errorf("delete assignment: %w", err)
	}
	delete(r.assignments, name)
	return nil
}

// Assignments lists the assignments, newest first.
func (r *Registry) Assignments() []fleetapi.Assignment {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]fleetapi.Assignment, 0, len(r.assignments))
	for _, a := range r.assignments {
		out = append(out, r.assignmentView(a, false))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Serial > out[j].Serial })
	return out
}

// Assignment returns one assignment with each targeted device's outcome.
func (r *Registry) Assignment(name string) (fleetapi.Assignment, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	a, ok := r.assignments[name]
	if !ok {
		return fleetapi.Assignment{}, false
	}
	return r.assignmentView(a, true), true
}

// assignmentView counts an assignment's rollout. Called with mu held.
func (r *Registry) assignmentView(a *fleetapi.Assignment, withDevices bool) fleetapi.Assignment {
	out := *a
	out.Devices = nil
	out.Counts = fleetapi.Counts{}
	for _, rec := range r.devices {
		if !r.selects(a, rec) {
			continue
		}
		out.Counts.Selected++
		ds := rec.Desired
		if ds == nil || ds.Name != a.Name || ds.AssignmentSerial != a.Serial {
			continue
		}
		out.Counts.Targeted++
		switch ds.Outcome {
		case fleetapi.OutcomeApplied:
			out.Counts.Applied++
		case fleetapi.OutcomeFailed:
			out.Counts.Failed++
		default:
			out.Counts.Pending++
		}
		if withDevices {
			out.Devices = append(out.Devices, fleetapi.DeviceOutcome{Device: rec.Device.ID, Serial: ds.Serial, Outcome: ds.Outcome, Error: ds.Error})
		}
	}
	slices.SortFunc(out.Devices, func(x, y fleetapi.DeviceOutcome) int { return strings.Compare(x.Device, y.Device) })
	return out
}

// Changed returns the IDs of the devices whose configuration changed since
// they last reported, after advancing every rollout: a caller with a
// connection to one of them pushes the new configuration at once.
func (r *Registry) Changed() ([]string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.advance(); err != nil {
		return nil, err
	}
	var ids []string
	for id, rec := range r.devices {
		before := rec.Desired
		if err := r.updateDesired(rec); err != nil {
			return ids, err
		}
		if rec.Desired != before && rec.Device.Connected {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	return ids, nil
}

// Pending returns the delivery for a device's pending configuration.
func (r *Registry) Pending(id string) *Delivery {
	r.mu.Lock()
	defer r.mu.Unlock()
	rec, ok := r.devices[id]
	if !ok || rec.Desired == nil || rec.Desired.Outcome != fleetapi.OutcomePending {
		return nil
	}
	return &Delivery{Envelope: rec.Desired.Envelope, Hash: rec.Desired.Hash}
}

// advance moves every rollout on and stores the ones that changed. Called
// with mu held.
func (r *Registry) advance() error {
	now := r.opts.Now()
	for _, a := range r.assignments {
		if a.State != fleetapi.RolloutInProgress {
			continue
		}
		var outcomes []rollout.Outcome
		selected := 0
		for _, rec := range r.devices {
			if !r.selects(a, rec) {
				continue
			}
			selected++
			silent := now.Sub(rec.Device.LastSeen) > r.opts.Thresholds.SilentAfter
			ds := rec.Desired
			switch {
			case ds != nil && ds.Name == a.Name && ds.AssignmentSerial == a.Serial:
				outcomes = append(outcomes, rollout.Outcome{Device: rec.Device.ID, Outcome: ds.Outcome, Silent: silent})
			case a.Stage == fleetapi.StageFirst && rollout.InFirstStage(&a.AssignmentSpec, rec.Device.ID):
				// Not sent yet: the first stage waits for it too.
				outcomes = append(outcomes, rollout.Outcome{Device: rec.Device.ID, Outcome: fleetapi.OutcomePending, Silent: silent})
			}
		}
		if !rollout.Advance(a, outcomes, selected) {
			continue
		}
		b, err := json.Marshal(a)
		if err != nil {
			return err
		}
		if err := r.store.PutAssignment(a.Name, b); err != nil {
			return fmt.Errorf("store assignment: %w", err)
		}
	}
	return nil
}

// Flush writes the devices that changed since the last flush in one
// transaction and returns how many.
func (r *Registry) Flush() (int, error) {
	r.mu.Lock()
	recs := make(map[string][]byte, len(r.dirty))
	for id := range r.dirty {
		b, err := json.Marshal(r.devices[id])
		if err != nil {
			r.mu.Unlock()
			return 0, err
		}
		recs[id] = b
	}
	clear(r.dirty)
	r.mu.Unlock()
	if err := r.store.PutDevices(recs); err != nil {
		// Keep them dirty for the next flush.
		r.mu.Lock()
		for id := range recs {
			r.dirty[id] = struct{}{}
		}
		r.mu.Unlock()
		return 0, err
	}
	return len(recs), nil
}
