package fleetcontrolextension

import (
	"context"
	"crypto/ed25519"
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/open-telemetry/opamp-go/server"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/extension"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap"

	"github.com/fleetlog/fleetlog/extensions/fleetcontrolextension/internal/admin"
	"github.com/fleetlog/fleetlog/extensions/fleetcontrolextension/internal/metadata"
	"github.com/fleetlog/fleetlog/extensions/fleetcontrolextension/internal/registry"
	"github.com/fleetlog/fleetlog/extensions/fleetcontrolextension/internal/store"
	"github.com/fleetlog/fleetlog/internal/denylist"
	"github.com/fleetlog/fleetlog/internal/durable"
	"github.com/fleetlog/fleetlog/internal/filewatch"
	"github.com/fleetlog/fleetlog/internal/fleetproto"
	"github.com/fleetlog/fleetlog/internal/pki"
)

// OpAMPPath is where agents connect on the admin listener.
const OpAMPPath = "/v1/opamp"

// Reasons recorded on the refused-connections metric.
const (
	reasonNoCertificate = "no_verified_certificate"
	reasonNoDeviceID    = "no_device_id"
	reasonDenied        = "denied"
	reasonOperatorCert  = "operator_certificate_on_opamp"
	reasonDeviceCert    = "device_certificate_on_admin"
)

// storeRetryInterval paces the attempts to open the registry on a full disk.
const storeRetryInterval = 5 * time.Second

// shutdownWait bounds how long Shutdown waits for agents' WebSocket
// connections to close.
const shutdownWait = 5 * time.Second

// fleetControl is the fleet_control extension.
type fleetControl struct {
	cfg       *Config
	set       component.TelemetrySettings
	logger    *zap.Logger
	telemetry *metadata.TelemetryBuilder

	denied  atomic.Pointer[denylist.Set]
	watcher *filewatch.Watcher

	store    *store.Store
	registry *registry.Registry
	// live is registry once started, for callers outside the extension's
	// own goroutines (metrics, fleet_metadata).
	live   atomic.Pointer[registry.Registry]
	opamp  server.OpAMPServer
	server *http.Server
	conns  *connections
	// witness hands out checkpoints and checks reported ones (witness.go).
	witness *witnesses

	// openStore opens the registry's store (store.Open); storeRetry paces
	// the retries while a full disk keeps it from opening, until
	// retryStop, and retryDone closes when that goroutine ends.
	openStore  func(dir string) (*store.Store, error)
	storeRetry time.Duration
	retryStop  chan struct{}
	retryDone  chan struct{}

	changed   chan struct{}
	stop      chan struct{}
	loopDone  chan struct{}
	serveDone chan struct{}
	sends     sync.WaitGroup
}

var (
	_ extension.Extension                 = (*fleetControl)(nil)
	_ fleetproto.IdentityMismatchRecorder = (*fleetControl)(nil)
	_ fleetproto.HeartbeatSource          = (*fleetControl)(nil)
)

// RangeHeartbeats implements fleetproto.HeartbeatSource; before the
// registry is open it knows no device.
func (fc *fleetControl) RangeHeartbeats(fn func(device, fleet, site string, last time.Time) bool) {
	if reg := fc.live.Load(); reg != nil {
		reg.RangeHeartbeats(fn)
	}
}

func newFleetControl(cfg *Config, set component.TelemetrySettings) (*fleetControl, error) {
	tb, err := metadata.NewTelemetryBuilder(set)
	if err != nil {
		return nil, err
	}
	fc := &fleetControl{cfg: cfg, set: set, logger: set.Logger, telemetry: tb, conns: newConnections(), witness: newWitnesses(), changed: make(chan struct{}, 1),
		openStore: store.Open, storeRetry: storeRetryInterval}
	fc.denied.Store(&denylist.Set{})
	err = tb.RegisterFleetControlDevicesCallback(func(_ context.Context, o metric.Int64Observer) error {
		reg := fc.live.Load()
		if reg == nil {
			return nil
		}
		for state, n := range reg.Counts() {
			o.Observe(int64(n), metric.WithAttributes(attribute.String("state", state)))
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return fc, nil
}

// Start opens the registry, loads the signing key and the deny list, and
// serves the admin listener. On a full disk, where the registry cannot be
// created, it returns at once and keeps trying in the background: the
// control plane comes up once there is room, and the gateway's intake never
// waits for it.
func (fc *fleetControl) Start(ctx context.Context, host component.Host) error {
	if err := fc.loadDenyList(); err != nil {
		return err
	}
	key, err := fc.loadSigningKey()
	if err != nil {
		return err
	}
	st, err := fc.openStore(fc.cfg.Storage.Directory)
	if err == nil {
		return fc.serve(ctx, host, st, key)
	}
	if !durable.IsDiskFull(err) {
		return err
	}
	fc.logger.Error("Fleet registry cannot be written; fleet control starts once the disk has room, intake goes on", zap.Error(err))
	fc.retryStop, fc.retryDone = make(chan struct{}), make(chan struct{})
	go func() {
		defer close(fc.retryDone)
		t := time.NewTicker(fc.storeRetry)
		defer t.Stop()
		for {
			select {
			case <-fc.retryStop:
				return
			case <-t.C:
			}
			st, err := fc.openStore(fc.cfg.Storage.Directory)
			if err != nil {
				continue
			}
			if err := fc.serve(context.Background(), host, st, key); err != nil {
				fc.logger.Error("Fleet control not started", zap.Error(err))
			} else {
				fc.logger.Info("Fleet registry written again; fleet control started")
			}
			return
		}
	}()
	return nil
}

// serve starts the registry on st and serves the admin listener.
func (fc *fleetControl) serve(ctx context.Context, host component.Host, st *store.Store, key ed25519.PrivateKey) error {
	fc.store = st
	policy := fleetproto.Policy{
		Allowed:  append(append([]string(nil), fleetproto.DefaultAllowedKeys...), fc.cfg.RemoteConfig.AllowedKeys...),
		Unlocked: fc.cfg.RemoteConfig.UnlockedKeys,
	}
	reg, err := registry.Open(st, registry.Options{
		Thresholds: registry.Thresholds{
			SilentAfter:    fc.cfg.SilentAfter,
			SpoolFillRatio: fc.cfg.Degraded.SpoolFillRatio,
			AckAge:         fc.cfg.Degraded.AckAge,
			LossWindow:     fc.cfg.Degraded.LossWindow,
			MismatchHold:   fc.cfg.IdentityMismatchHold,
		},
		SigningKey: key,
		Policy:     policy,
		Denied:     func(id string) bool { return fc.denied.Load().Contains(id) },
	})
	if err != nil {
		return err
	}
	fc.registry = reg
	fc.live.Store(reg)

	fc.opamp = server.New(zapLogger{fc.logger})
	opampHandler, connContext, err := fc.opamp.Attach(server.Settings{
		Callbacks:          fc.callbacks(),
		CustomCapabilities: []string{fleetproto.StatusCapability, fleetproto.CheckpointCapability},
	})
	if err != nil {
		return fmt.Errorf("attach OpAMP server: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle(OpAMPPath, http.HandlerFunc(opampHandler))
	mux.Handle("/", fc.operatorsOnly(admin.New(reg, fc.notifyChanged, nil)))

	srv, err := fc.cfg.Admin.ToServer(ctx, host.GetExtensions(), fc.set, mux)
	if err != nil {
		return fmt.Errorf("admin listener: %w", err)
	}
	srv.ConnContext = connContext
	ln, err := fc.cfg.Admin.ToListener(ctx)
	if err != nil {
		return fmt.Errorf("admin listener %s: %w", fc.cfg.Admin.NetAddr.Endpoint, err)
	}
	fc.server = srv
	fc.stop, fc.loopDone, fc.serveDone = make(chan struct{}), make(chan struct{}), make(chan struct{})
	go func() {
		defer close(fc.serveDone)
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			fc.logger.Error("Admin listener stopped", zap.Error(err))
		}
	}()
	go fc.loop()
	fc.logger.Info("Fleet control listening", zap.String("endpoint", ln.Addr().String()),
		zap.Bool("remote_config", key != nil))
	return nil
}

func (fc *fleetControl) loadDenyList() error {
	path := fc.cfg.DenyList.Path
	if path == "" {
		return nil
	}
	set, _, err := denylist.Load(path)
	if err != nil {
		return err
	}
	fc.denied.Store(&set)
	fc.watcher = filewatch.New(path, fc.cfg.DenyList.CheckInterval, func() {
		set, _, err := denylist.Load(path)
		if err != nil {
			fc.logger.Error("Deny list not reloaded; the previous list stays in force", zap.Error(err))
			return
		}
		fc.denied.Store(&set)
	})
	fc.watcher.Start()
	return nil
}

func (fc *fleetControl) loadSigningKey() (ed25519.PrivateKey, error) {
	path := fc.cfg.RemoteConfig.SigningKeyFile
	if path == "" {
		return nil, nil
	}
	key, err := pki.LoadEd25519PrivateKey(path)
	if errors.Is(err, fs.ErrNotExist) {
		fc.logger.Warn("Remote configuration is off: the config signing key does not exist (create it with 'fleetlogctl certs init')", zap.String("path", path))
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("load 'remote_config::signing_key_file': %w", err)
	}
	return key, nil
}

// loop advances rollouts, pushes changed configurations to connected
// agents, and flushes the registry.
func (fc *fleetControl) loop() {
	defer close(fc.loopDone)
	t := time.NewTicker(fc.cfg.Storage.FlushInterval)
	defer t.Stop()
	for {
		select {
		case <-fc.stop:
			return
		case <-fc.changed:
			fc.push()
		case <-t.C:
			fc.push()
			if _, err := fc.registry.Flush(); err != nil {
				fc.logger.Error("Fleet registry not written; retrying at the next flush", zap.Error(err))
			}
		}
	}
}

func (fc *fleetControl) notifyChanged() {
	select {
	case fc.changed <- struct{}{}:
	default:
	}
}

// push sends a changed configuration at once to each agent that holds a
// WebSocket connection; agents on plain HTTP get it with their next poll.
func (fc *fleetControl) push() {
	ids, err := fc.registry.Changed()
	if err != nil {
		fc.logger.Error("Remote configuration not updated", zap.Error(err))
	}
	for _, id := range ids {
		del := fc.registry.Pending(id)
		c := fc.conns.get(id)
		if del == nil || c == nil {
			continue
		}
		fc.sends.Add(1)
		go func() {
			defer fc.sends.Done()
			msg := serverToAgent(c.instanceUID())
			msg.RemoteConfig = remoteConfig(del)
			if err := c.conn.Send(context.Background(), msg); err != nil {
				fc.logger.Debug("Remote configuration not pushed; the agent gets it with its next message", zap.String("device", id), zap.Error(err))
				return
			}
			fc.telemetry.FleetControlConfigDeliveries.Add(context.Background(), 1)
		}()
	}
}

// RecordIdentityMismatch implements fleetproto.IdentityMismatchRecorder for
// the gateway's fleet_metadata processor. It is a no-op before Start.
func (fc *fleetControl) RecordIdentityMismatch(deviceID, fleet, site, claimed string) {
	if reg := fc.live.Load(); reg != nil {
		reg.RecordIdentityMismatch(pki.DeviceIdentity{DeviceID: deviceID, Fleet: fleet, Site: site}, claimed)
	}
}

// operatorsOnly admits requests with a verified operator certificate.
func (fc *fleetControl) operatorsOnly(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		leaf := verifiedLeaf(r)
		if leaf == nil {
			fc.refuse(r.Context(), reasonNoCertificate)
			http.Error(w, "no verified client certificate", http.StatusUnauthorized)
			return
		}
		if _, ok := pki.OperatorFromCertificate(leaf); !ok {
			fc.refuse(r.Context(), reasonDeviceCert)
			http.Error(w, "the admin API and fleet page need an operator certificate ('fleetlogctl certs issue --operator NAME')", http.StatusForbidden)
			return
		}
		next.ServeHTTP(w, r)
	})
}

func (fc *fleetControl) refuse(ctx context.Context, reason string) {
	fc.telemetry.FleetControlRefusedConnections.Add(ctx, 1, metric.WithAttributes(attribute.String("reason", reason)))
}

// verifiedLeaf returns the client certificate that crypto/tls verified
// against the fleet CA, or nil.
func verifiedLeaf(r *http.Request) *x509.Certificate {
	if r.TLS == nil || len(r.TLS.VerifiedChains) == 0 || len(r.TLS.VerifiedChains[0]) == 0 {
		return nil
	}
	return r.TLS.VerifiedChains[0][0]
}

// Shutdown stops the listener, closes agents' connections, writes the
// registry and closes it. It is safe without Start.
func (fc *fleetControl) Shutdown(ctx context.Context) error {
	var errs []error
	if fc.watcher != nil {
		fc.watcher.Stop()
	}
	if fc.retryStop != nil {
		// After this, a deferred start either finished or never will.
		close(fc.retryStop)
		<-fc.retryDone
	}
	if fc.server != nil {
		close(fc.stop)
		<-fc.loopDone
		if err := fc.server.Shutdown(ctx); err != nil {
			errs = append(errs, err)
		}
		<-fc.serveDone
		// http.Server.Shutdown leaves hijacked (WebSocket) connections alone.
		fc.conns.closeAll()
		if !fc.conns.wait(shutdownWait) {
			errs = append(errs, errors.New("fleet_control: agents' connections did not close"))
		}
		fc.sends.Wait()
	}
	if fc.registry != nil {
		if _, err := fc.registry.Flush(); err != nil {
			errs = append(errs, err)
		}
	}
	if fc.store != nil {
		if err := fc.store.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	fc.telemetry.Shutdown()
	return errors.Join(errs...)
}
