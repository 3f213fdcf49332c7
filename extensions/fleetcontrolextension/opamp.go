package fleetcontrolextension

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/open-telemetry/opamp-go/protobufs"
	"github.com/open-telemetry/opamp-go/server/types"
	"go.uber.org/zap"

	"github.com/fleetlog/fleetlog/extensions/fleetcontrolextension/internal/registry"
	"github.com/fleetlog/fleetlog/internal/fleetapi"
	"github.com/fleetlog/fleetlog/internal/fleetproto"
	"github.com/fleetlog/fleetlog/internal/pki"
)

// maxDescriptionAttributes bounds what the registry keeps of an agent
// description: a device cannot grow the gateway's memory without bound.
const maxDescriptionAttributes = 64

// serverCapabilities is what the gateway offers every agent.
const serverCapabilities = uint64(protobufs.ServerCapabilities_ServerCapabilities_AcceptsStatus |
	protobufs.ServerCapabilities_ServerCapabilities_OffersRemoteConfig |
	protobufs.ServerCapabilities_ServerCapabilities_AcceptsEffectiveConfig)

// callbacks admits a device by its certificate and binds every message of
// the connection to that identity. What the agent says about itself is a
// claim the registry compares with the certificate.
func (fc *fleetControl) callbacks() types.Callbacks {
	return types.Callbacks{OnConnecting: func(r *http.Request) types.ConnectionResponse {
		leaf := verifiedLeaf(r)
		if leaf == nil {
			fc.refuse(r.Context(), reasonNoCertificate)
			return types.ConnectionResponse{HTTPStatusCode: http.StatusUnauthorized}
		}
		if _, ok := pki.OperatorFromCertificate(leaf); ok {
			fc.refuse(r.Context(), reasonOperatorCert)
			return types.ConnectionResponse{HTTPStatusCode: http.StatusForbidden}
		}
		id := pki.IdentityFromCertificate(leaf)
		if id.DeviceID == "" {
			fc.refuse(r.Context(), reasonNoDeviceID)
			return types.ConnectionResponse{HTTPStatusCode: http.StatusUnauthorized}
		}
		if fc.denied.Load().Contains(id.DeviceID) {
			fc.refuse(r.Context(), reasonDenied)
			fc.registry.RefusedDenied(id)
			return types.ConnectionResponse{HTTPStatusCode: http.StatusForbidden}
		}
		ws := strings.EqualFold(r.Header.Get("Upgrade"), "websocket")
		return types.ConnectionResponse{Accept: true, ConnectionCallbacks: fc.connectionCallbacks(id, ws)}
	}}
}

func (fc *fleetControl) connectionCallbacks(id pki.DeviceIdentity, ws bool) types.ConnectionCallbacks {
	var c *conn
	return types.ConnectionCallbacks{
		OnConnected: func(_ context.Context, tc types.Connection) {
			if ws {
				c = fc.conns.add(id.DeviceID, tc)
				fc.registry.SetConnected(id, true)
			}
		},
		OnMessage: func(ctx context.Context, _ types.Connection, msg *protobufs.AgentToServer) *protobufs.ServerToAgent {
			fc.telemetry.FleetControlReports.Add(ctx, 1)
			if c != nil {
				c.setInstanceUID(msg.InstanceUid)
			}
			rep := fc.translate(id, msg)
			res, err := fc.registry.Report(rep)
			if err != nil {
				fc.logger.Error("Report not recorded", zap.String("device", id.DeviceID), zap.Error(err))
			}
			resp := serverToAgent(msg.InstanceUid)
			if res.NeedDescription && msg.AgentDescription == nil {
				resp.Flags = uint64(protobufs.ServerToAgentFlags_ServerToAgentFlags_ReportFullState)
			}
			if res.Delivery != nil {
				resp.RemoteConfig = remoteConfig(res.Delivery)
				fc.telemetry.FleetControlConfigDeliveries.Add(ctx, 1)
			}
			// An agent without the checkpoint capability (an older one)
			// ignores the message.
			if c := fc.witnessReport(id.DeviceID, rep.Status); c != nil {
				resp.CustomMessage = c
			}
			return resp
		},
		OnConnectionClose: func(tc types.Connection) {
			if ws && fc.conns.remove(id.DeviceID, tc) {
				fc.registry.SetConnected(id, false)
			}
		},
	}
}

// translate reads one OpAMP message into a registry report.
func (fc *fleetControl) translate(id pki.DeviceIdentity, msg *protobufs.AgentToServer) *registry.Report {
	rep := &registry.Report{Identity: id}
	if d := msg.AgentDescription; d != nil {
		rep.Described = true
		rep.Labels = map[string]string{}
		rep.Description = map[string]string{}
		for _, kv := range append(append([]*protobufs.KeyValue(nil), d.IdentifyingAttributes...), d.NonIdentifyingAttributes...) {
			if len(rep.Description) < maxDescriptionAttributes {
				rep.Description[kv.Key] = kv.GetValue().GetStringValue()
			}
		}
		for _, kv := range d.IdentifyingAttributes {
			switch kv.Key {
			case fleetproto.DescriptionDeviceID:
				rep.Claimed.DeviceID = kv.GetValue().GetStringValue()
			case fleetproto.DescriptionVersion:
				rep.Version = kv.GetValue().GetStringValue()
			}
		}
		for _, kv := range d.NonIdentifyingAttributes {
			v := kv.GetValue().GetStringValue()
			switch {
			case kv.Key == fleetproto.DescriptionFleet:
				rep.Claimed.Fleet = v
			case kv.Key == fleetproto.DescriptionSite:
				rep.Claimed.Site = v
			case strings.HasPrefix(kv.Key, fleetproto.DescriptionLabelPrefix):
				rep.Labels[strings.TrimPrefix(kv.Key, fleetproto.DescriptionLabelPrefix)] = v
			}
		}
	}
	if h := msg.Health; h != nil {
		rep.Health = health(h, 2)
	}
	if ec := msg.EffectiveConfig; ec != nil && ec.ConfigMap != nil {
		rep.EffectiveConfigHash = configMapHash(ec.ConfigMap)
	}
	if rcs := msg.RemoteConfigStatus; rcs != nil {
		rep.RemoteConfigStatus = &fleetapi.RemoteConfigStatus{
			Hash:   hex.EncodeToString(rcs.LastRemoteConfigHash),
			Status: strings.TrimPrefix(rcs.Status.String(), "RemoteConfigStatuses_"),
			Error:  rcs.ErrorMessage,
		}
	}
	if cm := msg.CustomMessage; cm != nil && cm.Capability == fleetproto.StatusCapability && cm.Type == fleetproto.StatusMessageType {
		s, err := fleetproto.UnmarshalStatus(cm.Data)
		if err != nil {
			fc.logger.Debug("Status report not readable", zap.String("device", id.DeviceID), zap.Error(err))
		} else {
			boundCheckpoints(s)
			rep.Status = s
		}
	}
	return rep
}

func health(h *protobufs.ComponentHealth, depth int) *fleetapi.Health {
	out := &fleetapi.Health{Healthy: h.Healthy, Status: h.Status, LastError: h.LastError}
	if depth > 0 && len(h.ComponentHealthMap) > 0 {
		out.Components = make(map[string]fleetapi.Health, len(h.ComponentHealthMap))
		for name, ch := range h.ComponentHealthMap {
			out.Components[name] = *health(ch, depth-1)
		}
	}
	return out
}

// configMapHash hashes an OpAMP config map: file names in order, each with
// its body.
func configMapHash(m *protobufs.AgentConfigMap) string {
	names := make([]string, 0, len(m.ConfigMap))
	for name := range m.ConfigMap {
		names = append(names, name)
	}
	sort.Strings(names)
	h := sha256.New()
	for _, name := range names {
		h.Write([]byte(name))
		h.Write([]byte{0})
		h.Write(m.ConfigMap[name].GetBody())
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil))
}

func serverToAgent(uid []byte) *protobufs.ServerToAgent {
	return &protobufs.ServerToAgent{InstanceUid: uid, Capabilities: serverCapabilities}
}

// remoteConfig wraps a sealed envelope in an OpAMP remote configuration of
// one file.
func remoteConfig(del *registry.Delivery) *protobufs.AgentRemoteConfig {
	return &protobufs.AgentRemoteConfig{
		Config: &protobufs.AgentConfigMap{ConfigMap: map[string]*protobufs.AgentConfigFile{
			fleetproto.EnvelopeFile: {Body: del.Envelope, ContentType: fleetproto.EnvelopeContentType},
		}},
		ConfigHash: del.Hash,
	}
}

// conn is an agent's WebSocket connection.
type conn struct {
	conn types.Connection
	mu   sync.Mutex
	uid  []byte
}

func (c *conn) setInstanceUID(uid []byte) {
	c.mu.Lock()
	c.uid = uid
	c.mu.Unlock()
}

func (c *conn) instanceUID() []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.uid
}

// connections tracks the agents' WebSocket connections: the newest per
// device for pushes, all of them for Shutdown.
type connections struct {
	mu       sync.Mutex
	byDevice map[string]*conn
	all      map[types.Connection]struct{}
	wg       sync.WaitGroup
}

func newConnections() *connections {
	return &connections{byDevice: map[string]*conn{}, all: map[types.Connection]struct{}{}}
}

func (cs *connections) add(device string, tc types.Connection) *conn {
	c := &conn{conn: tc}
	cs.mu.Lock()
	defer cs.mu.Unlock()
	cs.byDevice[device] = c
	cs.all[tc] = struct{}{}
	cs.wg.Add(1)
	return c
}

// remove forgets a closed connection and reports whether it was the
// device's newest.
func (cs *connections) remove(device string, tc types.Connection) bool {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if _, ok := cs.all[tc]; !ok {
		return false
	}
	delete(cs.all, tc)
	cs.wg.Done()
	if c := cs.byDevice[device]; c != nil && c.conn == tc {
		delete(cs.byDevice, device)
		return true
	}
	return false
}

func (cs *connections) get(device string) *conn {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	return cs.byDevice[device]
}

func (cs *connections) closeAll() {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	for tc := range cs.all {
		_ = tc.Disconnect()
	}
}

// wait waits until every connection closed, at most d.
func (cs *connections) wait(d time.Duration) bool {
	done := make(chan struct{})
	go func() { cs.wg.Wait(); close(done) }()
	select {
	case <-done:
		return true
	case <-time.After(d):
		return false
	}
}

// zapLogger adapts zap to opamp-go's logger.
type zapLogger struct{ l *zap.Logger }

func (z zapLogger) Debugf(_ context.Context, format string, v ...any) {
	z.l.Sugar().Debugf(format, v...)
}

func (z zapLogger) Errorf(_ context.Context, format string, v ...any) {
	z.l.Sugar().Errorf(format, v...)
}
