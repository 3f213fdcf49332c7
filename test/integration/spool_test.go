package integration

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"google.golang.org/grpc"

	"github.com/fleetlog/fleetlog/internal/e2e"
	"github.com/fleetlog/fleetlog/internal/spoolstamp"
)

// spoolSink is an OTLP/gRPC logs server inside the test: the gateway under
// test exports to it, so records are counted exactly instead of being read
// back from the gateway's debug output.
type spoolSink struct {
	plogotlp.UnimplementedGRPCServer
	addr string

	mu    sync.Mutex
	lines map[int]int // "line-N" records by N, with how often each arrived
	// stamps holds, by N, the distinct spool stamps (identity and sequence
	// number) line N arrived with: one stamp for a re-delivery of the same
	// spooled record, which the archive stores once; more for a line read
	// into the spool twice.
	stamps  map[int]map[string]struct{}
	records []plog.LogRecord
	total   int
}

// spoolLinePrefix starts every numbered line the tests write.
const spoolLinePrefix = "line-"

func startSpoolSink(t *testing.T) *spoolSink {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	s := &spoolSink{addr: l.Addr().String(), lines: map[int]int{}, stamps: map[int]map[string]struct{}{}}
	srv := grpc.NewServer()
	plogotlp.RegisterGRPCServer(srv, s)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(l)
	}()
	t.Cleanup(func() {
		srv.Stop()
		<-done
	})
	return s
}

func (s *spoolSink) Export(_ context.Context, req plogotlp.ExportRequest) (plogotlp.ExportResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, rl := range req.Logs().ResourceLogs().All() {
		for _, sl := range rl.ScopeLogs().All() {
			for _, lr := range sl.LogRecords().All() {
				s.total++
				body := lr.Body().AsString()
				if rest, ok := strings.CutPrefix(body, spoolLinePrefix); ok {
					n, err := strconv.Atoi(rest[:strings.IndexByte(rest+" ", ' ')])
					if err == nil {
						s.lines[n]++
						if id, seq, ok := spoolstamp.Read(sl.Scope().Attributes(), lr.Attributes()); ok {
							if s.stamps[n] == nil {
								s.stamps[n] = map[string]struct{}{}
							}
							s.stamps[n][fmt.Sprintf("%s/%d", id, seq)] = struct{}{}
						}
						continue
					}
				}
				c := plog.NewLogRecord()
				lr.CopyTo(c)
				s.records = append(s.records, c)
			}
		}
	}
	return plogotlp.NewExportResponse(), nil
}

// distinct returns how many different numbered lines arrived and how many
// numbered records arrived in all.
func (s *spoolSink) distinct() (distinct, total int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, n := range s.lines {
		total += n
	}
	return len(s.lines), total
}

// spooledTwice returns the numbered lines that arrived under more than one
// spool stamp: lines read into the spool twice, which the archive would
// store twice.
func (s *spoolSink) spooledTwice() []int {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []int
	for n, st := range s.stamps {
		if len(st) > 1 {
			out = append(out, n)
		}
	}
	slices.Sort(out)
	return out
}

func (s *spoolSink) find(pred func(plog.LogRecord) bool) []plog.LogRecord {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []plog.LogRecord
	for _, lr := range s.records {
		if pred(lr) {
			out = append(out, lr)
		}
	}
	return out
}

func bodyContains(sub string) func(plog.LogRecord) bool {
	return func(lr plog.LogRecord) bool { return strings.Contains(lr.Body().AsString(), sub) }
}

// spoolRig is a gateway that exports to a spoolSink and an agent on the
// shipped configs plus a test overlay, each restartable.
type spoolRig struct {
	t        *testing.T
	fleetlog string
	root     string
	dir      string
	sink     *spoolSink

	gatewayAddr, gatewayHealth string
	gatewayOverlay             string
	gateway                    *process

	agentHealth, agentOverlay string
	agentMetrics              int
	agentEnv                  map[string]string
	agent                     *process
	logDir                    string
}

// newSpoolRig issues certificates and writes both overlays; agentYAML is
// merged into the agent's config last.
func newSpoolRig(t *testing.T, agentYAML string) *spoolRig {
	t.Helper()
	r := &spoolRig{
		t:             t,
		fleetlog:      binary(t, "fleetlog"),
		root:          repoRoot(t),
		dir:           t.TempDir(),
		sink:          startSpoolSink(t),
		gatewayAddr:   fmt.Sprintf("127.0.0.1:%d", freePort(t)),
		gatewayHealth: fmt.Sprintf("127.0.0.1:%d", freePort(t)),
		agentHealth:   fmt.Sprintf("127.0.0.1:%d", freePort(t)),
		agentMetrics:  freePort(t),
	}
	certs := filepath.Join(r.dir, "certs")
	issueFleet(t, certs, []string{deviceID}, "--fleet", "it", "--site", "lab")
	r.logDir = filepath.Join(r.dir, "logs")
	require.NoError(t, os.MkdirAll(r.logDir, 0o700))

	// The gateway acknowledges only after the sink has the records: no
	// batch processor and no sending queue between them.
	r.gatewayOverlay = filepath.Join(r.dir, "gateway-sink.yaml")
	require.NoError(t, os.WriteFile(r.gatewayOverlay, fmt.Appendf(nil, `
exporters:
  otlp_grpc/sink:
    endpoint: %s
    tls: {insecure: true}
    compression: none
    sending_queue: {enabled: false}
    retry_on_failure: {enabled: false}
service:
  pipelines:
    logs:
      processors: [memory_limiter]
    logs/archive:
      exporters: [otlp_grpc/sink]
`, r.sink.addr), 0o600))

	r.agentOverlay = filepath.Join(r.dir, "agent-test.yaml")
	require.NoError(t, os.WriteFile(r.agentOverlay, []byte(`
receivers:
  spool:
    batch: {timeout: 100ms}
    retry_on_failure: {initial_interval: 100ms, max_interval: 500ms}
    files:
      # Short enough for the smallest spool a test asks for.
      logs: {poll_interval: 50ms, max_log_size: 64KiB}
`+agentYAML), 0o600))
	r.agentEnv = map[string]string{
		"FLEETLOG_GATEWAY":      strings.Replace(r.gatewayAddr, "127.0.0.1", "localhost", 1),
		"FLEETLOG_TLS_DIR":      filepath.Join(certs, "devices", deviceID),
		"FLEETLOG_DATA_DIR":     filepath.Join(r.dir, "agent-data"),
		"FLEETLOG_DEVICE_ID":    deviceID,
		"FLEETLOG_LOG_GLOB":     filepath.Join(r.logDir, "*.log"),
		"FLEETLOG_SYSLOG_ADDR":  fmt.Sprintf("127.0.0.1:%d", freePort(t)),
		"FLEETLOG_METRICS_PORT": fmt.Sprint(r.agentMetrics),
		"FLEETLOG_HEALTH_ADDR":  r.agentHealth,
	}
	return r
}

func (r *spoolRig) startGateway() {
	r.t.Helper()
	r.gateway = start(r.t, "gateway", r.fleetlog, map[string]string{
		"FLEETLOG_LISTEN":       r.gatewayAddr,
		"FLEETLOG_TLS_DIR":      filepath.Join(r.dir, "certs", "gateway"),
		"FLEETLOG_DATA_DIR":     filepath.Join(r.dir, "gateway-data"),
		"FLEETLOG_METRICS_PORT": fmt.Sprint(freePort(r.t)),
		"FLEETLOG_HEALTH_ADDR":  r.gatewayHealth,
	}, "--config", filepath.Join(r.root, "distributions/gateway/config.yaml"), "--config", r.gatewayOverlay)
	waitHealthy(r.t, r.gateway, r.gatewayHealth)
}

func (r *spoolRig) startAgent() {
	r.t.Helper()
	r.agent = start(r.t, "agent", r.fleetlog, r.agentEnv,
		"--config", filepath.Join(r.root, "distributions/agent/config.yaml"), "--config", r.agentOverlay)
	waitHealthy(r.t, r.agent, r.agentHealth)
}

// killAgent ends the agent with SIGKILL: no shutdown path runs.
func (r *spoolRig) killAgent() {
	r.t.Helper()
	require.NoError(r.t, r.agent.Cmd.Process.Kill())
	<-r.agent.Done
}

// TestSpoolSyslogPeers sends syslog from util-linux logger and from an
// rsyslog relay to the agent's spool and checks every field at the far end.
func TestSpoolSyslogPeers(t *testing.T) {
	octetPort, udpPort := freePort(t), freePort(t)
	r := newSpoolRig(t, fmt.Sprintf(`
    syslog:
      tcp_octet:
        protocol: rfc5424
        enable_octet_counting: true
        tcp: {listen_address: "127.0.0.1:%d"}
      udp_bsd:
        protocol: rfc3164
        location: UTC
        udp: {listen_address: "127.0.0.1:%d"}
`, octetPort, udpPort))
	r.startGateway()
	r.startAgent()
	attrs := func(lr plog.LogRecord) map[string]any { return lr.Attributes().AsRaw() }

	t.Run("logger over TCP with octet counting, RFC 5424", func(t *testing.T) {
		marker := newMarker("tcp5424")
		out, err := run(t, "logger", "--tcp", "--octet-count", "--rfc5424", "-n", "127.0.0.1", "-P", fmt.Sprint(octetPort),
			"-t", "billing", "--id=4242", "--msgid", "ORD7", "-p", "local3.err",
			"--sd-id", "order@32473", "--sd-param", `id="991"`, marker)
		require.NoError(t, err, out)
		var got []plog.LogRecord
		eventually(t, marker, func() bool { got = r.sink.find(bodyContains(marker)); return len(got) > 0 }, r.agent, r.gateway)
		a := attrs(got[0])
		host, _ := os.Hostname()
		assert.Equal(t, host, a["hostname"])
		assert.Equal(t, "billing", a["appname"])
		assert.Equal(t, "4242", a["proc_id"])
		assert.Equal(t, "ORD7", a["msg_id"])
		assert.Equal(t, int64(19), a["facility"])
		assert.Equal(t, map[string]any{"id": "991"}, a["structured_data"].(map[string]any)["order@32473"])
		assert.Equal(t, plog.SeverityNumberError, got[0].SeverityNumber())
		assert.Equal(t, time.UTC, got[0].Timestamp().AsTime().Location())
		assert.WithinDuration(t, time.Now(), got[0].Timestamp().AsTime(), time.Minute)
		assert.NotZero(t, got[0].ObservedTimestamp())
	})

	t.Run("logger over UDP, RFC 3164", func(t *testing.T) {
		marker := newMarker("udp3164")
		out, err := run(t, "logger", "--udp", "--rfc3164", "-n", "127.0.0.1", "-P", fmt.Sprint(udpPort),
			"-t", "sshd", "--id=77", "-p", "auth.warning", marker)
		require.NoError(t, err, out)
		var got []plog.LogRecord
		eventually(t, marker, func() bool { got = r.sink.find(bodyContains(marker)); return len(got) > 0 }, r.agent, r.gateway)
		a := attrs(got[0])
		assert.NotEmpty(t, a["hostname"])
		assert.Equal(t, "sshd", a["appname"])
		assert.Equal(t, "77", a["proc_id"])
		assert.Equal(t, int64(4), a["facility"])
		assert.Equal(t, plog.SeverityNumberWarn, got[0].SeverityNumber())
		assert.WithinDuration(t, time.Now(), got[0].Timestamp().AsTime(), time.Minute)
	})

	t.Run("rsyslog relays with omfwd over TCP", func(t *testing.T) {
		// Debian installs it in /usr/sbin, which a user's PATH may lack.
		rsyslogd, err := exec.LookPath("rsyslogd")
		if err != nil {
			rsyslogd, err = exec.LookPath("/usr/sbin/rsyslogd")
		}
		require.NoError(t, err, "rsyslogd is missing: .ci/run installs the rsyslog package")
		relayPort := freePort(t)
		dir := t.TempDir()
		conf := filepath.Join(dir, "rsyslog.conf")
		require.NoError(t, os.WriteFile(conf, fmt.Appendf(nil, `
global(workDirectory="%s")
module(load="imudp")
input(type="imudp" address="127.0.0.1" port="%d")
*.* action(type="omfwd" target="127.0.0.1" port="%d" protocol="tcp"
           tcp_framing="octet-counted" template="RSYSLOG_SyslogProtocol23Format")
`, dir, relayPort, octetPort), 0o600))
		relay := exec.Command(rsyslogd, "-n", "-f", conf, "-i", filepath.Join(dir, "rsyslogd.pid"))
		relayOut := &e2e.Buffer{}
		relay.Stdout, relay.Stderr = relayOut, relayOut
		require.NoError(t, relay.Start())
		relayDone := make(chan struct{})
		go func() { _ = relay.Wait(); close(relayDone) }()
		t.Cleanup(func() {
			_ = relay.Process.Kill()
			<-relayDone
			if t.Failed() {
				t.Logf("---- rsyslogd output ----\n%s", relayOut.String())
			}
		})

		marker := newMarker("rsyslog")
		var got []plog.LogRecord
		// UDP to a relay that may still be starting: resend until it arrives.
		eventually(t, marker+" via rsyslog", func() bool {
			if got = r.sink.find(bodyContains(marker)); len(got) > 0 {
				return true
			}
			_, _ = run(t, "logger", "--udp", "--rfc5424", "-n", "127.0.0.1", "-P", fmt.Sprint(relayPort),
				"-t", "relayed", "--id=31337", "--msgid", "RLY", "-p", "daemon.info",
				"--sd-id", "relay@32473", "--sd-param", `hop="1"`, marker)
			time.Sleep(200 * time.Millisecond)
			return false
		}, r.agent, r.gateway)
		a := attrs(got[0])
		assert.NotEmpty(t, a["hostname"])
		assert.Equal(t, "relayed", a["appname"])
		assert.Equal(t, "31337", a["proc_id"])
		assert.Equal(t, "RLY", a["msg_id"])
		assert.Equal(t, int64(3), a["facility"])
		assert.Equal(t, map[string]any{"hop": "1"}, a["structured_data"].(map[string]any)["relay@32473"])
		assert.Equal(t, plog.SeverityNumberInfo, got[0].SeverityNumber())
	})
}

// TestSpoolCrashNoLoss tails a file a writer appends 200,000 numbered lines
// to while the agent is SIGKILLed and restarted several times and the
// gateway is down for a while; every line must reach the sink.
func TestSpoolCrashNoLoss(t *testing.T) {
	const total = 200_000
	r := newSpoolRig(t, "")
	r.startGateway()
	r.startAgent()

	path := filepath.Join(r.logDir, "app.log")
	writerDone := make(chan error, 1)
	go func() {
		f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
		if err != nil {
			writerDone <- err
			return
		}
		defer f.Close()
		// 200 chunks of 1,000 lines, one every 50ms: about 10 s of writing.
		var b strings.Builder
		for chunk := range total / 1000 {
			b.Reset()
			for i := chunk * 1000; i < (chunk+1)*1000; i++ {
				fmt.Fprintf(&b, "%s%06d payload for the crash test\n", spoolLinePrefix, i)
			}
			if _, err := f.WriteString(b.String()); err != nil {
				writerDone <- err
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
		writerDone <- nil
	}()

	start := time.Now()
	at := func(d time.Duration) { time.Sleep(time.Until(start.Add(d))) }
	at(2 * time.Second)
	r.killAgent()
	r.startAgent()
	at(4 * time.Second)
	r.gateway.stop(t)
	at(5 * time.Second)
	r.killAgent() // while the gateway is down: unacknowledged batches are in the spool
	r.startAgent()
	at(8 * time.Second)
	r.startGateway()
	at(9 * time.Second)
	r.killAgent()
	r.startAgent()
	require.NoError(t, <-writerDone)
	r.killAgent() // after the last line was written
	r.startAgent()

	eventually(t, "all lines at the sink", func() bool {
		d, _ := r.sink.distinct()
		return d == total
	}, r.agent, r.gateway)
	distinct, received := r.sink.distinct()
	r.sink.mu.Lock()
	for i := range total {
		if r.sink.lines[i] == 0 {
			t.Errorf("line %d is missing", i)
			break
		}
	}
	r.sink.mu.Unlock()
	dup := float64(received-distinct) / float64(total)
	t.Logf("crash test: %d lines written, %d distinct received, %d duplicates (%.2f%% duplicate rate), %s",
		total, distinct, received-distinct, 100*dup, time.Since(start).Round(time.Second))
	assert.Equal(t, total, distinct)
}

// spoolBatchRecords is the shipped agent config's spool batch::max_records.
const spoolBatchRecords = 2048

// TestSpoolFullDisk fills a 1MiB spool while the gateway is down: debug
// lines are evicted before error lines, the agent keeps running, and once the
// gateway is up the loss record arrives with every error line.
func TestSpoolFullDisk(t *testing.T) {
	spoolFullDisk(t, false)
}

// TestSpoolFullDiskRestart is TestSpoolFullDisk with the agent stopped and
// started again while the gateway is away, so what the spool holds must come
// back from disk.
func TestSpoolFullDiskRestart(t *testing.T) {
	spoolFullDisk(t, true)
}

func spoolFullDisk(t *testing.T, restart bool) {
	port := freePort(t)
	r := newSpoolRig(t, fmt.Sprintf(`
    max_size: 1MiB
    syslog:
      tcp:
        tcp: {max_log_size: 64KiB}
      tcp_octet:
        protocol: rfc5424
        enable_octet_counting: true
        tcp: {listen_address: "127.0.0.1:%d", max_log_size: 64KiB}
`, port))
	r.startAgent() // no gateway yet

	pad := strings.Repeat("d", 700)
	send := func(priority string, lines []string) {
		t.Helper()
		cmd := exec.Command("logger", "--tcp", "--octet-count", "--rfc5424", "-n", "127.0.0.1", "-P", fmt.Sprint(port), "-t", "full", "-p", priority)
		cmd.Stdin = strings.NewReader(strings.Join(lines, "\n") + "\n")
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, string(out))
	}
	var errorsSent []string
	for round := range 3 {
		var debug []string
		for i := range 1000 {
			debug = append(debug, fmt.Sprintf("debug-%d-%d %s", round, i, pad))
		}
		send("user.debug", debug)
		var errs []string
		for i := range 10 {
			errs = append(errs, fmt.Sprintf("error-%d-%d disk controller fault", round, i))
		}
		send("user.err", errs)
		errorsSent = append(errorsSent, errs...)
	}
	eventually(t, "evictions", func() bool {
		return counter(t, r.agentMetrics, "otelcol_spool_evicted_records") > 0
	}, r.agent)
	require.False(t, r.agent.exited(), "the agent survives a full spool")
	if restart {
		// logger is done once the kernel took its bytes; wait until the
		// agent has read every line off the socket (appended or dropped, plus
		// loss records) and settled, or the stop would cut lines it never had.
		var last float64
		eventually(t, "every line taken in", func() bool {
			n := counter(t, r.agentMetrics, "otelcol_spool_appended_records")
			settled := n >= 3030 && n == last
			last = n
			return settled
		}, r.agent)
		// A stop while the gateway is away is not held up by retries (stop
		// fails the test after 15s), and the spool outlives the restart.
		stopping := time.Now()
		r.agent.stop(t)
		t.Logf("agent stopped in %s with the gateway down", time.Since(stopping).Round(time.Millisecond))
		r.startAgent()
	}

	r.startGateway()
	eventually(t, "the loss record", func() bool {
		return len(r.sink.find(bodyContains("spool full: dropped"))) > 0
	}, r.agent, r.gateway)
	eventually(t, "every error line", func() bool {
		return len(r.sink.find(bodyContains("disk controller fault"))) >= len(errorsSent)
	}, r.agent, r.gateway)
	for _, e := range errorsSent {
		assert.Len(t, r.sink.find(bodyContains(e)), 1, e)
	}
	loss := r.sink.find(bodyContains("spool full: dropped"))
	assert.Equal(t, plog.SeverityNumberWarn, loss[0].SeverityNumber())
	dropped, ok := loss[0].Attributes().Get("fleetlog.spool.dropped_records")
	require.True(t, ok)
	assert.Positive(t, dropped.Int())
	debugArrived := len(r.sink.find(bodyContains("debug-")))
	var reported int64
	for _, lr := range loss {
		n, _ := lr.Attributes().Get("fleetlog.spool.dropped_records")
		reported += n.Int()
	}
	// Every debug line either arrived or is accounted for by a loss record.
	// A record that was out for delivery when its segment was evicted is
	// reported as dropped (a crash before its acknowledgement would lose it)
	// and still arrives when the delivery succeeds, so the report may
	// overstate the loss by at most one batch.
	accounted := int64(debugArrived) + reported
	assert.GreaterOrEqual(t, accounted, int64(3000), "debug lines arrived + reported dropped")
	assert.LessOrEqual(t, accounted, int64(3000+spoolBatchRecords), "overstated by more than one batch")
	t.Logf("full disk: 3000 debug and %d error lines sent; %d debug lines survived; %d loss records reporting %d dropped",
		len(errorsSent), debugArrived, len(loss), reported)
	assert.Less(t, debugArrived, 3000, "debug lines were evicted")
}
