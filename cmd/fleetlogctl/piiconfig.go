package main

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"

	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/provider/envprovider"
	"go.opentelemetry.io/collector/confmap/provider/fileprovider"

	"github.com/fleetlog/fleetlog/internal/pii"
)

// exitCoder is an error that sets fleetlogctl's exit status.
type exitCoder interface {
	error
	ExitCode() int
}

// exitCode is the process exit status for err: its ExitCode if it has one,
// else 1.
func exitCode(err error) int {
	var ec exitCoder
	if errors.As(err, &ec) {
		return ec.ExitCode()
	}
	return 1
}

// usageError exits with status 2: bad arguments, unreadable config or paths.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }
func (usageError) ExitCode() int   { return 2 }

// piiFile is the pii processor's YAML as fleetlogctl reads it: the
// detection settings, and the processor's own keys, accepted so that one
// file serves both but not used here. Any other key is an error, as in the
// collector.
type piiFile struct {
	pii.Config `mapstructure:",squash"`

	Mode             any `mapstructure:"mode"`
	Scope            any `mapstructure:"scope"`
	AllowedKeys      any `mapstructure:"allowed_keys"`
	BlockedKeys      any `mapstructure:"blocked_keys"`
	SummaryAttribute any `mapstructure:"summary_attribute"`
}

// loadPIIEngine builds the detection engine from a pii processor
// configuration file, or the defaults when path is empty. The file is either
// the processor's own YAML or a whole collector configuration, in which
// case its processors::pii section is used. ${env:NAME} is expanded, as the
// collector does, so a hash_key can stay out of the file.
func loadPIIEngine(ctx context.Context, path string) (*pii.Engine, error) {
	cfg := &piiFile{Config: pii.DefaultConfig()}
	if path != "" {
		abs, err := filepath.Abs(path)
		if err != nil {
			return nil, err
		}
		resolver, err := confmap.NewResolver(confmap.ResolverSettings{
			URIs:              []string{"file:" + abs},
			ProviderFactories: []confmap.ProviderFactory{fileprovider.NewFactory(), envprovider.NewFactory()},
			DefaultScheme:     "env",
		})
		if err != nil {
			return nil, err
		}
		conf, err := resolver.Resolve(ctx)
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", path, err)
		}
		if conf.IsSet("processors") {
			if !conf.IsSet("processors::pii") {
				return nil, fmt.Errorf("%s: no 'processors::pii' section", path)
			}
			if conf, err = conf.Sub("processors::pii"); err != nil {
				return nil, err
			}
		}
		if err := conf.Unmarshal(cfg); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		if err := cfg.Validate(); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
	}
	return cfg.NewEngine()
}
