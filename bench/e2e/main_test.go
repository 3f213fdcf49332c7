package main

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fleetlog/fleetlog/bench/internal/fixture"
	"github.com/fleetlog/fleetlog/bench/internal/peer"
	"github.com/fleetlog/fleetlog/bench/internal/report"
)

func TestSelectPipelines(t *testing.T) {
	t.Parallel()
	o := options{agentConfig: "agent.yaml", configDir: "configs", only: "a,b"}
	both, err := selectPipelines(o)
	require.NoError(t, err)
	require.Len(t, both, 2)
	assert.Equal(t, []string{"agent.yaml", "configs/fleetlog.yaml"}, both[0].configs)
	assert.Equal(t, []string{"configs/contrib.yaml"}, both[1].configs)

	o.only = "b"
	onlyB, err := selectPipelines(o)
	require.NoError(t, err)
	require.Len(t, onlyB, 1)
	assert.Equal(t, "(b) contrib", onlyB[0].name)

	o.only, o.agentBin = "a, b", "bin/fleetlog-agent"
	three, err := selectPipelines(o)
	require.NoError(t, err)
	require.Len(t, three, 3)
	assert.Equal(t, "(a) fleetlog-agent", three[2].name)
	assert.Equal(t, "bin/fleetlog-agent", three[2].bin)
	assert.Equal(t, both[0].configs, three[2].configs)

	o.only = "c,e"
	_, err = selectPipelines(o)
	assert.ErrorContains(t, err, "-only")
}

func TestSelectPipelinesSkipsAnAbsentPeer(t *testing.T) {
	t.Parallel()
	o := options{configDir: "configs", only: "b,c,d", rsyslog: "/nonexistent/rsyslogd", syslogNG: "/nonexistent/syslog-ng"}
	pipes, err := selectPipelines(o)
	require.NoError(t, err)
	require.Len(t, pipes, 1, "both peers are left out")
	assert.Equal(t, "(b) contrib", pipes[0].name)

	o.only = "c"
	_, err = selectPipelines(o)
	assert.ErrorContains(t, err, "no pipeline")
}

func TestGoalLines(t *testing.T) {
	t.Parallel()
	sums := []report.Summary{
		{Pipeline: "(a) fleetlog", LinesPerCPUSecond: 400_000, PeakRSS: 30 << 20, CPU: time.Second, DiskWrite: 100 << 20},
		{Pipeline: "(b) contrib", LinesPerCPUSecond: 30_000, PeakRSS: 90 << 20, CPU: time.Second, Leaked: 2},
		{Pipeline: "(a) fleetlog-agent", LinesPerCPUSecond: 400_000, PeakRSS: 39 << 20, CPU: time.Second, DiskWrite: 120 << 20},
		{Pipeline: "(c) rsyslog", LinesPerCPUSecond: 250_000, PeakRSS: 10 << 20, CPU: time.Second, Leaked: 90, Lost: 97},
	}
	got := goalLines(sums, 100<<20)
	require.Len(t, got, 13, "%q", got)
	assert.Contains(t, got[0], "(a) fleetlog ≥ 15× (b) contrib in lines per agent CPU-second: 13.33× — NOT met")
	assert.Contains(t, got[1], "(a) fleetlog ≥ 2× (c) rsyslog in lines per agent CPU-second: 1.60× — NOT met")
	assert.Contains(t, got[2], "(a) fleetlog: agent peak RSS ≤ 35 MiB during the run: 30.0 MiB — met")
	assert.Contains(t, got[3], "(a) fleetlog-agent: agent peak RSS ≤ 35 MiB during the run: 39.0 MiB — NOT met")
	assert.Contains(t, got[4], "(a) fleetlog: written to disk ≤ 1.1× the workload's bytes: 1.00× (100.0 MiB for 100.0 MiB) — met")
	assert.Contains(t, got[5], "1.20× (120.0 MiB for 100.0 MiB) — NOT met")
	assert.Contains(t, got[6], "(a) fleetlog: no planted secret reaches the sink: 0 leaked lines — met")
	assert.Contains(t, got[7], "(b) contrib: no planted secret reaches the sink: 2 leaked lines — NOT met")
	assert.Contains(t, got[8], "(a) fleetlog-agent: no planted secret")
	assert.Contains(t, got[9], "(a) fleetlog: every line arrives once: 0 lost, 0 duplicated in the worst run — met")
	assert.Contains(t, got[12], "(c) rsyslog: every line arrives once: 97 lost, 0 duplicated in the worst run — NOT met")
}

// TestPeerConfigsAccepted renders the peers' configs as a run does and has
// each daemon check its own: rsyslogd -N1, syslog-ng --syntax-only. Both
// checks open the certificate files, so they are real ones.
func TestPeerConfigsAccepted(t *testing.T) {
	t.Parallel()
	work := t.TempDir()
	certs, err := fixture.NewPKI(filepath.Join(work, "pki"))
	require.NoError(t, err)
	logFile := filepath.Join(work, "workload.log")
	require.NoError(t, os.WriteFile(logFile, nil, 0o600))

	eachPeer(t, "check the config of", func(t *testing.T, name string, p *peer.Peer) {
		dir := filepath.Join(work, name)
		params := peer.Params{
			LogFile: logFile, Port: 6514, DeviceID: fixture.DeviceID,
			CAFile:   filepath.Join(certs.DeviceDir, "ca.pem"),
			CertFile: filepath.Join(certs.DeviceDir, "cert.pem"),
			KeyFile:  filepath.Join(certs.DeviceDir, "key.pem"),
			WorkDir:  dir, QueueDir: filepath.Join(dir, "queue"),
		}
		require.NoError(t, fixture.PrivateDir(params.QueueDir))
		conf := filepath.Join(dir, name+".conf")
		require.NoError(t, p.Render("configs", conf, params))
		require.NoError(t, p.Check(conf))
		assert.Contains(t, p.Version(), name, "the daemon names itself and its version")

		// And the check is real: a misspelt setting is rejected.
		b, err := os.ReadFile(conf)
		require.NoError(t, err)
		bad := filepath.Join(dir, "bad.conf")
		require.NoError(t, os.WriteFile(bad, append(b, []byte("\nnot_a_directive(\n")...), 0o600))
		assert.Error(t, p.Check(bad))
	})
}

// eachPeer runs fn, in parallel, for each syslog peer installed here, and
// skips, saying what it cannot do, for one that is absent.
func eachPeer(t *testing.T, what string, fn func(t *testing.T, name string, p *peer.Peer)) {
	for _, tt := range []struct {
		name string
		find func(string) (*peer.Peer, error)
	}{{"rsyslog", peer.Rsyslog}, {"syslog-ng", peer.SyslogNG}} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p, err := tt.find("")
			if errors.Is(err, peer.ErrAbsent) {
				t.Skipf("cannot %s %s: %v", what, tt.name, err)
			}
			require.NoError(t, err)
			fn(t, tt.name, p)
		})
	}
}

// TestPeersForwardTheWorkload runs each installed peer over a small
// workload to its syslog receiver, as a benchmark round does: TLS 1.3 with
// client certificates between gnutls or OpenSSL and the receiver, the
// rendered config in use, every line counted by id.
func TestPeersForwardTheWorkload(t *testing.T) {
	t.Parallel()
	work := t.TempDir()
	certs, err := fixture.NewPKI(filepath.Join(work, "pki"))
	require.NoError(t, err)
	const lines = 2000
	logFile := filepath.Join(work, "logs", "workload.log")
	_, err = writeWorkload(logFile, 1, lines)
	require.NoError(t, err)
	o := options{configDir: "configs", lines: lines, timeout: time.Minute, stall: 5 * time.Second}

	eachPeer(t, "run", func(t *testing.T, name string, p *peer.Peer) {
		pipe := pipeline{key: name, name: name, bin: p.Bin, peer: p}
		r, err := runOnce(context.Background(), o, pipe, certs, logFile, 1, work)
		require.NoError(t, err)
		t.Logf("%s: %d records, %d lost, %d duplicated, %.2f s CPU, %s MiB peak RSS, %s MiB written",
			name, r.Records, r.Lost, r.Duplicated, r.CPU.Seconds(), report.MiB(r.PeakRSS), report.MiB(r.DiskWrite))
		// How many arrive is the peer's to answer, and the benchmark's
		// to report; here the way there is tested.
		assert.Positive(t, r.Records)
		assert.GreaterOrEqual(t, r.Records-r.Duplicated+r.Lost, int64(lines), "every line is received or counted lost")
		assert.Positive(t, r.PeakRSS)
		assert.Positive(t, r.Leaked, "the peers redact nothing")
	})
}
