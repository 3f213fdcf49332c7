package spoolreceiver

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/confmaptest"
	"go.yaml.in/yaml/v3"

	"github.com/fleetlog/fleetlog/receivers/spoolreceiver/internal/metadata"
)

func loadConfig(t *testing.T, name string) (*Config, error) {
	t.Helper()
	cm, err := confmaptest.LoadConf(filepath.Join("testdata", "config.yaml"))
	require.NoError(t, err)
	id := component.MustNewID(metadata.Type.String())
	if name != "" {
		id = component.MustNewIDWithName(metadata.Type.String(), name)
	}
	sub, err := cm.Sub(id.String())
	require.NoError(t, err)
	cfg := createDefaultConfig()
	if err := sub.Unmarshal(cfg); err != nil {
		return nil, err
	}
	return cfg, confmap.Validate(cfg)
}

func TestDefaultConfig(t *testing.T) {
	t.Parallel()
	cfg := NewFactory().CreateDefaultConfig().(*Config)
	assert.Equal(t, defaultDirectory, cfg.Directory)
	assert.EqualValues(t, defaultMaxSize, cfg.MaxSize)
	assert.Equal(t, FsyncInterval, cfg.Fsync)
	assert.Equal(t, FullEvictLowestSeverity, cfg.FullPolicy)
	assert.Equal(t, BatchConfig{MaxRecords: 1024, MaxBytes: 1 << 20, Timeout: 200 * time.Millisecond}, cfg.Batch)
	assert.True(t, cfg.Retry.Enabled)
	assert.Zero(t, cfg.Retry.MaxElapsedTime)
	assert.Nil(t, cfg.MinFree, "unset: the spool's default")
	assert.EqualValues(t, -1, cfg.minFree())
	// Without inputs the default is not usable on its own.
	require.ErrorIs(t, cfg.Validate(), ErrNoInputs)
}

func TestMinFreeZeroTurnsItOff(t *testing.T) {
	t.Parallel()
	cfg, err := loadConfig(t, "nominfree")
	require.NoError(t, err)
	require.NotNil(t, cfg.MinFree)
	assert.Zero(t, cfg.minFree())
}

func TestLoadConfig(t *testing.T) {
	t.Parallel()
	cfg, err := loadConfig(t, "")
	require.NoError(t, err)
	assert.Equal(t, "/var/lib/fleetlog", cfg.Directory)
	assert.EqualValues(t, 512<<20, cfg.MaxSize)
	assert.Equal(t, 500*time.Millisecond, cfg.Batch.Timeout)
	assert.EqualValues(t, 2<<20, cfg.Batch.MaxBytes)
	assert.EqualValues(t, 1<<30, cfg.minFree())

	require.Len(t, cfg.Files, 3)
	app := cfg.Files["app"]
	assert.Equal(t, []string{"/var/log/app/*.log"}, app.Include)
	assert.Equal(t, "beginning", app.StartAt)
	assert.Equal(t, map[string]string{"service": "app"}, app.Attributes)
	assert.Equal(t, `^\d{4}-\d{2}-\d{2}`, app.SplitConfig.LineStartPattern)
	// Options not given keep stanza's defaults, not zero values.
	assert.Equal(t, 200*time.Millisecond, app.PollInterval)
	assert.True(t, app.IncludeFileName)
	assert.True(t, app.IncludeFilePath)
	assert.Equal(t, "gzip", cfg.Files["rotated"].Compression)
	assert.True(t, app.DetectSeverity, "on by default")
	assert.False(t, cfg.Files["rotated"].DetectSeverity)
	require.Len(t, cfg.Files["json"].Operators, 1)
	assert.Equal(t, "json_parser", cfg.Files["json"].Operators[0].Type())

	require.Len(t, cfg.Syslog, 2)
	assert.True(t, cfg.Syslog["tcp"].EnableOctetCounting)
	assert.True(t, cfg.Syslog["tcp"].TCP.TrimConfig.PreserveTrailing, "octet-counted frames keep their trailing newline")
	require.NotNil(t, cfg.Syslog["tcp"].TCP)
	assert.Equal(t, "127.0.0.1:5514", cfg.Syslog["tcp"].TCP.ListenAddress)
	assert.Equal(t, "utf-8", cfg.Syslog["tcp"].TCP.Encoding, "tcp defaults kept")
	assert.Equal(t, "rfc3164", cfg.Syslog["udp"].Protocol)
	require.NotNil(t, cfg.Syslog["udp"].UDP)
}

func TestInvalidConfig(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		want error
		text string
	}{
		{name: "small", want: ErrMaxSize, text: "'max_size'"},
		{name: "negminfree", want: ErrMinFree, text: "'min_free'"},
		{name: "noinputs", want: ErrNoInputs, text: "'files' or 'syslog'"},
		{name: "hugelines", want: ErrMaxLogSize, text: "'files::a::max_log_size' (1048576 bytes)"},
		{name: "hugetcp", want: ErrMaxLogSize, text: "'syslog::t::tcp::max_log_size' (1048576 bytes)"},
		{name: "bothtransports", want: ErrSyslogTransport, text: "'syslog::s'"},
		{name: "badname", want: ErrInputName, text: "'files::a.b'"},
		{name: "giveup", want: ErrRetryGivesUp, text: "'retry_on_failure::max_elapsed_time'"},
		{name: "badbatch", want: ErrBatchRecords, text: "'batch::timeout'"},
		{name: "badfile", text: "'files::a': invalid start_at location 'middle'"},
		{name: "badudp", text: "'syslog::u'"},
		{name: "asyncoperator", want: ErrOperatorAsync, text: "'files::a::operators[1]' (recombine)"},
		{name: "operatorlines", want: ErrOperatorLogSize, text: "'files::a::max_log_size' (153600 bytes)"},
		{name: "misspeltoperator", text: "'files::a::operators[0]' (json_parser)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := loadConfig(t, tt.name)
			require.Error(t, err)
			if tt.want != nil {
				require.ErrorIs(t, err, tt.want)
			}
			require.ErrorContains(t, err, tt.text)
		})
	}
}

func TestUnknownEnumNamesTheKey(t *testing.T) {
	t.Parallel()
	for key, val := range map[string]string{"fsync": "sometimes", "full_policy": "panic"} {
		cfg := createDefaultConfig()
		err := confmap.NewFromStringMap(map[string]any{key: val}).Unmarshal(cfg)
		require.ErrorContains(t, err, "'"+key+"'")
		require.ErrorContains(t, err, "allowed:")
	}
}

// TestReadmeExampleIsTestdata keeps the README's example and
// testdata/config.yaml the same configuration.
func TestReadmeExampleIsTestdata(t *testing.T) {
	t.Parallel()
	readme, err := os.ReadFile("README.md")
	require.NoError(t, err)
	_, block, ok := strings.Cut(string(readme), "```yaml\n")
	require.True(t, ok)
	block, _, ok = strings.Cut(block, "```")
	require.True(t, ok)
	var fromReadme struct {
		Receivers map[string]any `yaml:"receivers"`
	}
	require.NoError(t, yaml.Unmarshal([]byte(block), &fromReadme))
	raw, err := os.ReadFile(filepath.Join("testdata", "config.yaml"))
	require.NoError(t, err)
	var fromTestdata map[string]any
	require.NoError(t, yaml.Unmarshal(raw, &fromTestdata))
	assert.Equal(t, fromTestdata["spool"], fromReadme.Receivers["spool"])
}
