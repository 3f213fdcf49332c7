package alertconnector

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/connector/connectortest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/fleetlog/fleetlog/connectors/alertconnector/internal/metadata"
	"github.com/fleetlog/fleetlog/internal/fleetproto"
)

// batch is one device's logs as fleet_metadata leaves them.
func batch(device string, bodies ...string) plog.Logs {
	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	rl.Resource().Attributes().PutStr("device.id", device)
	rl.Resource().Attributes().PutStr("fleet.name", "eu")
	rl.Resource().Attributes().PutStr("device.firmware.version", "1.0")
	sl := rl.ScopeLogs().AppendEmpty()
	for _, b := range bodies {
		lr := sl.LogRecords().AppendEmpty()
		lr.Body().SetStr(b)
		lr.SetTimestamp(pcommon.NewTimestampFromTime(time.Now()))
	}
	return ld
}

func failed(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("sshd[%d]: Failed password for root from 10.0.0.%d port %d ssh2", 100+i, i, 40000+i)
	}
	return out
}

type harness struct {
	c    *alertConnector
	sink *consumertest.LogsSink
	tel  *componenttest.Telemetry
}

func newHarness(t *testing.T, cfg *Config) *harness {
	t.Helper()
	tel := componenttest.NewTelemetry()
	t.Cleanup(func() { _ = tel.Shutdown(context.Background()) })
	set := connectortest.NewNopSettings(metadata.Type)
	set.TelemetrySettings = tel.NewTelemetrySettings()
	sink := &consumertest.LogsSink{}
	conn, err := NewFactory().CreateLogsToLogs(context.Background(), set, cfg, sink)
	require.NoError(t, err)
	c := conn.(*alertConnector)
	require.NoError(t, c.Start(context.Background(), componenttest.NewNopHost()))
	t.Cleanup(func() { require.NoError(t, c.Shutdown(context.Background())) })
	return &harness{c: c, sink: sink, tel: tel}
}

func (h *harness) sum(t *testing.T, name string, attrs ...string) int64 {
	m, err := h.tel.GetMetric(name)
	if err != nil {
		return 0
	}
	var total int64
	for _, dp := range m.Data.(metricdata.Sum[int64]).DataPoints {
		ok := true
		for i := 0; i+1 < len(attrs); i += 2 {
			if v, _ := dp.Attributes.Value(attributeKey(attrs[i])); v.AsString() != attrs[i+1] {
				ok = false
			}
		}
		if ok {
			total += dp.Value
		}
	}
	return total
}

// alertRecords returns the alert records the sink received.
func alertRecords(sink *consumertest.LogsSink) []plog.LogRecord {
	var out []plog.LogRecord
	for _, ld := range sink.AllLogs() {
		for i := 0; i < ld.ResourceLogs().Len(); i++ {
			rl := ld.ResourceLogs().At(i)
			for j := 0; j < rl.ScopeLogs().Len(); j++ {
				sl := rl.ScopeLogs().At(j)
				if sl.Scope().Name() != ScopeName {
					continue
				}
				for k := 0; k < sl.LogRecords().Len(); k++ {
					out = append(out, sl.LogRecords().At(k))
				}
			}
		}
	}
	return out
}

func TestPassThroughAndAlertRecords(t *testing.T) {
	cfg := createDefaultConfig().(*Config)
	cfg.Pack = []string{"auth_brute_force", "firmware_change"}
	cfg.TickInterval = 20 * time.Millisecond
	h := newHarness(t, cfg)
	ctx := context.Background()

	in := batch("edge-1", failed(30)...)
	want := plog.NewLogs()
	in.CopyTo(want)
	require.NoError(t, h.c.ConsumeLogs(ctx, in))
	// A second burst in the same window is the same alert.
	require.NoError(t, h.c.ConsumeLogs(ctx, batch("edge-1", failed(30)...)))
	require.NoError(t, h.c.ConsumeLogs(ctx, batch("edge-2", "hello")))

	all := h.sink.AllLogs()
	require.Len(t, all, 4, "three batches passed on and one of alert records")
	assert.Equal(t, want, all[0], "records pass through unchanged")
	recs := alertRecords(h.sink)
	require.Len(t, recs, 1)
	a := recs[0].Attributes().AsRaw()
	assert.Equal(t, "firing", a["alert.status"])
	assert.Equal(t, "auth_brute_force", a["alert.rule"])
	assert.Equal(t, "edge-1", a["alert.device.id"])
	assert.Equal(t, "eu", a["alert.fleet.name"])
	assert.Equal(t, int64(20), a["alert.count"])
	assert.Equal(t, "5m0s", a["alert.window"])
	assert.NotEmpty(t, a["alert.first_record"])
	assert.Contains(t, a["alert.evidence"], "fleetlogctl archive query --dir /var/lib/fleetlog/archive --device edge-1 --since ")
	assert.Equal(t, plog.SeverityNumberError, recs[0].SeverityNumber())
	assert.Contains(t, recs[0].Body().Str(), "[FIRING] auth_brute_force on edge-1")

	// Firmware change on edge-2.
	fw := batch("edge-2", "booted")
	fw.ResourceLogs().At(0).Resource().Attributes().PutStr("device.firmware.version", "1.1")
	require.NoError(t, h.c.ConsumeLogs(ctx, fw))
	recs = alertRecords(h.sink)
	require.Len(t, recs, 2)
	assert.Equal(t, "firmware_change", recs[1].Attributes().AsRaw()["alert.rule"])

	require.Eventually(t, func() bool {
		return h.sum(t, "otelcol_connector_alert_rule_matches", "rule", "auth_brute_force") == 60
	}, 5*time.Second, 10*time.Millisecond)
	assert.EqualValues(t, 62, h.sum(t, "otelcol_connector_alert_rule_evaluations", "rule", "auth_brute_force"))
	assert.EqualValues(t, 1, h.sum(t, "otelcol_connector_alert_alerts_fired", "rule", "auth_brute_force"))
	assert.EqualValues(t, 2, h.sum(t, "otelcol_connector_alert_alerts_firing"))
}

func TestReloadKeepsRulesOnError(t *testing.T) {
	rules := filepath.Join(t.TempDir(), "rules.yaml")
	write := func(s string) {
		// A new size and mtime for the poller.
		require.NoError(t, os.WriteFile(rules, []byte(s), 0o600))
		require.NoError(t, os.Chtimes(rules, time.Now(), time.Now().Add(time.Duration(len(s))*time.Second)))
	}
	write("rules: [{name: a, type: match, match: {body_contains: [alpha]}}]")
	cfg := createDefaultConfig().(*Config)
	cfg.RulesFile = rules
	cfg.ReloadInterval = 20 * time.Millisecond
	h := newHarness(t, cfg)

	write("rules: [{name: a, type: match, match: {body_contains: [alpha]}}, {name: b, type: match, match: {body_contains: [beta]}}]")
	require.Eventually(t, func() bool { return h.sum(t, "otelcol_connector_alert_rules_reloads", "result", "ok") == 1 }, 5*time.Second, 10*time.Millisecond)
	assert.Equal(t, []string{"a", "b"}, h.c.engine.Rules())

	write("rules: [{name: a, type: threshold}]")
	require.Eventually(t, func() bool { return h.sum(t, "otelcol_connector_alert_rules_reloads", "result", "error") == 1 }, 5*time.Second, 10*time.Millisecond)
	assert.Equal(t, []string{"a", "b"}, h.c.engine.Rules(), "a bad file keeps the rules in force")
	require.NoError(t, h.c.ConsumeLogs(context.Background(), batch("d", "beta")))
	assert.Len(t, alertRecords(h.sink), 1)
}

// slackStandIn accepts Slack incoming-webhook messages and checks their
// format.
type slackStandIn struct {
	mu   sync.Mutex
	msgs []map[string]any
	bad  int
}

func (s *slackStandIn) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	var m map[string]any
	s.mu.Lock()
	defer s.mu.Unlock()
	if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/json" || json.Unmarshal(b, &m) != nil {
		s.bad++
		http.Error(w, "invalid_payload", http.StatusBadRequest)
		return
	}
	text, _ := m["text"].(string)
	att, _ := m["attachments"].([]any)
	if text == "" || len(att) != 1 {
		s.bad++
		http.Error(w, "invalid_payload", http.StatusBadRequest)
		return
	}
	s.msgs = append(s.msgs, m)
	_, _ = io.WriteString(w, "ok")
}

func (s *slackStandIn) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.msgs)
}

func TestSlackOutput(t *testing.T) {
	slack := &slackStandIn{}
	srv := httptest.NewServer(slack)
	defer srv.Close()
	cfg := createDefaultConfig().(*Config)
	cfg.Pack = []string{"oom_kill"}
	cfg.Notify.Outbox.Directory = filepath.Join(t.TempDir(), "outbox")
	out := defaultHTTPOutput()
	out.HTTP.Endpoint = srv.URL + "/services/T/B/X"
	cfg.Notify.Slack = configoptional.Some(out)
	h := newHarness(t, cfg)
	require.NoError(t, h.c.ConsumeLogs(context.Background(), batch("edge-9", "kernel: Out of memory: Killed process 4242 (java)")))
	require.Eventually(t, func() bool { return slack.count() == 1 }, 5*time.Second, 10*time.Millisecond)
	slack.mu.Lock()
	m := slack.msgs[0]
	slack.mu.Unlock()
	assert.Equal(t, "[FIRING] oom_kill on edge-9: kernel: Out of memory: Killed process 4242 (java)", m["text"])
	fields := m["attachments"].([]any)[0].(map[string]any)["fields"].([]any)
	var names []string
	for _, f := range fields {
		names = append(names, f.(map[string]any)["title"].(string))
	}
	assert.Contains(t, names, "Evidence")
	assert.Contains(t, names, "Device")
	assert.Zero(t, slack.bad)
	require.Eventually(t, func() bool { return h.sum(t, "otelcol_connector_alert_notifications_sent", "output", "slack") == 1 }, 5*time.Second, 10*time.Millisecond)
	st, err := os.Stat(filepath.Join(cfg.Notify.Outbox.Directory, "slack"))
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o700), st.Mode().Perm())
}

// TestConsumeNeverWaitsForDelivery: with the only output down, ingestion
// carries on and the queue drops its oldest notification when full.
func TestConsumeNeverWaitsForDelivery(t *testing.T) {
	stall := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { <-stall }))
	defer srv.Close()
	defer close(stall)
	cfg := createDefaultConfig().(*Config)
	cfg.Pack = []string{"oom_kill"}
	cfg.Notify.Outbox.Directory = t.TempDir()
	cfg.Notify.Outbox.MaxEntries = 5
	out := defaultHTTPOutput()
	out.HTTP.Endpoint = srv.URL
	out.HTTP.Timeout = 200 * time.Millisecond
	cfg.Notify.Webhook = configoptional.Some(out)
	h := newHarness(t, cfg)
	start := time.Now()
	for i := range 200 {
		require.NoError(t, h.c.ConsumeLogs(context.Background(), batch(fmt.Sprint("dev-", i), "Out of memory: Killed process 1")))
	}
	assert.Less(t, time.Since(start), 2*time.Second)
	require.Eventually(t, func() bool {
		return h.sum(t, "otelcol_connector_alert_notifications_dropped", "output", "webhook", "reason", "outbox_full") > 0
	}, 5*time.Second, 10*time.Millisecond)
}

func attributeKey(k string) attribute.Key { return attribute.Key(k) }

// registryStandIn stands in for fleet_control's registry of heartbeats.
type registryStandIn struct {
	component.StartFunc
	component.ShutdownFunc
	last time.Time
}

func (r *registryStandIn) RangeHeartbeats(fn func(device, fleet, site string, last time.Time) bool) {
	fn("kiosk-7", "eu", "lobby", r.last)
}

type hostWith map[component.ID]component.Component

func (h hostWith) GetExtensions() map[component.ID]component.Component { return h }

// TestHeartbeatAbsence: an absence rule on heartbeats reads the fleet
// registry through the host's extensions; without one it never fires and
// the gateway says so.
func TestHeartbeatAbsence(t *testing.T) {
	rules := filepath.Join(t.TempDir(), "rules.yaml")
	require.NoError(t, os.WriteFile(rules, []byte("rules: [{name: gone, type: absence, source: heartbeats, for: 1m}]"), 0o600))
	cfg := createDefaultConfig().(*Config)
	cfg.RulesFile = rules
	cfg.TickInterval = 20 * time.Millisecond
	cfg.Notify.Outbox.Directory = t.TempDir()

	core, logs := observer.New(zapcore.WarnLevel)
	set := connectortest.NewNopSettings(metadata.Type)
	set.Logger = zap.New(core)
	none := &consumertest.LogsSink{}
	conn, err := NewFactory().CreateLogsToLogs(context.Background(), set, cfg, none)
	require.NoError(t, err)
	require.NoError(t, conn.Start(context.Background(), componenttest.NewNopHost()))
	time.Sleep(100 * time.Millisecond) // five ticks
	require.NoError(t, conn.Shutdown(context.Background()))
	assert.Empty(t, alertRecords(none))
	assert.Equal(t, 1, logs.FilterMessageSnippet("never fire").Len())

	sink := &consumertest.LogsSink{}
	conn, err = NewFactory().CreateLogsToLogs(context.Background(), connectortest.NewNopSettings(metadata.Type), cfg, sink)
	require.NoError(t, err)
	host := hostWith{component.MustNewID("fleet_control"): &registryStandIn{last: time.Now().Add(-time.Hour)}}
	require.NoError(t, conn.Start(context.Background(), host))
	t.Cleanup(func() { require.NoError(t, conn.Shutdown(context.Background())) })
	require.Eventually(t, func() bool { return len(alertRecords(sink)) == 1 }, 5*time.Second, 10*time.Millisecond)
	assert.Contains(t, alertRecords(sink)[0].Body().AsString(), "no report from kiosk-7")
}

// findingsStandIn stands in for fleet_control's witness findings.
type findingsStandIn struct {
	component.StartFunc
	component.ShutdownFunc
	mu       sync.Mutex
	findings []fleetproto.WitnessFinding
}

func (f *findingsStandIn) TakeWitnessFindings() []fleetproto.WitnessFinding {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := f.findings
	f.findings = nil
	return out
}

// TestWitnessFindingAlert: the archive's inconsistency with a device's
// checkpoint fires the shipped archive_witness_inconsistent rule, and does
// not count as the device being seen.
func TestWitnessFindingAlert(t *testing.T) {
	cfg := createDefaultConfig().(*Config)
	cfg.Pack = []string{"archive_witness_inconsistent", "device_silent"}
	cfg.TickInterval = 20 * time.Millisecond
	cfg.Notify.Outbox.Directory = t.TempDir()
	sink := &consumertest.LogsSink{}
	conn, err := NewFactory().CreateLogsToLogs(context.Background(), connectortest.NewNopSettings(metadata.Type), cfg, sink)
	require.NoError(t, err)
	src := &findingsStandIn{findings: []fleetproto.WitnessFinding{{
		Device: "atm-1", Problem: "rolled back", At: time.Now(),
		Detail: "the archive is inconsistent with a checkpoint a witness holds: rolled back: checkpoint of 7 records (epoch 0): ...",
	}}}
	require.NoError(t, conn.Start(context.Background(), hostWith{component.MustNewID("fleet_control"): src}))
	t.Cleanup(func() { require.NoError(t, conn.Shutdown(context.Background())) })
	require.Eventually(t, func() bool { return len(alertRecords(sink)) == 1 }, 5*time.Second, 10*time.Millisecond)
	rec := alertRecords(sink)[0]
	rule, _ := rec.Attributes().Get(attrRule)
	dev, _ := rec.Attributes().Get(attrDevice)
	sev, _ := rec.Attributes().Get(attrSeverity)
	assert.Equal(t, "archive_witness_inconsistent", rule.Str())
	assert.Equal(t, "atm-1", dev.Str())
	assert.Equal(t, "critical", sev.Str())
	assert.Equal(t, 0, len(sink.AllLogs())-1, "only the alert record; no record of the device passed on")
}
