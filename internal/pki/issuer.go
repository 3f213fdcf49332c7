package pki

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"net/url"
	"path/filepath"
	"time"
)

// Issuer signs client certificates with a fleet CA it loaded once. It is the
// signing half of IssueDevice, which also writes the files: a fleet
// simulator or a provisioning system that issues thousands of certificates
// uses it to keep them in memory, or to store them its own way. It is safe
// for concurrent use.
type Issuer struct {
	caCert *x509.Certificate
	caKey  *ecdsa.PrivateKey
}

// Issued is a signed client certificate and its private key.
type Issued struct {
	Cert *x509.Certificate
	Key  *ecdsa.PrivateKey
	// CertPEM and KeyPEM are the certificate and the PKCS #8 key as
	// IssueDevice writes them to cert.pem and key.pem.
	CertPEM, KeyPEM []byte
}

// TLSCertificate returns the certificate and key for a tls.Config.
func (c *Issued) TLSCertificate() tls.Certificate {
	return tls.Certificate{Certificate: [][]byte{c.Cert.Raw}, PrivateKey: c.Key, Leaf: c.Cert}
}

// NewIssuer loads the fleet CA made by Init in dir.
func NewIssuer(dir string) (*Issuer, error) {
	caCert, err := LoadCertificate(filepath.Join(dir, CADirName, CACertFile))
	if err != nil {
		return nil, fmt.Errorf("load fleet CA (run 'fleetlogctl certs init' first): %w", err)
	}
	caKey, err := loadECKey(filepath.Join(dir, CADirName, CAKeyFile))
	if err != nil {
		return nil, fmt.Errorf("load fleet CA key: %w", err)
	}
	return &Issuer{caCert: caCert, caKey: caKey}, nil
}

// CA is the fleet CA certificate.
func (is *Issuer) CA() *x509.Certificate { return is.caCert }

// Device signs a device client certificate, as IssueDevice does, without
// writing anything.
func (is *Issuer) Device(opts DeviceOptions) (*Issued, error) {
	subject, uris, err := deviceSubject(opts)
	if err != nil {
		return nil, err
	}
	return is.sign("device", subject, uris, opts.Validity)
}

// sign makes a fresh P-256 key and a client certificate for subject and uris.
func (is *Issuer) sign(what string, subject pkix.Name, uris []*url.URL, validity time.Duration) (*Issued, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate %s key: %w", what, err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		Subject:     subject,
		NotBefore:   now.Add(-backdate),
		NotAfter:    now.Add(orDefault(validity, DefaultLeafValidity)),
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		URIs:        uris,
	}
	if tmpl.NotAfter.After(is.caCert.NotAfter) {
		tmpl.NotAfter = is.caCert.NotAfter
	}
	cert, err := sign(tmpl, key.Public(), is.caCert, is.caKey)
	if err != nil {
		return nil, fmt.Errorf("sign %s certificate: %w", what, err)
	}
	keyPEM, err := privateKeyPEM(key)
	if err != nil {
		return nil, err
	}
	return &Issued{Cert: cert, Key: key, CertPEM: certPEM(cert), KeyPEM: keyPEM}, nil
}
