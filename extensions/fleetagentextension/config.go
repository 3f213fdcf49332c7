package fleetagentextension // import "github.com/fleetlog/fleetlog/extensions/fleetagentextension"

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"time"

	"go.opentelemetry.io/collector/config/configtls"
)

// Defaults.
const (
	defaultHeartbeat       = 30 * time.Second
	defaultDeliveryTimeout = 5 * time.Minute
	minHeartbeat           = time.Second
	// tls13 is the only TLS version between the tiers.
	tls13 = "1.3"
	// controlPort and opampPath locate the gateway's OpAMP endpoint (its
	// fleet_control admin listener) from the gateway's host.
	controlPort = "4320"
	opampPath   = "/v1/opamp"
	// endpointNone turns reporting off even when Gateway is set.
	endpointNone = "none"
)

// Errors of Validate.
var (
	ErrEndpoint        = errors.New("'endpoint' must be an https:// URL or none")
	ErrGateway         = errors.New("'gateway' must be host:port")
	ErrMinVersion      = errors.New("'tls::min_version' must be 1.3: TLS 1.3 is the minimum between the tiers")
	ErrInsecure        = errors.New("'tls::insecure' must be false: the control plane runs on mutual TLS only")
	ErrHeartbeat       = errors.New("'heartbeat' must be at least 1s")
	ErrDeliveryTimeout = errors.New("'remote_config::delivery_timeout' must be positive")
	ErrRemoteConfig    = errors.New("'remote_config' needs 'directory' and 'remote_config::public_key_file' (or 'remote_config::enabled: false')")
	ErrKeyPattern      = errors.New("'remote_config' key patterns must not be empty")
)

// Config is the fleet_agent extension's configuration.
type Config struct {
	// Endpoint is the gateway's OpAMP URL, https://HOST:4320/v1/opamp.
	// Default "": derived from Gateway; "none", or "" without Gateway:
	// nothing is reported and no remote configuration is taken, and the
	// agent works as without the extension.
	Endpoint string `mapstructure:"endpoint"`
	// Gateway is the gateway's OTLP address (host:port), the otlp
	// exporter's endpoint; with Endpoint empty, the OpAMP endpoint is
	// https://HOST:4320/v1/opamp on the same host. Default "".
	Gateway string `mapstructure:"gateway"`
	// TLS is the client side of the mutual TLS: ca_file, cert_file and
	// key_file, the same files the otlp exporter uses. The certificate is
	// the device's identity. min_version defaults to, and must be, 1.3.
	TLS configtls.ClientConfig `mapstructure:"tls"`
	// Heartbeat is how often the status is reported when nothing changed.
	// Default 30s; at least 1s.
	Heartbeat time.Duration `mapstructure:"heartbeat"`
	// Directory holds the agent's OpAMP instance UID, its remote
	// configuration state and the archive checkpoints it keeps as a witness
	// (fleetproto.WitnessFile); `--config fleet:DIRECTORY` serves the
	// fragment that runs. Default "": the instance UID changes with every
	// start, there is no remote configuration, and checkpoints are kept in
	// memory only.
	Directory string `mapstructure:"directory"`
	// RemoteConfig says which remote configuration the agent accepts.
	RemoteConfig RemoteConfig `mapstructure:"remote_config"`

	// prevent unkeyed literal initialization
	_ struct{}
}

// RemoteConfig configures the signed remote configuration.
type RemoteConfig struct {
	// Enabled turns remote configuration on. Default true; it also needs
	// Directory, PublicKeyFile, a device certificate and the agent started
	// with `--config fleet:DIRECTORY`.
	Enabled bool `mapstructure:"enabled"`
	// PublicKeyFile is the fleet's config signing public key
	// (config-pub.pem): only fragments signed by its private key are
	// accepted. Default "".
	PublicKeyFile string `mapstructure:"public_key_file"`
	// AllowedKeys are the configuration key patterns a fragment may set.
	// Default nil: fleetproto.DefaultAllowedKeys (file inputs, pii profiles
	// and custom rules, fleet_metadata labels, the log level).
	AllowedKeys []string `mapstructure:"allowed_keys"`
	// UnlockedKeys are locked keys (exporters, extensions, pipelines, pii
	// action and allowed_keys) this device lets a fragment set anyway; each
	// must also be allowed. Default none.
	UnlockedKeys []string `mapstructure:"unlocked_keys"`
	// DeliveryTimeout bounds the trial of a new configuration: if no batch
	// is acknowledged within it while records are spooled, the agent rolls
	// back. Default 5m.
	DeliveryTimeout time.Duration `mapstructure:"delivery_timeout"`

	// prevent unkeyed literal initialization
	_ struct{}
}

// Validate checks the configuration.
func (cfg *Config) Validate() error {
	var errs []error
	if cfg.Endpoint != "" && cfg.Endpoint != endpointNone {
		if u, err := url.Parse(cfg.Endpoint); err != nil || u.Scheme != "https" || u.Host == "" {
			errs = append(errs, fmt.Errorf("%w, not %q", ErrEndpoint, cfg.Endpoint))
		}
	}
	if cfg.Gateway != "" {
		if host, _, err := net.SplitHostPort(cfg.Gateway); err != nil || host == "" {
			errs = append(errs, fmt.Errorf("%w, not %q", ErrGateway, cfg.Gateway))
		}
	}
	if cfg.TLS.MinVersion != "" && cfg.TLS.MinVersion != tls13 {
		errs = append(errs, ErrMinVersion)
	}
	if cfg.TLS.Insecure || cfg.TLS.InsecureSkipVerify {
		errs = append(errs, ErrInsecure)
	}
	if cfg.Heartbeat < minHeartbeat {
		errs = append(errs, ErrHeartbeat)
	}
	rc := cfg.RemoteConfig
	if rc.DeliveryTimeout <= 0 {
		errs = append(errs, ErrDeliveryTimeout)
	}
	if rc.Enabled && cfg.endpoint() != "" && (cfg.Directory == "" || rc.PublicKeyFile == "") {
		errs = append(errs, ErrRemoteConfig)
	}
	for _, p := range append(append([]string(nil), rc.AllowedKeys...), rc.UnlockedKeys...) {
		if p == "" {
			errs = append(errs, ErrKeyPattern)
			break
		}
	}
	return errors.Join(errs...)
}

// endpoint is the OpAMP URL to use, "" for none.
func (cfg *Config) endpoint() string {
	switch {
	case cfg.Endpoint == endpointNone:
		return ""
	case cfg.Endpoint != "":
		return cfg.Endpoint
	case cfg.Gateway != "":
		host, _, err := net.SplitHostPort(cfg.Gateway)
		if err != nil {
			return ""
		}
		return "https://" + net.JoinHostPort(host, controlPort) + opampPath
	}
	return ""
}

func createDefaultConfig() *Config {
	tls := configtls.NewDefaultClientConfig()
	tls.MinVersion = tls13
	return &Config{
		TLS:       tls,
		Heartbeat: defaultHeartbeat,
		RemoteConfig: RemoteConfig{
			Enabled:         true,
			DeliveryTimeout: defaultDeliveryTimeout,
		},
	}
}
