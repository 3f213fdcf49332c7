package integration

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// remoteRig is a spoolRig whose gateway runs its fleet_control admin
// listener on a free port and whose agent, the agent-only binary, reports to
// it and serves remote configuration with `--config fleet:DIR`.
type remoteRig struct {
	*spoolRig
	adminAddr   string
	operatorDir string
	agentBin    string
	agentArgs   []string
}

// newRemoteRig builds the rig; agentYAML and gatewayYAML are merged into
// the agent's and the gateway's configuration last.
func newRemoteRig(t *testing.T, agentYAML, gatewayYAML string) *remoteRig {
	t.Helper()
	r := &remoteRig{spoolRig: newSpoolRig(t, agentYAML), agentBin: binary(t, "fleetlog-agent")}
	if gatewayYAML != "" {
		f, err := os.OpenFile(r.gatewayOverlay, os.O_APPEND|os.O_WRONLY, 0)
		require.NoError(t, err)
		_, err = f.WriteString(gatewayYAML)
		require.NoError(t, err)
		require.NoError(t, f.Close())
	}
	r.adminAddr = fmt.Sprintf("localhost:%d", freePort(t))
	certs := filepath.Join(r.dir, "certs")
	out, err := run(t, binary(t, "fleetlogctl"), "certs", "issue", "--dir", certs, "--operator", "ops")
	require.NoError(t, err, out)
	r.operatorDir = filepath.Join(certs, "operators", "ops")
	r.agentEnv["FLEETLOG_CONTROL_URL"] = "https://" + r.adminAddr + "/v1/opamp"
	r.agentEnv["FLEETLOG_CONTROL_HEARTBEAT"] = "1s"
	r.agentArgs = []string{
		"--config", filepath.Join(r.root, "distributions/agent/config.yaml"),
		"--config", r.agentOverlay,
		"--config", "fleet:" + filepath.Join(r.agentEnv["FLEETLOG_DATA_DIR"], "remote"),
	}
	return r
}

func (r *remoteRig) startGateway() {
	r.t.Helper()
	r.gateway = start(r.t, "gateway", r.fleetlog, map[string]string{
		"FLEETLOG_LISTEN":       r.gatewayAddr,
		"FLEETLOG_ADMIN_LISTEN": r.adminAddr,
		"FLEETLOG_TLS_DIR":      filepath.Join(r.dir, "certs", "gateway"),
		"FLEETLOG_DATA_DIR":     filepath.Join(r.dir, "gateway-data"),
		"FLEETLOG_METRICS_PORT": fmt.Sprint(freePort(r.t)),
		"FLEETLOG_HEALTH_ADDR":  r.gatewayHealth,
	}, "--config", filepath.Join(r.root, "distributions/gateway/config.yaml"), "--config", r.gatewayOverlay)
	waitHealthy(r.t, r.gateway, r.gatewayHealth)
}

func (r *remoteRig) startAgent() {
	r.t.Helper()
	r.agent = start(r.t, "agent", r.agentBin, r.agentEnv, r.agentArgs...)
	waitHealthy(r.t, r.agent, r.agentHealth)
}

// fleetctl runs `fleetlogctl fleet ARGS` as the operator.
func (r *remoteRig) fleetctl(args ...string) (string, error) {
	r.t.Helper()
	base := []string{"fleet", "--gateway", "https://" + r.adminAddr, "--cert-dir", r.operatorDir}
	return run(r.t, binary(r.t, "fleetlogctl"), append(base, args...)...)
}

// assign sets a fragment for the rig's fleet.
func (r *remoteRig) assign(name, fragment string) {
	r.t.Helper()
	path := filepath.Join(r.dir, name+".yaml")
	require.NoError(r.t, os.WriteFile(path, []byte(fragment), 0o600))
	out, err := r.fleetctl("config", "set", "--fleet", "it", name, path)
	require.NoError(r.t, err, out)
}

// writeUntil appends numbered lines to path, 100 every 20ms, from line 0
// until stop is closed, and returns how many it wrote.
func writeUntil(t *testing.T, path string, stop <-chan struct{}) int {
	n := 0
	for {
		select {
		case <-stop:
			return n
		default:
		}
		if err := writeNumbered(t, path, n, n+100); err != nil {
			t.Error(err)
			return n
		}
		n += 100
	}
}

// writeNumbered appends "line-N ..." for N in [from, to) to path in chunks,
// one every 20ms.
func writeNumbered(t *testing.T, path string, from, to int) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	defer f.Close()
	var b strings.Builder
	for i := from; i < to; i += 100 {
		b.Reset()
		for n := i; n < min(i+100, to); n++ {
			fmt.Fprintf(&b, "%s%d remote config test\n", spoolLinePrefix, n)
		}
		if _, err := f.WriteString(b.String()); err != nil {
			return err
		}
		time.Sleep(20 * time.Millisecond)
	}
	return nil
}

// TestRemoteConfigAddsAFileGlob: the gateway's operator assigns the fleet a
// fragment with a new file input. The agent verifies it, validates the merged
// configuration with its own binary, reloads while lines are being written,
// and confirms it once delivery goes on; lines from the new glob arrive, and
// every line arrives exactly once across the reload. A fragment that would
// take pii out of the pipeline is refused by the gateway, and one that
// passes the key policy but not the agent's validation is refused by the
// agent, which keeps delivering.
func TestRemoteConfigAddsAFileGlob(t *testing.T) {
	r := newRemoteRig(t, "", "")
	r.startGateway()
	r.startAgent()

	// The writer goes on until the fragment is applied: lines are written
	// before, during and after the reload.
	stop := make(chan struct{})
	written := make(chan int, 1)
	go func() { written <- writeUntil(t, filepath.Join(r.logDir, "app.log"), stop) }()
	const added = 500

	newDir := filepath.Join(r.dir, "extra-logs")
	require.NoError(t, os.MkdirAll(newDir, 0o700))
	r.assign("extra-glob", fmt.Sprintf(`receivers:
  spool:
    files:
      extra:
        include: [%q]
        poll_interval: 50ms
`, filepath.Join(newDir, "*.log")))
	eventually(t, "the fragment on trial", func() bool {
		return strings.Contains(r.agent.Out.String(), "Remote configuration on trial")
	}, r.agent, r.gateway)
	require.NoError(t, writeNumbered(t, filepath.Join(newDir, "new.log"), 100_000, 100_000+added))
	eventually(t, "the remote configuration applied", func() bool {
		return strings.Contains(r.agent.Out.String(), "Remote configuration applied")
	}, r.agent, r.gateway)
	close(stop)
	before := <-written
	require.Greater(t, before, 0)

	eventually(t, "every line at the sink", func() bool {
		d, _ := r.sink.distinct()
		return d == before+added
	}, r.agent, r.gateway)
	time.Sleep(time.Second) // a duplicate would have arrived by now
	distinct, received := r.sink.distinct()
	assert.Equal(t, before+added, distinct)
	// A reload may re-deliver the batch that was out when the old pipeline
	// stopped (at-least-once): that is the same spooled record under the
	// same stamp, which the archive stores once. A line read into the spool
	// a second time would carry a new stamp and be stored twice.
	assert.Empty(t, r.sink.spooledTwice(), "no line read into the spool twice across the reload")
	r.sink.mu.Lock()
	for i := range before {
		if r.sink.lines[i] == 0 {
			t.Errorf("line %d never arrived", i)
			break
		}
	}
	for i := 100_000; i < 100_000+added; i++ {
		if r.sink.lines[i] == 0 {
			t.Errorf("new glob line %d never arrived", i)
			break
		}
	}
	r.sink.mu.Unlock()
	assert.Contains(t, r.agent.Out.String(), "Config updated, restart service", "applied by the collector's reload")
	t.Logf("%d lines before and %d from the new glob, each spooled once across the reload; %d re-delivered records", before, added, received-distinct)
	for _, l := range strings.Split(r.agent.Out.String(), "\n") {
		if strings.Contains(l, "emote configuration") {
			t.Log(l)
		}
	}

	// The gateway refuses a fragment that takes pii out, naming the key.
	path := filepath.Join(r.dir, "no-pii.yaml")
	require.NoError(t, os.WriteFile(path, []byte("service:\n  pipelines:\n    logs:\n      processors: [fleet_metadata]\n"), 0o600))
	out, err := r.fleetctl("config", "set", "--fleet", "it", "no-pii", path)
	require.Error(t, err)
	assert.Contains(t, out, "service::pipelines::logs::processors")

	// Allowed keys, invalid value: the agent's own validation refuses it and
	// the agent keeps running what it ran.
	r.assign("bad-glob", `receivers:
  spool:
    files:
      extra:
        start_at: sometime
`)
	eventually(t, "the agent refusing the invalid fragment", func() bool {
		return strings.Contains(r.agent.Out.String(), "Remote configuration refused")
	}, r.agent, r.gateway)
	assert.Contains(t, r.agent.Out.String(), "merged configuration is invalid")
	require.NoError(t, writeNumbered(t, filepath.Join(newDir, "new.log"), 200_000, 200_100))
	eventually(t, "lines after the refusal", func() bool {
		d, _ := r.sink.distinct()
		return d == before+added+100
	}, r.agent, r.gateway)
}

// TestRemoteConfigThatFailsToStartIsRolledBack: a fragment that validates
// but cannot start (its syslog input's port is taken) makes the agent exit,
// as the collector does when a reload fails; restarted, as systemd restarts
// it, the agent comes back on the last good configuration, says it rolled
// back, and delivers what was written meanwhile.
func TestRemoteConfigThatFailsToStartIsRolledBack(t *testing.T) {
	// Both tiers allow syslog inputs in fragments, for this test only.
	const keys = "      allowed_keys: [receivers::spool::files, receivers::spool::syslog]\n"
	r := newRemoteRig(t,
		"extensions:\n  fleet_agent:\n    remote_config:\n"+keys,
		"extensions:\n  fleet_control:\n    remote_config:\n"+keys)
	r.startGateway()
	r.startAgent()
	path := filepath.Join(r.logDir, "app.log")
	require.NoError(t, writeNumbered(t, path, 0, 1000))
	eventually(t, "the first lines", func() bool { d, _ := r.sink.distinct(); return d == 1000 }, r.agent, r.gateway)

	taken, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer taken.Close()
	r.assign("taken-port", fmt.Sprintf(`receivers:
  spool:
    syslog:
      extra:
        protocol: rfc5424
        tcp:
          listen_address: %s
`, taken.Addr()))
	select {
	case <-r.agent.Done:
	case <-time.After(waitTimeout):
		t.Fatal("the agent kept running a configuration that cannot start")
	}
	assert.Contains(t, r.agent.Out.String(), "address already in use")
	require.NoError(t, writeNumbered(t, path, 1000, 2000)) // while it is down

	r.startAgent()
	eventually(t, "every line after the restart", func() bool { d, _ := r.sink.distinct(); return d == 2000 }, r.agent, r.gateway)
	assert.Contains(t, r.agent.Out.String(), "Remote configuration rolled back")
	eventually(t, "the rollback at the gateway", func() bool {
		out, err := r.fleetctl("show", deviceID, "--output", "json")
		return err == nil && strings.Contains(out, "rolled_back")
	}, r.agent, r.gateway)
	// The gateway keeps offering the same assignment; the agent does not try
	// it again.
	time.Sleep(3 * time.Second)
	assert.False(t, r.agent.exited(), "the agent stays up")
}

// TestControlEndpointDownDeliveryUnaffected: with nothing listening at the
// OpAMP endpoint the agent starts, delivers every line, and only logs that
// it cannot report.
func TestControlEndpointDownDeliveryUnaffected(t *testing.T) {
	r := newRemoteRig(t, "", "")
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	closed := l.Addr().String()
	require.NoError(t, l.Close())
	r.agentEnv["FLEETLOG_CONTROL_URL"] = "https://" + closed + "/v1/opamp"
	r.startGateway()
	r.startAgent()
	require.NoError(t, writeNumbered(t, filepath.Join(r.logDir, "app.log"), 0, 2000))
	eventually(t, "every line", func() bool { d, _ := r.sink.distinct(); return d == 2000 }, r.agent, r.gateway)
	_, received := r.sink.distinct()
	assert.Equal(t, 2000, received)
	assert.NotContains(t, r.agent.Out.String(), "Reporting to the fleet control endpoint")
}

// TestRemoteConfigThatStopsDeliveryIsRolledBack: a fragment that starts but
// sends records nowhere (the exporter's endpoint, unlocked on both tiers for
// this test only) is rolled back by the agent once delivery_timeout passes
// with records spooled and none acknowledged; delivery resumes and every
// line arrives once.
func TestRemoteConfigThatStopsDeliveryIsRolledBack(t *testing.T) {
	const keys = "      allowed_keys: [receivers::spool::files, exporters::otlp_grpc::endpoint]\n" +
		"      unlocked_keys: [exporters::otlp_grpc::endpoint]\n"
	r := newRemoteRig(t,
		"extensions:\n  fleet_agent:\n    remote_config:\n      delivery_timeout: 3s\n"+keys,
		"extensions:\n  fleet_control:\n    remote_config:\n"+keys)
	r.startGateway()
	r.startAgent()
	path := filepath.Join(r.logDir, "app.log")
	require.NoError(t, writeNumbered(t, path, 0, 2000))

	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	nowhere := l.Addr().String()
	require.NoError(t, l.Close())
	r.assign("nowhere", fmt.Sprintf("exporters:\n  otlp_grpc:\n    endpoint: %s\n", nowhere))
	eventually(t, "the fragment on trial", func() bool {
		return strings.Contains(r.agent.Out.String(), "Remote configuration on trial")
	}, r.agent, r.gateway)
	require.NoError(t, writeNumbered(t, path, 2000, 4000)) // spooled, going nowhere
	eventually(t, "the rollback", func() bool {
		return strings.Contains(r.agent.Out.String(), "Rolling back remote configuration")
	}, r.agent, r.gateway)
	require.NoError(t, writeNumbered(t, path, 4000, 5000))
	eventually(t, "every line after the rollback", func() bool { d, _ := r.sink.distinct(); return d == 5000 }, r.agent, r.gateway)
	time.Sleep(time.Second)
	_, received := r.sink.distinct()
	assert.Equal(t, 5000, received, "nothing delivered twice")
	assert.Contains(t, r.agent.Out.String(), "no delivery acknowledged within 3s")
	eventually(t, "the rollback at the gateway", func() bool {
		out, err := r.fleetctl("show", deviceID, "--output", "json")
		return err == nil && strings.Contains(out, "rolled_back")
	}, r.agent, r.gateway)
}
