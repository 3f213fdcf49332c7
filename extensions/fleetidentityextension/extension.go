package fleetidentityextension

import (
	"bytes"
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"runtime"
	"sync"
	"sync/atomic"
	"unsafe"

	"go.opentelemetry.io/collector/client"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/extension"
	"go.opentelemetry.io/collector/extension/extensionauth"
	"go.opentelemetry.io/collector/extension/extensionmiddleware"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/tap"

	"github.com/fleetlog/fleetlog/extensions/fleetidentityextension/internal/metadata"
	"github.com/fleetlog/fleetlog/internal/denylist"
	"github.com/fleetlog/fleetlog/internal/filewatch"
	"github.com/fleetlog/fleetlog/internal/fleetattr"
	"github.com/fleetlog/fleetlog/internal/pipelineturn"
	"github.com/fleetlog/fleetlog/internal/pki"
)

// Errors returned to refused clients. They say what is wrong with the
// client's credentials and nothing about the gateway.
var (
	// ErrNoTLSPeer is returned for a request without TLS state the
	// authenticator can read: a plaintext connection, or an OTLP/HTTP request
	// with fleet_identity configured as its `auth` (see the README).
	ErrNoTLSPeer = errors.New("no TLS connection state: fleet_identity authenticates OTLP/gRPC as 'auth' and OTLP/HTTP as a 'middlewares' entry")
	// ErrNoVerifiedCertificate is returned when the client presented no
	// certificate that verified against the receiver's client CA.
	ErrNoVerifiedCertificate = errors.New("no verified client certificate")
	// ErrNoDeviceID is returned when the verified certificate names no device.
	ErrNoDeviceID = errors.New("client certificate names no device (no urn:fleetlog:device URI and no subject CN)")
	// ErrDenied is returned for a device on the deny list.
	ErrDenied = errors.New("device is on the deny list")
	// ErrBusy is returned, as Unavailable, while the gateway's pipeline is
	// overloaded: the device sends the batch again later.
	ErrBusy = errors.New("gateway busy, retry later")
)

// errBusyStatus is the tap's refusal, the same every time.
var errBusyStatus = status.Error(codes.Unavailable, ErrBusy.Error())

// Reasons recorded on the refused-requests metric.
const (
	reasonNoTLS         = "no_tls"
	reasonNoCertificate = "no_verified_certificate"
	reasonNoDeviceID    = "no_device_id"
	reasonDenied        = "denied"
	reasonBusy          = "busy"
)

// authenticator is the fleet_identity extension.
type authenticator struct {
	cfg       *Config
	logger    *zap.Logger
	telemetry *metadata.TelemetryBuilder

	denied  atomic.Pointer[denylist.Set]
	watcher *filewatch.Watcher
	// busy, when set, says whether the pipeline behind the receiver is
	// overloaded (pipelineturn.Gatekeeper).
	busy atomic.Pointer[func() bool]
	// busyRefused is the refused-requests attribute of a busy refusal,
	// built once: an overloaded gateway refuses thousands a second.
	busyRefused metric.AddOption

	// certs holds what each client certificate in use names
	// (certIdentity), by the certificate's address.
	certsMu sync.RWMutex
	certs   map[uintptr]*certBinding
}

// certBinding is what a request's context gets from its certificate: the
// identity, and the client metadata of a request that brought none (as
// configgrpc leaves it without include_metadata), device.id alone.
type certBinding struct {
	id *identity
	md client.Metadata
	// raw is a copy of the certificate it was read from (its DER), and key
	// the certificate's address.
	raw []byte
	key uintptr
}

var (
	_ extension.Extension            = (*authenticator)(nil)
	_ extensionauth.Server           = (*authenticator)(nil)
	_ extensionmiddleware.HTTPServer = (*authenticator)(nil)
	_ extensionmiddleware.GRPCServer = (*authenticator)(nil)
	_ pipelineturn.Gatekeeper        = (*authenticator)(nil)
)

func newAuthenticator(cfg *Config, set component.TelemetrySettings) (*authenticator, error) {
	tb, err := metadata.NewTelemetryBuilder(set)
	if err != nil {
		return nil, err
	}
	a := &authenticator{cfg: cfg, logger: set.Logger, telemetry: tb, certs: map[uintptr]*certBinding{},
		busyRefused: metric.WithAttributeSet(attribute.NewSet(attribute.String("reason", reasonBusy)))}
	a.denied.Store(&denylist.Set{})
	err = tb.RegisterFleetIdentityDeniedDevicesCallback(func(_ context.Context, o metric.Int64Observer) error {
		o.Observe(int64(len(*a.denied.Load())))
		return nil
	})
	if err != nil {
		return nil, err
	}
	return a, nil
}

// Start loads the deny list and starts watching it for changes.
func (a *authenticator) Start(context.Context, component.Host) error {
	path := a.cfg.DenyList.Path
	if path == "" {
		return nil
	}
	set, found, err := denylist.Load(path)
	if err != nil {
		return err
	}
	a.denied.Store(&set)
	if found {
		a.logger.Info("Deny list loaded", zap.String("path", path), zap.Int("devices", len(set)))
	} else {
		a.logger.Info("Deny list file does not exist yet; no device is denied", zap.String("path", path))
	}
	a.watcher = filewatch.New(path, a.cfg.DenyList.CheckInterval, a.reload)
	a.watcher.Start()
	return nil
}

// reload replaces the deny list after the file changed. An unreadable file
// keeps the previous list in force: a transient read error must not lift
// every denial at once.
func (a *authenticator) reload() {
	path := a.cfg.DenyList.Path
	set, found, err := denylist.Load(path)
	if err != nil {
		a.logger.Error("Deny list not reloaded; the previous list stays in force", zap.Error(err))
		return
	}
	a.denied.Store(&set)
	a.logger.Info("Deny list reloaded", zap.String("path", path), zap.Bool("exists", found), zap.Int("devices", len(set)))
}

// Shutdown stops watching the deny list. It is safe without Start.
func (a *authenticator) Shutdown(context.Context) error {
	if a.watcher != nil {
		a.watcher.Stop()
	}
	a.telemetry.Shutdown()
	return nil
}

// Authenticate attributes an OTLP/gRPC request to the device named by the
// connection's verified client certificate. The request headers play no part:
// a device proves who it is with its key, not with what it says.
func (a *authenticator) Authenticate(ctx context.Context, _ map[string][]string) (context.Context, error) {
	p, ok := peer.FromContext(ctx)
	if !ok {
		return ctx, a.refuse(ctx, reasonNoTLS, status.Error(codes.Unauthenticated, ErrNoTLSPeer.Error()))
	}
	info, ok := p.AuthInfo.(credentials.TLSInfo)
	if !ok {
		return ctx, a.refuse(ctx, reasonNoTLS, status.Error(codes.Unauthenticated, ErrNoTLSPeer.Error()))
	}
	id, reason, err := a.identify(info.State.VerifiedChains)
	if err != nil {
		code := codes.Unauthenticated
		if errors.Is(err, ErrDenied) {
			code = codes.PermissionDenied
		}
		return ctx, a.refuse(ctx, reason, status.Error(code, err.Error()))
	}
	return withIdentity(ctx, id), nil
}

// GetHTTPHandler attributes an OTLP/HTTP request the same way from the
// request's own TLS state. confighttp hands an `auth` extension only the
// request context, which carries no TLS state, but it hands a middleware the
// *http.Request, whose TLS field net/http fills from the connection's
// handshake. The receiver runs middlewares after decompression and before
// the request is decoded, so a refused request is never decoded.
func (a *authenticator) GetHTTPHandler(context.Context) (extensionmiddleware.WrapHTTPHandlerFunc, error) {
	return func(_ context.Context, next http.Handler) (http.Handler, error) {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.TLS == nil {
				_ = a.refuse(r.Context(), reasonNoTLS, ErrNoTLSPeer)
				http.Error(w, ErrNoTLSPeer.Error(), http.StatusUnauthorized)
				return
			}
			id, reason, err := a.identify(r.TLS.VerifiedChains)
			if err != nil {
				_ = a.refuse(r.Context(), reason, err)
				code := http.StatusUnauthorized
				if errors.Is(err, ErrDenied) {
					code = http.StatusForbidden
				}
				http.Error(w, err.Error(), code)
				return
			}
			next.ServeHTTP(w, r.WithContext(withIdentity(r.Context(), id)))
		}), nil
	}, nil
}

// SetBusy implements pipelineturn.Gatekeeper.
func (a *authenticator) SetBusy(busy func() bool) {
	if busy == nil {
		a.busy.Store(nil)
		return
	}
	a.busy.Store(&busy)
}

// GetGRPCServerOptions installs, as the OTLP/gRPC receiver's middleware, a
// tap that refuses a request with Unavailable before its message is read
// while the pipeline is overloaded (SetBusy), so that a refusal costs the
// gateway neither decoding nor memory. Identity is still checked by
// Authenticate, once the request is read. It also applies the grpc_server
// settings, which configgrpc does not expose.
func (a *authenticator) GetGRPCServerOptions(context.Context) ([]grpc.ServerOption, error) {
	opts := []grpc.ServerOption{grpc.InTapHandle(a.tap)}
	gs := a.cfg.GRPCServer
	if gs.StreamWorkers > 0 {
		opts = append(opts, grpc.NumStreamWorkers(gs.StreamWorkers))
	}
	if gs.WindowSize > 0 {
		opts = append(opts, grpc.InitialWindowSize(int32(gs.WindowSize)), grpc.InitialConnWindowSize(int32(gs.WindowSize)))
	}
	return opts, nil
}

func (a *authenticator) tap(ctx context.Context, _ *tap.Info) (context.Context, error) {
	if busy := a.busy.Load(); busy != nil && (*busy)() {
		a.telemetry.FleetIdentityRefusedRequests.Add(ctx, 1, a.busyRefused)
		return ctx, errBusyStatus
	}
	return ctx, nil
}

// identify returns the identity in the leaf of the first verified chain.
// crypto/tls fills VerifiedChains only after the chain verified against the
// server's client CA, so a certificate from any other CA never gets here
// with a chain.
func (a *authenticator) identify(chains [][]*x509.Certificate) (*certBinding, string, error) {
	if len(chains) == 0 || len(chains[0]) == 0 {
		return nil, reasonNoCertificate, ErrNoVerifiedCertificate
	}
	b := a.certIdentity(chains[0][0])
	id := b.id
	if id.DeviceID == "" {
		return b, reasonNoDeviceID, ErrNoDeviceID
	}
	// The deny list changes while connections stay: asked every time.
	if a.denied.Load().Contains(id.DeviceID) {
		return b, reasonDenied, fmt.Errorf("%q: %w", id.DeviceID, ErrDenied)
	}
	return b, "", nil
}

// certIdentity returns what cert names, read from it once: every request
// of a connection presents the same parsed certificate. Entries are found
// by the certificate's address, which keeps nothing alive, and an entry
// counts only for the same certificate bytes: an address can be reused once
// its certificate was collected, before the cleanup that removes the entry
// ran, and what a certificate names follows from its bytes alone. So the
// cache holds no more entries than certificates are alive anyway
// (connections open).
func (a *authenticator) certIdentity(cert *x509.Certificate) *certBinding {
	key := uintptr(unsafe.Pointer(cert))
	a.certsMu.RLock()
	b := a.certs[key]
	a.certsMu.RUnlock()
	if b != nil && bytes.Equal(b.raw, cert.Raw) {
		return b
	}
	id := newIdentity(pki.IdentityFromCertificate(cert))
	b = &certBinding{id: id, raw: bytes.Clone(cert.Raw), key: key}
	if id.DeviceID != "" {
		b.md = client.NewMetadata(map[string][]string{fleetattr.DeviceID: {id.DeviceID}})
	}
	a.certsMu.Lock()
	a.certs[key] = b
	a.certsMu.Unlock()
	runtime.AddCleanup(cert, a.forget, b)
	return b
}

// forget removes b once its certificate was collected, unless another
// certificate at the same address replaced it already.
func (a *authenticator) forget(b *certBinding) {
	a.certsMu.Lock()
	if a.certs[b.key] == b {
		delete(a.certs, b.key)
	}
	a.certsMu.Unlock()
}

func (a *authenticator) refuse(ctx context.Context, reason string, err error) error {
	a.telemetry.FleetIdentityRefusedRequests.Add(ctx, 1, metric.WithAttributes(attribute.String("reason", reason)))
	return err
}

// withIdentity returns ctx with the identity in client.Info.Auth, keeping the
// address and metadata the receiver already put there, and with the
// certificate's device ID as client metadata under device.id (replacing any
// header of that name), so that components which read client metadata, such
// as the kafka exporter's logs::message_key_from_metadata_key, can key by the
// proven device.
func withIdentity(ctx context.Context, b *certBinding) context.Context {
	info := client.FromContext(ctx)
	info.Auth = b.id
	empty := true
	for range info.Metadata.Keys() {
		empty = false
		break
	}
	if empty {
		// What the receiver passes without include_metadata: the
		// certificate's metadata, made once, will do (Metadata is
		// immutable).
		info.Metadata = b.md
		return client.NewContext(ctx, info)
	}
	id := b.id
	md := map[string][]string{fleetattr.DeviceID: {id.DeviceID}}
	for k := range info.Metadata.Keys() {
		if k != fleetattr.DeviceID {
			md[k] = info.Metadata.Get(k)
		}
	}
	info.Metadata = client.NewMetadata(md)
	return client.NewContext(ctx, info)
}
