package fleetidentityextension

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/client"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/extension/extensiontest"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	"github.com/fleetlog/fleetlog/internal/fleetattr"
	"github.com/fleetlog/fleetlog/internal/pki"
)

// testCerts issues device certificates from a fresh fleet CA, the way
// `fleetlogctl certs` does.
func testCerts(t *testing.T) map[string]*x509.Certificate {
	t.Helper()
	dir := t.TempDir()
	_, err := pki.Init(dir, pki.InitOptions{})
	require.NoError(t, err)
	certs := map[string]*x509.Certificate{}
	for _, opts := range []pki.DeviceOptions{
		{DeviceID: "atm-1", Fleet: "atms", Site: "branch-7"},
		{DeviceID: "atm-2"},
	} {
		res, err := pki.IssueDevice(dir, opts)
		require.NoError(t, err)
		certs[opts.DeviceID], err = pki.LoadCertificate(res.Cert)
		require.NoError(t, err)
	}
	return certs
}

func newTestAuthenticator(t *testing.T, cfg *Config) *authenticator {
	t.Helper()
	ext, err := NewFactory().Create(context.Background(), extensiontest.NewNopSettings(NewFactory().Type()), cfg)
	require.NoError(t, err)
	require.NoError(t, ext.Start(context.Background(), componenttest.NewNopHost()))
	t.Cleanup(func() { require.NoError(t, ext.Shutdown(context.Background())) })
	return ext.(*authenticator)
}

// grpcContext is the context configgrpc hands the authenticator: the peer
// with its TLS state, and the client.Info its own interceptor made.
func grpcContext(leaf *x509.Certificate) context.Context {
	state := tls.ConnectionState{}
	if leaf != nil {
		state.PeerCertificates = []*x509.Certificate{leaf}
		state.VerifiedChains = [][]*x509.Certificate{{leaf}}
	}
	addr := &net.TCPAddr{IP: net.IPv4(192, 0, 2, 10), Port: 40000}
	ctx := peer.NewContext(context.Background(), &peer.Peer{Addr: addr, AuthInfo: credentials.TLSInfo{State: state}})
	return client.NewContext(ctx, client.Info{
		Addr:     addr,
		Metadata: client.NewMetadata(map[string][]string{"x-tenant": {"t1"}}),
	})
}

func TestAuthenticateGRPC(t *testing.T) {
	t.Parallel()
	certs := testCerts(t)
	a := newTestAuthenticator(t, createDefaultConfig())

	ctx, err := a.Authenticate(grpcContext(certs["atm-1"]), map[string][]string{"device.id": {"spoofed"}})
	require.NoError(t, err)
	info := client.FromContext(ctx)
	require.NotNil(t, info.Auth)
	assert.Equal(t, "atm-1", info.Auth.GetAttribute(fleetattr.DeviceID), "headers must not influence the identity")
	assert.Equal(t, "atms", info.Auth.GetAttribute(fleetattr.FleetName))
	assert.Equal(t, "branch-7", info.Auth.GetAttribute(fleetattr.FleetSite))
	assert.Equal(t, []string{fleetattr.DeviceID, fleetattr.FleetName, fleetattr.FleetSite}, info.Auth.GetAttributeNames())
	assert.Equal(t, "192.0.2.10:40000", info.Addr.String(), "client address is kept")
	assert.Equal(t, []string{"t1"}, info.Metadata.Get("x-tenant"), "client metadata is kept")
	assert.Equal(t, []string{"atm-1"}, info.Metadata.Get(fleetattr.DeviceID), "the certificate's device is client metadata")

	ctx, err = a.Authenticate(grpcContext(certs["atm-2"]), nil)
	require.NoError(t, err)
	auth := client.FromContext(ctx).Auth
	assert.Equal(t, "atm-2", auth.GetAttribute(fleetattr.DeviceID))
	assert.Nil(t, auth.GetAttribute(fleetattr.FleetName), "no fleet in the certificate")
	assert.Equal(t, []string{fleetattr.DeviceID}, auth.GetAttributeNames())
}

func TestAuthenticateRefuses(t *testing.T) {
	t.Parallel()
	certs := testCerts(t)
	noName := &x509.Certificate{}
	unverified := peer.NewContext(context.Background(), &peer.Peer{AuthInfo: credentials.TLSInfo{
		State: tls.ConnectionState{PeerCertificates: []*x509.Certificate{certs["atm-1"]}},
	}})
	plaintext := peer.NewContext(context.Background(), &peer.Peer{Addr: &net.TCPAddr{}})

	tests := []struct {
		name    string
		ctx     context.Context
		wantErr error
		code    codes.Code
	}{
		{name: "no peer (OTLP/HTTP context)", ctx: context.Background(), wantErr: ErrNoTLSPeer, code: codes.Unauthenticated},
		{name: "plaintext peer", ctx: plaintext, wantErr: ErrNoTLSPeer, code: codes.Unauthenticated},
		{name: "no client certificate", ctx: grpcContext(nil), wantErr: ErrNoVerifiedCertificate, code: codes.Unauthenticated},
		{name: "certificate presented but not verified", ctx: unverified, wantErr: ErrNoVerifiedCertificate, code: codes.Unauthenticated},
		{name: "certificate without a device name", ctx: grpcContext(noName), wantErr: ErrNoDeviceID, code: codes.Unauthenticated},
	}
	a := newTestAuthenticator(t, createDefaultConfig())
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx, err := a.Authenticate(tt.ctx, nil)
			require.Error(t, err)
			assert.Equal(t, tt.code, status.Code(err))
			assert.Contains(t, err.Error(), tt.wantErr.Error())
			assert.Nil(t, client.FromContext(ctx).Auth)
		})
	}
}

func TestDenyListReload(t *testing.T) {
	t.Parallel()
	certs := testCerts(t)
	path := filepath.Join(t.TempDir(), "denied-devices.txt")
	require.NoError(t, os.WriteFile(path, []byte("# lost\natm-2\n"), 0o600))
	a := newTestAuthenticator(t, &Config{DenyList: DenyListConfig{Path: path, CheckInterval: 10 * time.Millisecond}})

	_, err := a.Authenticate(grpcContext(certs["atm-2"]), nil)
	require.ErrorIs(t, err, status.Error(codes.PermissionDenied, `"atm-2": `+ErrDenied.Error()))
	_, err = a.Authenticate(grpcContext(certs["atm-1"]), nil)
	require.NoError(t, err)

	// atm-1 is reported stolen while the gateway runs; atm-2 is found.
	require.NoError(t, os.WriteFile(path, []byte("atm-1 # stolen\n"), 0o600))
	require.Eventually(t, func() bool {
		_, err := a.Authenticate(grpcContext(certs["atm-1"]), nil)
		return status.Code(err) == codes.PermissionDenied
	}, 5*time.Second, 10*time.Millisecond)
	_, err = a.Authenticate(grpcContext(certs["atm-2"]), nil)
	require.NoError(t, err)

	// Deleting the file lifts every denial; an unreadable file lifts none.
	require.NoError(t, os.Chmod(path, 0o000))
	if _, err := os.ReadFile(path); err == nil {
		t.Log("running as root: the unreadable-file case cannot be set up")
	} else {
		require.NoError(t, os.Chtimes(path, time.Now(), time.Now().Add(time.Hour)))
		time.Sleep(100 * time.Millisecond)
		_, err = a.Authenticate(grpcContext(certs["atm-1"]), nil)
		require.Error(t, err, "an unreadable deny list keeps the previous one in force")
	}
	require.NoError(t, os.Remove(path))
	require.Eventually(t, func() bool {
		_, err := a.Authenticate(grpcContext(certs["atm-1"]), nil)
		return err == nil
	}, 5*time.Second, 10*time.Millisecond)
}

func TestMissingDenyListIsEmpty(t *testing.T) {
	t.Parallel()
	certs := testCerts(t)
	a := newTestAuthenticator(t, &Config{DenyList: DenyListConfig{
		Path: filepath.Join(t.TempDir(), "not-yet"), CheckInterval: time.Second,
	}})
	_, err := a.Authenticate(grpcContext(certs["atm-1"]), nil)
	require.NoError(t, err)
}

func TestUnreadableDenyListFailsStart(t *testing.T) {
	t.Parallel()
	ext, err := NewFactory().Create(context.Background(), extensiontest.NewNopSettings(NewFactory().Type()),
		&Config{DenyList: DenyListConfig{Path: t.TempDir(), CheckInterval: time.Second}})
	require.NoError(t, err)
	require.Error(t, ext.Start(context.Background(), componenttest.NewNopHost()))
	require.NoError(t, ext.Shutdown(context.Background()))
}

func TestHTTPMiddleware(t *testing.T) {
	t.Parallel()
	certs := testCerts(t)
	path := filepath.Join(t.TempDir(), "denied-devices.txt")
	require.NoError(t, os.WriteFile(path, []byte("atm-2\n"), 0o600))
	a := newTestAuthenticator(t, &Config{DenyList: DenyListConfig{Path: path, CheckInterval: time.Second}})

	wrap, err := a.GetHTTPHandler(context.Background())
	require.NoError(t, err)
	var seen client.Info
	h, err := wrap(context.Background(), http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		seen = client.FromContext(r.Context())
	}))
	require.NoError(t, err)

	request := func(leaf *x509.Certificate, useTLS bool) int {
		r := httptest.NewRequest(http.MethodPost, "/v1/logs", nil)
		r.TLS = nil
		if useTLS {
			r.TLS = &tls.ConnectionState{}
			if leaf != nil {
				r.TLS.VerifiedChains = [][]*x509.Certificate{{leaf}}
			}
		}
		r = r.WithContext(client.NewContext(r.Context(), client.Info{Addr: &net.TCPAddr{Port: 1}}))
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w.Code
	}
	assert.Equal(t, http.StatusOK, request(certs["atm-1"], true))
	assert.Equal(t, "atm-1", seen.Auth.GetAttribute(fleetattr.DeviceID))
	assert.Equal(t, ":1", seen.Addr.String())
	assert.Equal(t, http.StatusForbidden, request(certs["atm-2"], true))
	assert.Equal(t, http.StatusUnauthorized, request(nil, true))
	assert.Equal(t, http.StatusUnauthorized, request(nil, false))
}

// BenchmarkAuthenticate measures the per-RPC cost: identity from the verified
// leaf, deny-list lookup, client.Info.
func BenchmarkAuthenticate(b *testing.B) {
	dir := b.TempDir()
	_, err := pki.Init(dir, pki.InitOptions{})
	require.NoError(b, err)
	res, err := pki.IssueDevice(dir, pki.DeviceOptions{DeviceID: "atm-1", Fleet: "atms", Site: "branch-7"})
	require.NoError(b, err)
	leaf, err := pki.LoadCertificate(res.Cert)
	require.NoError(b, err)
	deny := filepath.Join(dir, "denied")
	var list []byte
	for i := range 10000 {
		list = fmt.Appendf(list, "lost-%d\n", i)
	}
	require.NoError(b, os.WriteFile(deny, list, 0o600))
	ext, err := NewFactory().Create(context.Background(), extensiontest.NewNopSettings(NewFactory().Type()),
		&Config{DenyList: DenyListConfig{Path: deny, CheckInterval: time.Minute}})
	require.NoError(b, err)
	require.NoError(b, ext.Start(context.Background(), componenttest.NewNopHost()))
	b.Cleanup(func() { require.NoError(b, ext.Shutdown(context.Background())) })
	a := ext.(*authenticator)
	withMD := grpcContext(leaf)
	// The gateway's receiver passes no client metadata (no include_metadata).
	noMD := client.NewContext(withMD, client.Info{Addr: client.FromContext(withMD).Addr})
	for _, tt := range []struct {
		name string
		ctx  context.Context
	}{{"metadata=none", noMD}, {"metadata=x-tenant", withMD}} {
		b.Run(tt.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := a.Authenticate(tt.ctx, nil); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	// Requests of many connections in turn, each with its own certificate,
	// as at a gateway.
	const devices = 512
	ctxs := make([]context.Context, devices)
	for i := range ctxs {
		res, err := pki.IssueDevice(dir, pki.DeviceOptions{DeviceID: fmt.Sprintf("edge-%04d", i), Fleet: "edge"})
		require.NoError(b, err)
		leaf, err := pki.LoadCertificate(res.Cert)
		require.NoError(b, err)
		ctx := grpcContext(leaf)
		ctxs[i] = client.NewContext(ctx, client.Info{Addr: client.FromContext(ctx).Addr})
	}
	b.Run(fmt.Sprintf("metadata=none/certs=%d", devices), func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			if _, err := a.Authenticate(ctxs[i%devices], nil); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
}

// TestAuthenticateDeviceMetadata: the certificate's device ID replaces a
// device.id header that include_metadata put into the client metadata, so
// an exporter keying by that metadata keys by the proven device.
func TestAuthenticateDeviceMetadata(t *testing.T) {
	t.Parallel()
	certs := testCerts(t)
	a := newTestAuthenticator(t, createDefaultConfig())

	ctx := client.NewContext(grpcContext(certs["atm-1"]), client.Info{
		Metadata: client.NewMetadata(map[string][]string{"Device.ID": {"spoofed"}, "x-tenant": {"t1"}}),
	})
	ctx, err := a.Authenticate(ctx, nil)
	require.NoError(t, err)
	md := client.FromContext(ctx).Metadata
	assert.Equal(t, []string{"atm-1"}, md.Get(fleetattr.DeviceID))
	assert.Equal(t, []string{"t1"}, md.Get("x-tenant"))
}

// The gRPC tap refuses a request before it is read while the pipeline says
// it is busy, and lets everything through otherwise.
func TestTapRefusesWhileBusy(t *testing.T) {
	a := newTestAuthenticator(t, createDefaultConfig())
	opts, err := a.GetGRPCServerOptions(context.Background())
	require.NoError(t, err)
	require.Len(t, opts, 1, "the tap alone, with the default grpc_server settings")

	_, err = a.tap(context.Background(), nil)
	require.NoError(t, err, "no pipeline has said anything yet")

	busy := false
	a.SetBusy(func() bool { return busy })
	_, err = a.tap(context.Background(), nil)
	require.NoError(t, err)
	busy = true
	_, err = a.tap(context.Background(), nil)
	require.Error(t, err)
	assert.Equal(t, codes.Unavailable, status.Code(err), "the device retries")
	assert.Contains(t, err.Error(), ErrBusy.Error())

	a.SetBusy(nil)
	_, err = a.tap(context.Background(), nil)
	require.NoError(t, err)
}

// Every request of a connection presents the same parsed certificate: what
// it names is read once, and forgotten once the certificate is collected
// (its connection closed).
func TestCertIdentityCachedWhileInUse(t *testing.T) {
	certs := testCerts(t)
	a := newTestAuthenticator(t, createDefaultConfig())
	entries := func() int {
		a.certsMu.RLock()
		defer a.certsMu.RUnlock()
		return len(a.certs)
	}
	func() {
		leaf, err := x509.ParseCertificate(certs["atm-1"].Raw)
		require.NoError(t, err)
		ctx := grpcContext(leaf)
		for range 3 {
			got, err := a.Authenticate(ctx, nil)
			require.NoError(t, err)
			info := client.FromContext(got)
			assert.Equal(t, "atm-1", info.Auth.GetAttribute(fleetattr.DeviceID))
			assert.Equal(t, "atms", info.Auth.GetAttribute(fleetattr.FleetName))
		}
		assert.Equal(t, 1, entries(), "one entry per certificate")
		runtime.KeepAlive(leaf)
	}()
	require.Eventually(t, func() bool {
		runtime.GC()
		return entries() == 0
	}, 10*time.Second, 20*time.Millisecond)
}

// An entry left at a certificate's address by another certificate (one
// collected before its cleanup ran) is not taken for it.
func TestCertIdentityAddressReused(t *testing.T) {
	certs := testCerts(t)
	a := newTestAuthenticator(t, createDefaultConfig())
	stale := a.certIdentity(certs["atm-2"])
	a.certsMu.Lock()
	a.certs[uintptr(unsafe.Pointer(certs["atm-1"]))] = stale
	a.certsMu.Unlock()
	got, err := a.Authenticate(grpcContext(certs["atm-1"]), nil)
	require.NoError(t, err)
	assert.Equal(t, "atm-1", client.FromContext(got).Auth.GetAttribute(fleetattr.DeviceID))
	assert.Equal(t, []string{"atm-1"}, client.FromContext(got).Metadata.Get(fleetattr.DeviceID))
}
