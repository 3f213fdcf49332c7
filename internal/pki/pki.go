package pki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/fleetlog/fleetlog/internal/fleetproto"
)

// File and directory names inside a certificate directory.
const (
	CADirName         = "ca"
	GatewayDirName    = "gateway"
	DevicesDirName    = "devices"
	CACertFile        = "ca.pem"
	CAKeyFile         = "ca-key.pem"
	CertFile          = "cert.pem"
	KeyFile           = "key.pem"
	ArchiveKeyFile    = "archive-key.pem"
	ArchivePubFile    = "archive-pub.pem"
	OperatorsDirName  = "operators"
	DeviceURIPrefix   = "urn:fleetlog:device:"
	OperatorURIPrefix = "urn:fleetlog:operator:"
	FleetURIPrefix    = "urn:fleetlog:fleet:"
	SiteURIPrefix     = "urn:fleetlog:site:"
)

// Default validity periods.
const (
	DefaultCAValidity   = 10 * 365 * 24 * time.Hour
	DefaultLeafValidity = 397 * 24 * time.Hour
	// backdate absorbs clock skew between the issuer and devices whose clock
	// is a little behind.
	backdate = 5 * time.Minute
)

var (
	// ErrExists is returned when an operation would overwrite existing key material.
	ErrExists = errors.New("already exists (use --force to replace it)")
	// ErrInvalidName is returned for device, fleet or site names outside [A-Za-z0-9._-].
	ErrInvalidName = errors.New("must be 1-128 characters of A-Z a-z 0-9 . _ - and start with a letter or digit")

	nameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`)
)

// ValidateName checks a device, fleet or site name. The names go into URIs,
// certificate subjects and directory names, so the alphabet is deliberately small.
func ValidateName(what, name string) error {
	if !nameRE.MatchString(name) {
		return fmt.Errorf("%s %q %w", what, name, ErrInvalidName)
	}
	return nil
}

// InitOptions configure Init.
type InitOptions struct {
	// FleetName is the CA's common name suffix; empty means "fleetlog".
	FleetName string
	// Hosts are extra DNS names or IP addresses for the gateway certificate,
	// beside localhost, 127.0.0.1 and ::1.
	Hosts []string
	// CAValidity and LeafValidity default to DefaultCAValidity and DefaultLeafValidity.
	CAValidity   time.Duration
	LeafValidity time.Duration
	// Force replaces an existing CA; without it Init refuses, because a new
	// CA orphans every device certificate already issued.
	Force bool
}

// InitResult lists the files Init wrote.
type InitResult struct {
	CACert, CAKey                                  string
	GatewayCA, GatewayCert, GatewayKey, ArchiveKey string
	ArchivePub                                     string
	// ConfigKey signs remote configuration (the gateway's); ConfigPub
	// verifies it and is copied into every device directory.
	ConfigKey, ConfigPub string
}

// Init creates a fleet CA, the gateway's server certificate, the archive
// signing key pair and the remote configuration signing key pair in dir.
func Init(dir string, opts InitOptions) (*InitResult, error) {
	res := &InitResult{
		CACert:      filepath.Join(dir, CADirName, CACertFile),
		CAKey:       filepath.Join(dir, CADirName, CAKeyFile),
		GatewayCA:   filepath.Join(dir, GatewayDirName, CACertFile),
		GatewayCert: filepath.Join(dir, GatewayDirName, CertFile),
		GatewayKey:  filepath.Join(dir, GatewayDirName, KeyFile),
		ArchiveKey:  filepath.Join(dir, GatewayDirName, ArchiveKeyFile),
		ArchivePub:  filepath.Join(dir, ArchivePubFile),
		ConfigKey:   filepath.Join(dir, GatewayDirName, fleetproto.ConfigSigningKeyFile),
		ConfigPub:   filepath.Join(dir, fleetproto.ConfigPublicKeyFile),
	}
	if !opts.Force {
		found, err := exists(res.CAKey)
		if err != nil {
			return nil, err
		}
		if found {
			return nil, fmt.Errorf("fleet CA %s %w", res.CAKey, ErrExists)
		}
	}
	ips, dnsNames, err := splitHosts(opts.Hosts)
	if err != nil {
		return nil, err
	}
	fleet := opts.FleetName
	if fleet == "" {
		fleet = "fleetlog"
	}
	now := time.Now()

	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate CA key: %w", err)
	}
	caTmpl := &x509.Certificate{
		Subject:               pkix.Name{CommonName: fleet + " fleet CA", Organization: []string{fleet}},
		NotBefore:             now.Add(-backdate),
		NotAfter:              now.Add(orDefault(opts.CAValidity, DefaultCAValidity)),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	caCert, err := sign(caTmpl, caKey.Public(), nil, caKey)
	if err != nil {
		return nil, fmt.Errorf("sign CA: %w", err)
	}

	gwKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate gateway key: %w", err)
	}
	gwTmpl := &x509.Certificate{
		Subject:     pkix.Name{CommonName: "fleetlog-gateway", Organization: []string{fleet}},
		NotBefore:   now.Add(-backdate),
		NotAfter:    now.Add(orDefault(opts.LeafValidity, DefaultLeafValidity)),
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:    append([]string{"localhost"}, dnsNames...),
		IPAddresses: append([]net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback}, ips...),
	}
	gwCert, err := sign(gwTmpl, gwKey.Public(), caCert, caKey)
	if err != nil {
		return nil, fmt.Errorf("sign gateway certificate: %w", err)
	}

	archivePub, archiveKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate archive key: %w", err)
	}
	archivePubDER, err := x509.MarshalPKIXPublicKey(archivePub)
	if err != nil {
		return nil, fmt.Errorf("encode archive public key: %w", err)
	}

	configPub, configKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate config signing key: %w", err)
	}
	configPubDER, err := x509.MarshalPKIXPublicKey(configPub)
	if err != nil {
		return nil, fmt.Errorf("encode config public key: %w", err)
	}
	configKeyPEM, err := privateKeyPEM(configKey)
	if err != nil {
		return nil, err
	}

	caKeyPEM, err := privateKeyPEM(caKey)
	if err != nil {
		return nil, err
	}
	gwKeyPEM, err := privateKeyPEM(gwKey)
	if err != nil {
		return nil, err
	}
	archiveKeyPEM, err := privateKeyPEM(archiveKey)
	if err != nil {
		return nil, err
	}
	// dir itself may be an existing, shared directory: create it private but
	// leave an existing one's mode alone. The subdirectories are fleetlog's own.
	if err := os.MkdirAll(dir, privateDirPerm); err != nil {
		return nil, fmt.Errorf("create %s: %w", dir, err)
	}
	for _, d := range []string{filepath.Join(dir, CADirName), filepath.Join(dir, GatewayDirName)} {
		if err := ensurePrivateDir(d); err != nil {
			return nil, err
		}
	}
	// Private keys first: a crash half-way leaves no certificate without its key.
	files := []struct {
		path string
		data []byte
		perm os.FileMode
	}{
		{res.CAKey, caKeyPEM, privateFilePerm},
		{res.GatewayKey, gwKeyPEM, privateFilePerm},
		{res.ArchiveKey, archiveKeyPEM, privateFilePerm},
		{res.ConfigKey, configKeyPEM, privateFilePerm},
		{res.CACert, certPEM(caCert), publicFilePerm},
		{res.GatewayCA, certPEM(caCert), publicFilePerm},
		{res.GatewayCert, certPEM(gwCert), publicFilePerm},
		{res.ArchivePub, pemBytes("PUBLIC KEY", archivePubDER), publicFilePerm},
		{res.ConfigPub, pemBytes("PUBLIC KEY", configPubDER), publicFilePerm},
	}
	for _, f := range files {
		if err := writeFile(f.path, f.data, f.perm); err != nil {
			return nil, err
		}
	}
	return res, nil
}

// DeviceOptions configure IssueDevice.
type DeviceOptions struct {
	DeviceID string
	Fleet    string // optional
	Site     string // optional
	// Validity defaults to DefaultLeafValidity.
	Validity time.Duration
	// Force replaces an existing certificate for the same device.
	Force bool
}

// DeviceResult lists the files IssueDevice wrote.
type DeviceResult struct {
	Dir, CA, Cert, Key string
	// ConfigPub is the copy of the fleet's remote configuration public key,
	// "" when the certificate directory has none (made before it existed).
	ConfigPub string
}

// IssueDevice signs a client certificate for one device with the fleet CA in dir.
func IssueDevice(dir string, opts DeviceOptions) (*DeviceResult, error) {
	subject, uris, err := deviceSubject(opts)
	if err != nil {
		return nil, err
	}
	devDir := filepath.Join(dir, DevicesDirName, opts.DeviceID)
	res, err := issueClient(dir, devDir, "device", subject, uris, opts.Validity, opts.Force)
	if err != nil {
		return nil, err
	}
	pub, err := os.ReadFile(filepath.Join(dir, fleetproto.ConfigPublicKeyFile))
	switch {
	case err == nil:
		res.ConfigPub = filepath.Join(devDir, fleetproto.ConfigPublicKeyFile)
		if err := writeFile(res.ConfigPub, pub, publicFilePerm); err != nil {
			return nil, err
		}
	case !errors.Is(err, os.ErrNotExist):
		return nil, fmt.Errorf("copy config public key: %w", err)
	}
	return res, nil
}

// deviceSubject checks a device's names and returns the subject and URI
// SANs of its certificate.
func deviceSubject(opts DeviceOptions) (pkix.Name, []*url.URL, error) {
	if err := ValidateName("device", opts.DeviceID); err != nil {
		return pkix.Name{}, nil, err
	}
	if opts.Fleet != "" {
		if err := ValidateName("fleet", opts.Fleet); err != nil {
			return pkix.Name{}, nil, err
		}
	}
	if opts.Site != "" {
		if err := ValidateName("site", opts.Site); err != nil {
			return pkix.Name{}, nil, err
		}
	}
	uris := []*url.URL{urn(DeviceURIPrefix, opts.DeviceID)}
	subject := pkix.Name{CommonName: opts.DeviceID}
	if opts.Fleet != "" {
		uris = append(uris, urn(FleetURIPrefix, opts.Fleet))
		subject.Organization = []string{opts.Fleet}
	}
	if opts.Site != "" {
		uris = append(uris, urn(SiteURIPrefix, opts.Site))
		subject.OrganizationalUnit = []string{opts.Site}
	}
	return subject, uris, nil
}

// DeviceIdentity is what a device certificate says about its holder.
type DeviceIdentity struct {
	DeviceID, Fleet, Site string
}

// IdentityFromCertificate reads the device, fleet and site from a device
// certificate: the urn:fleetlog URI SANs first, then the Subject CN, O and OU.
// An operator certificate (see IssueOperator) names no device.
func IdentityFromCertificate(cert *x509.Certificate) DeviceIdentity {
	var id DeviceIdentity
	if _, ok := OperatorFromCertificate(cert); ok {
		return id
	}
	for _, u := range cert.URIs {
		s := u.String()
		if v, ok := strings.CutPrefix(s, DeviceURIPrefix); ok && id.DeviceID == "" {
			id.DeviceID = v
		} else if v, ok := strings.CutPrefix(s, FleetURIPrefix); ok && id.Fleet == "" {
			id.Fleet = v
		} else if v, ok := strings.CutPrefix(s, SiteURIPrefix); ok && id.Site == "" {
			id.Site = v
		}
	}
	if id.DeviceID == "" {
		id.DeviceID = cert.Subject.CommonName
	}
	if id.Fleet == "" && len(cert.Subject.Organization) > 0 {
		id.Fleet = cert.Subject.Organization[0]
	}
	if id.Site == "" && len(cert.Subject.OrganizationalUnit) > 0 {
		id.Site = cert.Subject.OrganizationalUnit[0]
	}
	return id
}

// urn builds prefix+value as an opaque URI; value has passed ValidateName.
func urn(prefix, value string) *url.URL {
	return &url.URL{Scheme: "urn", Opaque: strings.TrimPrefix(prefix, "urn:") + value}
}

func sign(tmpl *x509.Certificate, pub crypto.PublicKey, parent *x509.Certificate, parentKey crypto.Signer) (*x509.Certificate, error) {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, err
	}
	tmpl.SerialNumber = serial
	if parent == nil {
		parent = tmpl // self-signed
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, parentKey)
	if err != nil {
		return nil, err
	}
	return x509.ParseCertificate(der)
}

func splitHosts(hosts []string) (ips []net.IP, dnsNames []string, err error) {
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			ips = append(ips, ip)
			continue
		}
		if h == "" || len(h) > 253 {
			return nil, nil, fmt.Errorf("host %q is not an IP address or DNS name", h)
		}
		dnsNames = append(dnsNames, h)
	}
	return ips, dnsNames, nil
}

func orDefault(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

// OperatorOptions configure IssueOperator.
type OperatorOptions struct {
	Name string
	// Validity defaults to DefaultLeafValidity.
	Validity time.Duration
	// Force replaces an existing certificate for the same operator.
	Force bool
}

// IssueOperator signs a client certificate for an operator of the gateway's
// admin API with the fleet CA in dir, in dir/operators/NAME. It names the
// operator in the URI SAN urn:fleetlog:operator:NAME and carries no device
// URN, so it is never taken for a device.
func IssueOperator(dir string, opts OperatorOptions) (*DeviceResult, error) {
	if err := ValidateName("operator", opts.Name); err != nil {
		return nil, err
	}
	opDir := filepath.Join(dir, OperatorsDirName, opts.Name)
	return issueClient(dir, opDir, "operator", pkix.Name{CommonName: "operator " + opts.Name},
		[]*url.URL{urn(OperatorURIPrefix, opts.Name)}, opts.Validity, opts.Force)
}

// issueClient signs a client certificate for subject and uris with the fleet
// CA in dir and writes it, its key and the CA in the folder into (0700, the
// key 0600), refusing to replace an existing certificate unless force. what
// names the holder in errors ("device", "operator").
func issueClient(dir, into, what string, subject pkix.Name, uris []*url.URL, validity time.Duration, force bool) (*DeviceResult, error) {
	res := &DeviceResult{
		Dir:  into,
		CA:   filepath.Join(into, CACertFile),
		Cert: filepath.Join(into, CertFile),
		Key:  filepath.Join(into, KeyFile),
	}
	if !force {
		found, err := exists(res.Cert)
		if err != nil {
			return nil, err
		}
		if found {
			return nil, fmt.Errorf("%s certificate %s %w", what, res.Cert, ErrExists)
		}
	}
	is, err := NewIssuer(dir)
	if err != nil {
		return nil, err
	}
	c, err := is.sign(what, subject, uris, validity)
	if err != nil {
		return nil, err
	}
	if err := ensurePrivateDir(filepath.Dir(into)); err != nil {
		return nil, err
	}
	if err := ensurePrivateDir(into); err != nil {
		return nil, err
	}
	if err := writeFile(res.Key, c.KeyPEM, privateFilePerm); err != nil {
		return nil, err
	}
	if err := writeFile(res.CA, certPEM(is.caCert), publicFilePerm); err != nil {
		return nil, err
	}
	if err := writeFile(res.Cert, c.CertPEM, publicFilePerm); err != nil {
		return nil, err
	}
	return res, nil
}

// OperatorFromCertificate returns the operator an operator certificate
// names in its urn:fleetlog:operator URI SAN.
func OperatorFromCertificate(cert *x509.Certificate) (string, bool) {
	for _, u := range cert.URIs {
		if v, ok := strings.CutPrefix(u.String(), OperatorURIPrefix); ok && v != "" {
			return v, true
		}
	}
	return "", false
}
