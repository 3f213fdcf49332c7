package spoolreceiver // import "github.com/fleetlog/fleetlog/receivers/spoolreceiver"

import (
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/stanza/fileconsumer"
	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/stanza/operator"
	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/stanza/operator/helper"
	syslogin "github.com/open-telemetry/opentelemetry-collector-contrib/pkg/stanza/operator/input/syslog"
	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/stanza/operator/input/tcp"
	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/stanza/operator/input/udp"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/config/configretry"
	"go.opentelemetry.io/collector/confmap"

	"github.com/fleetlog/fleetlog/receivers/spoolreceiver/internal/spool"
)

const (
	defaultMaxSize         = 256 << 20
	minMaxSize             = 1 << 20
	defaultFsyncInterval   = 200 * time.Millisecond
	defaultBatchRecords    = 1024
	defaultBatchBytes      = 1 << 20
	defaultBatchTimeout    = 200 * time.Millisecond
	defaultDirectory       = "/var/lib/fleetlog"
	defaultFileStartAt     = "beginning"
	defaultSyslogProtocol  = "rfc5424"
	defaultSyslogLocation  = "UTC"
	defaultRetryInitial    = time.Second
	defaultRetryMaxBackoff = time.Minute
)

// Sentinel errors returned by Config.Validate; each message names its key.
var (
	ErrNoDirectory     = errors.New("'directory' must be set")
	ErrMaxSize         = fmt.Errorf("'max_size' must be at least %dMiB", minMaxSize>>20)
	ErrMinFree         = errors.New("'min_free' must not be negative")
	ErrFsyncInterval   = errors.New("'fsync_interval' must be positive with 'fsync: interval'")
	ErrBatchRecords    = errors.New("'batch::max_records' must be positive")
	ErrBatchBytes      = errors.New("'batch::max_bytes' must be positive")
	ErrBatchTimeout    = errors.New("'batch::timeout' must not be negative")
	ErrRetryGivesUp    = errors.New("'retry_on_failure::max_elapsed_time' must be 0: the spool never drops a batch it could not deliver")
	ErrRetryDisabled   = errors.New("'retry_on_failure::enabled' must be true: the spool retries until delivery")
	ErrNoInputs        = errors.New("at least one input under 'files' or 'syslog' is required")
	ErrInputName       = errors.New("input names under 'files' and 'syslog' must match [a-zA-Z0-9_-]+")
	ErrSyslogTransport = errors.New("exactly one of 'tcp' or 'udp' must be set")
	ErrUnknownValue    = errors.New("unknown value")
	ErrMaxLogSize      = errors.New("must leave room for its record in a spool segment (max_size/4, at most 8MiB, less 64KiB for attributes)")
)

// recordOverhead is what a line's record may take beyond the line itself:
// its attributes and fields.
const recordOverhead = 64 << 10

// checkMaxLogSize reports a max_log_size under key that lets a line grow
// larger than a spool record can be. Such a line would fail every append,
// and no file checkpoint could be saved after it.
func checkMaxLogSize(key string, size, maxSize int64) error {
	if limit := spool.MaxPayload(maxSize) - recordOverhead; size > limit {
		return fmt.Errorf("'%s' (%d bytes) %w: at most %d bytes with this max_size", key, size, ErrMaxLogSize, limit)
	}
	return nil
}

var inputNameRE = regexp.MustCompile(`^[a-zA-Z0-9_-]+$`)

// FsyncPolicy is the `fsync` option: always, interval or never.
type FsyncPolicy string

// The fsync policies.
const (
	FsyncAlways   FsyncPolicy = "always"
	FsyncInterval FsyncPolicy = "interval"
	FsyncNever    FsyncPolicy = "never"
)

// UnmarshalText accepts only the known policies.
func (p *FsyncPolicy) UnmarshalText(b []byte) error {
	return unmarshalEnum(p, "fsync", b, FsyncAlways, FsyncInterval, FsyncNever)
}

// FullPolicy is the `full_policy` option.
type FullPolicy string

// The full-spool policies.
const (
	FullEvictLowestSeverity FullPolicy = "evict_lowest_severity"
	FullDropOldest          FullPolicy = "drop_oldest"
	FullBlock               FullPolicy = "block"
)

// UnmarshalText accepts only the known policies.
func (p *FullPolicy) UnmarshalText(b []byte) error {
	return unmarshalEnum(p, "full_policy", b, FullEvictLowestSeverity, FullDropOldest, FullBlock)
}

// unmarshalEnum sets *dst to b if b is one of allowed, or names key and the
// allowed values in its error.
func unmarshalEnum[T ~string](dst *T, key string, b []byte, allowed ...T) error {
	for _, v := range allowed {
		if string(v) == string(b) {
			*dst = v
			return nil
		}
	}
	names := make([]string, len(allowed))
	for i, v := range allowed {
		names[i] = string(v)
	}
	return fmt.Errorf("'%s': %w %q (allowed: %s)", key, ErrUnknownValue, b, strings.Join(names, ", "))
}

// Config is the spool receiver's configuration.
type Config struct {
	// Directory holds the spool (spool/) and the file checkpoints
	// (checkpoints.json). Default /var/lib/fleetlog.
	Directory string `mapstructure:"directory"`
	// MaxSize bounds the spool on disk, in bytes. Default 256MiB; at least 1MiB.
	MaxSize helper.ByteSize `mapstructure:"max_size"`
	// Fsync is when appended records reach stable storage. Default interval.
	Fsync FsyncPolicy `mapstructure:"fsync"`
	// FsyncInterval is the group-commit period under `fsync: interval`. Default 200ms.
	FsyncInterval time.Duration `mapstructure:"fsync_interval"`
	// FullPolicy is what happens when the spool is full: at max_size, or
	// when its filesystem has less than min_free free. Default
	// evict_lowest_severity.
	FullPolicy FullPolicy `mapstructure:"full_policy"`
	// MinFree is the free space to keep on the filesystem holding the
	// spool: below it the spool counts as full, so it never fills the
	// device's disk. Default (unset): the larger of 5% of the filesystem
	// and 256MiB, at most half of it. 0 turns it off, leaving a full disk
	// to the disk-full backpressure alone.
	MinFree *helper.ByteSize `mapstructure:"min_free"`
	// Batch bounds what one call to the next consumer carries.
	Batch BatchConfig `mapstructure:"batch"`
	// Retry is the backoff between attempts when the next consumer returns a
	// retryable error. Attempts never stop: max_elapsed_time must be 0.
	Retry configretry.BackOffConfig `mapstructure:"retry_on_failure"`
	// Files are the file inputs, by name. Default none.
	Files map[string]*FileConfig `mapstructure:"files"`
	// Syslog are the syslog inputs, by name. Default none.
	Syslog map[string]*SyslogConfig `mapstructure:"syslog"`
}

// BatchConfig bounds a delivery batch; a batch is sent when either bound is
// reached or when its oldest record has waited Timeout.
type BatchConfig struct {
	// MaxRecords is the most records per batch. Default 1024.
	MaxRecords int `mapstructure:"max_records"`
	// MaxBytes is roughly the most spooled bytes per batch. Default 1MiB.
	MaxBytes helper.ByteSize `mapstructure:"max_bytes"`
	// Timeout is how long a partial batch waits for more records. Default
	// 200ms; 0 sends whatever is there at once.
	Timeout time.Duration `mapstructure:"timeout"`
}

// FileConfig is one file input: stanza's fileconsumer options (include,
// exclude, start_at, fingerprint_size, multiline, encoding, compression,
// max_log_size, include_file_name, include_file_path, ...) at the same keys
// the contrib filelog receiver uses, so operators' file sections carry over;
// that is why they are squashed rather than nested.
type FileConfig struct {
	fileconsumer.Config `mapstructure:",squash"`
	// Attributes are added to every record from this input. Default none.
	Attributes map[string]string `mapstructure:"attributes"`
	// Operators is stanza's operator pipeline (json_parser, regex_parser,
	// severity_parser, move, router, ...) that every line of this input goes
	// through before the spool, as in the contrib filelog receiver. Default
	// none: lines are spooled as they are read.
	Operators []operator.Config `mapstructure:"operators"`
	// DetectSeverity gives a line without operators the level it states
	// (`ERROR`, `level=warn`, `<3>`, ...; see internal/severity). Default
	// true; false leaves such lines' severity unspecified.
	DetectSeverity bool `mapstructure:"detect_severity"`
}

// SyslogConfig is one syslog input: stanza's syslog input options (protocol,
// location, tcp or udp with listen_address and tls, enable_octet_counting,
// non_transparent_framing_trailer, max_octets, allow_skip_pri_header,
// attributes, resource) at the keys the contrib syslog receiver uses.
type SyslogConfig struct {
	syslogin.Config `mapstructure:",squash"`
}

func createDefaultConfig() *Config {
	retry := configretry.NewDefaultBackOffConfig()
	retry.InitialInterval = defaultRetryInitial
	retry.MaxInterval = defaultRetryMaxBackoff
	retry.MaxElapsedTime = 0
	return &Config{
		Directory:     defaultDirectory,
		MaxSize:       defaultMaxSize,
		Fsync:         FsyncInterval,
		FsyncInterval: defaultFsyncInterval,
		FullPolicy:    FullEvictLowestSeverity,
		Batch: BatchConfig{
			MaxRecords: defaultBatchRecords,
			MaxBytes:   defaultBatchBytes,
			Timeout:    defaultBatchTimeout,
		},
		Retry: retry,
	}
}

// NewFileConfig returns a file input with fleetlog's defaults: stanza's,
// except start_at beginning (with checkpoints, it only applies to files never
// seen before, so nothing written before the first start is lost),
// include_file_path on, and severity detection on.
func NewFileConfig() *FileConfig {
	c := &FileConfig{Config: *fileconsumer.NewConfig()}
	c.StartAt = defaultFileStartAt
	c.IncludeFilePath = true
	c.DetectSeverity = true
	return c
}

// NewSyslogConfig returns a syslog input with stanza's defaults.
func NewSyslogConfig() *SyslogConfig {
	c := &SyslogConfig{Config: *syslogin.NewConfig()}
	c.Protocol = defaultSyslogProtocol
	c.Location = defaultSyslogLocation
	return c
}

// Unmarshal fills each named input from its defaults before applying the
// YAML: a plain map decode would start every input from zero values.
func (c *Config) Unmarshal(conf *confmap.Conf) error {
	if conf == nil {
		return nil
	}
	raw := conf.ToStringMap()
	delete(raw, "files")
	delete(raw, "syslog")
	type plain Config // without this method, so the decode does not recurse
	if err := confmap.NewFromStringMap(raw).Unmarshal((*plain)(c)); err != nil {
		return err
	}
	files, err := conf.Sub("files")
	if err != nil {
		return fmt.Errorf("'files': %w", err)
	}
	for name := range files.ToStringMap() {
		fc := NewFileConfig()
		sub, err := files.Sub(name)
		if err == nil {
			err = sub.Unmarshal(fc)
		}
		if err != nil {
			return fmt.Errorf("'files::%s': %w", name, err)
		}
		if err := checkOperatorKeys("files::"+name+"::operators", sub); err != nil {
			return err
		}
		if c.Files == nil {
			c.Files = map[string]*FileConfig{}
		}
		c.Files[name] = fc
	}
	syslogs, err := conf.Sub("syslog")
	if err != nil {
		return fmt.Errorf("'syslog': %w", err)
	}
	for name := range syslogs.ToStringMap() {
		sc := NewSyslogConfig()
		sub, err := syslogs.Sub(name)
		if err == nil {
			if sub.IsSet("tcp") {
				sc.TCP = &tcp.NewConfig().BaseConfig
			}
			if sub.IsSet("udp") {
				sc.UDP = &udp.NewConfig().BaseConfig
			}
			err = sub.Unmarshal(sc)
		}
		if err != nil {
			return fmt.Errorf("'syslog::%s': %w", name, err)
		}
		// An octet count covers the whole frame, trailing newline included
		// (rsyslog's omfwd sends one); trimming it makes the parser reject
		// the message as short. Keep it unless the key says otherwise.
		if sc.TCP != nil && sc.EnableOctetCounting && !sub.IsSet("tcp::preserve_trailing_whitespaces") {
			sc.TCP.TrimConfig.PreserveTrailing = true
		}
		if c.Syslog == nil {
			c.Syslog = map[string]*SyslogConfig{}
		}
		c.Syslog[name] = sc
	}
	return nil
}

// Validate checks the configuration without touching the disk or network.
func (c *Config) Validate() error {
	var errs []error
	if strings.TrimSpace(c.Directory) == "" {
		errs = append(errs, ErrNoDirectory)
	}
	if c.MaxSize < minMaxSize {
		errs = append(errs, ErrMaxSize)
	}
	if c.MinFree != nil && *c.MinFree < 0 {
		errs = append(errs, ErrMinFree)
	}
	if c.Fsync == FsyncInterval && c.FsyncInterval <= 0 {
		errs = append(errs, ErrFsyncInterval)
	}
	if c.Batch.MaxRecords <= 0 {
		errs = append(errs, ErrBatchRecords)
	}
	if c.Batch.MaxBytes <= 0 {
		errs = append(errs, ErrBatchBytes)
	}
	if c.Batch.Timeout < 0 {
		errs = append(errs, ErrBatchTimeout)
	}
	if !c.Retry.Enabled {
		errs = append(errs, ErrRetryDisabled)
	}
	if c.Retry.MaxElapsedTime != 0 {
		errs = append(errs, ErrRetryGivesUp)
	}
	if err := c.Retry.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("'retry_on_failure': %w", err))
	}
	if len(c.Files)+len(c.Syslog) == 0 {
		errs = append(errs, ErrNoInputs)
	}
	for _, name := range sortedKeys(c.Files) {
		if !inputNameRE.MatchString(name) {
			errs = append(errs, fmt.Errorf("'files::%s': %w", name, ErrInputName))
		}
	}
	for _, name := range sortedKeys(c.Syslog) {
		if !inputNameRE.MatchString(name) {
			errs = append(errs, fmt.Errorf("'syslog::%s': %w", name, ErrInputName))
		}
		s := c.Syslog[name]
		if s == nil || (s.TCP == nil) == (s.UDP == nil) {
			errs = append(errs, fmt.Errorf("'syslog::%s': %w", name, ErrSyslogTransport))
			continue
		}
		if s.TCP != nil {
			size := int64(s.TCP.MaxLogSize)
			if size == 0 {
				size = tcp.DefaultMaxLogSize
			}
			if c.MaxSize >= minMaxSize {
				if err := checkMaxLogSize("syslog::"+name+"::tcp::max_log_size", size, int64(c.MaxSize)); err != nil {
					errs = append(errs, err)
				}
			}
		}
		// Building the stanza operator checks its options without opening
		// anything; its messages name stanza's keys.
		if _, err := s.Build(componenttest.NewNopTelemetrySettings()); err != nil {
			errs = append(errs, fmt.Errorf("'syslog::%s': %w", name, err))
		}
	}
	for _, name := range sortedKeys(c.Files) {
		f := c.Files[name]
		if f == nil {
			continue
		}
		if _, err := f.Build(componenttest.NewNopTelemetrySettings(), nopEmit); err != nil {
			errs = append(errs, fmt.Errorf("'files::%s': %w", name, err))
		}
		if err := validateOperators("files::"+name+"::operators", f.Operators); err != nil {
			errs = append(errs, err)
		}
		if c.MaxSize >= minMaxSize {
			size := int64(f.MaxLogSize)
			if size == 0 {
				size = tcp.DefaultMaxLogSize // fileconsumer's default too: 1MiB
			}
			if err := checkMaxLogSize("files::"+name+"::max_log_size", size, int64(c.MaxSize)); err != nil {
				errs = append(errs, err)
			} else if len(f.Operators) > 0 {
				errs = append(errs, checkOperatorLogSize("files::"+name+"::max_log_size", size, int64(c.MaxSize)))
			}
		}
	}
	return errors.Join(errs...)
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
