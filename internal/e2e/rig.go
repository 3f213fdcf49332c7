package e2e

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// DeviceID is the device the rig's agent runs as.
const DeviceID = "chaos-dev-1"

// RigOptions configure a Rig. Empty fields take the defaults named.
type RigOptions struct {
	// Root is the repository checkout (configs under distributions/).
	Root string
	// BinDir holds fleetlog, fleetlog-agent and fleetlogctl (Root/bin).
	BinDir string
	// Dir is the rig's working directory (required).
	Dir string
	// GatewayData and AgentData are the FLEETLOG_DATA_DIR of each
	// (Dir/gateway-data, Dir/agent-data): point them at a small file
	// system to fill it.
	GatewayData, AgentData string
	// AgentYAML and GatewayYAML are merged into the shipped configs last.
	AgentYAML, GatewayYAML string
	// LogGlob is the agent's FLEETLOG_LOG_GLOB (LogDir/app.log*).
	LogGlob string
}

// Rig is a gateway on the shipped config writing its archive, an agent
// (bin/fleetlog-agent) on the shipped config tailing LogDir, and a Relay
// between them. Each tier can be started, stopped and killed.
type Rig struct {
	opts   RigOptions
	LogDir string
	Relay  *Relay

	gatewayAddr, gatewayHealth, agentHealth string
	GatewayMetrics, AgentMetrics            int
	gatewayYAML, agentYAML                  string
	agentEnv, gatewayEnv                    map[string]string

	Gateway, Agent *Process
}

// NewRig issues certificates, writes the overlays and starts the relay.
func NewRig(opts RigOptions) (*Rig, error) {
	if opts.Dir == "" {
		return nil, errors.New("e2e: RigOptions.Dir is required")
	}
	if opts.BinDir == "" {
		opts.BinDir = filepath.Join(opts.Root, "bin")
	}
	if opts.GatewayData == "" {
		opts.GatewayData = filepath.Join(opts.Dir, "gateway-data")
	}
	if opts.AgentData == "" {
		opts.AgentData = filepath.Join(opts.Dir, "agent-data")
	}
	r := &Rig{opts: opts, LogDir: filepath.Join(opts.Dir, "logs")}
	if r.opts.LogGlob == "" {
		r.opts.LogGlob = filepath.Join(r.LogDir, "app.log*")
	}
	for _, d := range []string{r.LogDir, filepath.Join(opts.Dir, "home")} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, err
		}
	}
	certs := filepath.Join(opts.Dir, "certs")
	if _, err := os.Stat(filepath.Join(certs, "gateway")); err != nil {
		if err := IssueFleet(r.bin("fleetlogctl"), certs, []string{DeviceID}, "--fleet", "chaos", "--site", "lab"); err != nil {
			return nil, err
		}
	}
	ports := make([]int, 5)
	for i := range ports {
		p, err := FreePort()
		if err != nil {
			return nil, err
		}
		ports[i] = p
	}
	r.gatewayAddr = fmt.Sprintf("127.0.0.1:%d", ports[0])
	r.gatewayHealth = fmt.Sprintf("127.0.0.1:%d", ports[1])
	r.agentHealth = fmt.Sprintf("127.0.0.1:%d", ports[2])
	r.GatewayMetrics, r.AgentMetrics = ports[3], ports[4]
	relay, err := NewRelay(r.gatewayAddr)
	if err != nil {
		return nil, err
	}
	r.Relay = relay

	r.gatewayYAML = filepath.Join(opts.Dir, "gateway-overlay.yaml")
	r.agentYAML = filepath.Join(opts.Dir, "agent-overlay.yaml")
	// The shipped configs as they are, retries and timeouts included, so
	// that recovery is measured as devices see it.
	for path, yaml := range map[string]string{r.gatewayYAML: "service: {}\n" + opts.GatewayYAML, r.agentYAML: "service: {}\n" + opts.AgentYAML} {
		if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
			return nil, err
		}
	}
	r.gatewayEnv = map[string]string{
		"FLEETLOG_LISTEN":       r.gatewayAddr,
		"FLEETLOG_TLS_DIR":      filepath.Join(certs, "gateway"),
		"FLEETLOG_DATA_DIR":     opts.GatewayData,
		"FLEETLOG_DENY_LIST":    filepath.Join(opts.Dir, "denied-devices.txt"),
		"FLEETLOG_METRICS_PORT": fmt.Sprint(r.GatewayMetrics),
		"FLEETLOG_HEALTH_ADDR":  r.gatewayHealth,
	}
	r.agentEnv = map[string]string{
		// The gateway's certificate names localhost; the relay passes TLS through.
		"FLEETLOG_GATEWAY":      fmt.Sprintf("localhost:%d", relay.Port()),
		"FLEETLOG_TLS_DIR":      filepath.Join(certs, "devices", DeviceID),
		"FLEETLOG_DATA_DIR":     opts.AgentData,
		"FLEETLOG_DEVICE_ID":    DeviceID,
		"FLEETLOG_DEVICE_FILE":  filepath.Join(opts.Dir, "no-device-file.yaml"),
		"FLEETLOG_LOG_GLOB":     r.opts.LogGlob,
		"FLEETLOG_SYSLOG_ADDR":  fmt.Sprintf("127.0.0.1:%d", mustPort()),
		"FLEETLOG_METRICS_PORT": fmt.Sprint(r.AgentMetrics),
		"FLEETLOG_HEALTH_ADDR":  r.agentHealth,
	}
	return r, nil
}

func mustPort() int {
	p, err := FreePort()
	if err != nil {
		return 15514
	}
	return p
}

func (r *Rig) bin(name string) string { return filepath.Join(r.opts.BinDir, name) }

// ArchiveDir is where the gateway stores records.
func (r *Rig) ArchiveDir() string { return filepath.Join(r.opts.GatewayData, "archive") }

// AgentData is the agent's data directory (spool under spool/).
func (r *Rig) AgentData() string { return r.opts.AgentData }

// startupTimeout bounds how long a tier may take to report healthy.
const startupTimeout = 60 * time.Second

// StartGateway starts bin/fleetlog as the gateway and waits until healthy.
func (r *Rig) StartGateway() error {
	p, err := Start("gateway", r.bin("fleetlog"), filepath.Join(r.opts.Dir, "home"), r.gatewayEnv,
		"--config", filepath.Join(r.opts.Root, "distributions/gateway/config.yaml"), "--config", r.gatewayYAML)
	if err != nil {
		return err
	}
	r.Gateway = p
	return r.waitHealthy(p, r.gatewayHealth)
}

// StartAgent starts bin/fleetlog-agent and waits until healthy.
func (r *Rig) StartAgent() error {
	p, err := Start("agent", r.bin("fleetlog-agent"), filepath.Join(r.opts.Dir, "home"), r.agentEnv,
		"--config", filepath.Join(r.opts.Root, "distributions/agent/config.yaml"), "--config", r.agentYAML)
	if err != nil {
		return err
	}
	r.Agent = p
	return r.waitHealthy(p, r.agentHealth)
}

func (r *Rig) waitHealthy(p *Process, addr string) error {
	ctx, cancel := context.WithTimeout(context.Background(), startupTimeout)
	defer cancel()
	if err := Wait(ctx, 50*time.Millisecond, func() bool { return Healthy(addr) }, p); err != nil {
		return fmt.Errorf("%s did not become healthy: %w\n%s", p.Name, err, Tail(p.Out.String(), 30))
	}
	return nil
}

// Close stops both tiers (SIGTERM) and the relay.
func (r *Rig) Close() error {
	var errs []error
	for _, p := range []*Process{r.Agent, r.Gateway} {
		if p != nil {
			errs = append(errs, p.Stop(20*time.Second))
		}
	}
	errs = append(errs, r.Relay.Close())
	return errors.Join(errs...)
}

// Crashed names the tiers that exited without being asked to, with the end
// of their output; "" when none did.
func (r *Rig) Crashed() string {
	var b strings.Builder
	for _, p := range []*Process{r.Gateway, r.Agent} {
		if p != nil && p.Exited() && !p.stopped {
			fmt.Fprintf(&b, "%s exited: %v\n%s\n", p.Name, p.Err, Tail(p.Out.String(), 20))
		}
	}
	return b.String()
}
