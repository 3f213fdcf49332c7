package pki

import (
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestIssuerDeviceMatchesIssueDevice(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "certs")
	_, err := Init(dir, InitOptions{})
	require.NoError(t, err)
	is, err := NewIssuer(dir)
	require.NoError(t, err)

	opts := DeviceOptions{DeviceID: "pump-7", Fleet: "pumps", Site: "north"}
	mem, err := is.Device(opts)
	require.NoError(t, err)
	res, err := IssueDevice(dir, opts)
	require.NoError(t, err)
	onDisk, err := LoadCertificate(res.Cert)
	require.NoError(t, err)

	pool := x509.NewCertPool()
	pool.AddCert(is.CA())
	for _, c := range []*x509.Certificate{mem.Cert, onDisk} {
		_, err := c.Verify(x509.VerifyOptions{Roots: pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
		require.NoError(t, err)
		assert.Equal(t, DeviceIdentity{DeviceID: "pump-7", Fleet: "pumps", Site: "north"}, IdentityFromCertificate(c))
		assert.Equal(t, onDisk.Subject.String(), c.Subject.String())
		assert.Equal(t, onDisk.ExtKeyUsage, c.ExtKeyUsage)
	}

	// The in-memory PEM is what IssueDevice writes: it loads as a key pair.
	tc := mem.TLSCertificate()
	assert.Equal(t, mem.Cert.Raw, tc.Certificate[0])
	block, _ := pem.Decode(mem.KeyPEM)
	require.NotNil(t, block)
	key, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	require.NoError(t, err)
	assert.True(t, mem.Key.Equal(key))
}

func TestIssuerRefusesBadNamesAndMissingCA(t *testing.T) {
	_, err := NewIssuer(t.TempDir())
	require.Error(t, err)

	dir := filepath.Join(t.TempDir(), "certs")
	_, err = Init(dir, InitOptions{})
	require.NoError(t, err)
	is, err := NewIssuer(dir)
	require.NoError(t, err)
	_, err = is.Device(DeviceOptions{DeviceID: "bad/name"})
	require.ErrorIs(t, err, ErrInvalidName)
	_, err = is.Device(DeviceOptions{DeviceID: "ok", Site: "-bad"})
	require.ErrorIs(t, err, ErrInvalidName)
}

func BenchmarkIssuerDevice(b *testing.B) {
	dir := filepath.Join(b.TempDir(), "certs")
	_, err := Init(dir, InitOptions{})
	require.NoError(b, err)
	is, err := NewIssuer(dir)
	require.NoError(b, err)
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if _, err := is.Device(DeviceOptions{DeviceID: fmt.Sprintf("dev-%d", i), Fleet: "f", Site: "s"}); err != nil {
			b.Fatal(err)
		}
	}
}
