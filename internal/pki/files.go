package pki

import (
	"crypto/ecdsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"

	"github.com/fleetlog/fleetlog/internal/durable"
)

const (
	privateDirPerm  = 0o700
	privateFilePerm = 0o600
	publicFilePerm  = 0o644
)

// ensurePrivateDir creates dir (and parents) and makes sure dir itself is 0700,
// whatever the umask or an earlier run left.
func ensurePrivateDir(dir string) error { return durable.PrivateDir(dir, privateDirPerm) }

// writeFile writes data to path durably and atomically (durable.WriteFile),
// so a reader never sees a half-written key or certificate and a crash leaves
// either the old file or the new one.
func writeFile(path string, data []byte, perm os.FileMode) error {
	return durable.WriteFile(path, data, perm)
}

func pemBytes(blockType string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: blockType, Bytes: der})
}

func certPEM(cert *x509.Certificate) []byte { return pemBytes("CERTIFICATE", cert.Raw) }

func privateKeyPEM(key any) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("encode private key: %w", err)
	}
	return pemBytes("PRIVATE KEY", der), nil
}

// readPEM returns the DER bytes of the first PEM block of type blockType in path.
func readPEM(path, blockType string) ([]byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	for {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			return nil, fmt.Errorf("%s: no %s PEM block", path, blockType)
		}
		if block.Type == blockType {
			return block.Bytes, nil
		}
	}
}

// LoadCertificate reads the first certificate of a PEM file.
func LoadCertificate(path string) (*x509.Certificate, error) {
	der, err := readPEM(path, "CERTIFICATE")
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("parse %s: %w", path, err)
	}
	return cert, nil
}

// loadPKCS8Key reads the private key of a PKCS#8 PEM file.
func loadPKCS8Key(path string) (any, error) {
	der, err := readPEM(path, "PRIVATE KEY")
	if err != nil {
		return nil, err
	}
	key, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, fmt.Errorf("parse %s: %w", path, err)
	}
	return key, nil
}

func loadECKey(path string) (*ecdsa.PrivateKey, error) {
	key, err := loadPKCS8Key(path)
	if err != nil {
		return nil, err
	}
	ec, ok := key.(*ecdsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("%s: not an ECDSA key", path)
	}
	return ec, nil
}

func exists(path string) (bool, error) {
	_, err := os.Stat(path)
	if err == nil {
		return true, nil
	}
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	return false, err
}
