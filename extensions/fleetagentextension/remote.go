package fleetagentextension // import "github.com/fleetlog/fleetlog/extensions/fleetagentextension"

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/open-telemetry/opamp-go/protobufs"
	"go.uber.org/zap"

	"github.com/fleetlog/fleetlog/internal/fleetproto"
	"github.com/fleetlog/fleetlog/internal/fleetstate"
)

// Errors a remote configuration is refused with, besides fleetproto's
// (ErrBadSignature, ErrWrongDevice, ErrMalformed, ErrKeyNotAllowed) and
// ErrInvalid.
var (
	ErrNoEnvelope = errors.New("remote config: no " + fleetproto.EnvelopeFile + " in the remote config")
	ErrReplay     = errors.New("remote config: serial is not above the newest this agent handled")
	ErrReference  = errors.New("remote config: a fragment may not use ${...} references")
)

const (
	// trialCheck is how often a candidate on trial looks for its first
	// acknowledged delivery.
	trialCheck = time.Second
	// idleConfirm confirms a candidate on a quiet device: with nothing
	// spooled that long there is no delivery to judge it by, and it started.
	idleConfirm = 10 * time.Second
)

// runRemote handles remote configurations one at a time, never while a
// candidate is on trial (a newer one waits for the trial's outcome).
func (a *fleetAgent) runRemote(ctx context.Context) {
	defer a.wg.Done()
	for {
		select {
		case <-ctx.Done():
			return
		case <-a.trial:
		}
		select {
		case <-ctx.Done():
			return
		case rc := <-a.remoteCh:
			a.handleRemote(ctx, rc)
		}
	}
}

// handleRemote verifies, checks and validates one remote configuration and
// stages it; the fleet provider's reload does the rest.
func (a *fleetAgent) handleRemote(ctx context.Context, rc *protobufs.AgentRemoteConfig) {
	st, err := a.dir.State()
	if err != nil {
		a.logger.Warn("Read remote config state", zap.Error(err))
		return
	}
	// The server sends its remote config until the agent reports its hash:
	// the one handled last is only reported again.
	if st.Last != nil && len(rc.ConfigHash) > 0 && bytes.Equal(st.Last.ConfigHash, rc.ConfigHash) {
		a.report(st)
		return
	}
	f, fragment, err := a.verify(ctx, rc, st)
	if err != nil {
		a.logger.Warn("Remote configuration refused", zap.Uint64("serial", f.Serial), zap.Error(err))
		a.record(fleetstate.Outcome{Fragment: f, State: fleetproto.RemoteConfigRefused, Error: err.Error(), At: a.now()})
		return
	}
	if _, err := a.dir.Stage(f, fragment, a.now()); err != nil {
		a.logger.Error("Stage remote configuration", zap.Error(err))
		a.record(fleetstate.Outcome{Fragment: f, State: fleetproto.RemoteConfigRefused, Error: "stage: " + err.Error(), At: a.now()})
		return
	}
	a.logger.Info("Applying remote configuration", zap.Uint64("serial", f.Serial), zap.String("name", f.Name))
	if st, err := a.dir.State(); err == nil {
		a.report(st)
	}
}

// verify returns the fragment of rc, or why it is refused. The serial in
// the returned Fragment is 0 until the signature verified.
func (a *fleetAgent) verify(ctx context.Context, rc *protobufs.AgentRemoteConfig, st fleetstate.State) (fleetstate.Fragment, []byte, error) {
	f := fleetstate.Fragment{ConfigHash: rc.ConfigHash}
	var env []byte
	if rc.Config != nil {
		if file := rc.Config.ConfigMap[fleetproto.EnvelopeFile]; file != nil {
			env = file.Body
		}
	}
	if env == nil {
		return f, nil, ErrNoEnvelope
	}
	as, err := fleetproto.Open(env, a.pub, a.identity.DeviceID)
	if err != nil {
		return f, nil, err
	}
	f.Serial, f.Name, f.Hash = as.Serial, as.Name, as.FragmentHash()
	newest := max(st.Applied.Serial, st.Newest)
	if st.Last != nil {
		newest = max(newest, st.Last.Serial)
	}
	if as.Serial <= newest {
		return f, nil, fmt.Errorf("%w: %d, the newest is %d", ErrReplay, as.Serial, newest)
	}
	m, err := fleetproto.ParseFragment(as.Fragment)
	if err != nil {
		return f, nil, err
	}
	if err := a.policy.Check(m); err != nil {
		return f, nil, err
	}
	if k := referenceKey(m, ""); k != "" {
		return f, nil, fmt.Errorf("%w: %s", ErrReference, k)
	}
	if err := a.validateMerged(ctx, as); err != nil {
		return f, nil, err
	}
	return f, as.Fragment, nil
}

// referenceKey returns the key of the first value (or key) holding "${": a
// fragment expanded by the agent's config providers could read the
// device's environment or files (${env:...}, ${file:...}) into values that
// leave it, such as labels.
func referenceKey(v any, key string) string {
	switch t := v.(type) {
	case map[string]any:
		for _, k := range sortedKeys(t) {
			p := k
			if key != "" {
				p = key + fleetproto.KeySeparator + k
			}
			if strings.Contains(k, "${") {
				return p
			}
			if r := referenceKey(t[k], p); r != "" {
				return r
			}
		}
	case []any:
		for i, e := range t {
			if r := referenceKey(e, fmt.Sprintf("%s[%d]", key, i)); r != "" {
				return r
			}
		}
	case string:
		if strings.Contains(t, "${") {
			return key
		}
	}
	return ""
}

// validateMerged writes the fragment to a private file beside the state and
// validates the configuration the agent would run with it.
func (a *fleetAgent) validateMerged(ctx context.Context, as *fleetproto.Assignment) error {
	path := filepath.Join(a.dir.Path(), fmt.Sprintf(".validate-%d.yaml", as.Serial))
	if err := os.WriteFile(path, as.Fragment, fleetstate.FileMode); err != nil {
		return fmt.Errorf("write fragment to validate: %w", err)
	}
	defer os.Remove(path)
	return a.validator.validate(ctx, path)
}

// record stores an outcome and reports it.
func (a *fleetAgent) record(o fleetstate.Outcome) {
	if err := a.dir.SetOutcome(o); err != nil {
		a.logger.Error("Record remote config outcome", zap.Error(err))
	}
	st, err := a.dir.State()
	if err != nil {
		st = fleetstate.State{Last: &o}
	}
	a.report(st)
}

// report hands the state to the OpAMP client and the next status report.
func (a *fleetAgent) report(st fleetstate.State) {
	a.setRemoteState(st)
	if st.Last != nil && len(st.Last.ConfigHash) > 0 {
		if err := a.client.SetRemoteConfigStatus(remoteConfigStatus(st.Last)); err != nil {
			a.logger.Debug("Report remote config status", zap.Error(err))
		}
	}
	a.kickReport()
}

// runTrial confirms the candidate this process runs once the pipelines
// started and a batch was acknowledged, or once nothing was spooled for
// idleConfirm (or the delivery timeout, if shorter); it rolls the candidate
// back when the timeout passes with records spooled and none acknowledged. A candidate that fails
// to start never gets here: the collector exits, and the fleet provider of
// the next process rolls it back.
func (a *fleetAgent) runTrial(ctx context.Context, c *fleetstate.Candidate) {
	defer a.wg.Done()
	defer close(a.trial)
	timeout := a.cfg.RemoteConfig.DeliveryTimeout
	deadline := a.startedAt.Add(timeout)
	idle := min(a.idleConfirm, timeout)
	var emptySince time.Time
	t := time.NewTicker(min(trialCheck, idle))
	defer t.Stop()
	a.logger.Info("Remote configuration on trial", zap.Uint64("serial", c.Serial), zap.Duration("delivery_timeout", timeout))
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		select {
		case <-a.ready:
		default:
			continue
		}
		s, _ := a.sourcesStatus()
		now := a.now()
		empty := s.Spool == nil || s.Spool.Records == 0
		switch {
		case !empty:
			emptySince = time.Time{}
		case emptySince.IsZero():
			emptySince = now
		}
		switch {
		case !s.LastAck.IsZero() && !s.LastAck.Before(a.startedAt):
			a.promote(c, "a batch was delivered")
			return
		case empty && now.Sub(emptySince) >= idle:
			a.promote(c, "nothing waited for delivery")
			return
		case now.Before(deadline) || empty:
			continue
		}
		reason := fmt.Sprintf("no delivery acknowledged within %s of applying while %d records are spooled", timeout, s.Spool.Records)
		a.logger.Warn("Rolling back remote configuration", zap.Uint64("serial", c.Serial), zap.String("reason", reason))
		if err := a.dir.RollBack(c, reason, now); err != nil {
			a.logger.Error("Roll back remote configuration", zap.Error(err))
		}
		if st, err := a.dir.State(); err == nil {
			a.report(st)
		}
		return
	}
}

func (a *fleetAgent) promote(c *fleetstate.Candidate, why string) {
	if err := a.dir.Promote(c, a.now()); err != nil {
		a.logger.Error("Confirm remote configuration", zap.Error(err))
		return
	}
	a.logger.Info("Remote configuration applied", zap.Uint64("serial", c.Serial), zap.String("confirmed_by", why))
	if st, err := a.dir.State(); err == nil {
		a.report(st)
	}
}
