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
	"path/filepath"
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
	if _, gateway := env["FLEETLOG_LISTEN"]; gateway {
		if _, set := env["FLEETLOG_ADMIN_LISTEN"]; !set {
			// The gateway's fleet control listener: its own port on
			// loopback rather than the shipped 0.0.0.0:4320.
			port, err := FreePort()
			if err != nil {
				return nil, err
			}
			cmd.Env = append(cmd.Env, fmt.Sprintf("FLEETLOG_ADMIN_LISTEN=127.0.0.1:%d", port))
		}
	}
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

// FreePort returns a loopback port that is free for TCP and UDP.
//
// Ports come from below the kernel's ephemeral range (32768 and up on
// Linux), where connections of this and other processes take their source
// ports: a port from ":0" that was free a moment ago can be taken by one of
// them before the binary under test binds it. The range is cut into slots,
// and each test process claims a slot of its own with a lock file, so two
// test processes running at once (go test runs packages in parallel) never
// hand out the same port; within its slot a process goes round, so a port
// is handed out again only after all the others.
func FreePort() (int, error) {
	ports.once.Do(claimPortSlot)
	if ports.err != nil {
		return 0, ports.err
	}
	ports.mu.Lock()
	defer ports.mu.Unlock()
	for range portSlotSize {
		p := ports.base + ports.next%portSlotSize
		ports.next++
		addr := fmt.Sprintf("127.0.0.1:%d", p)
		l, err := net.Listen("tcp", addr)
		if err != nil {
			continue
		}
		u, err := net.ListenPacket("udp", addr)
		l.Close()
		if err != nil {
			continue
		}
		u.Close()
		return p, nil
	}
	return 0, fmt.Errorf("no free loopback port in %d..%d", ports.base, ports.base+portSlotSize-1)
}

const (
	portRangeLow = 10000
	portSlotSize = 220
	portSlots    = 100 // up to 32000
)

// ports is the process's slot and its next port.
var ports struct {
	once sync.Once
	err  error
	lock *os.File // held for the life of the process
	mu   sync.Mutex
	base int
	next int
}

// claimPortSlot takes the first slot, from one derived from the process id
// on, whose lock file no other process holds.
func claimPortSlot() {
	dir := filepath.Join(os.TempDir(), "fleetlog-test-ports")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		ports.err = fmt.Errorf("port slots: %w", err)
		return
	}
	first := os.Getpid() % portSlots
	for i := range portSlots {
		slot := (first + i) % portSlots
		f, err := os.OpenFile(filepath.Join(dir, fmt.Sprintf("slot-%02d", slot)), os.O_CREATE|os.O_RDWR, 0o600)
		if err != nil {
			ports.err = fmt.Errorf("port slots: %w", err)
			return
		}
		if syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB) != nil {
			f.Close()
			continue
		}
		ports.lock, ports.base = f, portRangeLow+slot*portSlotSize
		return
	}
	ports.err = errors.New("port slots: all taken by other test processes")
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

// BinDir is where the built binaries are: FLEETLOG_BIN_DIR, as `make test`
// sets it, or else root's bin/ (root is the repository).
func BinDir(root string) string {
	if dir := os.Getenv("FLEETLOG_BIN_DIR"); dir != "" {
		return dir
	}
	return filepath.Join(root, "bin")
}
