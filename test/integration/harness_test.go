// Package integration starts the real bin/fleetlog and bin/fleetlogctl as
// separate processes, on loopback, and checks what crosses between them.
package integration

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/fleetlog/fleetlog/internal/e2e"
)

const (
	waitTimeout  = 30 * time.Second
	pollInterval = 100 * time.Millisecond
)

// repoRoot is the checkout the tests run in.
func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	require.NoError(t, err)
	return root
}

// binary returns the path of a built fleetlog binary. The tests run against
// what `make build` produced; they fail rather than skip without it, except
// under -short (`make unit`).
func binary(t *testing.T, name string) string {
	t.Helper()
	if testing.Short() {
		t.Skip("integration test: needs the built binaries (make test)")
	}
	path := filepath.Join(e2e.BinDir(repoRoot(t)), name)
	_, err := os.Stat(path)
	require.NoErrorf(t, err, "%s is missing: run 'make build' (or 'make test', which builds first)", path)
	return path
}

// freePort returns a loopback TCP port that was free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	port, err := e2e.FreePort()
	require.NoError(t, err)
	return port
}

// process is a running fleetlog binary.
type process struct {
	*e2e.Process
}

// start runs bin with args and env on top of a minimal environment and stops
// it (SIGTERM, then SIGKILL) when the test ends. Its output is printed if the
// test fails.
func start(t *testing.T, name, bin string, env map[string]string, args ...string) *process {
	t.Helper()
	ep, err := e2e.Start(name, bin, t.TempDir(), env, args...)
	require.NoError(t, err)
	p := &process{ep}
	t.Cleanup(func() {
		p.stop(t)
		if t.Failed() {
			t.Logf("---- %s output ----\n%s", name, tail(p.Out.String(), 60))
		}
	})
	return p
}

func (p *process) stop(t *testing.T) {
	if err := p.Stop(15 * time.Second); err != nil {
		t.Error(err)
	}
}

func (p *process) exited() bool { return p.Exited() }

// eventually polls cond until it holds or waitTimeout passes; it gives up early
// when one of procs has exited.
func eventually(t *testing.T, what string, cond func() bool, procs ...*process) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for time.Now().Before(deadline) {
		if cond() {
			return
		}
		for _, p := range procs {
			if p.exited() {
				t.Fatalf("%s exited (%v) while waiting for %s", p.Name, p.Err, what)
			}
		}
		time.Sleep(pollInterval)
	}
	t.Fatalf("timed out after %s waiting for %s", waitTimeout, what)
}

func waitHealthy(t *testing.T, p *process, addr string) {
	t.Helper()
	eventually(t, p.Name+" health check on "+addr, func() bool { return e2e.Healthy(addr) }, p)
}

// counter sums every series of a Prometheus counter whose name starts with
// name and whose labels contain all of labels.
func counter(t *testing.T, port int, name string, labels ...string) float64 {
	t.Helper()
	sum, err := e2e.Counter(port, name, labels...)
	require.NoError(t, err)
	return sum
}

// issueFleet runs `fleetlogctl certs init` in dir and `certs issue` for each
// device, with issueArgs (e.g. --fleet it) added to every issue.
func issueFleet(t *testing.T, dir string, devices []string, issueArgs ...string) {
	t.Helper()
	require.NoError(t, e2e.IssueFleet(binary(t, "fleetlogctl"), dir, devices, issueArgs...))
}

// run executes a command to completion within e2e.RunTimeout.
func run(t *testing.T, name string, args ...string) (string, error) {
	t.Helper()
	return e2e.Run(name, args...)
}

func tail(s string, lines int) string { return e2e.Tail(s, lines) }
