package spoolreceiver

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/stanza/entry"
	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/stanza/fileconsumer"
	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/stanza/operator/helper"
	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/stanza/operator/input/tcp"
	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/stanza/operator/input/udp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/config/configtls"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/receiver/receivertest"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/metric/metricdata/metricdatatest"
	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/encoding/unicode"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/fleetlog/fleetlog/internal/pki"
	"github.com/fleetlog/fleetlog/receivers/spoolreceiver/internal/metadata"
	"github.com/fleetlog/fleetlog/receivers/spoolreceiver/internal/metadatatest"
)

// sink records what the receiver delivers; fail, when set, decides the
// result of each call before anything is recorded.
type sink struct {
	mu   sync.Mutex
	logs []plog.LogRecord
	// scopes holds the attributes of each record's scope, by index.
	scopes []pcommon.Map
	calls  atomic.Int64
	fail   func(call int64) error
}

func (s *sink) Capabilities() consumer.Capabilities { return consumer.Capabilities{} }

func (s *sink) ConsumeLogs(_ context.Context, ld plog.Logs) error {
	call := s.calls.Add(1)
	if s.fail != nil {
		if err := s.fail(call); err != nil {
			return err
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, rl := range ld.ResourceLogs().All() {
		for _, sl := range rl.ScopeLogs().All() {
			for _, lr := range sl.LogRecords().All() {
				c := plog.NewLogRecord()
				lr.CopyTo(c)
				s.logs = append(s.logs, c)
				sa := pcommon.NewMap()
				sl.Scope().Attributes().CopyTo(sa)
				s.scopes = append(s.scopes, sa)
			}
		}
	}
	return nil
}

func (s *sink) records() []plog.LogRecord {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]plog.LogRecord(nil), s.logs...)
}

// scopeAttrs returns the attributes of each record's scope, in the order of
// records.
func (s *sink) scopeAttrs() []pcommon.Map {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]pcommon.Map(nil), s.scopes...)
}

func (s *sink) bodies() []string {
	var out []string
	for _, lr := range s.records() {
		out = append(out, lr.Body().AsString())
	}
	return out
}

// freeAddr returns a loopback TCP address that was free a moment ago.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	return l.Addr().String()
}

func newEntry(sev entry.Severity, body string) *entry.Entry {
	e := entry.New()
	e.Severity = sev
	e.Body = body
	return e
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		if cond() {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s", what)
}

// testConfig is a config with one file input on dir/*.log.
func testConfig(t *testing.T, logDir string) *Config {
	t.Helper()
	cfg := createDefaultConfig()
	cfg.Directory = t.TempDir()
	cfg.MaxSize = 16 << 20
	// The machine's free space must not decide what these tests see.
	noMinFree := helper.ByteSize(0)
	cfg.MinFree = &noMinFree
	cfg.Batch.Timeout = 20 * time.Millisecond
	cfg.Retry.InitialInterval = 10 * time.Millisecond
	cfg.Retry.MaxInterval = 50 * time.Millisecond
	if logDir != "" {
		fc := NewFileConfig()
		fc.Include = []string{filepath.Join(logDir, "*.log")}
		fc.PollInterval = 20 * time.Millisecond
		cfg.Files = map[string]*FileConfig{"app": fc}
	}
	return cfg
}

func startReceiver(t *testing.T, cfg *Config, next *sink) *spoolReceiver {
	t.Helper()
	require.NoError(t, cfg.Validate())
	set := receivertest.NewNopSettings(metadata.Type)
	r, err := NewFactory().CreateLogs(context.Background(), set, cfg, next)
	require.NoError(t, err)
	require.NoError(t, r.Start(context.Background(), componenttest.NewNopHost()))
	t.Cleanup(func() { require.NoError(t, r.Shutdown(context.Background())) })
	return r.(*spoolReceiver)
}

// numberedLines returns line(from) .. line(to-1), each ending in a newline.
func numberedLines(from, to int, line func(int) string) string {
	var b strings.Builder
	for i := from; i < to; i++ {
		b.WriteString(line(i))
		b.WriteByte('\n')
	}
	return b.String()
}

func textLine(i int) string { return "line " + strconv.Itoa(i) }

func appendFile(t *testing.T, path, text string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	require.NoError(t, err)
	defer f.Close()
	_, err = f.WriteString(text)
	require.NoError(t, err)
}

// writeLines appends "line from" .. "line to-1" to path.
func writeLines(t *testing.T, path string, from, to int) {
	t.Helper()
	appendFile(t, path, numberedLines(from, to, textLine))
}

func TestFileLinesArriveInOrderWithAttributes(t *testing.T) {
	t.Parallel()
	logDir := t.TempDir()
	cfg := testConfig(t, logDir)
	cfg.Files["app"].Attributes = map[string]string{"service": "billing"}
	next := &sink{}
	startReceiver(t, cfg, next)

	writeLines(t, filepath.Join(logDir, "a.log"), 0, 500)
	waitFor(t, "500 lines", func() bool { return len(next.records()) >= 500 })
	recs := next.records()
	require.Len(t, recs, 500)
	for i, lr := range recs {
		require.Equal(t, "line "+strconv.Itoa(i), lr.Body().Str())
	}
	attrs := recs[0].Attributes().AsRaw()
	assert.Equal(t, "a.log", attrs["log.file.name"])
	assert.Equal(t, filepath.Join(logDir, "a.log"), attrs["log.file.path"])
	assert.Equal(t, "billing", attrs["service"])
	assert.NotZero(t, recs[0].ObservedTimestamp())
}

func TestRetryableErrorsAreRetriedNeverDropped(t *testing.T) {
	t.Parallel()
	logDir := t.TempDir()
	next := &sink{fail: func(call int64) error {
		if call <= 4 {
			return errors.New("gateway unavailable")
		}
		return nil
	}}
	startReceiver(t, testConfig(t, logDir), next)
	writeLines(t, filepath.Join(logDir, "a.log"), 0, 50)
	waitFor(t, "50 lines", func() bool { return len(next.records()) >= 50 })
	assert.Len(t, next.records(), 50)
	assert.GreaterOrEqual(t, next.calls.Load(), int64(5))
}

func TestPermanentErrorQuarantinesTheBatch(t *testing.T) {
	t.Parallel()
	logDir := t.TempDir()
	var rejected atomic.Bool
	next := &sink{fail: func(int64) error {
		if rejected.CompareAndSwap(false, true) {
			return consumererror.NewPermanent(errors.New("schema rejected"))
		}
		return nil
	}}
	r := startReceiver(t, testConfig(t, logDir), next)
	writeLines(t, filepath.Join(logDir, "a.log"), 0, 10)
	waitFor(t, "the first batch quarantined", func() bool { return r.sp.Stats().Quarantined > 0 })
	quarantined := r.sp.Stats().Quarantined
	writeLines(t, filepath.Join(logDir, "a.log"), 10, 20)
	waitFor(t, "later lines delivered", func() bool { return len(next.records())+int(quarantined) >= 20 })
	entries, err := os.ReadDir(filepath.Join(r.cfg.Directory, spoolSubdir, "quarantine"))
	require.NoError(t, err)
	assert.NotEmpty(t, entries, "quarantined records are kept on disk")
}

// smallSpool makes cfg a spool of the smallest size, with its inputs'
// max_log_size lowered so that a line fits in one of its segments.
func smallSpool(cfg *Config) {
	cfg.MaxSize = minMaxSize
	for _, f := range cfg.Files {
		f.MaxLogSize = 64 << 10
	}
	for _, s := range cfg.Syslog {
		if s.TCP != nil {
			s.TCP.MaxLogSize = 64 << 10
		}
	}
}

// TestRefusedDeviceIsRetriedNotQuarantined: the gateway refusing the device
// (the otlp exporter marks Unauthenticated and PermissionDenied permanent)
// says nothing about the data; the records wait and arrive once it accepts.
func TestRefusedDeviceIsRetriedNotQuarantined(t *testing.T) {
	t.Parallel()
	for _, code := range []codes.Code{codes.Unauthenticated, codes.PermissionDenied} {
		t.Run(code.String(), func(t *testing.T) {
			t.Parallel()
			logDir := t.TempDir()
			next := &sink{fail: func(call int64) error {
				if call <= 3 {
					return consumererror.NewPermanent(status.Error(code, "device refused"))
				}
				return nil
			}}
			r := startReceiver(t, testConfig(t, logDir), next)
			writeLines(t, filepath.Join(logDir, "a.log"), 0, 20)
			waitFor(t, "20 lines", func() bool { return len(next.records()) >= 20 })
			assert.Len(t, next.records(), 20)
			assert.Zero(t, r.sp.Stats().Quarantined)
		})
	}
}

// TestCheckpointOnlyAfterSpool proves the ordering guarantee end to end: with
// the next consumer down, the file checkpoint advances over every line; a
// fresh receiver on the same directory then delivers every line, so each was
// in the spool by the time its checkpoint was saved. (fileconsumer saves
// offsets at the end of each poll and on Stop, after its emit calls
// returned; the checkpoint store syncs the spool before writing.)
func TestCheckpointOnlyAfterSpool(t *testing.T) {
	t.Parallel()
	logDir := t.TempDir()
	cfg := testConfig(t, logDir)
	down := &sink{fail: func(int64) error { return errors.New("gateway down") }}
	set := receivertest.NewNopSettings(metadata.Type)
	r1, err := NewFactory().CreateLogs(context.Background(), set, cfg, down)
	require.NoError(t, err)
	require.NoError(t, r1.Start(context.Background(), componenttest.NewNopHost()))
	writeLines(t, filepath.Join(logDir, "a.log"), 0, 300)
	ckpt := filepath.Join(cfg.Directory, checkpointsFile)
	waitFor(t, "the checkpoint to cover the file", func() bool {
		raw, err := os.ReadFile(ckpt)
		return err == nil && len(raw) > 0 && r1.(*spoolReceiver).sp.Stats().Appended >= 300
	})
	require.NoError(t, r1.Shutdown(context.Background()))
	assert.Empty(t, down.records())

	info, err := os.Stat(ckpt)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), info.Mode().Perm())

	up := &sink{}
	startReceiver(t, cfg, up)
	waitFor(t, "300 lines from the spool", func() bool { return len(up.records()) >= 300 })
	time.Sleep(100 * time.Millisecond)
	bodies := up.bodies()
	require.Len(t, bodies, 300, "the file is not read again: every line came from the spool")
	for i, b := range bodies {
		require.Equal(t, "line "+strconv.Itoa(i), b)
	}
}

func TestSyslogTCPFieldsParsed(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t, "")
	addr := freeAddr(t)
	sc := NewSyslogConfig()
	sc.EnableOctetCounting = true
	sc.TCP = &tcp.NewConfig().BaseConfig
	sc.TCP.ListenAddress = addr
	cfg.Syslog = map[string]*SyslogConfig{"tcp": sc}
	next := &sink{}
	startReceiver(t, cfg, next)

	msg := `<165>1 2026-11-24T22:14:15.003+02:00 edge-7 sshd 4242 ID47 [exampleSDID@32473 iut="3" eventSource="Application"] Failed password for root`
	var conn net.Conn
	var err error
	waitFor(t, "the listener", func() bool {
		conn, err = net.Dial("tcp", addr)
		return err == nil
	})
	_, err = fmt.Fprintf(conn, "%d %s", len(msg), msg)
	require.NoError(t, err)
	require.NoError(t, conn.Close())
	waitFor(t, "the message", func() bool { return len(next.records()) == 1 })

	lr := next.records()[0]
	attrs := lr.Attributes().AsRaw()
	assert.Equal(t, "edge-7", attrs["hostname"])
	assert.Equal(t, "sshd", attrs["appname"])
	assert.Equal(t, "4242", attrs["proc_id"])
	assert.Equal(t, "ID47", attrs["msg_id"])
	assert.Equal(t, int64(20), attrs["facility"])
	assert.Equal(t, map[string]any{"exampleSDID@32473": map[string]any{"iut": "3", "eventSource": "Application"}}, attrs["structured_data"])
	assert.Equal(t, "Failed password for root", attrs["message"])
	assert.Equal(t, plog.SeverityNumberInfo2, lr.SeverityNumber(), "severity 5 (notice)")
	assert.Equal(t, time.Date(2026, 11, 24, 20, 14, 15, 3e6, time.UTC), lr.Timestamp().AsTime())
	assert.NotZero(t, lr.ObservedTimestamp())
}

// TestEvictionEmitsOneLossRecord fills a small spool behind a stalled
// consumer: debug lines are evicted before error lines, and a WARN record
// reporting the loss is delivered once the consumer recovers.
func TestEvictionEmitsOneLossRecord(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t, "")
	var up atomic.Bool
	next := &sink{fail: func(int64) error {
		if !up.Load() {
			return errors.New("gateway down")
		}
		return nil
	}}
	// A syslog input sets severities; its stanza input is not started, the
	// test drives the sink operator directly.
	sc := NewSyslogConfig()
	sc.TCP = &tcp.NewConfig().BaseConfig
	sc.TCP.ListenAddress = "127.0.0.1:0"
	cfg.Syslog = map[string]*SyslogConfig{"t": sc}
	smallSpool(cfg)
	r := startReceiver(t, cfg, next)
	s := &spoolSink{r: r}

	pad := strings.Repeat("x", 900)
	ctx := context.Background()
	for i := range 3000 { // ~3MB of debug into a 1MiB spool
		require.NoError(t, s.ProcessBatch(ctx, []*entry.Entry{newEntry(5, fmt.Sprintf("debug %d %s", i, pad))}))
		if i%100 == 0 {
			require.NoError(t, s.ProcessBatch(ctx, []*entry.Entry{newEntry(17, fmt.Sprintf("error %d", i))}))
		}
	}
	waitFor(t, "an eviction", func() bool { return r.sp.Stats().Evicted > 0 })
	up.Store(true)
	waitFor(t, "a loss record", func() bool {
		for _, lr := range next.records() {
			if strings.HasPrefix(lr.Body().AsString(), "spool full: dropped") {
				return true
			}
		}
		return false
	})
	waitFor(t, "the spool drained", func() bool { return r.sp.Stats().Records == 0 })
	var errorsSeen, loss int
	for _, lr := range next.records() {
		switch {
		case strings.HasPrefix(lr.Body().AsString(), "error "):
			errorsSeen++
		case strings.HasPrefix(lr.Body().AsString(), "spool full: dropped"):
			loss++
			assert.Equal(t, plog.SeverityNumberWarn, lr.SeverityNumber())
			n, ok := lr.Attributes().Get(attrDroppedRecords)
			require.True(t, ok)
			assert.Positive(t, n.Int())
		}
	}
	assert.Equal(t, 30, errorsSeen, "error lines outlive debug lines")
	assert.Positive(t, loss)
}

// TestBlockPolicyDropsUDPAndCountsIt fills a spool under the block policy:
// UDP messages are refused at once and counted, never waited on; the
// telemetry reports the spool's gauges and counters.
func TestBlockPolicyDropsUDPAndCountsIt(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t, "")
	cfg.FullPolicy = FullBlock
	sc := NewSyslogConfig()
	sc.UDP = &udp.NewConfig().BaseConfig
	sc.UDP.ListenAddress = "127.0.0.1:0"
	cfg.Syslog = map[string]*SyslogConfig{"u": sc}
	smallSpool(cfg)
	tel := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tel.Shutdown(context.Background())) })

	down := &sink{fail: func(int64) error { return errors.New("gateway down") }}
	require.NoError(t, cfg.Validate())
	r, err := NewFactory().CreateLogs(context.Background(), metadatatest.NewSettings(tel), cfg, down)
	require.NoError(t, err)
	require.NoError(t, r.Start(context.Background(), componenttest.NewNopHost()))
	t.Cleanup(func() { require.NoError(t, r.Shutdown(context.Background())) })
	s := &spoolSink{r: r.(*spoolReceiver), udp: true}

	pad := strings.Repeat("u", 900)
	for i := range 3000 {
		// Counted, not returned: stanza would log every drop.
		require.NoError(t, s.ProcessBatch(context.Background(), []*entry.Entry{newEntry(9, fmt.Sprintf("udp %d %s", i, pad))}))
	}
	dropped := 3000 - s.r.sp.Stats().Appended
	require.Positive(t, dropped, "a 1MiB spool cannot hold 3000 messages of 900 bytes")
	metadatatest.AssertEqualSpoolUDPDroppedRecords(t, tel, []metricdata.DataPoint[int64]{{Value: dropped}}, metricdatatest.IgnoreTimestamp())
	metadatatest.AssertEqualSpoolEvictedRecords(t, tel, []metricdata.DataPoint[int64]{{Value: 0}}, metricdatatest.IgnoreTimestamp())
	metadatatest.AssertEqualSpoolAppendedRecords(t, tel, []metricdata.DataPoint[int64]{{Value: 3000 - dropped}}, metricdatatest.IgnoreTimestamp())
	metadatatest.AssertEqualSpoolRecords(t, tel, []metricdata.DataPoint[int64]{{Value: 3000 - dropped}}, metricdatatest.IgnoreTimestamp())
}

// TestSyslogOverTLS receives non-transparently framed RFC 5424 over TLS 1.3.
func TestSyslogOverTLS(t *testing.T) {
	t.Parallel()
	certs, err := pki.Init(filepath.Join(t.TempDir(), "certs"), pki.InitOptions{})
	require.NoError(t, err)
	cfg := testConfig(t, "")
	addr := freeAddr(t)
	sc := NewSyslogConfig()
	sc.TCP = &tcp.NewConfig().BaseConfig
	sc.TCP.ListenAddress = addr
	sc.TCP.TLS = &configtls.ServerConfig{Config: configtls.Config{
		CertFile: certs.GatewayCert, KeyFile: certs.GatewayKey, MinVersion: "1.3",
	}}
	cfg.Syslog = map[string]*SyslogConfig{"tls": sc}
	next := &sink{}
	startReceiver(t, cfg, next)

	ca, err := pki.LoadCertificate(certs.CACert)
	require.NoError(t, err)
	roots := x509.NewCertPool()
	roots.AddCert(ca)
	var conn *tls.Conn
	waitFor(t, "the TLS listener", func() bool {
		conn, err = tls.Dial("tcp", addr, &tls.Config{RootCAs: roots, ServerName: "localhost", MinVersion: tls.VersionTLS13})
		return err == nil
	})
	_, err = conn.Write([]byte("<86>1 2026-11-24T22:14:15Z edge-9 sudo 7 AUTH - session opened for root\n"))
	require.NoError(t, err)
	require.NoError(t, conn.Close())
	waitFor(t, "the message", func() bool { return len(next.records()) == 1 })
	attrs := next.records()[0].Attributes().AsRaw()
	assert.Equal(t, "sudo", attrs["appname"])
	assert.Equal(t, "AUTH", attrs["msg_id"])
	assert.Equal(t, int64(10), attrs["facility"])
}

// TestFileInputsShareOneSpool runs three file inputs on one spool: one
// reads plain lines, one reads gzip files, one joins multiline records.
func TestFileInputsShareOneSpool(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cfg := testConfig(t, "")
	newInput := func(glob string) *FileConfig {
		fc := NewFileConfig()
		fc.Include = []string{filepath.Join(dir, glob)}
		fc.PollInterval = 20 * time.Millisecond
		return fc
	}
	plain := newInput("app.log")
	gz := newInput("*.log.gz")
	gz.Compression = "gzip"
	multi := newInput("trace.log")
	multi.SplitConfig.LineStartPattern = `^\d{4}-`
	cfg.Files = map[string]*FileConfig{"plain": plain, "gz": gz, "multi": multi}
	next := &sink{}
	startReceiver(t, cfg, next)

	var zipped bytes.Buffer
	zw := gzip.NewWriter(&zipped)
	_, err := zw.Write([]byte("zipped 1\nzipped 2\n"))
	require.NoError(t, err)
	require.NoError(t, zw.Close())
	require.NoError(t, os.WriteFile(filepath.Join(dir, "old.log.gz"), zipped.Bytes(), 0o600))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "trace.log"),
		[]byte("2026-11-25 panic: boom\n  at main.go:12\n  at proc.go:250\n2026-11-25 next\n2026-11-25 last\n"), 0o600))

	writeLines(t, filepath.Join(dir, "app.log"), 0, 100)

	want := map[string]bool{"zipped 1": true, "zipped 2": true, "2026-11-25 panic: boom\n  at main.go:12\n  at proc.go:250": true, "2026-11-25 next": true}
	for i := range 100 {
		want["line "+strconv.Itoa(i)] = true
	}
	waitFor(t, "every record", func() bool {
		got := map[string]bool{}
		for _, b := range next.bodies() {
			got[b] = true
		}
		for w := range want {
			if !got[w] {
				return false
			}
		}
		return true
	})
}

func TestFileBodiesDecodeAsStanzaDoes(t *testing.T) {
	t.Parallel()
	lines := []string{
		"plain ascii",
		"caf\xc3\xa9 \xe2\x82\xac 10",
		"bad \xff\xfe end",
		"truncated \xe2\x82",
		"overlong \xc0\xaf and surrogate \xed\xa0\x80",
		"",
	}
	for _, tc := range []struct {
		encoding  string
		multiline bool // stanza's own UTF-8 decoding stays on
		decode    func(string) string
	}{
		{"", false, utf8Decoded},
		{"UTF-8", false, utf8Decoded},
		{"utf8", true, utf8Decoded},
		{"utf-8-raw", false, func(s string) string { return s }},
		{"iso-8859-1", false, func(s string) string {
			out, err := charmap.ISO8859_1.NewDecoder().String(s)
			require.NoError(t, err)
			return out
		}},
	} {
		t.Run(fmt.Sprintf("encoding=%s/multiline=%t", tc.encoding, tc.multiline), func(t *testing.T) {
			t.Parallel()
			logDir := t.TempDir()
			cfg := testConfig(t, logDir)
			cfg.Files["app"].Encoding = tc.encoding
			lines := lines
			if tc.multiline {
				// Every line starts an entry; the empty one would join the
				// entry before it.
				cfg.Files["app"].SplitConfig.LineStartPattern = `^\S`
				cfg.Files["app"].FlushPeriod = 50 * time.Millisecond
				lines = lines[:len(lines)-1]
			}
			next := &sink{}
			startReceiver(t, cfg, next)

			appendFile(t, filepath.Join(logDir, "a.log"), strings.Join(lines, "\n")+"\n")
			waitFor(t, "every line", func() bool { return len(next.records()) >= len(lines) })
			got := next.bodies()
			require.Len(t, got, len(lines))
			for i, line := range lines {
				assert.Equal(t, tc.decode(line), got[i], "line %d", i)
			}
		})
	}
}

func TestReadRawUTF8OnlyWhereBodiesStayTheSame(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name string
		set  func(*FileConfig)
		want bool
	}{
		{"default", func(*FileConfig) {}, true},
		{"ascii", func(c *FileConfig) { c.Encoding = "US-ASCII" }, true},
		{"latin-1", func(c *FileConfig) { c.Encoding = "iso-8859-1" }, false},
		{"utf-16", func(c *FileConfig) { c.Encoding = "utf-16le" }, false},
		{"multiline start", func(c *FileConfig) { c.SplitConfig.LineStartPattern = `^\d` }, false},
		{"multiline end", func(c *FileConfig) { c.SplitConfig.LineEndPattern = `;$` }, false},
		{"header", func(c *FileConfig) { c.Header = &fileconsumer.HeaderConfig{Pattern: "^#"} }, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			fc := NewFileConfig()
			tt.set(fc)
			assert.Equal(t, tt.want, readRawUTF8(&fc.Config))
		})
	}
}

// utf8Decoded is what stanza's UTF-8 decoding makes of s.
func utf8Decoded(s string) string {
	out, err := unicode.UTF8.NewDecoder().String(s)
	if err != nil {
		panic(err)
	}
	return out
}
