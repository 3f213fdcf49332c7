// Command alertcost measures what the alert connector costs the gateway:
// the real bin/fleetlog started from the shipped gateway config, once with
// the shipped rule pack (as shipped) and once with no rules, fed the
// benchmark workload over OTLP/gRPC with mutual TLS as one device, in
// alternating rounds. It reports gateway lines per CPU-second (user+system
// time of the gateway process) for each, and their ratio.
//
//	go run ./bench/alertcost -bin bin/fleetlog -lines 500000 -rounds 3
package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/fleetlog/fleetlog/bench/internal/agentproc"
	"github.com/fleetlog/fleetlog/bench/internal/fixture"
	"github.com/fleetlog/fleetlog/bench/internal/workload"
)

type options struct {
	bin, config, workDir string
	lines, batch, rounds int
	streams              int
	rate                 int
}

func main() {
	var o options
	flag.StringVar(&o.bin, "bin", "bin/fleetlog", "collector binary")
	flag.StringVar(&o.config, "config", "distributions/gateway/config.yaml", "the shipped gateway config")
	flag.StringVar(&o.workDir, "workdir", "", "scratch directory (default: a new temporary one)")
	flag.IntVar(&o.lines, "lines", 500_000, "records per run")
	flag.IntVar(&o.batch, "batch", 512, "records per export (an agent's batch)")
	flag.IntVar(&o.rounds, "rounds", 3, "rounds; each runs pack on and pack off once")
	flag.IntVar(&o.streams, "streams", 4, "concurrent exports")
	flag.IntVar(&o.rate, "rate", 100_000, "records per second offered (0: as fast as the gateway takes them)")
	flag.Parse()
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "alertcost:", err)
		os.Exit(1)
	}
}

func run(o options) error {
	dir := o.workDir
	if dir == "" {
		d, err := os.MkdirTemp("", "alertcost-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(d)
		dir = d
	}
	p, err := fixture.NewPKI(filepath.Join(dir, "pki"))
	if err != nil {
		return err
	}
	batches := makeBatches(o.lines, o.batch)
	off := filepath.Join(dir, "pack-off.yaml")
	if err := os.WriteFile(off, []byte("connectors:\n  alert:\n    pack: []\n"), 0o600); err != nil {
		return err
	}
	results := map[string][]float64{}
	rates := map[string][]float64{}
	for r := range o.rounds {
		for _, mode := range []string{"on", "off"} {
			configs := []string{o.config}
			if mode == "off" {
				configs = append(configs, off)
			}
			lps, rate, err := runOnce(o, p, filepath.Join(dir, fmt.Sprintf("r%d-%s", r, mode)), configs, batches)
			if err != nil {
				return fmt.Errorf("round %d, pack %s: %w", r, mode, err)
			}
			results[mode] = append(results[mode], lps)
			rates[mode] = append(rates[mode], rate)
			fmt.Printf("round %d pack=%-3s %9.0f lines per gateway CPU-second at %7.0f records/s\n", r, mode, lps, rate)
		}
	}
	on, offv := median(results["on"]), median(results["off"])
	fmt.Printf("median: pack=on %.0f, pack=off %.0f lines per CPU-second; pack on costs %.1f%% more CPU per line\n",
		on, offv, (offv/on-1)*100)
	return nil
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[len(s)/2]
}

func makeBatches(lines, per int) []plog.Logs {
	g := workload.New(1)
	var out []plog.Logs
	var buf []byte
	now := pcommon.NewTimestampFromTime(time.Now())
	for n := 0; n < lines; {
		ld := plog.NewLogs()
		rl := ld.ResourceLogs().AppendEmpty()
		ra := rl.Resource().Attributes()
		// What an agent's fleet_metadata stamps.
		ra.PutStr("device.id", fixture.DeviceID)
		ra.PutStr("host.name", "bench-host")
		ra.PutStr("os.type", "linux")
		ra.PutStr("device.firmware.version", "4.2.1")
		ra.PutStr("fleetlog.agent.version", "0.1.0")
		sl := rl.ScopeLogs().AppendEmpty()
		for i := 0; i < per && n < lines; i++ {
			buf, _ = g.Next(buf[:0])
			lr := sl.LogRecords().AppendEmpty()
			lr.Body().SetStr(string(buf))
			lr.SetObservedTimestamp(now)
			lr.Attributes().PutStr("log.file.name", "app.log")
			n++
		}
		out = append(out, ld)
	}
	return out
}

func runOnce(o options, p *fixture.PKI, dir string, configs []string, batches []plog.Logs) (linesPerCPU, rate float64, err error) {
	if err := fixture.PrivateDir(dir); err != nil {
		return 0, 0, err
	}
	port, err := fixture.FreePort()
	if err != nil {
		return 0, 0, err
	}
	health, _ := fixture.FreePort()
	metrics, _ := fixture.FreePort()
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	args := []string{}
	for _, c := range configs {
		args = append(args, "--config", c)
	}
	logPath := filepath.Join(dir, "gateway.log")
	logf, err := os.Create(logPath)
	if err != nil {
		return 0, 0, err
	}
	defer logf.Close()
	gw, err := agentproc.Start(o.bin, args, []string{
		"FLEETLOG_LISTEN=" + addr, "FLEETLOG_TLS_DIR=" + p.GatewayDir, "FLEETLOG_DATA_DIR=" + dir,
		fmt.Sprintf("FLEETLOG_HEALTH_ADDR=127.0.0.1:%d", health), fmt.Sprintf("FLEETLOG_METRICS_PORT=%d", metrics),
		"FLEETLOG_DENY_LIST=" + filepath.Join(dir, "denied.txt"),
	}, logf)
	if err != nil {
		return 0, 0, err
	}
	defer func() { _ = gw.Stop(15 * time.Second) }()

	conn, err := dial(p, addr)
	if err != nil {
		return 0, 0, err
	}
	defer conn.Close()
	client := plogotlp.NewGRPCClient(conn)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	// Wait until the gateway takes an export.
	deadline := time.Now().Add(30 * time.Second)
	for {
		warm := plog.NewLogs()
		batches[0].CopyTo(warm)
		if _, err = client.Export(ctx, plogotlp.NewExportRequestFromLogs(warm)); err == nil {
			break
		}
		if time.Now().After(deadline) {
			return 0, 0, fmt.Errorf("gateway never took an export: %w (log %s)", err, fixture.Tail(logPath, 20))
		}
		time.Sleep(200 * time.Millisecond)
	}
	before, err := gw.Usage()
	if err != nil {
		return 0, 0, err
	}
	start := time.Now()
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
		next  = make(chan int)
	)
	for range o.streams {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				if _, err := client.Export(ctx, plogotlp.NewExportRequestFromLogs(batches[i])); err != nil {
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
				}
			}
		}()
	}
	records := 0
	for i := range batches {
		if o.rate > 0 {
			// Offer records at the rate: a batch when its time has come.
			due := start.Add(time.Duration(float64(records) / float64(o.rate) * float64(time.Second)))
			time.Sleep(time.Until(due))
		}
		next <- i
		records += batches[i].LogRecordCount()
	}
	close(next)
	wg.Wait()
	elapsed := time.Since(start)
	after, err := gw.Usage()
	if err != nil {
		return 0, 0, err
	}
	if first != nil {
		return 0, 0, fmt.Errorf("export: %w", first)
	}
	cpu := after.CPU - before.CPU
	return float64(records) / cpu.Seconds(), float64(records) / elapsed.Seconds(), nil
}

func dial(p *fixture.PKI, addr string) (*grpc.ClientConn, error) {
	cert, err := tls.LoadX509KeyPair(filepath.Join(p.DeviceDir, "cert.pem"), filepath.Join(p.DeviceDir, "key.pem"))
	if err != nil {
		return nil, err
	}
	ca, err := os.ReadFile(filepath.Join(p.DeviceDir, "ca.pem"))
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(ca) {
		return nil, fmt.Errorf("no CA in %s", p.DeviceDir)
	}
	host := strings.Replace(addr, "127.0.0.1", "localhost", 1)
	creds := credentials.NewTLS(&tls.Config{Certificates: []tls.Certificate{cert}, RootCAs: pool, ServerName: "localhost", MinVersion: tls.VersionTLS13})
	return grpc.NewClient(host, grpc.WithTransportCredentials(creds))
}
