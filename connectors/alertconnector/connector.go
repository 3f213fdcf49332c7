package alertconnector // import "github.com/fleetlog/fleetlog/connectors/alertconnector"

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/connector"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap"

	"github.com/fleetlog/fleetlog/connectors/alertconnector/internal/metadata"
	"github.com/fleetlog/fleetlog/connectors/alertconnector/internal/notify"
	"github.com/fleetlog/fleetlog/connectors/alertconnector/internal/outbox"
	"github.com/fleetlog/fleetlog/internal/alert"
	"github.com/fleetlog/fleetlog/internal/filewatch"
	"github.com/fleetlog/fleetlog/internal/fleetproto"
)

// ScopeName is the instrumentation scope of alert records.
const ScopeName = alert.RecordScope

// emitTimeout bounds how long alert records wait for the archive: one that
// refuses or stalls for longer loses them from the archive (counted in
// records_emit_errors), never the notifications, and never holds up the
// next tick.
const emitTimeout = 10 * time.Second

// Attributes of an alert record.
const (
	attrStatus      = "alert.status"
	attrRule        = "alert.rule"
	attrType        = "alert.type"
	attrSeverity    = "alert.severity"
	attrFingerprint = "alert.fingerprint"
	attrDevice      = "alert.device.id"
	attrFleet       = "alert.fleet.name"
	attrSite        = "alert.fleet.site"
	attrCount       = "alert.count"
	attrWindow      = "alert.window"
	attrStartsAt    = "alert.starts_at"
	attrEndsAt      = "alert.ends_at"
	attrFirst       = "alert.first_record"
	attrLast        = "alert.last_record"
	attrEvidence    = "alert.evidence"
	attrLabels      = "alert.labels"
)

type alertConnector struct {
	cfg    *Config
	set    connector.Settings
	next   consumer.Logs
	engine *alert.Engine
	tb     *metadata.TelemetryBuilder

	dispatcher *notify.Dispatcher
	watcher    *filewatch.Watcher
	stop       chan struct{}
	// done ends with Shutdown: the context of what the ticker and the
	// rules watcher emit, so that a downstream that retries (an archive
	// that refuses) lets them stop.
	done    context.Context
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	started bool
	// heartbeats is set once the engine reads the fleet registry's
	// heartbeats (Start).
	heartbeats bool
	// checkpoints publishes the archive's checkpoints (fleet_control) when
	// the syslog output takes them, and lastCheckpoint is the one sent
	// last; the ticker's.
	checkpoints    fleetproto.CheckpointSource
	lastCheckpoint []byte
	// findings are the archive's witness findings (fleet_control), read
	// at every tick; nil without fleet_control.
	findings fleetproto.WitnessFindingSource

	ruleOpts sync.Map  // rule name → metric.MeasurementOption
	batches  sync.Pool // *batchRecords
}

func newAlertConnector(set connector.Settings, cfg *Config, next consumer.Logs) (*alertConnector, error) {
	rules, err := cfg.loadRules()
	if err != nil {
		return nil, err
	}
	eng, err := alert.NewEngine(rules, alert.WithLimits(alert.Limits{
		MaxGroups: cfg.Limits.MaxGroups, MaxDevices: cfg.Limits.MaxDevices, MaxFleets: cfg.Limits.MaxFleets,
	}))
	if err != nil {
		return nil, err
	}
	tb, err := metadata.NewTelemetryBuilder(set.TelemetrySettings)
	if err != nil {
		return nil, err
	}
	done, cancel := context.WithCancel(context.Background())
	return &alertConnector{cfg: cfg, set: set, next: next, engine: eng, tb: tb, stop: make(chan struct{}), done: done, cancel: cancel}, nil
}

// Capabilities: records are read, never changed.
func (c *alertConnector) Capabilities() consumer.Capabilities {
	return consumer.Capabilities{MutatesData: false}
}

// Start opens the outboxes and starts delivery, the ticker and the rules
// file watcher.
func (c *alertConnector) Start(ctx context.Context, host component.Host) error {
	if src := heartbeatSource(host); src != nil {
		c.engine.SetHeartbeats(heartbeats{src})
		c.heartbeats = true
	}
	c.warnNoHeartbeats()
	c.findings = witnessFindingSource(host)
	if c.cfg.Notify.Syslog.HasValue() && c.cfg.Notify.Syslog.Get().Checkpoints {
		if c.checkpoints = checkpointSource(host); c.checkpoints == nil {
			c.set.Logger.Warn("'notify::syslog::checkpoints' is on, but no extension publishes the archive's checkpoints (fleet_control does, with the archive exporter): none are sent")
		}
	}
	outputs, err := c.outputs(ctx, host)
	if err != nil {
		return err
	}
	silences := make([]notify.Silence, 0, len(c.cfg.Notify.Silences))
	for _, s := range c.cfg.Notify.Silences {
		silences = append(silences, notify.Silence{Matchers: s.Matchers, StartsAt: s.StartsAt, EndsAt: s.EndsAt})
	}
	c.dispatcher = notify.New(notify.Config{
		QueueSize: c.cfg.Notify.QueueSize, RepeatInterval: c.cfg.Notify.RepeatInterval, Silences: silences,
		Evidence: func(a alert.Alert) string { return a.EvidenceCommand(c.cfg.ArchiveDir) },
	}, outputs, &telemetry{tb: c.tb}, c.set.Logger)
	for _, o := range outputs {
		c.tb.ConnectorAlertNotificationsQueued.Add(ctx, int64(o.Outbox.Len()), outputOpt(o.Name))
	}
	c.dispatcher.Start()
	if c.cfg.RulesFile != "" && c.cfg.ReloadInterval > 0 {
		c.watcher = filewatch.New(c.cfg.RulesFile, c.cfg.ReloadInterval, c.reload)
		c.watcher.Start()
	}
	c.started = true
	c.wg.Add(1)
	go c.tick()
	return nil
}

func (c *alertConnector) outputs(ctx context.Context, host component.Host) ([]*notify.Output, error) {
	n := &c.cfg.Notify
	var outs []*notify.Output
	open := func(name string) (*outbox.Outbox, error) {
		ob, err := outbox.Open(filepath.Join(n.Outbox.Directory, name), n.Outbox.MaxEntries)
		if err != nil {
			return nil, fmt.Errorf("alert output %s: %w", name, err)
		}
		return ob, nil
	}
	for _, h := range []struct {
		name string
		cfg  *HTTPOutputConfig
	}{
		{"webhook", n.Webhook.Get()},
		{"slack", n.Slack.Get()},
		{"alertmanager", n.Alertmanager.Get()},
	} {
		if h.cfg == nil {
			continue
		}
		client, err := h.cfg.HTTP.ToClient(ctx, host.GetExtensions(), c.set.TelemetrySettings)
		if err != nil {
			return nil, fmt.Errorf("alert output %s: %w", h.name, err)
		}
		var s notify.Sender
		switch h.name {
		case "webhook":
			s = notify.NewWebhook(client, h.cfg.HTTP.Endpoint)
		case "slack":
			s = notify.NewSlack(client, h.cfg.HTTP.Endpoint)
		default:
			s = notify.NewAlertmanager(client, h.cfg.HTTP.Endpoint, n.GeneratorURL)
		}
		ob, err := open(h.name)
		if err != nil {
			return nil, err
		}
		outs = append(outs, &notify.Output{Name: h.name, Sender: s, Outbox: ob, Retry: retryOf(h.cfg.Retry.InitialInterval,
			h.cfg.Retry.MaxInterval, h.cfg.Retry.Multiplier, h.cfg.Retry.RandomizationFactor, h.cfg.Retry.MaxElapsedTime),
			PerMinute: h.cfg.RateLimitPerMinute, Timeout: h.cfg.HTTP.Timeout})
	}
	if s := n.Syslog.Get(); s != nil {
		tlsCfg, err := s.TLS.LoadTLSConfig(ctx)
		if err != nil {
			return nil, fmt.Errorf("alert output syslog: %w", err)
		}
		if tlsCfg == nil {
			return nil, fmt.Errorf("alert output syslog: 'tls::insecure' is not allowed: syslog goes over TLS")
		}
		host := s.Hostname
		if host == "" {
			host, _ = os.Hostname()
		}
		ob, err := open("syslog")
		if err != nil {
			return nil, err
		}
		outs = append(outs, &notify.Output{Name: "syslog",
			Sender: &notify.SyslogSender{Addr: s.Endpoint, TLS: tlsCfg, Timeout: s.Timeout,
				Params: notify.SyslogParams{Facility: s.Facility, Hostname: host, AppName: "fleetlog", Version: c.set.BuildInfo.Version}},
			Outbox: ob, Retry: retryOf(s.Retry.InitialInterval, s.Retry.MaxInterval, s.Retry.Multiplier, s.Retry.RandomizationFactor, s.Retry.MaxElapsedTime),
			PerMinute: s.RateLimitPerMinute, Timeout: s.Timeout, Checkpoints: s.Checkpoints})
	}
	return outs, nil
}

func retryOf(initial, maxInterval time.Duration, mult, rnd float64, maxElapsed time.Duration) notify.Retry {
	return notify.Retry{InitialInterval: initial, MaxInterval: maxInterval, Multiplier: mult, Randomization: rnd, MaxElapsed: maxElapsed}
}

// Shutdown stops every goroutine; safe without Start.
func (c *alertConnector) Shutdown(context.Context) error {
	c.cancel()
	if c.started {
		close(c.stop)
		c.wg.Wait()
		if c.watcher != nil {
			c.watcher.Stop()
		}
		c.dispatcher.Shutdown()
		c.started = false
	}
	c.tb.Shutdown()
	return nil
}

// ConsumeLogs evaluates the rules, then passes the records on unchanged.
// Notifications are only queued here (never blocking); alert records
// follow the batch to the next consumer.
func (c *alertConnector) ConsumeLogs(ctx context.Context, ld plog.Logs) error {
	b, _ := c.batches.Get().(*batchRecords)
	if b == nil {
		b = newBatchRecords()
	}
	b.ld = ld
	alerts := c.engine.Observe(time.Now(), b.eachFn)
	b.reset()
	c.batches.Put(b)
	err := c.next.ConsumeLogs(ctx, ld)
	c.handle(ctx, alerts)
	return err
}

// batchRecords yields a batch's records to the engine. It is pooled, with
// its iterator made once (eachFn), its Record and its Attrs: handed to the
// engine, a closure and what it captures would be allocated per batch.
type batchRecords struct {
	ld     plog.Logs
	r      alert.Record
	attrs  alert.PdataAttrs
	eachFn func(yield func(*alert.Record) bool)
}

func newBatchRecords() *batchRecords {
	b := &batchRecords{}
	b.r.Attrs = &b.attrs
	b.eachFn = b.each
	return b
}

// reset drops what points into the batch.
func (b *batchRecords) reset() {
	b.ld = plog.Logs{}
	b.r = alert.Record{Attrs: &b.attrs}
	b.attrs = alert.PdataAttrs{}
}

func (b *batchRecords) each(yield func(*alert.Record) bool) {
	r := &b.r
	rls := b.ld.ResourceLogs()
	for i := 0; i < rls.Len(); i++ {
		rl := rls.At(i)
		res := rl.Resource().Attributes()
		// fleet_metadata puts the identity on the resource.
		r.Identity = alert.ResourceIdentity(res)
		r.IdentityKnown = true
		sls := rl.ScopeLogs()
		for j := 0; j < sls.Len(); j++ {
			lrs := sls.At(j).LogRecords()
			for k := 0; k < lrs.Len(); k++ {
				lr := lrs.At(k)
				r.Time = lr.Timestamp().AsTime()
				if lr.Timestamp() == 0 {
					r.Time = lr.ObservedTimestamp().AsTime()
					if lr.ObservedTimestamp() == 0 {
						r.Time = time.Time{}
					}
				}
				r.Severity = lr.SeverityNumber()
				r.Body = alert.ValueString(lr.Body())
				b.attrs.Record, b.attrs.Resource = lr.Attributes(), res
				if !yield(r) {
					return
				}
			}
		}
	}
}

// handle records, counts and queues alerts.
func (c *alertConnector) handle(ctx context.Context, alerts []alert.Alert) {
	if len(alerts) == 0 {
		return
	}
	for _, a := range alerts {
		opt := c.ruleOpt(a.Rule)
		if a.Status == alert.StatusFiring {
			c.tb.ConnectorAlertAlertsFired.Add(ctx, 1, opt)
			c.tb.ConnectorAlertAlertsFiring.Add(ctx, 1, opt)
		} else {
			c.tb.ConnectorAlertAlertsFiring.Add(ctx, -1, opt)
		}
	}
	c.dispatcher.Enqueue(alerts)
	ctx, cancel := context.WithTimeout(ctx, emitTimeout)
	defer cancel()
	if err := c.next.ConsumeLogs(ctx, c.records(alerts)); err != nil {
		c.tb.ConnectorAlertRecordsEmitErrors.Add(ctx, int64(len(alerts)))
		c.set.Logger.Warn("Alert records not stored", zap.Int("alerts", len(alerts)), zap.Error(err))
	}
}

// records renders alerts as log records.
func (c *alertConnector) records(alerts []alert.Alert) plog.Logs {
	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	rl.Resource().Attributes().PutStr("service.name", "fleetlog-alert")
	sl := rl.ScopeLogs().AppendEmpty()
	sl.Scope().SetName(ScopeName)
	sl.Scope().SetVersion(c.set.BuildInfo.Version)
	now := pcommon.NewTimestampFromTime(time.Now())
	for _, a := range alerts {
		lr := sl.LogRecords().AppendEmpty()
		lr.SetObservedTimestamp(now)
		ts := a.StartsAt
		if a.Status == alert.StatusResolved {
			ts = a.EndsAt
		}
		lr.SetTimestamp(pcommon.NewTimestampFromTime(ts))
		switch {
		case a.Status == alert.StatusResolved || a.Severity == alert.SeverityInfo:
			lr.SetSeverityNumber(plog.SeverityNumberInfo)
		case a.Severity == alert.SeverityCritical:
			lr.SetSeverityNumber(plog.SeverityNumberError)
		default:
			lr.SetSeverityNumber(plog.SeverityNumberWarn)
		}
		lr.SetSeverityText(lr.SeverityNumber().String())
		n := notify.FromAlert(a, "", a.StartsAt)
		lr.Body().SetStr(n.Title())
		at := lr.Attributes()
		at.PutStr(attrStatus, string(a.Status))
		at.PutStr(attrRule, a.Rule)
		at.PutStr(attrType, string(a.Type))
		at.PutStr(attrSeverity, string(a.Severity))
		at.PutStr(attrFingerprint, a.Fingerprint)
		for k, v := range map[string]string{attrDevice: a.Device, attrFleet: a.Fleet, attrSite: a.Site} {
			if v != "" {
				at.PutStr(k, v)
			}
		}
		at.PutInt(attrCount, a.Count)
		at.PutStr(attrWindow, a.Window.String())
		at.PutStr(attrStartsAt, a.StartsAt.UTC().Format(time.RFC3339Nano))
		if a.Status == alert.StatusResolved {
			at.PutStr(attrEndsAt, a.EndsAt.UTC().Format(time.RFC3339Nano))
		}
		if !a.FirstRecord.IsZero() {
			at.PutStr(attrFirst, a.FirstRecord.UTC().Format(time.RFC3339Nano))
			at.PutStr(attrLast, a.LastRecord.UTC().Format(time.RFC3339Nano))
		}
		at.PutStr(attrEvidence, a.EvidenceCommand(c.cfg.ArchiveDir))
		labels := at.PutEmptyMap(attrLabels)
		for k, v := range a.Labels {
			labels.PutStr(k, v)
		}
	}
	return ld
}

func (c *alertConnector) tick() {
	defer c.wg.Done()
	t := time.NewTicker(c.cfg.TickInterval)
	defer t.Stop()
	for {
		select {
		case <-c.stop:
			return
		case now := <-t.C:
			ctx := c.done
			if c.checkpoints != nil {
				c.forwardCheckpoint()
			}
			if c.findings != nil {
				if f := c.findings.TakeWitnessFindings(); len(f) > 0 {
					c.handle(ctx, c.engine.Observe(now, witnessRecords(f)))
				}
			}
			c.handle(ctx, c.engine.Tick(now))
			for _, rc := range c.engine.TakeCounts() {
				opt := c.ruleOpt(rc.Rule)
				if rc.Evaluations > 0 {
					c.tb.ConnectorAlertRuleEvaluations.Add(ctx, rc.Evaluations, opt)
				}
				if rc.Matches > 0 {
					c.tb.ConnectorAlertRuleMatches.Add(ctx, rc.Matches, opt)
				}
			}
		}
	}
}

// reload re-reads the rules; a file that fails keeps the rules in force.
func (c *alertConnector) reload() {
	ctx := c.done
	rules, err := c.cfg.loadRules()
	if err == nil {
		var resolved []alert.Alert
		resolved, err = c.engine.Reload(rules, time.Now())
		if err == nil {
			c.handle(ctx, resolved)
		}
	}
	if err != nil {
		c.tb.ConnectorAlertRulesReloads.Add(ctx, 1, metric.WithAttributeSet(attribute.NewSet(attribute.String("result", "error"))))
		c.set.Logger.Error("Alert rules not reloaded; the previous rules stay in force", zap.String("rules_file", c.cfg.RulesFile), zap.Error(err))
		return
	}
	c.tb.ConnectorAlertRulesReloads.Add(ctx, 1, metric.WithAttributeSet(attribute.NewSet(attribute.String("result", "ok"))))
	c.set.Logger.Info("Alert rules reloaded", zap.Strings("rules", c.engine.Rules()))
	c.warnNoHeartbeats()
}

// warnNoHeartbeats says so when rules count heartbeats that this gateway
// does not have: those rules never fire, the others work as before.
func (c *alertConnector) warnNoHeartbeats() {
	if !c.heartbeats && c.engine.UsesHeartbeats() {
		c.set.Logger.Warn("Absence rules with 'source: heartbeats' never fire on this gateway", zap.Error(ErrNoHeartbeats))
	}
}

func (c *alertConnector) ruleOpt(rule string) metric.MeasurementOption {
	if v, ok := c.ruleOpts.Load(rule); ok {
		return v.(metric.MeasurementOption)
	}
	opt := metric.WithAttributeSet(attribute.NewSet(attribute.String("rule", rule)))
	c.ruleOpts.Store(rule, opt)
	return opt
}

func outputOpt(name string) metric.MeasurementOption {
	return metric.WithAttributeSet(attribute.NewSet(attribute.String("output", name)))
}

// telemetry adapts the dispatcher's counts to the component's metrics.
type telemetry struct{ tb *metadata.TelemetryBuilder }

func (t *telemetry) Sent(o string, n int) {
	t.tb.ConnectorAlertNotificationsSent.Add(context.Background(), int64(n), outputOpt(o))
}

func (t *telemetry) Failed(o string, n int) {
	t.tb.ConnectorAlertNotificationsFailed.Add(context.Background(), int64(n), outputOpt(o))
}

func (t *telemetry) Retried(o string) {
	t.tb.ConnectorAlertNotificationsRetries.Add(context.Background(), 1, outputOpt(o))
}

func (t *telemetry) Queued(o string, d int) {
	t.tb.ConnectorAlertNotificationsQueued.Add(context.Background(), int64(d), outputOpt(o))
}

func (t *telemetry) Dropped(o, reason string, n int) {
	t.tb.ConnectorAlertNotificationsDropped.Add(context.Background(), int64(n),
		metric.WithAttributeSet(attribute.NewSet(attribute.String("output", o), attribute.String("reason", reason))))
}

func (t *telemetry) Silenced(n int) {
	t.tb.ConnectorAlertNotificationsSilenced.Add(context.Background(), int64(n))
}
