package integration

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"

	"github.com/fleetlog/fleetlog/internal/archive"
	"github.com/fleetlog/fleetlog/internal/e2e"
	"github.com/fleetlog/fleetlog/internal/spoolstamp"
)

// The Kafka tier's tests: real agents (bin/fleetlog-agent) → intake gateways
// (distributions/intake) → a Kafka broker in this test process (kfake, over
// mutual TLS 1.3) → an archiver (distributions/archiver) → its archive.

const (
	// kafkaTopic is the topic the tier's roles are pointed at; seeded with
	// kafkaPartitions partitions, so that one device's batches keep their
	// order only because they are keyed by the device.
	kafkaTopic      = "fleetlog_it"
	kafkaPartitions = 4
	// kafkaClient is the certificate intake gateways and the archiver
	// present to the brokers.
	kafkaClient = "kafka-client"
	// kafkaWait bounds each wait of these tests.
	kafkaWait = 45 * time.Second
)

// kafkaTier is a broker, its certificates, and the tier's processes.
type kafkaTier struct {
	t          *testing.T
	root, dir  string
	certs      string
	fleetlog   string
	agentBin   string
	ports      []int
	brokerData string
	cluster    *kfake.Cluster

	archiveData     string
	archiver        *process
	archiverMetrics int
	archivers       int
	// group is the archiver's FLEETLOG_KAFKA_GROUP; "" for the default.
	group string
}

// newKafkaTier issues the fleet's certificates (devices, and kafkaClient)
// and starts a broker of brokers nodes on fixed loopback ports, persisting
// to a directory so that it can be stopped and started again.
func newKafkaTier(t *testing.T, brokers int, devices ...string) *kafkaTier {
	t.Helper()
	k := &kafkaTier{
		t:        t,
		root:     repoRoot(t),
		dir:      t.TempDir(),
		fleetlog: binary(t, "fleetlog"),
		agentBin: binary(t, "fleetlog-agent"),
	}
	k.certs = filepath.Join(k.dir, "certs")
	issueFleet(t, k.certs, append([]string{kafkaClient}, devices...), "--fleet", "it", "--site", "lab")
	for range brokers {
		k.ports = append(k.ports, freePort(t))
	}
	k.brokerData = filepath.Join(k.dir, "kafka")
	k.archiveData = filepath.Join(k.dir, "archiver-data")
	k.startBroker()
	t.Cleanup(k.stopBroker)
	return k
}

// startBroker starts the cluster on its ports, from its data directory.
// Clients must present a certificate of the fleet CA (as kafkaClient does).
func (k *kafkaTier) startBroker() {
	k.t.Helper()
	cfg := &tls.Config{
		Certificates: []tls.Certificate{loadKeyPair(k.t, filepath.Join(k.certs, "gateway"))},
		ClientCAs:    loadPool(k.t, filepath.Join(k.certs, "gateway", "ca.pem")),
		ClientAuth:   tls.RequireAndVerifyClientCert,
		MinVersion:   tls.VersionTLS13,
	}
	c, err := kfake.NewCluster(
		kfake.Ports(k.ports...),
		kfake.TLS(cfg),
		kfake.DataDir(k.brokerData),
		kfake.SyncWrites(),
		kfake.SeedTopics(kafkaPartitions, kafkaTopic),
		// What the intake role's producer::max_message_bytes allows.
		kfake.BrokerConfigs(map[string]string{"message.max.bytes": "16777216"}),
	)
	require.NoError(k.t, err)
	k.cluster = c
}

func (k *kafkaTier) stopBroker() {
	if k.cluster != nil {
		k.cluster.Close()
		k.cluster = nil
	}
}

// brokers is FLEETLOG_KAFKA_BROKERS: every node, comma-separated.
func (k *kafkaTier) brokers() string {
	addrs := make([]string, len(k.ports))
	for i, p := range k.ports {
		addrs[i] = fmt.Sprintf("127.0.0.1:%d", p)
	}
	return strings.Join(addrs, ",")
}

func (k *kafkaTier) kafkaEnv(env map[string]string) map[string]string {
	env["FLEETLOG_KAFKA_BROKERS"] = k.brokers()
	env["FLEETLOG_KAFKA_TOPIC"] = kafkaTopic
	env["FLEETLOG_KAFKA_TLS_DIR"] = filepath.Join(k.certs, "devices", kafkaClient)
	return env
}

// partitionsByKey reads the whole topic with a Kafka client of its own and
// returns, per message key, the partitions holding messages of that key.
func (k *kafkaTier) partitionsByKey() map[string]map[int32]int {
	k.t.Helper()
	cl, err := kgo.NewClient(
		kgo.SeedBrokers(strings.Split(k.brokers(), ",")...),
		kgo.DialTLSConfig(&tls.Config{
			RootCAs:      loadPool(k.t, filepath.Join(k.certs, "gateway", "ca.pem")),
			Certificates: []tls.Certificate{loadKeyPair(k.t, filepath.Join(k.certs, "devices", kafkaClient))},
			MinVersion:   tls.VersionTLS13,
		}),
		kgo.ConsumeTopics(kafkaTopic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
	)
	require.NoError(k.t, err)
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), kafkaWait)
	defer cancel()
	ends, err := kadm.NewClient(cl).ListEndOffsets(ctx, kafkaTopic)
	require.NoError(k.t, err)
	require.NoError(k.t, ends.Error())
	// remaining is, per partition, how many messages are still to be read.
	remaining := map[int32]int64{}
	ends.Each(func(o kadm.ListedOffset) {
		if o.Offset > 0 {
			remaining[o.Partition] = o.Offset
		}
	})
	byKey := map[string]map[int32]int{}
	for len(remaining) > 0 {
		fetches := cl.PollFetches(ctx)
		require.NoError(k.t, ctx.Err(), "reading topic %s: %d partitions not read to their end", kafkaTopic, len(remaining))
		fetches.EachRecord(func(r *kgo.Record) {
			if byKey[string(r.Key)] == nil {
				byKey[string(r.Key)] = map[int32]int{}
			}
			byKey[string(r.Key)][r.Partition]++
			if n, ok := ends[kafkaTopic][r.Partition]; ok && r.Offset+1 >= n.Offset {
				delete(remaining, r.Partition)
			}
		})
	}
	return byKey
}

// intake is a running intake gateway.
type intake struct {
	*process
	id      string
	addr    string // host:port the gateway's certificate names
	health  string
	metrics int
}

// startIntake starts an intake gateway on the shipped config, stamping id as
// fleet.gateway.id, and waits until it is healthy.
func (k *kafkaTier) startIntake(id string) *intake {
	k.t.Helper()
	port := freePort(k.t)
	in := &intake{
		id:      id,
		addr:    fmt.Sprintf("localhost:%d", port),
		health:  fmt.Sprintf("127.0.0.1:%d", freePort(k.t)),
		metrics: freePort(k.t),
	}
	in.process = start(k.t, id, k.fleetlog, k.kafkaEnv(map[string]string{
		"FLEETLOG_LISTEN":       fmt.Sprintf("127.0.0.1:%d", port),
		"FLEETLOG_TLS_DIR":      filepath.Join(k.certs, "gateway"),
		"FLEETLOG_DENY_LIST":    filepath.Join(k.dir, "denied-devices.txt"),
		"FLEETLOG_GATEWAY_ID":   id,
		"FLEETLOG_METRICS_PORT": fmt.Sprint(in.metrics),
		"FLEETLOG_HEALTH_ADDR":  in.health,
	}), "--config", filepath.Join(k.root, "distributions", "intake", "config.yaml"))
	waitHealthy(k.t, in.process, in.health)
	return in
}

// startArchiver starts (or starts again) the archiver on the shipped config,
// always on the same archive, and waits until it is healthy.
func (k *kafkaTier) startArchiver() *process {
	k.t.Helper()
	k.archivers++
	health := fmt.Sprintf("127.0.0.1:%d", freePort(k.t))
	k.archiverMetrics = freePort(k.t)
	env := k.kafkaEnv(map[string]string{
		"FLEETLOG_TLS_DIR":    filepath.Join(k.certs, "gateway"),
		"FLEETLOG_DATA_DIR":   k.archiveData,
		"FLEETLOG_GATEWAY_ID": "archiver",
		// Static membership, as deploy/kubernetes/archiver-deployment.yaml
		// sets it: a restart takes the partitions back without waiting
		// for the killed member's session to time out.
		"FLEETLOG_KAFKA_INSTANCE_ID": "archiver-1",
		"FLEETLOG_METRICS_PORT":      fmt.Sprint(k.archiverMetrics),
		"FLEETLOG_HEALTH_ADDR":       health,
	})
	if k.group != "" {
		env["FLEETLOG_KAFKA_GROUP"] = k.group
	}
	k.archiver = start(k.t, fmt.Sprintf("archiver-%d", k.archivers), k.fleetlog, env,
		"--config", filepath.Join(k.root, "distributions", "archiver", "config.yaml"))
	waitHealthy(k.t, k.archiver, health)
	return k.archiver
}

func (k *kafkaTier) archiveDir() string { return filepath.Join(k.archiveData, "archive") }

// kafkaAgent is a running agent and the numbered lines it is given.
type kafkaAgent struct {
	*process
	device  string
	metrics int
	w       *e2e.LogWriter
}

// startAgent starts bin/fleetlog-agent on the shipped config as device,
// sending to gateway (host:port), with env on top of its defaults and the
// overlay files given.
func (k *kafkaTier) startAgent(device, gateway string, env map[string]string, overlays ...string) *kafkaAgent {
	k.t.Helper()
	dir := filepath.Join(k.dir, device)
	logDir := filepath.Join(dir, "logs")
	require.NoError(k.t, os.MkdirAll(logDir, 0o700))
	a := &kafkaAgent{
		device:  device,
		metrics: freePort(k.t),
		w:       &e2e.LogWriter{Dir: logDir, Prefix: device + "-", Chunk: 500, Pause: 40 * time.Millisecond},
	}
	health := fmt.Sprintf("127.0.0.1:%d", freePort(k.t))
	full := map[string]string{
		"FLEETLOG_GATEWAY":      gateway,
		"FLEETLOG_CONTROL_URL":  "none",
		"FLEETLOG_TLS_DIR":      filepath.Join(k.certs, "devices", device),
		"FLEETLOG_DATA_DIR":     filepath.Join(dir, "data"),
		"FLEETLOG_DEVICE_ID":    device,
		"FLEETLOG_DEVICE_FILE":  filepath.Join(dir, "no-device-file.yaml"),
		"FLEETLOG_LOG_GLOB":     filepath.Join(logDir, "app.log*"),
		"FLEETLOG_SYSLOG_ADDR":  fmt.Sprintf("127.0.0.1:%d", freePort(k.t)),
		"FLEETLOG_METRICS_PORT": fmt.Sprint(a.metrics),
		"FLEETLOG_HEALTH_ADDR":  health,
	}
	for key, v := range env {
		full[key] = v
	}
	args := []string{"--config", filepath.Join(k.root, "distributions", "agent", "config.yaml")}
	for _, o := range overlays {
		args = append(args, "--config", o)
	}
	a.process = start(k.t, device, k.agentBin, full, args...)
	waitHealthy(k.t, a.process, health)
	return a
}

// writeLines writes each agent's lines up to total, all at once, and
// returns when every writer is done.
func writeLines(total int, agents ...*kafkaAgent) error {
	var wg sync.WaitGroup
	errs := make([]error, len(agents))
	for i, a := range agents {
		wg.Add(1)
		go func() {
			defer wg.Done()
			a.w.Total = total
			errs[i] = a.w.Run(context.Background())
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// waitArchived waits until the archive holds at least n records.
func (k *kafkaTier) waitArchived(n int64, what string, procs ...*process) {
	k.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), kafkaWait)
	defer cancel()
	var got int64
	var watch []*e2e.Process
	for _, p := range procs {
		watch = append(watch, p.Process)
	}
	err := e2e.Wait(ctx, 100*time.Millisecond, func() bool {
		var err error
		got, err = e2e.StoredRecords(k.archiveDir())
		return err == nil && got >= n
	}, watch...)
	require.NoError(k.t, err, "%s: %d of %d records archived", what, got, n)
}

// assertEveryLineOnce counts each agent's lines in the archive: every line
// written is there, none twice.
func (k *kafkaTier) assertEveryLineOnce(agents ...*kafkaAgent) int {
	k.t.Helper()
	counted := 0
	for _, a := range agents {
		counts, err := e2e.CountLines(k.archiveDir(), a.w.Prefix)
		require.NoError(k.t, err)
		written := a.w.Written()
		distinct, missing, dups := counts.Tally(written)
		k.t.Logf("%s: lines written %d, in the archive %d, missing %d, duplicates %d", a.device, written, distinct, missing, dups)
		assert.Zero(k.t, missing, "%s: first missing %v", a.device, counts.FirstMissing(written, 10))
		assert.Zero(k.t, dups, "%s: first duplicates %v", a.device, counts.FirstDuplicates(written, 10))
		assert.Zero(k.t, counts.SameStamp, "%s: one spooled record stored twice", a.device)
		counted += distinct
	}
	return counted
}

// archivedLogs decodes every frame of the archive in dir: the OTLP requests
// as the archive stored them, resources, scopes and every record field.
func archivedLogs(t *testing.T, dir string) []plog.Logs {
	t.Helper()
	dec, err := zstd.NewReader(nil)
	require.NoError(t, err)
	defer dec.Close()
	var out []plog.Logs
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".fla") {
			return err
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		frames, _, _ := archive.ParseFrames(data)
		for _, f := range frames {
			raw, err := dec.DecodeAll(f.Payload, nil)
			if err != nil {
				return fmt.Errorf("%s frame %d: %w", p, f.Seq, err)
			}
			req := plogotlp.NewExportRequest()
			if err := req.UnmarshalProto(raw); err != nil {
				return fmt.Errorf("%s frame %d: %w", p, f.Seq, err)
			}
			out = append(out, req.Logs())
		}
		return nil
	})
	require.NoError(t, err)
	return out
}

// archivedRecord is one stored record with its resource and scope.
type archivedRecord struct {
	resource                    pcommon.Resource
	scope                       pcommon.InstrumentationScope
	resourceSchema, scopeSchema string
	record                      plog.LogRecord
}

// eachArchived calls fn with every record of the archive in dir.
func eachArchived(t *testing.T, dir string, fn func(archivedRecord)) {
	t.Helper()
	for _, logs := range archivedLogs(t, dir) {
		for _, rl := range logs.ResourceLogs().All() {
			for _, sl := range rl.ScopeLogs().All() {
				for _, lr := range sl.LogRecords().All() {
					fn(archivedRecord{rl.Resource(), sl.Scope(), rl.SchemaUrl(), sl.SchemaUrl(), lr})
				}
			}
		}
	}
}

func str(m pcommon.Map, key string) string {
	v, ok := m.Get(key)
	if !ok {
		return "<absent>"
	}
	return v.AsString()
}

// deviceIdentity tallies, per device line prefix, the identity and intake
// gateway of its archived records.
type deviceIdentity struct {
	// seen counts records by "device.id|fleet.name|fleet.site|claimed".
	seen map[string]int
	// gateways counts records by fleet.gateway.id.
	gateways map[string]int
	// after counts, by fleet.gateway.id, records of lines >= from.
	after map[string]int
}

func identities(t *testing.T, dir, prefix string, from int) deviceIdentity {
	t.Helper()
	id := deviceIdentity{seen: map[string]int{}, gateways: map[string]int{}, after: map[string]int{}}
	eachArchived(t, dir, func(r archivedRecord) {
		rest, ok := strings.CutPrefix(r.record.Body().AsString(), prefix)
		if !ok {
			return
		}
		res := r.resource.Attributes()
		id.seen[strings.Join([]string{str(res, "device.id"), str(res, "fleet.name"), str(res, "fleet.site"), str(res, "fleet.claimed.device.id")}, "|")]++
		gw := str(res, "fleet.gateway.id")
		id.gateways[gw]++
		var n int
		if _, err := fmt.Sscanf(rest, "%d", &n); err == nil && n >= from {
			id.after[gw]++
		}
		_, _, stamped := spoolstamp.Read(r.scope.Attributes(), r.record.Attributes())
		assert.True(t, stamped, "record without a spool stamp: %s", r.record.Body().AsString())
	})
	return id
}

// richLogs is one record with every field OTLP has set, attributes of every
// type on the resource, the scope and the record, and a map body.
func richLogs(marker string) plog.Logs {
	logs := plog.NewLogs()
	rl := logs.ResourceLogs().AppendEmpty()
	rl.SetSchemaUrl("https://opentelemetry.io/schemas/1.26.0")
	putAll(rl.Resource().Attributes(), "res")
	rl.Resource().Attributes().PutStr("service.name", "billing")
	rl.Resource().SetDroppedAttributesCount(1)
	sl := rl.ScopeLogs().AppendEmpty()
	sl.SetSchemaUrl("https://opentelemetry.io/schemas/1.26.0")
	sl.Scope().SetName("it.scope")
	sl.Scope().SetVersion("1.2.3")
	sl.Scope().SetDroppedAttributesCount(2)
	putAll(sl.Scope().Attributes(), "scope")
	lr := sl.LogRecords().AppendEmpty()
	lr.SetTimestamp(pcommon.NewTimestampFromTime(time.Now().Add(-time.Minute)))
	lr.SetObservedTimestamp(pcommon.NewTimestampFromTime(time.Now()))
	lr.SetSeverityNumber(plog.SeverityNumberError2)
	lr.SetSeverityText("ERROR2")
	lr.SetEventName("it.event")
	lr.SetTraceID(pcommon.TraceID{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16})
	lr.SetSpanID(pcommon.SpanID{8, 7, 6, 5, 4, 3, 2, 1})
	lr.SetFlags(plog.DefaultLogRecordFlags.WithIsSampled(true))
	lr.SetDroppedAttributesCount(3)
	body := lr.Body().SetEmptyMap()
	body.PutStr("msg", marker)
	body.PutInt("attempt", 3)
	putAll(lr.Attributes(), "rec")
	return logs
}

// putAll puts an attribute of each value type under prefix.
func putAll(m pcommon.Map, prefix string) {
	m.PutStr(prefix+".str", "value with spaces and ünïcode")
	m.PutInt(prefix+".int", -42)
	m.PutDouble(prefix+".double", 3.25)
	m.PutBool(prefix+".bool", true)
	m.PutEmptyBytes(prefix + ".bytes").FromRaw([]byte{0, 1, 2, 254, 255})
	s := m.PutEmptySlice(prefix + ".slice")
	s.AppendEmpty().SetStr("a")
	s.AppendEmpty().SetInt(2)
	inner := m.PutEmptyMap(prefix + ".map")
	inner.PutStr("k", "v")
	inner.PutEmptySlice("empty")
	m.PutEmpty(prefix + ".empty")
}

// TestKafkaTier: two agents, each through its own intake gateway, into one
// topic on a two-node broker, and an archiver that is SIGKILLed mid-stream
// and started again. Every line is in the archive once, with its device's
// identity from the certificate and the intake gateway that took it, and a
// record with every OTLP field set arrives unchanged but for what the
// intake gateway stamps. Then the topic is consumed again from its start
// into the same archive: nothing spooled is stored twice.
func TestKafkaTier(t *testing.T) {
	const (
		devA, devB, direct = "kt-dev-a", "kt-dev-b", "kt-direct"
		perAgent           = 30_000
	)
	k := newKafkaTier(t, 2, devA, devB, direct)
	inA := k.startIntake("intake-a")
	inB := k.startIntake("intake-b")
	k.startArchiver()

	// Every field survives the hop.
	marker := newMarker("kafka-rich")
	sent := richLogs(marker)
	cfg := &tls.Config{
		RootCAs:      loadPool(t, filepath.Join(k.certs, "gateway", "ca.pem")),
		ServerName:   "localhost",
		Certificates: []tls.Certificate{loadKeyPair(t, filepath.Join(k.certs, "devices", direct))},
	}
	require.NoError(t, exportLogs(t, inA.addr, cfg, sent))

	a := k.startAgent(devA, inA.addr, nil)
	b := k.startAgent(devB, inB.addr, nil)
	writing := make(chan error, 1)
	go func() { writing <- writeLines(perAgent, a, b) }()

	// The archiver killed while records stream in: whatever it wrote and
	// had not yet committed is read again.
	k.waitArchived(10_000, "records before the archiver is killed", k.archiver)
	k.archiver.Kill()
	killedAt := time.Now()
	before, err := e2e.StoredRecords(k.archiveDir())
	require.NoError(t, err)
	k.startArchiver()
	restarted := time.Since(killedAt)
	require.NoError(t, <-writing)
	k.waitArchived(2*perAgent+1, "every line after the archiver's restart", k.archiver, inA.process, inB.process, a.process, b.process)
	t.Logf("archiver SIGKILLed at %d records archived; restarted and healthy after %s; all %d records archived %s after the kill; "+
		"re-read after the restart and skipped as stored: %.0f",
		before, restarted.Round(time.Millisecond), 2*perAgent+1, time.Since(killedAt).Round(time.Millisecond),
		counter(t, k.archiverMetrics, "otelcol_archive_records_duplicate"))
	// A quiet moment for any late re-delivery.
	time.Sleep(time.Second)

	counted := k.assertEveryLineOnce(a, b)
	assert.Equal(t, 2*perAgent, counted)
	for _, tt := range []struct {
		agent   *kafkaAgent
		gateway string
	}{{a, inA.id}, {b, inB.id}} {
		id := identities(t, k.archiveDir(), tt.agent.w.Prefix, 0)
		assert.Equal(t, map[string]int{tt.agent.device + "|it|lab|<absent>": perAgent}, id.seen, tt.agent.device)
		assert.Equal(t, map[string]int{tt.gateway: perAgent}, id.gateways, tt.agent.device)
	}

	var got []archivedRecord
	eachArchived(t, k.archiveDir(), func(r archivedRecord) {
		if r.record.Body().Type() != pcommon.ValueTypeMap {
			return
		}
		if v, ok := r.record.Body().Map().Get("msg"); ok && v.Str() == marker {
			got = append(got, r)
		}
	})
	require.Len(t, got, 1, "the record with every field")
	assertSameRecord(t, sent, got[0], direct, inA.id)

	// Each message is keyed by its device, so each device's batches are
	// on one partition, in the order the device sent them.
	byKey := k.partitionsByKey()
	assert.Len(t, byKey, 3, "keys: %v", byKey)
	for _, dev := range []string{devA, devB, direct} {
		assert.Len(t, byKey[dev], 1, "%s's messages are on one partition: %v", dev, byKey[dev])
	}

	// The whole topic consumed again into the same archive, by an archiver
	// of a new consumer group: every spooled record is recognised as
	// stored and skipped. The record sent without a spool stamp is stored
	// again: the archive cannot tell it from a new one.
	k.archiver.Kill()
	k.group = "fleetlog-archiver-replay"
	k.startArchiver()
	eventually(t, "the replayed topic skipped as stored", func() bool {
		return counter(t, k.archiverMetrics, "otelcol_archive_records_duplicate") >= 2*perAgent
	}, k.archiver)
	k.waitArchived(2*perAgent+2, "the unstamped record stored again", k.archiver)
	time.Sleep(time.Second)
	assert.Equal(t, float64(2*perAgent), counter(t, k.archiverMetrics, "otelcol_archive_records_duplicate"))
	stored, err := e2e.StoredRecords(k.archiveDir())
	require.NoError(t, err)
	assert.Equal(t, int64(2*perAgent+2), stored)
	assert.Equal(t, 2*perAgent, k.assertEveryLineOnce(a, b), "after the replay")
}

// assertSameRecord compares the one record of sent with its archived copy:
// equal in every field, the resource with the intake gateway's stamps added.
func assertSameRecord(t *testing.T, sent plog.Logs, got archivedRecord, device, gateway string) {
	t.Helper()
	rl := sent.ResourceLogs().At(0)
	sl := rl.ScopeLogs().At(0)
	want := sl.LogRecords().At(0)

	res := rl.Resource().Attributes().AsRaw()
	res["device.id"] = device
	res["fleet.name"] = "it"
	res["fleet.site"] = "lab"
	res["fleet.gateway.id"] = gateway
	gotRes := got.resource.Attributes().AsRaw()
	assert.NotEmpty(t, gotRes["fleet.gateway.received_time"])
	res["fleet.gateway.received_time"] = gotRes["fleet.gateway.received_time"]
	assert.Equal(t, res, gotRes, "resource attributes")
	assert.Equal(t, rl.Resource().DroppedAttributesCount(), got.resource.DroppedAttributesCount())
	assert.Equal(t, rl.SchemaUrl(), got.resourceSchema)
	assert.Equal(t, sl.SchemaUrl(), got.scopeSchema)
	assert.Equal(t, sl.Scope().DroppedAttributesCount(), got.scope.DroppedAttributesCount())

	assert.Equal(t, sl.Scope().Name(), got.scope.Name())
	assert.Equal(t, sl.Scope().Version(), got.scope.Version())
	assert.Equal(t, sl.Scope().Attributes().AsRaw(), got.scope.Attributes().AsRaw(), "scope attributes")

	r := got.record
	assert.Equal(t, want.Timestamp(), r.Timestamp())
	assert.Equal(t, want.ObservedTimestamp(), r.ObservedTimestamp())
	assert.Equal(t, want.SeverityNumber(), r.SeverityNumber())
	assert.Equal(t, want.SeverityText(), r.SeverityText())
	assert.Equal(t, want.EventName(), r.EventName())
	assert.Equal(t, want.TraceID(), r.TraceID())
	assert.Equal(t, want.SpanID(), r.SpanID())
	assert.Equal(t, want.Flags(), r.Flags())
	assert.Equal(t, want.DroppedAttributesCount(), r.DroppedAttributesCount())
	assert.Equal(t, want.Body().AsRaw(), r.Body().AsRaw(), "body")
	assert.Equal(t, want.Attributes().AsRaw(), r.Attributes().AsRaw(), "record attributes")
}

// TestKafkaBrokerOutage stops the broker while an agent keeps writing: the
// intake gateway acknowledges nothing while the broker is away, the agent's
// exports fail and it keeps its batches in its spool, retrying, and once
// the broker is back every line is archived once.
//
// The idempotent producer cannot fail a batch whose produce request was on
// its way when the broker went (it may be stored), nor, to keep the
// partition's order, anything produced after it: the device's export waits
// for its own timeout and is retried from the spool. This test shortens that
// timeout from the shipped 30s to 5s so as not to wait half a minute for the
// first failure; it changes only when the device notices.
func TestKafkaBrokerOutage(t *testing.T) {
	const dev = "kt-dev-outage"
	k := newKafkaTier(t, 1, dev)
	in := k.startIntake("intake-o")
	k.startArchiver()
	overlay := filepath.Join(k.dir, "agent-timeout.yaml")
	require.NoError(t, os.WriteFile(overlay, []byte("exporters:\n  otlp_grpc:\n    timeout: 5s\n"), 0o600))
	a := k.startAgent(dev, in.addr, nil, overlay)

	require.NoError(t, writeLines(10_000, a))
	k.waitArchived(10_000, "lines before the outage", k.archiver, in.process, a.process)

	accepted := func() float64 { return counter(t, in.metrics, "otelcol_receiver_accepted_log_records") }
	// At least once: a batch the agent sent again (its answer late) counts twice.
	eventually(t, "the intake gateway counting what it acknowledged", func() bool { return accepted() >= 10_000 }, in.process)
	acknowledged := accepted()
	k.stopBroker()
	stoppedAt := time.Now()
	require.NoError(t, writeLines(20_000, a))
	eventually(t, "the agent seeing its exports fail", func() bool {
		return counter(t, a.metrics, "otelcol_exporter_send_failed_log_records") > 0
	}, in.process, a.process)
	failedAfter := time.Since(stoppedAt)
	failed := counter(t, a.metrics, "otelcol_exporter_send_failed_log_records")
	eventually(t, "the agent retrying from its spool and failing again", func() bool {
		return counter(t, a.metrics, "otelcol_exporter_send_failed_log_records") > failed
	}, in.process, a.process)
	eventually(t, "the agent's spool holding the lines written during the outage", func() bool {
		return counter(t, a.metrics, "otelcol_spool_records") >= 10_000
	}, in.process, a.process)
	stored, err := e2e.StoredRecords(k.archiveDir())
	require.NoError(t, err)
	assert.Less(t, stored, int64(20_000), "lines written during the outage cannot all be archived")
	assert.Equal(t, acknowledged, accepted(), "the intake gateway acknowledged nothing while Kafka was away")

	k.startBroker()
	backAt := time.Now()
	k.waitArchived(20_000, "every line after the broker is back", k.archiver, in.process, a.process)
	t.Logf("broker down %s; the agent's first failed export after %s; all 20000 lines archived %s after the broker came back",
		backAt.Sub(stoppedAt).Round(time.Millisecond), failedAfter.Round(time.Millisecond), time.Since(backAt).Round(time.Millisecond))
	time.Sleep(time.Second)
	assert.Equal(t, 20_000, k.assertEveryLineOnce(a))
}

// TestIntakesBehindHAProxy runs HAProxy (TCP mode) in front of two intake
// gateways: TLS passes through, so each record's device.id is its
// certificate's even when the agent claims another; SIGKILL the gateway an
// agent is connected to, and it reconnects through HAProxy to the other
// one, losing nothing.
func TestIntakesBehindHAProxy(t *testing.T) {
	haproxy, err := exec.LookPath("haproxy")
	require.NoError(t, err, "haproxy is needed (apt-get install -y haproxy)")
	const (
		dev1, dev2 = "kt-lb-1", "kt-lb-2"
		total      = 20_000 // lines per agent
	)
	k := newKafkaTier(t, 1, dev1, dev2)
	inA := k.startIntake("intake-a")
	inB := k.startIntake("intake-b")
	k.startArchiver()

	lbPort := freePort(t)
	cfgPath := filepath.Join(k.dir, "haproxy.cfg")
	require.NoError(t, os.WriteFile(cfgPath, []byte(haproxyConfig(lbPort, inA, inB)), 0o600))
	out, err := run(t, haproxy, "-c", "-f", cfgPath)
	require.NoError(t, err, out)
	lb := start(t, "haproxy", haproxy, nil, "-db", "-f", cfgPath)
	eventually(t, "haproxy listening", func() bool {
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", lbPort), time.Second)
		if err == nil {
			c.Close()
		}
		return err == nil
	}, lb)

	gateway := fmt.Sprintf("localhost:%d", lbPort)
	// dev1 claims to be someone else: the archive must say what its
	// certificate says, which only a gateway that saw the device's own
	// TLS handshake can know.
	a1 := k.startAgent(dev1, gateway, map[string]string{"FLEETLOG_DEVICE_ID": "not-" + dev1})
	a2 := k.startAgent(dev2, gateway, nil)
	for _, a := range []*kafkaAgent{a1, a2} {
		a.w.Pause = 200 * time.Millisecond // 500 lines each 200ms: about 8s of writing
	}
	writing := make(chan error, 1)
	go func() { writing <- writeLines(total, a1, a2) }()

	// Mid-stream, kill the gateway dev1 is connected to.
	var first deviceIdentity
	eventually(t, "dev1's first lines archived", func() bool {
		first = identities(t, k.archiveDir(), a1.w.Prefix, 0)
		return len(first.gateways) > 0
	}, k.archiver, lb, inA.process, inB.process, a1.process, a2.process)
	require.Len(t, first.gateways, 1, "dev1 used one gateway: %v", first.gateways)
	victim, survivor := inA, inB
	if first.gateways[inB.id] > 0 {
		victim, survivor = inB, inA
	}
	victim.Kill()
	killedAt := time.Now()
	from1, from2 := a1.w.Written(), a2.w.Written()
	require.NoError(t, <-writing)
	writtenAt := time.Now()
	require.Less(t, from1, total, "the gateway was killed before the agents' last lines were written")
	k.waitArchived(2*total, "every line after a gateway was killed", k.archiver, lb, survivor.process, a1.process, a2.process)
	t.Logf("killed %s (dev1's gateway) with %d and %d of %d lines written; all %d lines archived %s after the kill, %s after the last was written",
		victim.id, from1, from2, total, 2*total, time.Since(killedAt).Round(time.Millisecond), time.Since(writtenAt).Round(time.Millisecond))
	time.Sleep(time.Second)

	assert.Equal(t, 2*total, k.assertEveryLineOnce(a1, a2))
	id1 := identities(t, k.archiveDir(), a1.w.Prefix, from1)
	assert.Equal(t, map[string]int{dev1 + "|it|lab|not-" + dev1: total}, id1.seen, "dev1's identity is its certificate's")
	assert.Equal(t, map[string]int{survivor.id: total - from1}, id1.after, "dev1's lines written after the kill went through the other gateway")
	id2 := identities(t, k.archiveDir(), a2.w.Prefix, from2)
	assert.Equal(t, map[string]int{dev2 + "|it|lab|<absent>": total}, id2.seen)
	assert.Equal(t, map[string]int{survivor.id: total - from2}, id2.after)
}

// haproxyConfig fronts the two intake gateways in TCP mode, as the example
// in deploy/haproxy does: health from each gateway's health_check endpoint,
// and a connection the chosen gateway refuses is tried on the other.
func haproxyConfig(port int, a, b *intake) string {
	server := func(in *intake) string {
		_, healthPort, _ := net.SplitHostPort(in.health)
		_, listenPort, _ := net.SplitHostPort(in.addr)
		return fmt.Sprintf("    server %s 127.0.0.1:%s check port %s\n", in.id, listenPort, healthPort)
	}
	return `global
    maxconn 1000

defaults
    mode tcp
    timeout connect 2s
    timeout client 10m
    timeout server 10m
    retries 2
    option redispatch

frontend otlp
    bind 127.0.0.1:` + fmt.Sprint(port) + `
    default_backend intake

backend intake
    balance leastconn
    option httpchk GET /
    default-server inter 500ms fall 2 rise 2 on-marked-down shutdown-sessions
` + server(a) + server(b)
}
