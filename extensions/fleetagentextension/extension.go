package fleetagentextension // import "github.com/fleetlog/fleetlog/extensions/fleetagentextension"

import (
	"context"
	"crypto/ed25519"
	"crypto/tls"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/open-telemetry/opamp-go/client"
	"github.com/open-telemetry/opamp-go/client/types"
	"github.com/open-telemetry/opamp-go/protobufs"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componentstatus"
	"go.opentelemetry.io/collector/extension"
	"go.opentelemetry.io/collector/extension/extensioncapabilities"
	"go.uber.org/zap"

	"github.com/fleetlog/fleetlog/internal/fleetproto"
	"github.com/fleetlog/fleetlog/internal/fleetstate"
	"github.com/fleetlog/fleetlog/internal/pki"
)

var (
	_ extension.Extension                         = (*fleetAgent)(nil)
	_ componentstatus.Watcher                     = (*fleetAgent)(nil)
	_ extensioncapabilities.ConfigSnapshotWatcher = (*fleetAgent)(nil)
	_ extensioncapabilities.PipelineWatcher       = (*fleetAgent)(nil)
	_ fleetproto.StatusRegistry                   = (*fleetAgent)(nil)
)

// fleetAgent is the OpAMP client. The collector replaces the whole service,
// this extension with it, on every configuration reload; what must outlive
// one instance (the instance UID, the applied serial, a candidate on trial)
// is in the state directory.
type fleetAgent struct {
	cfg       *Config
	logger    *zap.Logger
	buildInfo component.BuildInfo
	validator validator
	now       func() time.Time
	// idleConfirm is the constant, a field for the tests.
	idleConfirm time.Duration

	// Set in Start, read-only afterwards.
	client    client.OpAMPClient
	dir       *fleetstate.Dir
	identity  pki.DeviceIdentity
	pub       ed25519.PublicKey
	policy    fleetproto.Policy
	remoteOn  bool
	startedAt time.Time
	uid       [16]byte
	witness   *witnessStore

	mu         sync.Mutex
	sources    map[string]fleetproto.StatusSource
	health     map[string]*protobufs.ComponentHealth
	configHash string
	labels     map[string]string
	remote     *fleetproto.RemoteConfigState
	started    bool // the client runs; health goes to it directly
	connected  atomic.Bool

	kick     chan struct{}
	remoteCh chan *protobufs.AgentRemoteConfig
	ready    chan struct{} // closed by Ready: the pipelines run
	trial    chan struct{} // closed when no candidate is on trial
	cancel   context.CancelFunc
	wg       sync.WaitGroup
	once     sync.Once
}

func newFleetAgent(cfg *Config, set extension.Settings, v validator) *fleetAgent {
	trial := make(chan struct{})
	close(trial)
	return &fleetAgent{
		cfg:         cfg,
		logger:      set.Logger,
		buildInfo:   set.BuildInfo,
		validator:   v,
		now:         time.Now,
		idleConfirm: idleConfirm,
		sources:     map[string]fleetproto.StatusSource{},
		health:      map[string]*protobufs.ComponentHealth{},
		kick:        make(chan struct{}, 1),
		remoteCh:    make(chan *protobufs.AgentRemoteConfig, 1),
		ready:       make(chan struct{}),
		trial:       trial,
	}
}

// Start sets up and starts the OpAMP client. Nothing here waits for the
// gateway: the client connects, retries and reports in the background, and
// a gateway without an OpAMP endpoint, or down, changes nothing for the
// pipelines.
func (a *fleetAgent) Start(ctx context.Context, _ component.Host) error {
	endpoint := a.cfg.endpoint()
	if endpoint == "" {
		a.logger.Info("No fleet control endpoint configured: the agent reports to no fleet and takes no remote configuration")
		return nil
	}
	a.startedAt = a.now()
	tlsCfg, err := a.cfg.TLS.LoadTLSConfig(ctx)
	if err != nil {
		return fmt.Errorf("load 'tls': %w", err)
	}
	tlsCfg.MinVersion = tls.VersionTLS13
	if a.cfg.TLS.CertFile != "" {
		if cert, err := pki.LoadCertificate(a.cfg.TLS.CertFile); err == nil {
			a.identity = pki.IdentityFromCertificate(cert)
		} else {
			a.logger.Warn("Read the device certificate", zap.Error(err))
		}
	}
	var uid [16]byte
	if a.cfg.Directory != "" {
		if a.dir, err = fleetstate.Open(a.cfg.Directory); err != nil {
			return fmt.Errorf("'directory': %w", err)
		}
		if uid, err = a.dir.InstanceUID(a.now()); err != nil {
			return fmt.Errorf("'directory': instance UID: %w", err)
		}
	} else if uid, err = fleetstate.NewInstanceUID(a.now()); err != nil {
		return err
	}
	a.uid = uid
	a.setUpRemote()
	dirPath := ""
	if a.dir != nil {
		dirPath = a.dir.Path()
	}
	if a.witness, err = openWitnessStore(dirPath); err != nil {
		a.logger.Warn("The archive checkpoints this device kept do not read; it keeps new ones", zap.Error(err))
	}

	var last *fleetstate.Outcome
	var cand *fleetstate.Candidate
	if a.dir != nil {
		st, err := a.dir.State()
		if err != nil {
			a.logger.Warn("Read remote config state", zap.Error(err))
		}
		last = st.Last
		a.setRemoteState(st)
		if a.remoteOn {
			if s, err := a.dir.Decide(); err == nil && s.Candidate {
				cand, _ = a.dir.Candidate()
			}
		}
	}

	c := client.NewHTTP(opampLogger{a.logger})
	caps := protobufs.AgentCapabilities_AgentCapabilities_ReportsStatus |
		protobufs.AgentCapabilities_AgentCapabilities_ReportsHealth |
		protobufs.AgentCapabilities_AgentCapabilities_ReportsHeartbeat
	if a.remoteOn {
		caps |= protobufs.AgentCapabilities_AgentCapabilities_AcceptsRemoteConfig |
			protobufs.AgentCapabilities_AgentCapabilities_ReportsRemoteConfig
	}
	// The poll doubles the heartbeat: the status message the reporter sends
	// every heartbeat is itself the round trip that picks up remote
	// configuration, and the poll only covers a reporter stuck behind an
	// unsent message.
	poll := 2 * a.cfg.Heartbeat
	settings := types.StartSettings{
		OpAMPServerURL:    endpoint,
		TLSConfig:         tlsCfg,
		InstanceUid:       types.InstanceUid(uid),
		HeartbeatInterval: &poll,
		Callbacks: types.Callbacks{
			OnConnect:       a.onConnect,
			OnConnectFailed: a.onConnectFailed,
			OnMessage:       a.onMessage,
		},
	}
	if last != nil && len(last.ConfigHash) > 0 {
		settings.RemoteConfigStatus = remoteConfigStatus(last)
	}
	// Health first: the client refuses ReportsHealth without it.
	if err := errors.Join(
		c.SetHealth(a.aggregateHealth()),
		c.SetAgentDescription(a.description(uid)),
		c.SetCustomCapabilities(&protobufs.CustomCapabilities{Capabilities: []string{fleetproto.StatusCapability, fleetproto.CheckpointCapability}}),
		c.SetCapabilities(&caps),
	); err != nil {
		return fmt.Errorf("set up the OpAMP client: %w", err)
	}
	if err := c.Start(context.Background(), settings); err != nil {
		return fmt.Errorf("start the OpAMP client: %w", err)
	}
	a.mu.Lock()
	a.client = c
	a.started = true
	a.mu.Unlock()

	runCtx, cancel := context.WithCancel(context.Background())
	a.cancel = cancel
	if cand != nil {
		a.trial = make(chan struct{})
		a.wg.Add(1)
		go a.runTrial(runCtx, cand)
	}
	a.wg.Add(2)
	go a.runReporter(runCtx)
	go a.runRemote(runCtx)
	a.kickReport()
	return nil
}

// setUpRemote decides whether remote configuration is on, and says why
// not when it is configured but cannot be.
func (a *fleetAgent) setUpRemote() {
	rc := a.cfg.RemoteConfig
	if !rc.Enabled {
		return
	}
	a.policy = fleetproto.Policy{Allowed: rc.AllowedKeys, Unlocked: rc.UnlockedKeys}
	why := ""
	switch {
	case a.dir == nil:
		why = "no 'directory'"
	case a.identity.DeviceID == "":
		why = "no device ID in the certificate 'tls::cert_file'"
	case !a.validator.served():
		why = "the agent does not run with --config " + fleetScheme + a.cfg.Directory
	}
	if why == "" {
		pub, err := pki.LoadEd25519PublicKey(rc.PublicKeyFile)
		if err != nil {
			why = fmt.Sprintf("'remote_config::public_key_file': %v", err)
		}
		a.pub = pub
	}
	if why != "" {
		a.logger.Warn("Remote configuration is off", zap.String("reason", why))
		return
	}
	a.remoteOn = true
}

// Shutdown stops the client and every goroutine. It is safe without Start.
func (a *fleetAgent) Shutdown(ctx context.Context) error {
	var err error
	a.once.Do(func() {
		if a.cancel != nil {
			a.cancel()
		}
		a.wg.Wait()
		a.mu.Lock()
		c := a.client
		a.started = false
		a.mu.Unlock()
		if c != nil {
			err = c.Stop(ctx)
		}
	})
	return err
}

// Ready implements extensioncapabilities.PipelineWatcher: the pipelines
// started, so a candidate on trial did start.
func (a *fleetAgent) Ready() error {
	select {
	case <-a.ready:
	default:
		close(a.ready)
	}
	return nil
}

// NotReady implements extensioncapabilities.PipelineWatcher.
func (a *fleetAgent) NotReady() error { return nil }

// RegisterStatusSource implements fleetproto.StatusRegistry.
func (a *fleetAgent) RegisterStatusSource(name string, src fleetproto.StatusSource) func() {
	a.mu.Lock()
	a.sources[name] = src
	a.mu.Unlock()
	a.kickReport()
	return func() {
		a.mu.Lock()
		defer a.mu.Unlock()
		if a.sources[name] == src {
			delete(a.sources, name)
		}
	}
}

// onConnect is called after every successful round trip of the HTTP
// transport; only the first one, and the first after a failure, is logged.
func (a *fleetAgent) onConnect(context.Context) {
	if !a.connected.Swap(true) {
		a.logger.Info("Reporting to the fleet control endpoint", zap.String("endpoint", a.cfg.endpoint()))
	}
}

func (a *fleetAgent) onConnectFailed(_ context.Context, err error) {
	// Retried with backoff by the client; delivery does not depend on it.
	if a.connected.Swap(false) {
		a.logger.Warn("Fleet control endpoint unreachable; retrying. Delivery is not affected",
			zap.String("endpoint", a.cfg.endpoint()), zap.Error(err))
		return
	}
	a.logger.Debug("Fleet control endpoint unreachable", zap.String("endpoint", a.cfg.endpoint()), zap.Error(err))
}

// onMessage keeps a checkpoint and hands a remote configuration to
// runRemote; the newest one wins.
func (a *fleetAgent) onMessage(_ context.Context, msg *types.MessageData) {
	if cm := msg.CustomMessage; cm != nil && cm.Capability == fleetproto.CheckpointCapability && cm.Type == fleetproto.CheckpointMessageType {
		a.keepCheckpoint(cm.Data)
	}
	if msg.RemoteConfig == nil || !a.remoteOn {
		return
	}
	for {
		select {
		case a.remoteCh <- msg.RemoteConfig:
			return
		default:
		}
		select {
		case <-a.remoteCh:
		default:
		}
	}
}

// keepCheckpoint keeps an archive checkpoint the gateway handed out and
// reports at once that the device holds it.
func (a *fleetAgent) keepCheckpoint(note []byte) {
	changed, err := a.witness.add(note)
	if err != nil {
		a.logger.Warn("Archive checkpoint from the gateway not kept", zap.Error(err))
		return
	}
	if changed {
		a.kickReport()
	}
}

func (a *fleetAgent) kickReport() {
	select {
	case a.kick <- struct{}{}:
	default:
	}
}

// opampLogger routes the OpAMP client's logs to zap. Its errors are mostly
// failed round trips while the gateway is away, which the client retries:
// they are debug logs, not warnings on every retry.
type opampLogger struct{ l *zap.Logger }

func (o opampLogger) Debugf(_ context.Context, format string, v ...any) {
	o.l.Debug(fmt.Sprintf(format, v...))
}

func (o opampLogger) Errorf(_ context.Context, format string, v ...any) {
	o.l.Debug(fmt.Sprintf(format, v...))
}
