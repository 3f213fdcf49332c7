// Package integration starts the real bin/fleetlog and bin/fleetlogctl as
// separate processes, on loopback, and checks what crosses between them.
package integration

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
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
	dir := os.Getenv("FLEETLOG_BIN_DIR")
	if dir == "" {
		dir = filepath.Join(repoRoot(t), "bin")
	}
	path := filepath.Join(dir, name)
	_, err := os.Stat(path)
	require.NoErrorf(t, err, "%s is missing: run 'make build' (or 'make test', which builds first)", path)
	return path
}

// freePort returns a loopback TCP port that was free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// syncBuffer collects a process's output while it runs.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// process is a running fleetlog binary.
type process struct {
	name string
	cmd  *exec.Cmd
	out  *syncBuffer
	done chan struct{}
	err  error
}

// start runs bin with args and env on top of a minimal environment and stops
// it (SIGTERM, then SIGKILL) when the test ends. Its output is printed if the
// test fails.
func start(t *testing.T, name, bin string, env map[string]string, args ...string) *process {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}
	if _, gateway := env["FLEETLOG_LISTEN"]; gateway {
		if _, set := env["FLEETLOG_ADMIN_LISTEN"]; !set {
			// The gateway's fleet control listener: one port per test, on loopback.
			cmd.Env = append(cmd.Env, fmt.Sprintf("FLEETLOG_ADMIN_LISTEN=127.0.0.1:%d", freePort(t)))
		}
	}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	p := &process{name: name, cmd: cmd, out: &syncBuffer{}, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = p.out, p.out
	require.NoError(t, cmd.Start())
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.stop(t)
		if t.Failed() {
			t.Logf("---- %s output ----\n%s", name, tail(p.out.String(), 60))
		}
	})
	return p
}

func (p *process) stop(t *testing.T) {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(15 * time.Second):
		t.Errorf("%s did not stop within 15s of SIGTERM", p.name)
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

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
				t.Fatalf("%s exited (%v) while waiting for %s", p.name, p.err, what)
			}
		}
		time.Sleep(pollInterval)
	}
	t.Fatalf("timed out after %s waiting for %s", waitTimeout, what)
}

func waitHealthy(t *testing.T, p *process, addr string) {
	t.Helper()
	client := &http.Client{Timeout: time.Second}
	eventually(t, p.name+" health check on "+addr, func() bool {
		resp, err := client.Get("http://" + addr + "/")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}, p)
}

// counter sums every series of a Prometheus counter whose name starts with
// name and whose labels contain all of labels.
func counter(t *testing.T, port int, name string, labels ...string) float64 {
	t.Helper()
	client := &http.Client{Timeout: 2 * time.Second}
	resp, err := client.Get(fmt.Sprintf("http://127.0.0.1:%d/metrics", port))
	require.NoError(t, err)
	defer resp.Body.Close()
	var sum float64
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 0, 64*1024), 1024*1024)
next:
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, name) {
			continue
		}
		for _, l := range labels {
			if !strings.Contains(line, l) {
				continue next
			}
		}
		v, err := strconv.ParseFloat(line[strings.LastIndexByte(line, ' ')+1:], 64)
		require.NoError(t, err, line)
		sum += v
	}
	require.NoError(t, sc.Err())
	return sum
}

// issueFleet runs `fleetlogctl certs init` in dir and `certs issue` for each
// device, with issueArgs (e.g. --fleet it) added to every issue.
func issueFleet(t *testing.T, dir string, devices []string, issueArgs ...string) {
	t.Helper()
	ctl := binary(t, "fleetlogctl")
	out, err := run(t, ctl, "certs", "init", "--dir", dir)
	require.NoError(t, err, out)
	for _, dev := range devices {
		out, err := run(t, ctl, append([]string{"certs", "issue", "--dir", dir, "--device", dev}, issueArgs...)...)
		require.NoError(t, err, out)
	}
}

// run executes a command to completion within waitTimeout.
func run(t *testing.T, name string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	return string(out), err
}

func tail(s string, lines int) string {
	parts := strings.Split(s, "\n")
	if len(parts) > lines {
		parts = parts[len(parts)-lines:]
	}
	return strings.Join(parts, "\n")
}
