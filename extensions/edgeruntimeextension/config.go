package edgeruntimeextension // import "github.com/fleetlog/fleetlog/extensions/edgeruntimeextension"

import (
	"errors"
	"strconv"
	"time"

	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/stanza/operator/helper"
)

// minMemoryLimit is the smallest memory_limit accepted: below it the
// collector's own start-up allocations exceed the limit and the garbage
// collector would run without pause.
const minMemoryLimit = 8 << 20

// buildGCPercent is gc_percent's default for this binary, set at link time
// (-ldflags "-X ...edgeruntimeextension.buildGCPercent=50"): the agent-only
// build for small devices links 50, bin/fleetlog nothing (the runtime's
// 100). The right value depends on the binary, not on the config both run:
// each collection marks the whole live heap, and bin/fleetlog's is larger
// by what its other components allocate at start-up, so a low setting costs
// it more CPU and buys less. It is never written after link time.
var buildGCPercent string

// parseGCPercent reads a linked gc_percent; 0 when unset or invalid.
func parseGCPercent(linked string) int {
	n, err := strconv.Atoi(linked)
	if err != nil || n < minGCPercent {
		return 0
	}
	return n
}

// buildMemoryLimitMiB is memory_limit's default for this binary in MiB,
// set at link time like buildGCPercent: the agent-only build links 18,
// bin/fleetlog 32. A limit suits a binary's own live heap, not the config:
// the agent build keeps about 6 MiB live while it catches up, bin/fleetlog
// about 10 MiB and more runtime metadata, so a limit that costs the agent
// build no measurable CPU makes bin/fleetlog collect without pause. It is
// never written after link time.
var buildMemoryLimitMiB string

// parseMemoryLimitMiB reads a linked memory_limit in MiB as bytes; 0 when
// unset or invalid.
func parseMemoryLimitMiB(linked string) helper.ByteSize {
	n, err := strconv.Atoi(linked)
	if err != nil || n < minMemoryLimit>>20 || n > 1<<20 {
		return 0
	}
	return helper.ByteSize(int64(n) << 20)
}

// minGCPercent is the smallest gc_percent accepted: below it the collector
// spends most of its time collecting.
const minGCPercent = 10

// Errors Validate returns.
var (
	ErrMaxProcs    = errors.New("'max_procs' must be 0 (the runtime's default) or more")
	ErrGCPercent   = errors.New("'gc_percent' must be 0 (the runtime's default) or at least 10")
	ErrMemoryLimit = errors.New("'memory_limit' must be 0 (no limit) or at least 8MiB")
	ErrSettle      = errors.New("'release_startup_memory_after' must not be negative")
)

// defaultSettle is how long after the pipelines started the second release
// waits: long enough for every component's first poll, timer and server
// loop to have run, which map code of their own.
const defaultSettle = 15 * time.Second

// Config sizes the Go runtime. A GOMAXPROCS, GOGC or GOMEMLIMIT environment
// variable wins over the matching option, so an operator can always
// override the shipped config from a unit file or a pod spec.
type Config struct {
	// MaxProcs caps how many OS threads run Go code at once (GOMAXPROCS).
	// Default 0: the runtime's default, the CPUs the process may use.
	MaxProcs int `mapstructure:"max_procs"`
	// GCPercent is how much the heap may grow over what the last garbage
	// collection left live before the next one starts (GOGC): lower
	// trades CPU for memory, in proportion to each binary's own heap.
	// Default: 50 in the agent-only build, else 0; 0 keeps the runtime's
	// default, 100.
	GCPercent int `mapstructure:"gc_percent"`
	// MemoryLimit is the Go runtime's soft memory limit (GOMEMLIMIT): as
	// the heap, stacks and runtime metadata near it, the garbage collector
	// runs more often. It does not cover the mapped binary. Default: 18MiB
	// in the agent-only build, 32MiB in bin/fleetlog, else 0 (no limit).
	MemoryLimit helper.ByteSize `mapstructure:"memory_limit"`
	// ReleaseStartupMemory returns the heap start-up freed to the operating
	// system and drops the process's mappings of the binary's read-only
	// pages (code and constant data), so that only the pages the running
	// collector touches again are mapped: once when every pipeline has
	// started, and again ReleaseStartupMemoryAfter later. The dropped pages
	// stay in the page cache, where the kernel reclaims them first.
	// Default true.
	ReleaseStartupMemory bool `mapstructure:"release_startup_memory"`
	// ReleaseStartupMemoryAfter is when the second release runs, after
	// every pipeline has started: the components' first polls, timers and
	// server loops touch code of their own in the first seconds. Default
	// 15s; 0 releases only once.
	ReleaseStartupMemoryAfter time.Duration `mapstructure:"release_startup_memory_after"`
}

func createDefaultConfig() *Config {
	return &Config{
		GCPercent:                 parseGCPercent(buildGCPercent),
		MemoryLimit:               parseMemoryLimitMiB(buildMemoryLimitMiB),
		ReleaseStartupMemory:      true,
		ReleaseStartupMemoryAfter: defaultSettle,
	}
}

// Validate checks the options' ranges.
func (c *Config) Validate() error {
	if c.MaxProcs < 0 {
		return ErrMaxProcs
	}
	if c.GCPercent < 0 || (c.GCPercent > 0 && c.GCPercent < minGCPercent) {
		return ErrGCPercent
	}
	if c.MemoryLimit < 0 || (c.MemoryLimit > 0 && c.MemoryLimit < minMemoryLimit) {
		return ErrMemoryLimit
	}
	if c.ReleaseStartupMemoryAfter < 0 {
		return ErrSettle
	}
	return nil
}
