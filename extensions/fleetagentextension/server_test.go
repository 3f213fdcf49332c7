package fleetagentextension

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/open-telemetry/opamp-go/protobufs"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"

	"github.com/fleetlog/fleetlog/internal/fleetproto"
	"github.com/fleetlog/fleetlog/internal/pki"
)

// fleet is a CA with a gateway certificate, one device's certificate and a
// config signing key, as `fleetlogctl certs` lays them out.
type fleet struct {
	gateway *pki.InitResult
	device  *pki.DeviceResult
	key     ed25519.PrivateKey
	pubFile string
}

func newFleet(t *testing.T, deviceID string) *fleet {
	t.Helper()
	dir := t.TempDir()
	res, err := pki.Init(dir, pki.InitOptions{})
	require.NoError(t, err)
	dev, err := pki.IssueDevice(dir, pki.DeviceOptions{DeviceID: deviceID, Fleet: "atms", Site: "lyon"})
	require.NoError(t, err)
	pub, key, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	der, err := x509.MarshalPKIXPublicKey(pub)
	require.NoError(t, err)
	pubFile := filepath.Join(dev.Dir, fleetproto.ConfigPublicKeyFile)
	require.NoError(t, os.WriteFile(pubFile, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), 0o600))
	return &fleet{gateway: res, device: dev, key: key, pubFile: pubFile}
}

// opampServer is the gateway's side of OpAMP's plain HTTP transport, on a
// real mutual-TLS listener: it decodes each AgentToServer, records it, and
// answers with the remote configuration the test set until the agent
// reports that configuration's hash.
type opampServer struct {
	srv *httptest.Server

	mu       sync.Mutex
	msgs     []*protobufs.AgentToServer
	statuses []*fleetproto.Status
	peers    []string
	remote   *protobufs.AgentRemoteConfig
	rcs      *protobufs.RemoteConfigStatus
}

func newOpAMPServer(t *testing.T, f *fleet) *opampServer {
	t.Helper()
	s := &opampServer{}
	cert, err := tls.LoadX509KeyPair(f.gateway.GatewayCert, f.gateway.GatewayKey)
	require.NoError(t, err)
	caPEM, err := os.ReadFile(f.gateway.CACert)
	require.NoError(t, err)
	pool := x509.NewCertPool()
	require.True(t, pool.AppendCertsFromPEM(caPEM))
	s.srv = httptest.NewUnstartedServer(http.HandlerFunc(s.handle))
	s.srv.TLS = &tls.Config{
		Certificates: []tls.Certificate{cert},
		ClientCAs:    pool,
		ClientAuth:   tls.RequireAndVerifyClientCert,
		MinVersion:   tls.VersionTLS13,
	}
	s.srv.StartTLS()
	t.Cleanup(s.srv.Close)
	return s
}

func (s *opampServer) url() string { return s.srv.URL + "/v1/opamp" }

func (s *opampServer) handle(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	var m protobufs.AgentToServer
	if err := proto.Unmarshal(body, &m); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	s.msgs = append(s.msgs, &m)
	if len(r.TLS.PeerCertificates) > 0 {
		s.peers = append(s.peers, pki.IdentityFromCertificate(r.TLS.PeerCertificates[0]).DeviceID)
	}
	if cm := m.CustomMessage; cm != nil && cm.Capability == fleetproto.StatusCapability && cm.Type == fleetproto.StatusMessageType {
		if st, err := fleetproto.UnmarshalStatus(cm.Data); err == nil {
			s.statuses = append(s.statuses, st)
		}
	}
	if m.RemoteConfigStatus != nil {
		s.rcs = m.RemoteConfigStatus
	}
	resp := &protobufs.ServerToAgent{InstanceUid: m.InstanceUid}
	if s.remote != nil && (s.rcs == nil || !bytes.Equal(s.rcs.LastRemoteConfigHash, s.remote.ConfigHash)) {
		resp.RemoteConfig = s.remote
	}
	s.mu.Unlock()
	b, err := proto.Marshal(resp)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/x-protobuf")
	_, _ = w.Write(b)
}

// offer makes the server send a signed fragment.
func (s *opampServer) offer(t *testing.T, env []byte) []byte {
	t.Helper()
	hash := make([]byte, 8)
	_, _ = rand.Read(hash)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.remote = &protobufs.AgentRemoteConfig{
		ConfigHash: hash,
		Config: &protobufs.AgentConfigMap{ConfigMap: map[string]*protobufs.AgentConfigFile{
			fleetproto.EnvelopeFile: {Body: env, ContentType: fleetproto.EnvelopeContentType},
		}},
	}
	return hash
}

func (s *opampServer) remoteStatus() *protobufs.RemoteConfigStatus {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.rcs
}

func (s *opampServer) lastStatus() *fleetproto.Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.statuses) == 0 {
		return nil
	}
	return s.statuses[len(s.statuses)-1]
}

func (s *opampServer) messages() []*protobufs.AgentToServer {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*protobufs.AgentToServer(nil), s.msgs...)
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		if cond() {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s", what)
}

// closedAddr returns a loopback address nothing listens on.
func closedAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())
	return addr
}
