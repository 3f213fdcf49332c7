package fleetagentextension // import "github.com/fleetlog/fleetlog/extensions/fleetagentextension"

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// ErrInvalid is returned for a fragment whose merged configuration the
// agent's binary does not accept.
var ErrInvalid = errors.New("remote config: merged configuration is invalid")

const (
	fleetScheme     = "fleet:"
	configFlag      = "--config"
	validateTimeout = 2 * time.Minute
	// maxValidateOutput bounds the validator's output kept in the error.
	maxValidateOutput = 2048
)

// validator checks the configuration the agent would run with the fragment
// in the file at path.
type validator interface {
	// served reports whether the agent runs with `--config fleet:DIR` for
	// its state directory, without which a fragment never takes effect.
	served() bool
	validate(ctx context.Context, path string) error
}

// execValidator validates by running this same binary's `validate` command
// with the agent's own command line, the fleet URI replaced by the
// candidate's file. Checking the merged configuration in a child process,
// rather than in this one, is what makes the check exact: the same
// factories, the same config providers and converters, the same merge order
// and the same environment decide, as they will on the reload, and a
// component's Validate that panics or leaks cannot hurt the running agent.
// The cost is one short-lived process per remote configuration.
type execValidator struct {
	exe  string
	args []string // the agent's arguments, without the program name
	uri  string   // the fleet URI among them; "" if none
}

// newExecValidator looks for `--config fleet:DIR` naming dir in args (the
// program's os.Args).
func newExecValidator(dir string, args []string) *execValidator {
	v := &execValidator{}
	if len(args) > 0 {
		v.args = args[1:]
	}
	if dir == "" {
		return v
	}
	want := filepath.Clean(dir)
	for i, a := range v.args {
		val, ok := strings.CutPrefix(a, configFlag+"=")
		if !ok {
			if i == 0 || v.args[i-1] != configFlag {
				continue
			}
			val = a
		}
		if p, ok := strings.CutPrefix(val, fleetScheme); ok && filepath.Clean(p) == want {
			v.uri = val
			break
		}
	}
	return v
}

func (v *execValidator) served() bool { return v.uri != "" }

// command returns the validate command line for the candidate at path.
func (v *execValidator) command(path string) []string {
	args := []string{"validate"}
	for i, a := range v.args {
		switch {
		case a == configFlag+"="+v.uri:
			a = configFlag + "=file:" + path
		case a == v.uri && i > 0 && v.args[i-1] == configFlag:
			a = "file:" + path
		}
		args = append(args, a)
	}
	return args
}

func (v *execValidator) validate(ctx context.Context, path string) error {
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("find the agent binary to validate with: %w", err)
	}
	if v.exe != "" {
		exe = v.exe
	}
	ctx, cancel := context.WithTimeout(ctx, validateTimeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, exe, v.command(path)...).CombinedOutput()
	if err == nil {
		return nil
	}
	msg := strings.TrimSpace(string(out))
	if len(msg) > maxValidateOutput {
		msg = "..." + msg[len(msg)-maxValidateOutput:]
	}
	if msg == "" {
		msg = err.Error()
	}
	return fmt.Errorf("%w: %s", ErrInvalid, msg)
}
