package main

// The control mode (-mode control) measures the gateway's control plane: it
// starts the real gateway (bin/fleetlog with the shipped gateway config),
// then N simulated agents, each with its own device certificate, that speak
// OpAMP to it over mutual TLS as fleet_agent does (plain HTTP polling) and
// send a fleetlog status report every interval. It samples the gateway's CPU
// time and RSS from /proc before the agents start (idle) and over a window
// while they report, and checks through the admin API that the registry
// holds every agent as healthy.
//
//	go run ./bench/fleetsim -mode control -bin bin/fleetlog -agents 1000 -interval 30s -window 2m

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/open-telemetry/opamp-go/client"
	"github.com/open-telemetry/opamp-go/client/types"
	"github.com/open-telemetry/opamp-go/protobufs"

	"github.com/fleetlog/fleetlog/bench/internal/agentproc"
	"github.com/fleetlog/fleetlog/internal/fleetapi"
	"github.com/fleetlog/fleetlog/internal/fleetproto"
	"github.com/fleetlog/fleetlog/internal/pki"
)

func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

func runControl(bin, root, overlay string, n int, interval, idle, window time.Duration, keep bool) error {
	dir, err := os.MkdirTemp("", "fleetsim-")
	if err != nil {
		return err
	}
	if !keep {
		defer os.RemoveAll(dir)
	}
	certs := filepath.Join(dir, "pki")
	res, err := pki.Init(certs, pki.InitOptions{})
	if err != nil {
		return err
	}
	t0 := time.Now()
	for i := range n {
		if _, err := pki.IssueDevice(certs, pki.DeviceOptions{DeviceID: deviceID(i), Fleet: "sim", Site: fmt.Sprintf("site-%d", i%20)}); err != nil {
			return err
		}
	}
	op, err := pki.IssueOperator(certs, pki.OperatorOptions{Name: "bench"})
	if err != nil {
		return err
	}
	log.Printf("issued %d device certificates in %s", n, time.Since(t0).Round(time.Millisecond))

	var addrs [4]string
	for i := range addrs {
		if addrs[i], err = freeAddr(); err != nil {
			return err
		}
	}
	otlp, admin, health, metrics := addrs[0], addrs[1], addrs[2], addrs[3]
	_, metricsPort, _ := net.SplitHostPort(metrics)
	var out bytes.Buffer
	args := []string{"--config", filepath.Join(root, "distributions/gateway/config.yaml")}
	if overlay != "" {
		args = append(args, "--config", overlay)
	}
	gw, err := agentproc.Start(bin, args, []string{
		"FLEETLOG_LISTEN=" + otlp, "FLEETLOG_ADMIN_LISTEN=" + admin, "FLEETLOG_HEALTH_ADDR=" + health,
		"FLEETLOG_METRICS_PORT=" + metricsPort, "FLEETLOG_TLS_DIR=" + filepath.Join(certs, "gateway"),
		"FLEETLOG_DATA_DIR=" + filepath.Join(dir, "gateway-data"), "FLEETLOG_DENY_LIST=" + filepath.Join(dir, "denied.txt"),
		fmt.Sprintf("FLEETLOG_SILENT_AFTER=%s", 3*interval),
	}, &syncWriter{w: &out})
	if err != nil {
		return err
	}
	defer func() {
		_ = gw.Stop(30 * time.Second)
		if keep {
			_ = os.WriteFile(filepath.Join(dir, "gateway.log"), out.Bytes(), 0o600)
		}
	}()
	if err := waitHealthy(health, 60*time.Second); err != nil {
		return fmt.Errorf("%w\n%s", err, out.String())
	}
	time.Sleep(idle / 4) // let start-up settle before the baseline
	idle0, err := gw.Usage()
	if err != nil {
		return err
	}
	time.Sleep(idle)
	idle1, err := gw.Usage()
	if err != nil {
		return err
	}
	idleCPU := cpuShare(idle0, idle1, idle)
	log.Printf("idle: CPU %.2f%% of one core, RSS %.1f MB", 100*idleCPU, mb(idle1.RSS))

	// Start the agents spread over one interval, as a fleet would arrive.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sims := make([]*agent, n)
	var wg sync.WaitGroup
	start := time.Now()
	for i := range n {
		tlsCfg, err := clientTLS(res.CACert, filepath.Join(certs, "devices", deviceID(i), "cert.pem"), filepath.Join(certs, "devices", deviceID(i), "key.pem"))
		if err != nil {
			return err
		}
		sims[i] = &agent{id: deviceID(i), tls: tlsCfg}
		delay := time.Duration(int64(interval) * int64(i) / int64(n))
		wg.Add(1)
		go func() {
			defer wg.Done()
			select {
			case <-ctx.Done():
				return
			case <-time.After(delay):
			}
			if err := sims[i].run(ctx, "https://"+admin+"/v1/opamp", interval); err != nil {
				log.Printf("agent %s: %v", sims[i].id, err)
			}
		}()
	}
	api, err := fleetapi.NewClient("https://"+admin, res.CACert, op.Cert, op.Key)
	if err != nil {
		return err
	}
	// Every agent reported once: the ramp is over.
	if err := waitHealthyFleet(ctx, api, n, interval+time.Minute); err != nil {
		return err
	}
	log.Printf("all %d agents registered healthy after %s", n, time.Since(start).Round(time.Second))
	w0, err := gw.Usage()
	if err != nil {
		return err
	}
	r0, _ := counter(metricsPort, "otelcol_fleet_control_reports")
	time.Sleep(window)
	w1, err := gw.Usage()
	if err != nil {
		return err
	}
	r1, _ := counter(metricsPort, "otelcol_fleet_control_reports")
	heap, _ := counter(metricsPort, "otelcol_process_runtime_heap_alloc_bytes")
	devices, err := api.Devices(ctx, fleetapi.Filter{State: fleetapi.StateHealthy})
	if err != nil {
		return err
	}
	cpu := cpuShare(w0, w1, window)
	fmt.Printf("\nfleetsim: %d agents, OpAMP over HTTP polling with mTLS, a status report every %s, window %s\n", n, interval, window)
	fmt.Printf("  messages received in the window: %.0f (%.1f/s)\n", r1-r0, (r1-r0)/window.Seconds())
	fmt.Printf("  gateway CPU idle:          %6.2f%% of one core\n", 100*idleCPU)
	fmt.Printf("  gateway CPU with agents:   %6.2f%% of one core (control plane: %.2f%%, goal < 5%%)\n", 100*cpu, 100*(cpu-idleCPU))
	fmt.Printf("  gateway RSS idle:          %6.1f MB\n", mb(idle1.RSS))
	fmt.Printf("  gateway RSS with agents:   %6.1f MB (growth %.1f MB, goal < 100 MB; peak %.1f MB)\n", mb(w1.RSS), mb(w1.RSS-idle1.RSS), mb(w1.PeakRSS))
	fmt.Printf("  gateway Go heap in use:    %6.1f MB at the end of the window\n", mb(int64(heap)))
	fmt.Printf("  registry: %d of %d healthy at the end\n", len(devices), n)
	cancel()
	wg.Wait()
	if len(devices) != n {
		return fmt.Errorf("%d of %d agents healthy", len(devices), n)
	}
	return nil
}

func deviceID(i int) string { return fmt.Sprintf("sim-%04d", i) }

func cpuShare(a, b agentproc.Usage, d time.Duration) float64 {
	return float64(b.CPU-a.CPU) / float64(d)
}

func mb(b int64) float64 { return float64(b) / 1e6 }

// agent is one simulated fleet_agent.
type agent struct {
	id  string
	tls *tls.Config
}

func (a *agent) run(ctx context.Context, url string, interval time.Duration) error {
	c := client.NewHTTP(nil)
	var uid types.InstanceUid
	if _, err := rand.Read(uid[:]); err != nil {
		return err
	}
	str := func(k, v string) *protobufs.KeyValue {
		return &protobufs.KeyValue{Key: k, Value: &protobufs.AnyValue{Value: &protobufs.AnyValue_StringValue{StringValue: v}}}
	}
	if err := c.SetAgentDescription(&protobufs.AgentDescription{
		IdentifyingAttributes: []*protobufs.KeyValue{str(fleetproto.DescriptionDeviceID, a.id), str(fleetproto.DescriptionVersion, "0.1.0")},
	}); err != nil {
		return err
	}
	if err := c.SetHealth(&protobufs.ComponentHealth{Healthy: true}); err != nil {
		return err
	}
	if err := c.SetCustomCapabilities(&protobufs.CustomCapabilities{Capabilities: []string{fleetproto.StatusCapability}}); err != nil {
		return err
	}
	hb := interval
	err := c.Start(ctx, types.StartSettings{
		OpAMPServerURL: url, TLSConfig: a.tls, InstanceUid: uid, HeartbeatInterval: &hb,
		Capabilities: protobufs.AgentCapabilities_AgentCapabilities_ReportsStatus |
			protobufs.AgentCapabilities_AgentCapabilities_AcceptsRemoteConfig |
			protobufs.AgentCapabilities_AgentCapabilities_ReportsRemoteConfig |
			protobufs.AgentCapabilities_AgentCapabilities_ReportsHealth |
			protobufs.AgentCapabilities_AgentCapabilities_ReportsHeartbeat,
	})
	if err != nil {
		return err
	}
	defer func() { _ = c.Stop(context.Background()) }()
	c.SetPollingInterval(interval)
	started := time.Now()
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		s := &fleetproto.Status{
			AgentTime: time.Now(), Version: "0.1.0",
			Spool:   &fleetproto.SpoolStatus{Bytes: 4096, MaxBytes: 1 << 30, Records: 3, OldestAgeSeconds: 0.5},
			LastAck: time.Now(),
			Files:   []fleetproto.FileStatus{{Path: "/var/log/app.log", Size: 1 << 20, Offset: 1 << 20}},
			Host:    &fleetproto.HostStatus{OS: "linux", Arch: "amd64", Hostname: a.id, UptimeSeconds: time.Since(started).Seconds()},
		}
		b, err := fleetproto.MarshalStatus(s)
		if err != nil {
			return err
		}
		if _, err := c.SendCustomMessage(&protobufs.CustomMessage{Capability: fleetproto.StatusCapability, Type: fleetproto.StatusMessageType, Data: b}); err != nil && !errors.Is(err, types.ErrCustomMessagePending) {
			return err
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

func clientTLS(caFile, certFile, keyFile string) (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, err
	}
	ca, err := os.ReadFile(caFile)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca)
	return &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS13}, nil
}

func waitHealthy(addr string, d time.Duration) error {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		resp, err := http.Get("http://" + addr + "/")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	return errors.New("gateway did not become healthy")
}

func waitHealthyFleet(ctx context.Context, api *fleetapi.Client, n int, d time.Duration) error {
	deadline := time.Now().Add(d)
	got := 0
	for time.Now().Before(deadline) {
		devices, err := api.Devices(ctx, fleetapi.Filter{State: fleetapi.StateHealthy})
		if err == nil {
			got = len(devices)
			if got == n {
				return nil
			}
		}
		time.Sleep(2 * time.Second)
	}
	return fmt.Errorf("only %d of %d agents registered healthy within %s", got, n, d)
}

// counter reads a counter's total from the gateway's Prometheus endpoint.
func counter(port, name string) (float64, error) {
	resp, err := http.Get("http://127.0.0.1:" + port + "/metrics")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(resp.Body); err != nil {
		return 0, err
	}
	var total float64
	for _, line := range strings.Split(buf.String(), "\n") {
		if strings.HasPrefix(line, name+"_total") || strings.HasPrefix(line, name+"{") || strings.HasPrefix(line, name+" ") {
			var v float64
			if _, err := fmt.Sscan(line[strings.LastIndexByte(line, ' ')+1:], &v); err == nil {
				total += v
			}
		}
	}
	return total, nil
}

type syncWriter struct {
	mu sync.Mutex
	w  *bytes.Buffer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}
