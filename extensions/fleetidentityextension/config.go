package fleetidentityextension

import (
	"errors"
	"time"
)

// defaultCheckInterval is how often the deny list file is polled for changes.
const defaultCheckInterval = 5 * time.Second

// ErrCheckInterval is returned by Validate for a non-positive check interval.
var ErrCheckInterval = errors.New("'deny_list.check_interval' must be positive")

// Config is the fleet_identity extension's configuration.
type Config struct {
	// DenyList names devices to refuse even though their certificate verifies.
	DenyList DenyListConfig `mapstructure:"deny_list"`
}

// DenyListConfig locates the deny list file.
type DenyListConfig struct {
	// Path of a file with one device ID per line; '#' starts a comment.
	// Default "": no deny list. A file that does not exist counts as an empty
	// list, so the path can be configured before the first device is lost.
	Path string `mapstructure:"path"`
	// CheckInterval is how often the file is checked for changes, which take
	// effect without a restart. Default 5s.
	CheckInterval time.Duration `mapstructure:"check_interval"`

	// prevent unkeyed literal initialization
	_ struct{}
}

// Validate checks the configuration.
func (cfg *Config) Validate() error {
	if cfg.DenyList.CheckInterval <= 0 {
		return ErrCheckInterval
	}
	return nil
}

func createDefaultConfig() *Config {
	return &Config{DenyList: DenyListConfig{CheckInterval: defaultCheckInterval}}
}
