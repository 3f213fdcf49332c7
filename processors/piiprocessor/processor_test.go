package piiprocessor

import (
	"context"
	"flag"
	"path/filepath"
	"sync"
	"testing"

	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/golden"
	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/pdatatest/plogtest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/processor/processortest"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/fleetlog/fleetlog/internal/pii"
	"github.com/fleetlog/fleetlog/internal/spoolstamp"
	"github.com/fleetlog/fleetlog/processors/piiprocessor/internal/metadata"
)

var update = flag.Bool("update", false, "rewrite the expected golden files")

func newTestProcessor(t *testing.T, cfg *Config, tel *componenttest.Telemetry) (*consumertest.LogsSink, func(plog.Logs)) {
	t.Helper()
	require.NoError(t, cfg.Validate())
	sink := &consumertest.LogsSink{}
	set := processortest.NewNopSettings(metadata.Type)
	if tel != nil {
		set.TelemetrySettings = tel.NewTelemetrySettings()
	}
	p, err := NewFactory().CreateLogs(context.Background(), set, cfg, sink)
	require.NoError(t, err)
	require.NoError(t, p.Start(context.Background(), componenttest.NewNopHost()))
	t.Cleanup(func() { require.NoError(t, p.Shutdown(context.Background())) })
	// assert, not require: the function may run on other goroutines.
	return sink, func(ld plog.Logs) { assert.NoError(t, p.ConsumeLogs(context.Background(), ld)) }
}

func TestGolden(t *testing.T) {
	tests := []struct {
		name   string
		config func(*Config)
	}{
		{name: "map_body", config: func(c *Config) {
			c.AllowedKeys = []string{"trace_id"}
			c.BlockedKeys = []string{"Cookie"}
			c.Detectors = map[string]DetectorConfig{pii.USSSN: {Action: ptr(pii.ActionDropAttribute)}}
		}},
		{name: "slice_body", config: func(*Config) {}},
		{name: "attributes", config: func(c *Config) {
			c.Scope.ResourceAttributes = true
			c.HashKey = "golden-test-key"
			c.SummaryAttribute = "pii.redactions"
			c.Detectors = map[string]DetectorConfig{
				pii.Email:      {Action: ptr(pii.ActionHash)},
				pii.CreditCard: {Action: ptr(pii.ActionDropRecord)},
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := createDefaultConfig()
			tt.config(cfg)
			sink, consume := newTestProcessor(t, cfg, nil)
			dir := filepath.Join("testdata", "golden", tt.name)
			in, err := golden.ReadLogs(filepath.Join(dir, "input.yaml"))
			require.NoError(t, err)
			consume(in)
			require.Len(t, sink.AllLogs(), 1)
			got := sink.AllLogs()[0]
			if *update {
				require.NoError(t, golden.WriteLogs(t, filepath.Join(dir, "expected.yaml"), got))
			}
			want, err := golden.ReadLogs(filepath.Join(dir, "expected.yaml"))
			require.NoError(t, err)
			require.NoError(t, plogtest.CompareLogs(want, got))
		})
	}
}

func TestDetectModeChangesNothingAndCounts(t *testing.T) {
	tel := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tel.Shutdown(context.Background())) })
	cfg := createDefaultConfig()
	cfg.Mode = ModeDetect
	cfg.Detectors = map[string]DetectorConfig{pii.CreditCard: {Action: ptr(pii.ActionDropRecord)}}
	sink, consume := newTestProcessor(t, cfg, tel)

	ld := plog.NewLogs()
	lrs := ld.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords()
	lrs.AppendEmpty().Body().SetStr("bob@example.com paid with 4111111111111111")
	lrs.AppendEmpty().Body().SetStr("clean")
	want := plog.NewLogs()
	ld.CopyTo(want)
	consume(ld)
	require.NoError(t, plogtest.CompareLogs(want, sink.AllLogs()[0]))

	assertDetections(t, tel, map[string]int64{pii.Email: 1, pii.CreditCard: 1})
	m, err := tel.GetMetric("otelcol_processor_pii_records_redacted")
	require.NoError(t, err)
	assert.Equal(t, int64(1), m.Data.(metricdata.Sum[int64]).DataPoints[0].Value)
}

func TestRedactModeCountsAndDrops(t *testing.T) {
	tel := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tel.Shutdown(context.Background())) })
	cfg := createDefaultConfig()
	cfg.BlockedKeys = []string{"cookie"}
	cfg.Detectors = map[string]DetectorConfig{pii.CreditCard: {Action: ptr(pii.ActionDropRecord)}}
	sink, consume := newTestProcessor(t, cfg, tel)

	ld := plog.NewLogs()
	lrs := ld.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords()
	lrs.AppendEmpty().Body().SetStr("card 4111111111111111")
	r := lrs.AppendEmpty()
	r.Body().SetStr("mail bob@example.com and carol@example.com")
	r.Attributes().PutStr("cookie", "sid=1")
	consume(ld)

	got := sink.AllLogs()[0]
	require.Equal(t, 1, got.LogRecordCount())
	body := got.ResourceLogs().At(0).ScopeLogs().At(0).LogRecords().At(0).Body().Str()
	assert.Equal(t, "mail [REDACTED:email] and [REDACTED:email]", body)

	assertDetections(t, tel, map[string]int64{pii.Email: 2, pii.CreditCard: 1, BlockedKey: 1})
	m, err := tel.GetMetric("otelcol_processor_pii_records_dropped")
	require.NoError(t, err)
	assert.Equal(t, int64(1), m.Data.(metricdata.Sum[int64]).DataPoints[0].Value)
}

func assertDetections(t *testing.T, tel *componenttest.Telemetry, want map[string]int64) {
	t.Helper()
	m, err := tel.GetMetric("otelcol_processor_pii_detections")
	require.NoError(t, err)
	got := map[string]int64{}
	for _, dp := range m.Data.(metricdata.Sum[int64]).DataPoints {
		v, _ := dp.Attributes.Value("detector")
		got[v.AsString()] += dp.Value
	}
	assert.Equal(t, want, got)
}

// TestSecretsStayOutOfLogs runs the processor with a debug logger: nothing
// it logs may carry a secret.
func TestSecretsStayOutOfLogs(t *testing.T) {
	core, logs := observer.New(zapcore.DebugLevel)
	cfg := createDefaultConfig()
	sink := &consumertest.LogsSink{}
	set := processortest.NewNopSettings(metadata.Type)
	set.Logger = zap.New(core)
	p, err := NewFactory().CreateLogs(context.Background(), set, cfg, sink)
	require.NoError(t, err)
	require.NoError(t, p.Start(context.Background(), componenttest.NewNopHost()))
	ld := plog.NewLogs()
	ld.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords().AppendEmpty().Body().SetStr("password=hunter2-very-secret")
	require.NoError(t, p.ConsumeLogs(context.Background(), ld))
	require.NoError(t, p.Shutdown(context.Background()))
	for _, e := range logs.All() {
		assert.NotContains(t, e.Message, "hunter2")
		for _, f := range e.Context {
			assert.NotContains(t, f.String, "hunter2")
		}
	}
	assert.NotContains(t, sink.AllLogs()[0].ResourceLogs().At(0).ScopeLogs().At(0).LogRecords().At(0).Body().Str(), "hunter2")
}

func TestDropRecord(t *testing.T) {
	cfg := createDefaultConfig()
	cfg.Scope.ResourceAttributes = true
	cfg.Detectors = map[string]DetectorConfig{pii.USSSN: {Action: ptr(pii.ActionDropRecord)}}
	sink, consume := newTestProcessor(t, cfg, nil)

	t.Run("a match in resource attributes drops the resource's records", func(t *testing.T) {
		sink.Reset()
		ld := plog.NewLogs()
		bad := ld.ResourceLogs().AppendEmpty()
		bad.Resource().Attributes().PutStr("owner.ssn", "078-05-1120")
		bad.ScopeLogs().AppendEmpty().LogRecords().AppendEmpty().Body().SetStr("one")
		good := ld.ResourceLogs().AppendEmpty()
		good.ScopeLogs().AppendEmpty().LogRecords().AppendEmpty().Body().SetStr("two")
		good.ScopeLogs().AppendEmpty() // empty scopes are left alone
		consume(ld)
		require.Len(t, sink.AllLogs(), 1)
		got := sink.AllLogs()[0]
		require.Equal(t, 1, got.ResourceLogs().Len())
		assert.Equal(t, 2, got.ResourceLogs().At(0).ScopeLogs().Len())
		assert.Equal(t, "two", got.ResourceLogs().At(0).ScopeLogs().At(0).LogRecords().At(0).Body().Str())
	})
	t.Run("a batch with every record dropped is not passed on", func(t *testing.T) {
		sink.Reset()
		ld := plog.NewLogs()
		ld.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords().AppendEmpty().Body().SetStr("ssn 078-05-1120")
		consume(ld)
		assert.Empty(t, sink.AllLogs())
	})
}

// TestConcurrentConsume exercises the per-call tallies under -race.
func TestConcurrentConsume(t *testing.T) {
	tel := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tel.Shutdown(context.Background())) })
	sink, consume := newTestProcessor(t, createDefaultConfig(), tel)
	const workers, batches = 4, 25
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for range batches {
				ld := plog.NewLogs()
				ld.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords().AppendEmpty().Body().SetStr("to bob@example.com")
				consume(ld)
			}
		})
	}
	wg.Wait()
	assert.Equal(t, workers*batches, sink.LogRecordCount())
	assertDetections(t, tel, map[string]int64{pii.Email: workers * batches})
}

// A batch's repeated attributes are scanned once when clean; a repeated
// secret is still redacted and counted on every record.
func TestRepeatedAttributesInABatch(t *testing.T) {
	tel := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tel.Shutdown(context.Background())) })
	sink, consume := newTestProcessor(t, createDefaultConfig(), tel)

	ld := plog.NewLogs()
	lrs := ld.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords()
	for range 3 {
		r := lrs.AppendEmpty()
		r.Body().SetStr("eth0: link up")
		r.Attributes().PutStr("log.file.path", "/var/log/app/app.log")
		r.Attributes().PutStr("owner", "bob@example.com")
	}
	// The same clean text under a secret-named key is a different verdict.
	lrs.AppendEmpty().Attributes().PutStr("password", "/var/log/app/app.log")
	consume(ld)

	got := sink.AllLogs()[0].ResourceLogs().At(0).ScopeLogs().At(0).LogRecords()
	for i := range 3 {
		attrs := got.At(i).Attributes()
		path, _ := attrs.Get("log.file.path")
		owner, _ := attrs.Get("owner")
		assert.Equal(t, "/var/log/app/app.log", path.Str())
		assert.Equal(t, "[REDACTED:email]", owner.Str())
	}
	pw, _ := got.At(3).Attributes().Get("password")
	assert.NotEqual(t, "/var/log/app/app.log", pw.Str())
	assertDetections(t, tel, map[string]int64{pii.Email: 3, pii.KVSecret: 1})
}

// TestSpoolStampPassesUnchanged: the stamp that lets the archive store each
// record once must reach it as the agent's spool made it, through the
// default config on both tiers, whatever the random identity looks like.
func TestSpoolStampPassesUnchanged(t *testing.T) {
	sink, consume := newTestProcessor(t, createDefaultConfig(), nil)
	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	for i := range 2000 {
		id, err := spoolstamp.NewID()
		require.NoError(t, err)
		// Sequence numbers from small to far beyond any spool's life.
		seq := uint64(1)<<(i%48) + uint64(i)
		sl := rl.ScopeLogs().AppendEmpty()
		lr := sl.LogRecords().AppendEmpty()
		lr.Body().SetStr("user bob@example.com logged in")
		if i%2 == 0 {
			spoolstamp.StampScope(sl.Scope().Attributes(), id)
			spoolstamp.StampSeq(lr.Attributes(), seq)
		} else { // the per-record form of an older agent
			spoolstamp.StampRecord(lr.Attributes(), id, seq)
		}
	}
	want := plog.NewLogs()
	ld.CopyTo(want)
	consume(ld)
	got := sink.AllLogs()[0].ResourceLogs().At(0).ScopeLogs()
	wantSLs := want.ResourceLogs().At(0).ScopeLogs()
	require.Equal(t, wantSLs.Len(), got.Len())
	for i := range got.Len() {
		assert.Equal(t, wantSLs.At(i).Scope().Attributes().AsRaw(), got.At(i).Scope().Attributes().AsRaw())
		g := got.At(i).LogRecords().At(0)
		assert.Equal(t, wantSLs.At(i).LogRecords().At(0).Attributes().AsRaw(), g.Attributes().AsRaw())
		assert.NotContains(t, g.Body().Str(), "bob@example.com", "the body is still redacted")
	}
}

// TestSpoolStampKeysAreNoHidingPlace: only well-formed stamp values pass
// unscanned; text under the stamp's keys is redacted like any attribute.
func TestSpoolStampKeysAreNoHidingPlace(t *testing.T) {
	sink, consume := newTestProcessor(t, createDefaultConfig(), nil)
	ld := plog.NewLogs()
	lr := ld.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords().AppendEmpty()
	lr.Attributes().PutStr(spoolstamp.IDAttribute, "bob@example.com")
	lr.Attributes().PutStr(spoolstamp.SeqAttribute, "4111111111111111")
	consume(ld)
	got := sink.AllLogs()[0].ResourceLogs().At(0).ScopeLogs().At(0).LogRecords().At(0).Attributes()
	for _, k := range []string{spoolstamp.IDAttribute, spoolstamp.SeqAttribute} {
		v, ok := got.Get(k)
		require.True(t, ok)
		assert.Contains(t, v.Str(), "[REDACTED:", k)
	}
}

// TestSummaryIsOnlyTheProcessors: a summary a record arrived with (a device
// forging findings at the gateway, or hiding them) is replaced by this
// processor's own: removed from a clean record, rewritten on a finding.
func TestSummaryIsOnlyTheProcessors(t *testing.T) {
	t.Parallel()
	cfg := createDefaultConfig()
	cfg.SummaryAttribute = "fleet.gateway.pii"
	sink, consume := newTestProcessor(t, cfg, nil)
	ld := plog.NewLogs()
	lrs := ld.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords()
	forged := lrs.AppendEmpty()
	forged.Body().SetStr("clean line")
	forged.Attributes().PutInt("fleet.gateway.pii.count", 3)
	forged.Attributes().PutEmptySlice("fleet.gateway.pii.detectors").AppendEmpty().SetStr("email")
	hidden := lrs.AppendEmpty()
	hidden.Body().SetStr("mail bob@example.com")
	hidden.Attributes().PutInt("fleet.gateway.pii.count", 0)
	consume(ld)
	out := sink.AllLogs()[0].ResourceLogs().At(0).ScopeLogs().At(0).LogRecords()
	assert.Equal(t, map[string]any{}, out.At(0).Attributes().AsRaw())
	assert.Equal(t, map[string]any{"fleet.gateway.pii.count": int64(1), "fleet.gateway.pii.detectors": []any{"email"}}, out.At(1).Attributes().AsRaw())
}
