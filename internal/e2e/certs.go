package e2e

import (
	"context"
	"fmt"
	"os/exec"
	"time"
)

// IssueFleet runs `fleetlogctl certs init` in dir and `certs issue` for each
// device, with issueArgs (e.g. --fleet it) added to every issue. The
// gateway's files are then in dir/gateway, each device's in
// dir/devices/<device>.
func IssueFleet(ctl, dir string, devices []string, issueArgs ...string) error {
	if out, err := Run(ctl, "certs", "init", "--dir", dir); err != nil {
		return fmt.Errorf("certs init: %w: %s", err, out)
	}
	for _, dev := range devices {
		if out, err := Run(ctl, append([]string{"certs", "issue", "--dir", dir, "--device", dev}, issueArgs...)...); err != nil {
			return fmt.Errorf("certs issue %s: %w: %s", dev, err, out)
		}
	}
	return nil
}

// RunTimeout bounds Run.
const RunTimeout = 30 * time.Second

// Run executes a command to completion within RunTimeout and returns its
// combined output.
func Run(name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), RunTimeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	return string(out), err
}
