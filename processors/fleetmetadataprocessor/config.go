package fleetmetadataprocessor

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/fleetlog/fleetlog/processors/fleetmetadataprocessor/internal/detect"
)

// Mode selects what the processor does.
type Mode string

const (
	// ModeAgent stamps the device's own description on each resource.
	ModeAgent Mode = "agent"
	// ModeGateway replaces the device's identity claims with the identity
	// proven by its client certificate.
	ModeGateway Mode = "gateway"
)

// defaultDeviceFileCheckInterval is how often the device file is polled.
const defaultDeviceFileCheckInterval = 10 * time.Second

// Configuration errors; the messages name the YAML key.
var (
	ErrMode              = errors.New("'mode' must be one of: agent, gateway")
	ErrCheckInterval     = errors.New("'device_file.check_interval' must be positive")
	ErrEmptyLabelKey     = errors.New("'labels' keys must not be empty")
	ErrAgentOnlyOption   = errors.New("is only used in agent mode")
	ErrGatewayOnlyOption = errors.New("is only used in gateway mode")
	ErrMaxConcurrent     = errors.New("'gateway.max_concurrent_batches' must not be negative")
	ErrMaxPending        = errors.New("'gateway.max_pending_records' must not be negative")
)

// UnmarshalText accepts "agent" or "gateway".
func (m *Mode) UnmarshalText(text []byte) error {
	switch mode := Mode(strings.ToLower(string(text))); mode {
	case ModeAgent, ModeGateway:
		*m = mode
		return nil
	default:
		return fmt.Errorf("%w, got %q", ErrMode, text)
	}
}

// Config is the fleet_metadata processor's configuration.
type Config struct {
	// Mode is agent (default) or gateway.
	Mode Mode `mapstructure:"mode"`

	// Override, in agent mode, replaces attributes a record already has.
	// Default true: the agent knows which device it runs on. With false,
	// only missing attributes are added.
	Override bool `mapstructure:"override"`

	// Device holds static values, the highest-precedence source in agent
	// mode. Empty fields fall through to the environment, the device file
	// and detection.
	Device DeviceConfig `mapstructure:"device"`

	// Labels are stamped as fleet.label.<key> in agent mode. They merge, key
	// by key, over FLEETLOG_LABELS and the device file's labels.
	Labels map[string]string `mapstructure:"labels"`

	// DeviceFile is the device description written by provisioning.
	DeviceFile DeviceFileConfig `mapstructure:"device_file"`

	// Detection locates the files detection reads, once at start.
	Detection DetectionConfig `mapstructure:"detection"`

	// Gateway configures gateway mode.
	Gateway GatewayConfig `mapstructure:"gateway"`
}

// DeviceConfig are the static device values; every field defaults to "".
type DeviceConfig struct {
	// ID is device.id. Fallbacks: FLEETLOG_DEVICE_ID, the device file's id,
	// then an ID derived from /etc/machine-id, the DMI product UUID, and
	// last the host name.
	ID string `mapstructure:"id"`
	// Fleet is fleet.name (env FLEETLOG_FLEET).
	Fleet string `mapstructure:"fleet"`
	// Site is fleet.site (env FLEETLOG_SITE).
	Site string `mapstructure:"site"`
	// Region is fleet.region (env FLEETLOG_REGION).
	Region string `mapstructure:"region"`
	// Environment is deployment.environment (env FLEETLOG_ENVIRONMENT).
	Environment string `mapstructure:"environment"`
	// Model is device.model (env FLEETLOG_DEVICE_MODEL).
	Model string `mapstructure:"model"`
	// FirmwareVersion is device.firmware.version (env FLEETLOG_FIRMWARE_VERSION).
	FirmwareVersion string `mapstructure:"firmware_version"`
}

// DeviceFileConfig locates the device file.
type DeviceFileConfig struct {
	// Path of a YAML or JSON file with the keys of `device` plus `labels`.
	// Default "": none. A path that does not exist yet is not an error.
	Path string `mapstructure:"path"`
	// CheckInterval is how often the file is checked for changes, which
	// apply without a restart. Default 10s.
	CheckInterval time.Duration `mapstructure:"check_interval"`
}

// DetectionConfig locates the files detection reads. An empty path skips
// that source. The defaults are the Linux locations.
type DetectionConfig struct {
	// MachineIDFile default /etc/machine-id. device.id is derived from it,
	// never equal to it.
	MachineIDFile string `mapstructure:"machine_id_file"`
	// ProductUUIDFile default /sys/class/dmi/id/product_uuid (root-only on
	// most systems).
	ProductUUIDFile string `mapstructure:"product_uuid_file"`
	// OSReleaseFile default /etc/os-release; gives os.version.
	OSReleaseFile string `mapstructure:"os_release_file"`
}

// GatewayConfig configures gateway mode.
type GatewayConfig struct {
	// ID is stamped as fleet.gateway.id. Default "": the host name.
	ID string `mapstructure:"id"`
	// RejectMismatch refuses, with a permanent error, a batch in which a
	// resource claims a device.id other than its certificate's. Default
	// false: the record is kept, attributed to the certificate's device and
	// marked fleet.identity.mismatch=true.
	RejectMismatch bool `mapstructure:"reject_mismatch"`
	// MaxConcurrentBatches bounds the batches that go through this
	// processor and everything after it in the pipeline at once; the
	// others wait for a turn, in arrival order. Default 0: 64 per CPU the
	// gateway may use (GOMAXPROCS).
	MaxConcurrentBatches int `mapstructure:"max_concurrent_batches"`
	// MaxPendingRecords bounds the records the pipeline holds, decoded,
	// from this processor until they are acknowledged (waiting for a turn,
	// in one, or waiting for the archive's fsync); while that many are
	// held, another batch is refused with Unavailable (the device retries
	// from its spool). Default 0: 131,072.
	MaxPendingRecords int `mapstructure:"max_pending_records"`
}

func createDefaultConfig() *Config {
	paths := detect.DefaultPaths()
	return &Config{
		Mode:       ModeAgent,
		Override:   true,
		DeviceFile: DeviceFileConfig{CheckInterval: defaultDeviceFileCheckInterval},
		Detection: DetectionConfig{
			MachineIDFile:   paths.MachineID,
			ProductUUIDFile: paths.ProductUUID,
			OSReleaseFile:   paths.OSRelease,
		},
	}
}

// Validate checks the configuration.
func (cfg *Config) Validate() error {
	switch cfg.Mode {
	case ModeAgent:
		if cfg.Gateway != (GatewayConfig{}) {
			return fmt.Errorf("'gateway' %w", ErrGatewayOnlyOption)
		}
	case ModeGateway:
		switch {
		case cfg.Device != (DeviceConfig{}):
			return fmt.Errorf("'device' %w", ErrAgentOnlyOption)
		case len(cfg.Labels) > 0:
			return fmt.Errorf("'labels' %w", ErrAgentOnlyOption)
		case cfg.DeviceFile.Path != "":
			return fmt.Errorf("'device_file.path' %w", ErrAgentOnlyOption)
		}
	default:
		return fmt.Errorf("%w, got %q", ErrMode, cfg.Mode)
	}
	if cfg.DeviceFile.CheckInterval <= 0 {
		return ErrCheckInterval
	}
	if cfg.Gateway.MaxConcurrentBatches < 0 {
		return ErrMaxConcurrent
	}
	if cfg.Gateway.MaxPendingRecords < 0 {
		return ErrMaxPending
	}
	for k := range cfg.Labels {
		if k == "" {
			return ErrEmptyLabelKey
		}
	}
	return nil
}

func (cfg *Config) detectPaths() detect.Paths {
	return detect.Paths{
		MachineID:   cfg.Detection.MachineIDFile,
		ProductUUID: cfg.Detection.ProductUUIDFile,
		OSRelease:   cfg.Detection.OSReleaseFile,
	}
}
