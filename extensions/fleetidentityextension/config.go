package fleetidentityextension

import (
	"errors"
	"math"
	"time"
)

// defaultCheckInterval is how often the deny list file is polled for changes.
const defaultCheckInterval = 5 * time.Second

// minWindowSize is the smallest static flow-control window gRPC takes
// (HTTP/2's default window, 64 KiB less one byte); below it gRPC keeps its
// dynamic window.
const minWindowSize = 65535

// Errors returned by Validate.
var (
	// ErrCheckInterval is returned for a non-positive check interval.
	ErrCheckInterval = errors.New("'deny_list.check_interval' must be positive")
	// ErrWindowSize is returned for a window gRPC would not use.
	ErrWindowSize = errors.New("'grpc_server.window_size' must be 0 (gRPC's dynamic window) or from 65535 to 2147483647 bytes")
)

// Config is the fleet_identity extension's configuration.
type Config struct {
	// DenyList names devices to refuse even though their certificate verifies.
	DenyList DenyListConfig `mapstructure:"deny_list"`
	// GRPCServer tunes the gRPC server of a receiver that lists
	// fleet_identity under its middlewares: settings configgrpc does not
	// expose. The zero value leaves gRPC's defaults.
	GRPCServer GRPCServerConfig `mapstructure:"grpc_server"`
}

// GRPCServerConfig holds the gRPC server settings fleet_identity applies as
// a middleware.
type GRPCServerConfig struct {
	// StreamWorkers is how many long-lived goroutines serve requests
	// (grpc.NumStreamWorkers). A request's goroutine grows its stack to
	// the depth of the whole pipeline; a worker keeps it for the next
	// request. When every worker is busy, a request gets its own goroutine,
	// as without workers. Default 0: a new goroutine for every request.
	// gRPC marks the option experimental; grpcserver_test.go runs it.
	StreamWorkers uint32 `mapstructure:"stream_workers"`
	// WindowSize is a static HTTP/2 flow-control window, in bytes, for each
	// stream and each connection (grpc.InitialWindowSize and
	// grpc.InitialConnWindowSize). A static window turns off gRPC's
	// bandwidth-delay estimation, which sends a PING (and a window update)
	// after the first data frame of nearly every request of a client that
	// sends one request per round trip, as agents do. Default 0: gRPC's
	// dynamic window (64 KiB to start, grown by the estimate).
	WindowSize int64 `mapstructure:"window_size"`

	// prevent unkeyed literal initialization
	_ struct{}
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
	if w := cfg.GRPCServer.WindowSize; w != 0 && (w < minWindowSize || w > math.MaxInt32) {
		return ErrWindowSize
	}
	return nil
}

func createDefaultConfig() *Config {
	return &Config{DenyList: DenyListConfig{CheckInterval: defaultCheckInterval}}
}
