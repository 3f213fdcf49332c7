package fleetagentextension // import "github.com/fleetlog/fleetlog/extensions/fleetagentextension"

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"runtime"
	"sort"
	"time"

	"github.com/google/uuid"
	"github.com/open-telemetry/opamp-go/client/types"
	"github.com/open-telemetry/opamp-go/protobufs"
	"go.opentelemetry.io/collector/component/componentstatus"
	"go.opentelemetry.io/collector/extension/extensioncapabilities"
	"go.uber.org/zap"

	"github.com/fleetlog/fleetlog/internal/fleetproto"
	"github.com/fleetlog/fleetlog/internal/fleetstate"
)

// Attribute names of the agent description, from OpenTelemetry's semantic
// conventions; the device's own come from fleetproto.
const (
	attrServiceName       = "service.name"
	attrServiceInstanceID = "service.instance.id"
	attrOSType            = "os.type"
	attrHostArch          = "host.arch"
	attrHostName          = "host.name"
)

// description is the OpAMP agent description. The device ID, fleet and
// site in it are claims: the gateway identifies the device by its
// certificate and only compares them.
func (a *fleetAgent) description(uid [16]byte) *protobufs.AgentDescription {
	host, _ := os.Hostname()
	a.mu.Lock()
	labels := a.labels
	a.mu.Unlock()
	d := &protobufs.AgentDescription{
		IdentifyingAttributes: []*protobufs.KeyValue{
			kv(attrServiceName, a.buildInfo.Command),
			kv(attrServiceInstanceID, uuid.UUID(uid).String()),
			kv(fleetproto.DescriptionVersion, a.buildInfo.Version),
		},
		NonIdentifyingAttributes: []*protobufs.KeyValue{
			kv(attrOSType, runtime.GOOS),
			kv(attrHostArch, runtime.GOARCH),
			kv(attrHostName, host),
		},
	}
	if a.identity.DeviceID != "" {
		d.IdentifyingAttributes = append(d.IdentifyingAttributes, kv(fleetproto.DescriptionDeviceID, a.identity.DeviceID))
	}
	if a.identity.Fleet != "" {
		d.NonIdentifyingAttributes = append(d.NonIdentifyingAttributes, kv(fleetproto.DescriptionFleet, a.identity.Fleet))
	}
	if a.identity.Site != "" {
		d.NonIdentifyingAttributes = append(d.NonIdentifyingAttributes, kv(fleetproto.DescriptionSite, a.identity.Site))
	}
	for _, k := range sortedKeys(labels) {
		d.NonIdentifyingAttributes = append(d.NonIdentifyingAttributes, kv(fleetproto.DescriptionLabelPrefix+k, labels[k]))
	}
	return d
}

func kv(k, v string) *protobufs.KeyValue {
	return &protobufs.KeyValue{Key: k, Value: &protobufs.AnyValue{Value: &protobufs.AnyValue_StringValue{StringValue: v}}}
}

// ComponentStatusChanged implements componentstatus.Watcher: the
// component's health goes to the gateway as OpAMP ComponentHealth.
func (a *fleetAgent) ComponentStatusChanged(source *componentstatus.InstanceID, event *componentstatus.Event) {
	if source == nil || event == nil {
		return
	}
	key := source.Kind().String() + ":" + source.ComponentID().String()
	h := &protobufs.ComponentHealth{
		Healthy:            healthy(event.Status()),
		Status:             event.Status().String(),
		StatusTimeUnixNano: uint64(event.Timestamp().UnixNano()),
	}
	if err := event.Err(); err != nil {
		h.LastError = err.Error()
	}
	a.mu.Lock()
	a.health[key] = h
	started, c := a.started, a.client
	a.mu.Unlock()
	if started {
		if err := c.SetHealth(a.aggregateHealth()); err != nil {
			a.logger.Debug("Report health", zap.Error(err))
		}
	}
}

func healthy(s componentstatus.Status) bool {
	switch s {
	case componentstatus.StatusRecoverableError, componentstatus.StatusPermanentError, componentstatus.StatusFatalError:
		return false
	}
	return true
}

// aggregateHealth is the agent's health: healthy when every component is,
// with the status and error of the first unhealthy one.
func (a *fleetAgent) aggregateHealth() *protobufs.ComponentHealth {
	a.mu.Lock()
	defer a.mu.Unlock()
	agg := &protobufs.ComponentHealth{
		Healthy:            true,
		Status:             componentstatus.StatusOK.String(),
		StartTimeUnixNano:  uint64(a.startedAt.UnixNano()),
		StatusTimeUnixNano: uint64(a.now().UnixNano()),
		ComponentHealthMap: make(map[string]*protobufs.ComponentHealth, len(a.health)),
	}
	if len(a.health) == 0 {
		agg.Status = componentstatus.StatusStarting.String()
	}
	for _, k := range sortedKeys(a.health) {
		h := a.health[k]
		agg.ComponentHealthMap[k] = h
		if !h.Healthy && agg.Healthy {
			agg.Healthy, agg.Status, agg.LastError = false, h.Status, h.LastError
		}
	}
	return agg
}

// NotifyConfigSnapshot implements extensioncapabilities.ConfigSnapshotWatcher.
// Only a hash of the effective configuration leaves the device, never the
// configuration, which may hold secrets; the device's labels in it go into
// the agent description.
func (a *fleetAgent) NotifyConfigSnapshot(_ context.Context, snap extensioncapabilities.ConfigSnapshot) error {
	conf := snap.Effective()
	if conf == nil {
		return nil
	}
	raw := conf.ToStringMap()
	b, err := json.Marshal(raw) // map keys sorted: the same configuration, the same hash
	if err != nil {
		a.logger.Debug("Hash the effective configuration", zap.Error(err))
		return nil
	}
	sum := sha256.Sum256(b)
	var labels map[string]string
	if sub, err := conf.Sub("processors::fleet_metadata::labels"); err == nil {
		for k, v := range sub.ToStringMap() {
			if s, ok := v.(string); ok {
				if labels == nil {
					labels = map[string]string{}
				}
				labels[k] = s
			}
		}
	}
	a.mu.Lock()
	a.configHash = hex.EncodeToString(sum[:])
	a.labels = labels
	c := a.client
	a.mu.Unlock()
	if c != nil && len(labels) > 0 {
		if err := c.SetAgentDescription(a.description(a.uid)); err != nil {
			a.logger.Debug("Update the agent description", zap.Error(err))
		}
	}
	a.kickReport()
	return nil
}

// status builds the report: the agent's own facts, then each source's part.
func (a *fleetAgent) status() *fleetproto.Status {
	host, _ := os.Hostname()
	s := &fleetproto.Status{
		AgentTime: a.now().UTC(),
		Version:   a.buildInfo.Version,
		Build:     a.buildInfo.Command + " " + runtime.Version(),
		Host: &fleetproto.HostStatus{
			OS:            runtime.GOOS,
			Arch:          runtime.GOARCH,
			Hostname:      host,
			UptimeSeconds: uptimeSeconds(),
		},
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	s.ConfigHash = a.configHash
	if a.remote != nil {
		r := *a.remote
		s.RemoteConfig = &r
	}
	for _, name := range sortedKeys(a.sources) {
		a.sources[name].FleetStatus(s)
	}
	if a.witness != nil {
		s.Checkpoints = a.witness.notes()
	}
	return s
}

// sourcesStatus is the sources' part alone, for the trial of a candidate.
func (a *fleetAgent) sourcesStatus() (*fleetproto.Status, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	var s fleetproto.Status
	for _, name := range sortedKeys(a.sources) {
		a.sources[name].FleetStatus(&s)
	}
	return &s, len(a.sources) > 0
}

// runReporter sends the status at every heartbeat and when kicked.
func (a *fleetAgent) runReporter(ctx context.Context) {
	defer a.wg.Done()
	t := time.NewTicker(a.cfg.Heartbeat)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-a.kick:
		}
		a.sendStatus(ctx)
	}
}

// sendStatus hands one status message to the client. While an earlier one
// is still unsent (the gateway is away) it waits for that one to go and
// then sends a fresh one, so a report never sits stale in the client.
func (a *fleetAgent) sendStatus(ctx context.Context) {
	for range 2 {
		b, err := fleetproto.MarshalStatus(a.status())
		if err != nil {
			a.logger.Debug("Encode status", zap.Error(err))
			return
		}
		sent, err := a.client.SendCustomMessage(&protobufs.CustomMessage{
			Capability: fleetproto.StatusCapability,
			Type:       fleetproto.StatusMessageType,
			Data:       b,
		})
		if !errors.Is(err, types.ErrCustomMessagePending) {
			if err != nil {
				a.logger.Debug("Send status", zap.Error(err))
			}
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-sent:
		}
	}
}

// setRemoteState records the remote configuration state for the report.
func (a *fleetAgent) setRemoteState(st fleetstate.State) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if st.Last == nil {
		a.remote = nil
		return
	}
	a.remote = &fleetproto.RemoteConfigState{
		Serial:        st.Last.Serial,
		State:         st.Last.State,
		Error:         st.Last.Error,
		AppliedSerial: st.Applied.Serial,
	}
}

// remoteConfigStatus is an outcome as OpAMP's RemoteConfigStatus.
func remoteConfigStatus(o *fleetstate.Outcome) *protobufs.RemoteConfigStatus {
	s := &protobufs.RemoteConfigStatus{LastRemoteConfigHash: o.ConfigHash, ErrorMessage: o.Error}
	switch o.State {
	case fleetproto.RemoteConfigApplying:
		s.Status = protobufs.RemoteConfigStatuses_RemoteConfigStatuses_APPLYING
	case fleetproto.RemoteConfigApplied:
		s.Status = protobufs.RemoteConfigStatuses_RemoteConfigStatuses_APPLIED
	default:
		s.Status = protobufs.RemoteConfigStatuses_RemoteConfigStatuses_FAILED
	}
	return s
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
