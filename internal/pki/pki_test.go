package pki

import (
	"crypto/ed25519"
	"crypto/x509"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestInitCreatesFleetMaterial(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "certs")
	res, err := Init(dir, InitOptions{Hosts: []string{"gw.example.internal", "192.0.2.10"}})
	require.NoError(t, err)

	ca, err := LoadCertificate(res.CACert)
	require.NoError(t, err)
	assert.True(t, ca.IsCA)
	assert.Equal(t, x509.ECDSA, ca.PublicKeyAlgorithm)

	gw, err := LoadCertificate(res.GatewayCert)
	require.NoError(t, err)
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	for _, host := range []string{"localhost", "127.0.0.1", "::1", "gw.example.internal", "192.0.2.10"} {
		_, err := gw.Verify(x509.VerifyOptions{Roots: pool, DNSName: host, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
		assert.NoError(t, err, host)
	}
	_, err = gw.Verify(x509.VerifyOptions{Roots: pool, DNSName: "other.example"})
	assert.Error(t, err)

	gwCA, err := LoadCertificate(res.GatewayCA)
	require.NoError(t, err)
	assert.True(t, gwCA.Equal(ca))

	// The archive key pair matches.
	privDER, err := readPEM(res.ArchiveKey, "PRIVATE KEY")
	require.NoError(t, err)
	priv, err := x509.ParsePKCS8PrivateKey(privDER)
	require.NoError(t, err)
	pubDER, err := readPEM(res.ArchivePub, "PUBLIC KEY")
	require.NoError(t, err)
	pub, err := x509.ParsePKIXPublicKey(pubDER)
	require.NoError(t, err)
	sig := ed25519.Sign(priv.(ed25519.PrivateKey), []byte("manifest"))
	assert.True(t, ed25519.Verify(pub.(ed25519.PublicKey), []byte("manifest"), sig))

	// The config key pair matches too.
	cfgKey, err := LoadEd25519PrivateKey(res.ConfigKey)
	require.NoError(t, err)
	cfgPub, err := LoadEd25519PublicKey(res.ConfigPub)
	require.NoError(t, err)
	assert.True(t, cfgPub.Equal(cfgKey.Public().(ed25519.PublicKey)))
	assert.Equal(t, filepath.Join(dir, "gateway", "config-key.pem"), res.ConfigKey)

	for _, p := range []string{res.CAKey, res.GatewayKey, res.ArchiveKey, res.ConfigKey} {
		assertMode(t, p, 0o600)
	}
	for _, d := range []string{dir, filepath.Dir(res.CAKey), filepath.Dir(res.GatewayKey)} {
		assertMode(t, d, 0o700|os.ModeDir)
	}
}

func TestInitRefusesToReplaceCA(t *testing.T) {
	dir := t.TempDir()
	first, err := Init(dir, InitOptions{})
	require.NoError(t, err)
	before, err := os.ReadFile(first.CAKey)
	require.NoError(t, err)

	_, err = Init(dir, InitOptions{})
	require.ErrorIs(t, err, ErrExists)
	after, err := os.ReadFile(first.CAKey)
	require.NoError(t, err)
	assert.Equal(t, before, after, "a refused init must not touch the CA")

	_, err = Init(dir, InitOptions{Force: true})
	require.NoError(t, err)
	replaced, err := os.ReadFile(first.CAKey)
	require.NoError(t, err)
	assert.NotEqual(t, before, replaced)
}

func TestIssueDevice(t *testing.T) {
	dir := t.TempDir()
	initRes, err := Init(dir, InitOptions{})
	require.NoError(t, err)

	res, err := IssueDevice(dir, DeviceOptions{DeviceID: "atm-0042", Fleet: "atms", Site: "branch-7"})
	require.NoError(t, err)
	assert.Equal(t, filepath.Join(dir, "devices", "atm-0042"), res.Dir)

	cert, err := LoadCertificate(res.Cert)
	require.NoError(t, err)
	ca, err := LoadCertificate(initRes.CACert)
	require.NoError(t, err)
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	_, err = cert.Verify(x509.VerifyOptions{Roots: pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
	require.NoError(t, err)
	_, err = cert.Verify(x509.VerifyOptions{Roots: pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
	assert.Error(t, err, "a device certificate must not serve as a server certificate")

	assert.Equal(t, "atm-0042", cert.Subject.CommonName)
	var uris []string
	for _, u := range cert.URIs {
		uris = append(uris, u.String())
	}
	assert.Equal(t, []string{"urn:fleetlog:device:atm-0042", "urn:fleetlog:fleet:atms", "urn:fleetlog:site:branch-7"}, uris)
	assert.Equal(t, DeviceIdentity{DeviceID: "atm-0042", Fleet: "atms", Site: "branch-7"}, IdentityFromCertificate(cert))

	devCA, err := LoadCertificate(res.CA)
	require.NoError(t, err)
	assert.True(t, devCA.Equal(ca))
	assertMode(t, res.Key, 0o600)
	assertMode(t, res.Dir, 0o700|os.ModeDir)
	devPub, err := os.ReadFile(res.ConfigPub)
	require.NoError(t, err)
	fleetPub, err := os.ReadFile(initRes.ConfigPub)
	require.NoError(t, err)
	assert.Equal(t, fleetPub, devPub, "the device gets the fleet's config public key")
	assert.Equal(t, filepath.Join(res.Dir, "config-pub.pem"), res.ConfigPub)
	_, err = os.Stat(filepath.Join(res.Dir, "config-key.pem"))
	assert.ErrorIs(t, err, os.ErrNotExist, "never the private key")

	_, err = IssueDevice(dir, DeviceOptions{DeviceID: "atm-0042"})
	require.ErrorIs(t, err, ErrExists)
	_, err = IssueDevice(dir, DeviceOptions{DeviceID: "atm-0042", Force: true})
	require.NoError(t, err)
}

func TestIssueDeviceRejectsBadInput(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name    string
		opts    DeviceOptions
		wantErr string
	}{
		{name: "empty device", opts: DeviceOptions{}, wantErr: `device ""`},
		{name: "path traversal", opts: DeviceOptions{DeviceID: "../../etc"}, wantErr: `device "../../etc"`},
		{name: "uri injection", opts: DeviceOptions{DeviceID: "a:b"}, wantErr: `device "a:b"`},
		{name: "bad fleet", opts: DeviceOptions{DeviceID: "d1", Fleet: "a b"}, wantErr: `fleet "a b"`},
		{name: "bad site", opts: DeviceOptions{DeviceID: "d1", Site: "-x"}, wantErr: `site "-x"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := IssueDevice(dir, tt.opts)
			require.ErrorIs(t, err, ErrInvalidName)
			assert.ErrorContains(t, err, tt.wantErr)
		})
	}

	t.Run("no CA", func(t *testing.T) {
		_, err := IssueDevice(dir, DeviceOptions{DeviceID: "d1"})
		assert.ErrorContains(t, err, "certs init")
	})
}

func TestIdentityFallsBackToSubject(t *testing.T) {
	cert := &x509.Certificate{}
	cert.Subject.CommonName = "kiosk-1"
	cert.Subject.Organization = []string{"kiosks"}
	cert.Subject.OrganizationalUnit = []string{"mall-3"}
	assert.Equal(t, DeviceIdentity{DeviceID: "kiosk-1", Fleet: "kiosks", Site: "mall-3"}, IdentityFromCertificate(cert))
}

func assertMode(t *testing.T, path string, want os.FileMode) {
	t.Helper()
	info, err := os.Stat(path)
	require.NoError(t, err)
	assert.Equal(t, want, info.Mode(), path)
}

func TestIssueOperator(t *testing.T) {
	dir := t.TempDir()
	initRes, err := Init(dir, InitOptions{})
	require.NoError(t, err)
	res, err := IssueOperator(dir, OperatorOptions{Name: "alice"})
	require.NoError(t, err)
	assert.Equal(t, filepath.Join(dir, "operators", "alice"), res.Dir)
	cert, err := LoadCertificate(res.Cert)
	require.NoError(t, err)
	ca, err := LoadCertificate(initRes.CACert)
	require.NoError(t, err)
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	_, err = cert.Verify(x509.VerifyOptions{Roots: pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
	require.NoError(t, err)

	name, ok := OperatorFromCertificate(cert)
	assert.True(t, ok)
	assert.Equal(t, "alice", name)
	assert.Equal(t, DeviceIdentity{}, IdentityFromCertificate(cert), "an operator is no device")
	assertMode(t, res.Key, 0o600)
	assertMode(t, res.Dir, 0o700|os.ModeDir)

	dev, err := IssueDevice(dir, DeviceOptions{DeviceID: "atm-1"})
	require.NoError(t, err)
	devCert, err := LoadCertificate(dev.Cert)
	require.NoError(t, err)
	_, ok = OperatorFromCertificate(devCert)
	assert.False(t, ok, "a device is no operator")

	_, err = IssueOperator(dir, OperatorOptions{Name: "alice"})
	require.ErrorIs(t, err, ErrExists)
	_, err = IssueOperator(dir, OperatorOptions{Name: "a:b"})
	require.ErrorIs(t, err, ErrInvalidName)
}
