package pki

import (
	"crypto/ed25519"
	"crypto/x509"
	"fmt"
)

// LoadEd25519PrivateKey reads an Ed25519 private key from a PKCS#8 PEM file,
// as Init writes the archive signing key.
func LoadEd25519PrivateKey(path string) (ed25519.PrivateKey, error) {
	key, err := loadPKCS8Key(path)
	if err != nil {
		return nil, err
	}
	ed, ok := key.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("%s: not an Ed25519 key", path)
	}
	return ed, nil
}

// LoadEd25519PublicKey reads an Ed25519 public key from a PKIX PEM file, as
// Init writes archive-pub.pem.
func LoadEd25519PublicKey(path string) (ed25519.PublicKey, error) {
	der, err := readPEM(path, "PUBLIC KEY")
	if err != nil {
		return nil, err
	}
	key, err := x509.ParsePKIXPublicKey(der)
	if err != nil {
		return nil, fmt.Errorf("parse %s: %w", path, err)
	}
	ed, ok := key.(ed25519.PublicKey)
	if !ok {
		return nil, fmt.Errorf("%s: not an Ed25519 key", path)
	}
	return ed, nil
}
