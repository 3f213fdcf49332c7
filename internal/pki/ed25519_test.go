package pki

import (
	"crypto/ed25519"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestLoadArchiveKeys(t *testing.T) {
	res, err := Init(filepath.Join(t.TempDir(), "pki"), InitOptions{})
	require.NoError(t, err)
	key, err := LoadEd25519PrivateKey(res.ArchiveKey)
	require.NoError(t, err)
	pub, err := LoadEd25519PublicKey(res.ArchivePub)
	require.NoError(t, err)
	assert.True(t, pub.Equal(key.Public().(ed25519.PublicKey)), "the pair belongs together")

	_, err = LoadEd25519PrivateKey(res.GatewayKey)
	assert.ErrorContains(t, err, "not an Ed25519 key")
	_, err = LoadEd25519PublicKey(res.GatewayCert)
	assert.ErrorContains(t, err, "no PUBLIC KEY PEM block")
	_, err = LoadEd25519PrivateKey(filepath.Join(t.TempDir(), "missing.pem"))
	assert.Error(t, err)
}
