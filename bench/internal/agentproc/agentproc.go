// Package agentproc runs an agent as a child process and reads what it costs
// from /proc: CPU time (all threads, user and system) and resident memory.
package agentproc

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"syscall"
	"time"
)

// ErrExited is returned when the process ended before it was asked to.
var ErrExited = errors.New("agent exited")

// Proc is a running agent.
type Proc struct {
	cmd    *exec.Cmd
	start  time.Time
	exited chan struct{}
	err    error
}

// Start runs bin with args and env (added to the current environment),
// writing its output to out.
func Start(bin string, args, env []string, out io.Writer) (*Proc, error) {
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout = out
	cmd.Stderr = out
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	p := &Proc{cmd: cmd, start: time.Now(), exited: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.exited)
	}()
	return p, nil
}

// Pid is the process id.
func (p *Proc) Pid() int { return p.cmd.Process.Pid }

// Started is when the process was started.
func (p *Proc) Started() time.Time { return p.start }

// Exited reports whether the process has ended, and how.
func (p *Proc) Exited() (bool, error) {
	select {
	case <-p.exited:
		return true, p.err
	default:
		return false, nil
	}
}

// Usage samples the process's CPU time and memory now.
func (p *Proc) Usage() (Usage, error) {
	if done, err := p.Exited(); done {
		return Usage{}, fmt.Errorf("%w: %v", ErrExited, err)
	}
	return ReadUsage(p.Pid())
}

// Stop asks the process to shut down (SIGTERM) and kills it if it has not
// ended within grace.
func (p *Proc) Stop(grace time.Duration) error {
	if done, _ := p.Exited(); done {
		return nil
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		return fmt.Errorf("signal agent: %w", err)
	}
	select {
	case <-p.exited:
		return nil
	case <-time.After(grace):
		_ = p.cmd.Process.Kill()
		<-p.exited
		return fmt.Errorf("agent did not stop within %s; killed", grace)
	}
}
