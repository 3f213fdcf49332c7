package archiveexporter // import "github.com/fleetlog/fleetlog/exporters/archiveexporter"

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/config/configretry"
	"go.opentelemetry.io/collector/exporter/exporterhelper"

	"github.com/fleetlog/fleetlog/internal/archive"
)

const (
	defaultMaxSegmentSize         = 64 << 20
	minMaxSegmentSize             = 4 << 10
	defaultMaxSegmentAge          = time.Hour
	defaultRetentionCheckInterval = time.Hour
	defaultKeyEpoch               = 24 * time.Hour
	minKeyEpoch                   = time.Minute
	defaultCheckpointInterval     = time.Minute
)

// Sentinel errors returned by Config.Validate.
var (
	ErrNoDirectory       = errors.New("'directory' must be set")
	ErrNoSigningKey      = errors.New("'signing_key_file' must be set")
	ErrSegmentSize       = fmt.Errorf("'max_segment_size' must be at least %d bytes", minMaxSegmentSize)
	ErrSegmentAge        = errors.New("'max_segment_age' must be positive")
	ErrRetention         = errors.New("'retention' must not be negative")
	ErrRetentionCheck    = errors.New("'retention_check_interval' must be positive")
	ErrRetentionTooTight = errors.New("'retention' must be longer than 'max_segment_age'")
	ErrKeyEpoch          = fmt.Errorf("'key_epoch' must be at least %s", minKeyEpoch)
	ErrCheckpointEvery   = errors.New("'checkpoint_interval' must be positive and at most 'key_epoch'")
)

// Config is the archive exporter's configuration.
type Config struct {
	// Directory is the archive root (required). It is created 0700 and
	// locked against a second writer.
	Directory string `mapstructure:"directory"`
	// SigningKeyFile is the Ed25519 private key (PKCS#8 PEM) of the first
	// key epoch (required). Once the archive has its own epoch keys it is not
	// read again, and it is erased when the first epoch ends.
	SigningKeyFile string `mapstructure:"signing_key_file"`
	// GatewayID names this gateway in every manifest. Default: the host name.
	GatewayID string `mapstructure:"gateway_id"`
	// MaxSegmentSize seals a segment once it holds this many bytes.
	// Default 64 MiB; minimum 4 KiB.
	MaxSegmentSize int64 `mapstructure:"max_segment_size"`
	// MaxSegmentAge seals a non-empty segment this long after it was opened.
	// Default 1h.
	MaxSegmentAge time.Duration `mapstructure:"max_segment_age"`
	// Fsync is when appended records reach stable storage: "always" (default:
	// before every acknowledgement) or "seal" (only when a segment is sealed).
	Fsync FsyncPolicy `mapstructure:"fsync"`
	// Retention deletes sealed segments this long after they were sealed,
	// leaving signed tombstones. Accepts days ("400d") or Go durations
	// ("36h"). Default 0: keep forever.
	Retention Retention `mapstructure:"retention"`
	// RetentionCheckInterval is how often retention runs. Default 1h.
	RetentionCheckInterval time.Duration `mapstructure:"retention_check_interval"`
	// KeyEpoch is how long one signing key signs before the next epoch's
	// key takes over and it is erased. Default 24h.
	KeyEpoch time.Duration `mapstructure:"key_epoch"`
	// CheckpointInterval is how often a checkpoint of the Merkle tree is
	// signed while records arrive (also at every seal). Default 1m.
	CheckpointInterval time.Duration `mapstructure:"checkpoint_interval"`
	// CheckpointCopyFile, if set, is a file every checkpoint is also
	// appended to: on other storage than the archive (another disk, a
	// network or WORM mount), so that it outlives the archive's own.
	CheckpointCopyFile string `mapstructure:"checkpoint_copy_file"`

	// TimeoutConfig is exporterhelper's deadline for one push. Default 0:
	// none. The archive's append takes no context, so a deadline
	// could not stop one; the default spares exporterhelper a context and
	// a timer per batch.
	TimeoutConfig exporterhelper.TimeoutConfig `mapstructure:",squash"`
	// RetryConfig retries failed appends (a full or failing disk).
	RetryConfig configretry.BackOffConfig `mapstructure:"retry_on_failure"`
	// QueueConfig is disabled by default so that a record is acknowledged
	// only once it is in the archive. Enabling it acknowledges on enqueue.
	QueueConfig configoptional.Optional[exporterhelper.QueueBatchConfig] `mapstructure:"sending_queue"`
}

// Validate checks the configuration without touching the file system.
func (c *Config) Validate() error {
	var errs []error
	if c.Directory == "" {
		errs = append(errs, ErrNoDirectory)
	}
	if c.SigningKeyFile == "" {
		errs = append(errs, ErrNoSigningKey)
	}
	if c.MaxSegmentSize < minMaxSegmentSize {
		errs = append(errs, ErrSegmentSize)
	}
	if c.MaxSegmentAge <= 0 {
		errs = append(errs, ErrSegmentAge)
	}
	if c.Retention < 0 {
		errs = append(errs, ErrRetention)
	}
	if c.Retention > 0 && time.Duration(c.Retention) <= c.MaxSegmentAge {
		errs = append(errs, ErrRetentionTooTight)
	}
	if c.RetentionCheckInterval <= 0 {
		errs = append(errs, ErrRetentionCheck)
	}
	if c.KeyEpoch < minKeyEpoch {
		errs = append(errs, ErrKeyEpoch)
	}
	if c.CheckpointInterval <= 0 || c.CheckpointInterval > c.KeyEpoch {
		errs = append(errs, ErrCheckpointEvery)
	}
	return errors.Join(errs...)
}

// FsyncPolicy is the `fsync` setting.
type FsyncPolicy string

// The fsync policies.
const (
	FsyncAlways FsyncPolicy = "always"
	FsyncSeal   FsyncPolicy = "seal"
)

// UnmarshalText accepts "always" or "seal".
func (p *FsyncPolicy) UnmarshalText(text []byte) error {
	switch v := FsyncPolicy(text); v {
	case FsyncAlways, FsyncSeal:
		*p = v
		return nil
	default:
		return fmt.Errorf("'fsync': unknown policy %q: use %q or %q", text, FsyncAlways, FsyncSeal)
	}
}

func (p FsyncPolicy) archivePolicy() archive.FsyncPolicy {
	if p == FsyncSeal {
		return archive.FsyncOnSeal
	}
	return archive.FsyncAlways
}

// Retention is a duration that also accepts whole days ("400d").
type Retention time.Duration

// UnmarshalText accepts "<n>d" or a Go duration.
func (r *Retention) UnmarshalText(text []byte) error {
	s := string(text)
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.ParseUint(days, 10, 16)
		if err != nil {
			return fmt.Errorf("'retention': %q is not a number of days", s)
		}
		*r = Retention(time.Duration(n) * 24 * time.Hour)
		return nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("'retention': %q is neither days (400d) nor a duration (36h)", s)
	}
	*r = Retention(d)
	return nil
}

// MarshalText writes whole days as "<n>d".
func (r Retention) MarshalText() ([]byte, error) {
	return []byte(r.String()), nil
}

func (r Retention) String() string {
	d := time.Duration(r)
	if d > 0 && d%(24*time.Hour) == 0 {
		return fmt.Sprintf("%dd", d/(24*time.Hour))
	}
	return d.String()
}
