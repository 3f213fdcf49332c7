package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"
)

// Buffer collects a process's output while it runs.
type Buffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Process is a running binary.
type Process struct {
	Name string
	Cmd  *exec.Cmd
	Out  *Buffer
	// Done is closed when the process has exited; Err is then its result.
	Done chan struct{}
	Err  error
	// stopped is set once Stop or Kill was asked for.
	stopped bool
}

// Start runs bin with args, with env on top of a minimal environment (PATH,
// and HOME set to home).
func Start(name, bin, home string, env map[string]string, args ...string) (*Process, error) {
	cmd := exec.Command(bin, args...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + home}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	p := &Process{Name: name, Cmd: cmd, Out: &Buffer{}, Done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = p.Out, p.Out
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	go func() {
		p.Err = cmd.Wait()
		close(p.Done)
	}()
	return p, nil
}

// Exited reports whether the process has ended.
func (p *Process) Exited() bool {
	select {
	case <-p.Done:
		return true
	default:
		return false
	}
}

// Stop sends SIGTERM and waits up to grace for the exit, then kills. It
// returns an error when the process needed the kill.
func (p *Process) Stop(grace time.Duration) error {
	p.stopped = true
	if p.Exited() {
		return nil
	}
	_ = p.Cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.Done:
		return nil
	case <-time.After(grace):
		_ = p.Cmd.Process.Kill()
		<-p.Done
		return fmt.Errorf("%s did not stop within %s of SIGTERM", p.Name, grace)
	}
}

// Kill ends the process with SIGKILL (no shutdown path runs) and waits.
func (p *Process) Kill() {
	p.stopped = true
	if p.Exited() {
		return
	}
	_ = p.Cmd.Process.Kill()
	<-p.Done
}

// FreePort returns a loopback TCP port that was free a moment ago.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// ErrExited is returned by Wait when a watched process ended.
var ErrExited = errors.New("process exited")

// Wait polls cond every interval until it holds, ctx is done, or one of
// procs exits.
func Wait(ctx context.Context, interval time.Duration, cond func() bool, procs ...*Process) error {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if cond() {
			return nil
		}
		for _, p := range procs {
			if p != nil && p.Exited() {
				return fmt.Errorf("%w: %s (%v)", ErrExited, p.Name, p.Err)
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}

// Healthy reports whether the health_check endpoint at addr answers 200.
func Healthy(addr string) bool {
	client := &http.Client{Timeout: time.Second}
	resp, err := client.Get("http://" + addr + "/")
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// Tail returns the last n lines of s.
func Tail(s string, n int) string {
	lines := bytes.Split([]byte(s), []byte("\n"))
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return string(bytes.Join(lines, []byte("\n")))
}
