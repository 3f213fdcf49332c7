package fleetcontrolextension

import (
	"errors"
	"time"

	"go.opentelemetry.io/collector/config/confighttp"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/config/configtls"
)

// Defaults.
const (
	defaultEndpoint       = "localhost:4320"
	defaultIdleTimeout    = 2 * time.Minute
	defaultFlushInterval  = 5 * time.Second
	defaultSilentAfter    = 90 * time.Second
	defaultSpoolFillRatio = 0.8
	defaultAckAge         = 5 * time.Minute
	defaultLossWindow     = 10 * time.Minute
	defaultMismatchHold   = time.Hour
	defaultCheckInterval  = 5 * time.Second
	tlsMinVersion         = "1.3"
)

// Errors of Validate.
var (
	ErrNoEndpoint     = errors.New("'admin::endpoint' must be set")
	ErrNoTLS          = errors.New("'admin::tls' with cert_file, key_file and client_ca_file is required: the admin listener is mutual TLS only")
	ErrNoClientCA     = errors.New("'admin::tls::client_ca_file' is required: devices and operators authenticate with certificates of the fleet CA")
	ErrTLSVersion     = errors.New("'admin::tls::min_version' must be \"1.3\"")
	ErrNoDirectory    = errors.New("'storage::directory' must be set")
	ErrFlushInterval  = errors.New("'storage::flush_interval' must be positive")
	ErrSilentAfter    = errors.New("'silent_after' must be positive")
	ErrMismatchHold   = errors.New("'identity_mismatch_hold' must be positive")
	ErrSpoolFillRatio = errors.New("'degraded::spool_fill_ratio' must be above 0 and at most 1")
	ErrAckAge         = errors.New("'degraded::ack_age' must be positive")
	ErrLossWindow     = errors.New("'degraded::loss_window' must be positive")
	ErrCheckInterval  = errors.New("'deny_list::check_interval' must be positive")
)

// Config is the fleet_control extension's configuration.
type Config struct {
	// Admin is the admin listener: OpAMP for devices at /v1/opamp, the admin
	// API at /api/v1 and the fleet page at /fleet for operators. Mutual TLS
	// is mandatory. Default endpoint localhost:4320.
	Admin confighttp.ServerConfig `mapstructure:"admin"`
	// Storage is where the registry is kept.
	Storage StorageConfig `mapstructure:"storage"`
	// SilentAfter without any message makes a device silent. Default 90s
	// (three missed heartbeats of 30 s).
	SilentAfter time.Duration `mapstructure:"silent_after"`
	// IdentityMismatchHold is how long a device stays identity_mismatch
	// after the gateway's fleet_metadata processor saw its records claim
	// another device. Default 1h.
	IdentityMismatchHold time.Duration `mapstructure:"identity_mismatch_hold"`
	// Degraded sets when a reporting device counts as degraded.
	Degraded DegradedConfig `mapstructure:"degraded"`
	// RemoteConfig signs and polices remote configuration.
	RemoteConfig RemoteConfigConfig `mapstructure:"remote_config"`
	// DenyList is the file of denied devices fleet_identity reads too.
	DenyList DenyListConfig `mapstructure:"deny_list"`

	// prevent unkeyed literal initialization
	_ struct{}
}

// StorageConfig locates the registry.
type StorageConfig struct {
	// Directory holds registry.db (created 0700, the file 0600). Required.
	Directory string `mapstructure:"directory"`
	// FlushInterval is how often the devices' changed state is written in
	// one transaction. Default 5s; a crash loses at most that much of
	// heartbeats, never an assignment.
	FlushInterval time.Duration `mapstructure:"flush_interval"`
}

// DegradedConfig holds the thresholds of the degraded state.
type DegradedConfig struct {
	// SpoolFillRatio of the spool's maximum in use. Default 0.8.
	SpoolFillRatio float64 `mapstructure:"spool_fill_ratio"`
	// AckAge: records are spooled and the oldest has waited longer than
	// this for the gateway's acknowledgement. Default 5m.
	AckAge time.Duration `mapstructure:"ack_age"`
	// LossWindow: the spool evicted or dropped records within this window.
	// Default 10m.
	LossWindow time.Duration `mapstructure:"loss_window"`
}

// RemoteConfigConfig configures remote configuration.
type RemoteConfigConfig struct {
	// SigningKeyFile is the Ed25519 key (config-key.pem of `fleetlogctl
	// certs init`) assignments are signed with. Default "": remote
	// configuration is off and assignments are refused. A configured file
	// that does not exist turns it off too, with a warning, so that a
	// gateway whose certificate directory predates the key keeps running.
	SigningKeyFile string `mapstructure:"signing_key_file"`
	// AllowedKeys are key patterns a fragment may set in addition to the
	// defaults (fleetproto.DefaultAllowedKeys).
	AllowedKeys []string `mapstructure:"allowed_keys"`
	// UnlockedKeys are locked key patterns (fleetproto.LockedKeys) this
	// gateway allows after all; a key is allowed only when AllowedKeys (or
	// a default) covers it too.
	UnlockedKeys []string `mapstructure:"unlocked_keys"`
}

// DenyListConfig locates the deny list.
type DenyListConfig struct {
	// Path of the deny list file (one device ID per line). Default "": no
	// device is denied. A missing file denies nobody.
	Path string `mapstructure:"path"`
	// CheckInterval is how often the file is checked for changes. Default 5s.
	CheckInterval time.Duration `mapstructure:"check_interval"`
}

func createDefaultConfig() *Config {
	admin := confighttp.NewDefaultServerConfig()
	admin.NetAddr.Endpoint = defaultEndpoint
	admin.TLS = configoptional.Some(configtls.ServerConfig{Config: configtls.Config{MinVersion: tlsMinVersion}})
	// WebSocket connections of agents live for hours: no write timeout.
	admin.WriteTimeout = 0
	admin.ReadHeaderTimeout = 10 * time.Second
	// An agent polling over HTTP (every 30 s by default) reuses its
	// connection: a TLS handshake per poll costs the gateway four times the
	// CPU of keeping the connection (see the README's measurements).
	admin.Keepalive = configoptional.Some(confighttp.KeepaliveServerConfig{IdleTimeout: defaultIdleTimeout})
	return &Config{
		Admin:                admin,
		Storage:              StorageConfig{FlushInterval: defaultFlushInterval},
		SilentAfter:          defaultSilentAfter,
		IdentityMismatchHold: defaultMismatchHold,
		Degraded: DegradedConfig{
			SpoolFillRatio: defaultSpoolFillRatio,
			AckAge:         defaultAckAge,
			LossWindow:     defaultLossWindow,
		},
		DenyList: DenyListConfig{CheckInterval: defaultCheckInterval},
	}
}

// Validate checks the configuration.
func (cfg *Config) Validate() error {
	var errs []error
	if cfg.Admin.NetAddr.Endpoint == "" {
		errs = append(errs, ErrNoEndpoint)
	}
	if tls := cfg.Admin.TLS.Get(); tls == nil || tls.CertFile == "" && tls.CertPem == "" {
		errs = append(errs, ErrNoTLS)
	} else {
		if tls.ClientCAFile == "" {
			errs = append(errs, ErrNoClientCA)
		}
		if tls.MinVersion != tlsMinVersion {
			errs = append(errs, ErrTLSVersion)
		}
	}
	if cfg.Storage.Directory == "" {
		errs = append(errs, ErrNoDirectory)
	}
	if cfg.Storage.FlushInterval <= 0 {
		errs = append(errs, ErrFlushInterval)
	}
	if cfg.SilentAfter <= 0 {
		errs = append(errs, ErrSilentAfter)
	}
	if cfg.IdentityMismatchHold <= 0 {
		errs = append(errs, ErrMismatchHold)
	}
	if r := cfg.Degraded.SpoolFillRatio; r <= 0 || r > 1 {
		errs = append(errs, ErrSpoolFillRatio)
	}
	if cfg.Degraded.AckAge <= 0 {
		errs = append(errs, ErrAckAge)
	}
	if cfg.Degraded.LossWindow <= 0 {
		errs = append(errs, ErrLossWindow)
	}
	if cfg.DenyList.CheckInterval <= 0 {
		errs = append(errs, ErrCheckInterval)
	}
	return errors.Join(errs...)
}
