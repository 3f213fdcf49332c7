package main

import (
	"bytes"
	"context"
	"crypto/x509"
	"fmt"
	"io"
	"log"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/fleetlog/fleetlog/bench/internal/agentproc"
	"github.com/fleetlog/fleetlog/bench/internal/fixture"
	"github.com/fleetlog/fleetlog/bench/internal/fleetload"
	"github.com/fleetlog/fleetlog/bench/internal/report"
	"github.com/fleetlog/fleetlog/internal/pki"
	"github.com/fleetlog/fleetlog/internal/spoolstamp"
)

// fullDevices is the full-size fleet (-full).
const fullDevices = 10_000

// poolRecords is how many workload lines are encoded once and sent by every
// device in turn.
const poolRecords = 1 << 16

// sampleEvery is how often the gateway's usage, archive counter and
// connections are sampled for the chart.
const sampleEvery = 2 * time.Second

type deviceOptions struct {
	bin, root, overlay string
	keep               bool
	// workDir, when set, is used (and kept) instead of a temporary one.
	workDir string

	devices                  int
	rate, alpha, maxRate     float64
	ramp, warmup, window     time.Duration
	maxRecords               int
	flush                    time.Duration
	burstEvery, burstFor     time.Duration
	burstFactor              float64
	reconnectEvery           time.Duration
	compression              string
	out, chart, profile      string
	simProfile               string
	seed                     uint64
	gatewayStop, exportLimit time.Duration
}

func defaultDeviceOptions() deviceOptions {
	return deviceOptions{
		devices: 2_000, rate: 220_000, alpha: 1.2, maxRate: 5_000,
		ramp: 20 * time.Second, warmup: 10 * time.Second, window: time.Minute,
		maxRecords: 2048, flush: time.Second,
		burstEvery: 2 * time.Minute, burstFor: 5 * time.Second, burstFactor: 5,
		reconnectEvery: 10 * time.Minute, compression: "zstd",
		out: "bench/results/fleet.md", chart: "bench/results/fleet.svg",
		seed: 1, gatewayStop: time.Minute, exportLimit: 30 * time.Second,
	}
}

// deviceRun is what one run measured.
type deviceRun struct {
	opts    deviceOptions
	dataDir string
	devices []*fleetload.Device
	stats   *fleetload.Stats

	issued             time.Duration
	gatewayCPU, simCPU time.Duration
	// gatewayReads and gatewayWrites are the gateway's read and write
	// system calls over the window.
	gatewayReads, gatewayWrites int64
	simPeakRSS                  int64
	archived                    float64 // records into the archive in the window
	peakRSS, endRSS             int64
	connMin, connMax            int
	failedInWindow              int64
	requestsInWindow            int64
	p50, p99, pMax              time.Duration
	ackedTotal                  int64
	samples                     []sample
	loadAvg                     string
	profileCPU                  string
}

type sample struct {
	at          time.Duration // since the first device started
	recordsPerS float64
	rssMB       float64
	conns       int
}

func (r *deviceRun) recordsPerSecond() float64 { return r.archived / r.opts.window.Seconds() }

func (r *deviceRun) cpuPerMillion(cpu time.Duration) float64 {
	if r.archived == 0 {
		return 0
	}
	return cpu.Seconds() / (r.archived / 1e6)
}

// acceptedInWindow is the exports of the window the gateway acknowledged:
// every export sent, less those that failed (refused as busy, timed out,
// partly rejected).
func (r *deviceRun) acceptedInWindow() int64 { return r.requestsInWindow - r.failedInWindow }

// perAcceptedExport is x ÷ the exports of the window the gateway
// acknowledged, 0 without any.
func (r *deviceRun) perAcceptedExport(x float64) float64 {
	if n := r.acceptedInWindow(); n > 0 {
		return x / float64(n)
	}
	return 0
}

// recordsPerExport is the mean records an acknowledged export carried.
func (r *deviceRun) recordsPerExport() float64 { return r.perAcceptedExport(r.archived) }

// callsPerExport is the gateway's read and write system calls over the
// window ÷ acknowledged exports.
func (r *deviceRun) callsPerExport() (reads, writes float64) {
	return r.perAcceptedExport(float64(r.gatewayReads)), r.perAcceptedExport(float64(r.gatewayWrites))
}

// cpuPerExport is the gateway's CPU over the window ÷ acknowledged exports:
// with few refusals, the fixed cost of an export plus its records'. Runs
// with different records per export (-batch, -flush) separate the two.
func (r *deviceRun) cpuPerExport() time.Duration {
	return time.Duration(r.perAcceptedExport(float64(r.gatewayCPU)))
}

func runDevices(o deviceOptions, w io.Writer) (*deviceRun, error) {
	dir := o.workDir
	if dir == "" {
		d, err := os.MkdirTemp("", "fleetsim-")
		if err != nil {
			return nil, err
		}
		if !o.keep {
			defer os.RemoveAll(d)
		} else {
			log.Printf("working directory %s", d)
		}
		dir = d
	}
	run := &deviceRun{opts: o, dataDir: filepath.Join(dir, "gateway-data"), stats: &fleetload.Stats{}}
	certs := filepath.Join(dir, "pki")
	res, err := pki.Init(certs, pki.InitOptions{FleetName: "sim"})
	if err != nil {
		return nil, err
	}
	caCert, err := pki.LoadCertificate(res.CACert)
	if err != nil {
		return nil, err
	}
	roots := x509.NewCertPool()
	roots.AddCert(caCert)

	rng := rand.New(rand.NewPCG(o.seed, o.seed+1))
	rates := fleetload.Rates(rng, o.devices, o.rate, o.alpha, o.maxRate)
	t0 := time.Now()
	if run.devices, err = issueDevices(certs, rates, rng); err != nil {
		return nil, err
	}
	run.issued = time.Since(t0)
	log.Printf("issued %d device certificates in %s", o.devices, run.issued.Round(time.Millisecond))

	var addrs [4]string
	for i := range addrs {
		if addrs[i], err = freeAddr(); err != nil {
			return nil, err
		}
	}
	otlp, admin, health, metrics := addrs[0], addrs[1], addrs[2], addrs[3]
	_, metricsPort, _ := net.SplitHostPort(metrics)
	_, otlpPort, _ := net.SplitHostPort(otlp)
	configs := []string{filepath.Join(o.root, "distributions/gateway/config.yaml")}
	if o.overlay != "" {
		configs = append(configs, o.overlay)
	}
	var pprofAddr string
	if o.profile != "" {
		if err := os.MkdirAll(o.profile, 0o755); err != nil {
			return nil, err
		}
		var ov string
		if ov, pprofAddr, err = profileOverlay(configs, dir); err != nil {
			return nil, err
		}
		configs = append(configs, ov)
	}
	var args []string
	for _, c := range configs {
		args = append(args, "--config", c)
	}
	logPath := filepath.Join(dir, "gateway.log")
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	gw, err := agentproc.Start(o.bin, args, []string{
		"FLEETLOG_LISTEN=" + otlp, "FLEETLOG_ADMIN_LISTEN=" + admin, "FLEETLOG_HEALTH_ADDR=" + health,
		"FLEETLOG_METRICS_PORT=" + metricsPort, "FLEETLOG_TLS_DIR=" + filepath.Join(certs, pki.GatewayDirName),
		"FLEETLOG_DATA_DIR=" + run.dataDir, "FLEETLOG_DENY_LIST=" + filepath.Join(dir, "denied.txt"),
		"FLEETLOG_GATEWAY_ID=fleetsim",
	}, logf)
	if err != nil {
		return nil, err
	}
	stopped := false
	stopGateway := func() error {
		if stopped {
			return nil
		}
		stopped = true
		return gw.Stop(o.gatewayStop)
	}
	defer func() { _ = stopGateway() }()
	if err := waitHealthy(health, 60*time.Second); err != nil {
		return nil, fmt.Errorf("%w\n%s", err, fixture.Tail(logPath, 30))
	}

	fleet := &fleetload.Fleet{
		Addr: otlp, ServerName: "localhost", RootCAs: roots,
		Pool:       fleetload.NewPool(o.seed, poolRecords),
		MaxRecords: o.maxRecords, Flush: o.flush, Timeout: o.exportLimit, Retry: time.Second, RetryMax: 30 * time.Second,
		BurstEvery: o.burstEvery, BurstFor: o.burstFor, BurstFactor: o.burstFactor,
		ReconnectEvery: o.reconnectEvery, Stats: run.stats,
	}
	if o.compression != "none" {
		fleet.Compression = o.compression
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var wg sync.WaitGroup
	start := time.Now()
	for i, d := range run.devices {
		delay := time.Duration(int64(o.ramp) * int64(i) / int64(len(run.devices)))
		devRNG := rand.New(rand.NewPCG(o.seed, uint64(i)+2))
		wg.Add(1)
		go func() {
			defer wg.Done()
			t := time.NewTimer(delay)
			defer t.Stop()
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			fleet.Run(ctx, d, devRNG)
		}()
	}
	stopDevices := func() {
		cancel()
		wg.Wait()
	}
	defer stopDevices()

	// Sample through the ramp, the warm-up and the window.
	archivedNow := func() float64 {
		v, _ := counter(metricsPort, "otelcol_archive_records_written")
		return v
	}
	var (
		windowStart, windowEnd time.Time
		gw0, sim0              agentproc.Usage
		arch0                  float64
		requests0, failed0     int64
		profileDone            = make(chan error, 1)
		stopSimProfile         func() error
	)
	defer func() {
		if stopSimProfile != nil {
			_ = stopSimProfile()
		}
	}()
	windowAt := start.Add(o.ramp + o.warmup)
	endAt := windowAt.Add(o.window)
	lastArch, lastAt := archivedNow(), time.Now()
	run.connMin = -1
	for {
		now := time.Now()
		if windowStart.IsZero() && !now.Before(windowAt) {
			windowStart = now
			if gw0, err = gw.Usage(); err != nil {
				return nil, fmt.Errorf("gateway: %w\n%s", err, fixture.Tail(logPath, 30))
			}
			if sim0, err = agentproc.ReadUsage(os.Getpid()); err != nil {
				return nil, err
			}
			arch0 = archivedNow()
			requests0, failed0 = run.stats.Requests.Load(), run.stats.Failed.Load()
			run.stats.StartWindow()
			if o.simProfile != "" {
				if stopSimProfile, err = startCPUProfile(o.simProfile); err != nil {
					return nil, err
				}
			}
			if pprofAddr != "" {
				run.profileCPU = filepath.Join(o.profile, "gateway.cpu.pprof")
				go func() {
					profileDone <- fetch(pprofAddr, fmt.Sprintf("profile?seconds=%d", int(o.window.Seconds())), run.profileCPU, o.window+time.Minute)
				}()
				// Where the gateway's goroutines wait, half-way through.
				time.AfterFunc(o.window/2, func() {
					if err := fetch(pprofAddr, "goroutine?debug=1", filepath.Join(o.profile, "gateway.goroutines.txt"), time.Minute); err != nil {
						log.Printf("goroutine profile: %v", err)
					}
				})
			}
			log.Printf("measuring for %s", o.window)
		}
		if !windowStart.IsZero() && !now.Before(endAt) {
			windowEnd = now
			run.stats.StopWindow()
			if stopSimProfile != nil {
				if err := stopSimProfile(); err != nil {
					return nil, err
				}
				stopSimProfile = nil
			}
			gw1, err := gw.Usage()
			if err != nil {
				return nil, fmt.Errorf("gateway: %w\n%s", err, fixture.Tail(logPath, 30))
			}
			sim1, err := agentproc.ReadUsage(os.Getpid())
			if err != nil {
				return nil, err
			}
			run.archived = archivedNow() - arch0
			run.gatewayCPU, run.simCPU = gw1.CPU-gw0.CPU, sim1.CPU-sim0.CPU
			run.gatewayReads, run.gatewayWrites = gw1.ReadCalls-gw0.ReadCalls, gw1.WriteCalls-gw0.WriteCalls
			run.simPeakRSS = sim1.PeakRSS
			run.endRSS = gw1.RSS
			run.peakRSS = max(run.peakRSS, gw1.PeakRSS)
			run.requestsInWindow = run.stats.Requests.Load() - requests0
			run.failedInWindow = run.stats.Failed.Load() - failed0
			break
		}
		u, err := gw.Usage()
		if err != nil {
			return nil, fmt.Errorf("gateway: %w\n%s", err, fixture.Tail(logPath, 30))
		}
		conns, err := establishedOn(otlpPort)
		if err != nil {
			return nil, fmt.Errorf("count the gateway's connections: %w", err)
		}
		arch := archivedNow()
		// A rate over less than a second (the window's start, just after
		// a sample) says little: such a sample is left out of the chart.
		if dt := now.Sub(lastAt).Seconds(); dt >= 1 {
			run.samples = append(run.samples, sample{
				at: now.Sub(start), rssMB: float64(u.RSS) / 1e6, conns: conns,
				recordsPerS: (arch - lastArch) / dt,
			})
			lastArch, lastAt = arch, now
		}
		if !windowStart.IsZero() {
			run.peakRSS = max(run.peakRSS, u.PeakRSS)
			if run.connMin < 0 || conns < run.connMin {
				run.connMin = conns
			}
			run.connMax = max(run.connMax, conns)
		}
		// The next sample, or the window's start or end if sooner.
		next := now.Add(sampleEvery)
		for _, at := range []time.Time{windowAt, endAt} {
			if at.After(now) && at.Before(next) {
				next = at
			}
		}
		time.Sleep(time.Until(next))
	}
	run.window(windowEnd.Sub(windowStart))
	run.p50, run.p99, run.pMax = run.stats.Latency.Quantile(0.5), run.stats.Latency.Quantile(0.99), run.stats.Latency.Quantile(1)
	if pprofAddr != "" {
		if err := <-profileDone; err != nil {
			log.Printf("CPU profile: %v", err)
		}
		for _, name := range []string{"heap", "mutex", "block"} {
			if err := fetch(pprofAddr, name, filepath.Join(o.profile, "gateway."+name+".pprof"), time.Minute); err != nil {
				log.Printf("%s profile: %v", name, err)
			}
		}
		// The runtime's memory statistics (runtime.MemStats, at the end of
		// the text form): goroutine stacks and runtime metadata are in
		// the RSS but not in the heap profile.
		if err := fetch(pprofAddr, "heap?debug=1", filepath.Join(o.profile, "gateway.memstats.txt"), time.Minute); err != nil {
			log.Printf("memory statistics: %v", err)
		}
	}
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		run.loadAvg = strings.Join(strings.Fields(string(b))[:3], " ")
	}
	stopDevices()
	run.ackedTotal = run.stats.Acked.Load()
	if err := stopGateway(); err != nil {
		return run, fmt.Errorf("stop gateway: %w", err)
	}
	if err := run.print(w); err != nil {
		return run, err
	}
	if o.out != "" {
		if err := run.writeMarkdown(o.out); err != nil {
			return run, err
		}
	}
	if o.chart != "" {
		if err := run.writeChart(o.chart); err != nil {
			return run, err
		}
	}
	return run, nil
}

// window records the measured window's real length in the options the
// rates are computed from.
func (r *deviceRun) window(d time.Duration) {
	if d > 0 {
		r.opts.window = d
	}
}

// issueDevices signs a certificate per device with the fleet CA in certs,
// in memory, on every core.
func issueDevices(certs string, rates []float64, rng *rand.Rand) ([]*fleetload.Device, error) {
	is, err := pki.NewIssuer(certs)
	if err != nil {
		return nil, err
	}
	devices := make([]*fleetload.Device, len(rates))
	for i, rate := range rates {
		id := make([]byte, spoolstamp.IDLen)
		for j := range id {
			id[j] = "0123456789abcdef"[rng.IntN(16)]
		}
		site := fmt.Sprintf("site-%02d", i%20)
		devices[i] = &fleetload.Device{
			ID: deviceID(i), Rate: rate, SpoolID: string(id),
			Resource: fleetload.NewResource(deviceID(i), "sim", site),
		}
	}
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
		next  = make(chan int)
	)
	for range runtime.GOMAXPROCS(0) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				d := devices[i]
				site := fmt.Sprintf("site-%02d", i%20)
				c, err := is.Device(pki.DeviceOptions{DeviceID: d.ID, Fleet: "sim", Site: site})
				if err != nil {
					mu.Lock()
					first = err
					mu.Unlock()
					continue
				}
				d.Cert = c.TLSCertificate()
			}
		}()
	}
	for i := range devices {
		next <- i
	}
	close(next)
	wg.Wait()
	return devices, first
}

// profileOverlay adds the pprof extension, with mutex and block profiles
// on, to configs.
func profileOverlay(configs []string, dir string) (path, addr string, err error) {
	if path, addr, err = fixture.ProfileOverlay(configs, dir, ""); err != nil {
		return "", "", err
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", "", err
	}
	// One in 100 contention events; a block event per 100 µs blocked.
	b = bytes.Replace(b, []byte("pprof:\n"), []byte("pprof:\n        mutex_profile_fraction: 100\n        block_profile_fraction: 100000\n"), 1)
	return path, addr, os.WriteFile(path, b, 0o600)
}

// startCPUProfile writes the simulator's own CPU profile to path until the
// returned function is called.
func startCPUProfile(path string) (func() error, error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() error {
		pprof.StopCPUProfile()
		return f.Close()
	}, nil
}

// fetch saves http://addr/debug/pprof/name into path.
func fetch(addr, name, path string, timeout time.Duration) error {
	client := http.Client{Timeout: timeout}
	resp, err := client.Get("http://" + addr + "/debug/pprof/" + name)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s", name, resp.Status)
	}
	var b bytes.Buffer
	if _, err := b.ReadFrom(resp.Body); err != nil {
		return err
	}
	return os.WriteFile(path, b.Bytes(), 0o644)
}

// Goals of the full-size run.
const (
	goalRecordsPerS   = 200_000
	goalCPUPerMillion = 5.0
	goalP99           = 500 * time.Millisecond
	goalRSSBytes      = 1.5e9
)

func (r *deviceRun) goals() []string {
	o := r.opts
	errs := r.failedInWindow + r.stats.Rejected.Load()
	return []string{
		fmt.Sprintf("%d devices connected at once: at most %d held, at least %d (a reconnecting device is briefly missing) — %s",
			o.devices, r.connMax, r.connMin, report.Met(r.connMax >= o.devices)),
		fmt.Sprintf("no errors: %d failed exports in the window (%d over the whole run) — %s",
			r.failedInWindow, r.stats.Failed.Load(), report.Met(errs == 0)),
		fmt.Sprintf("≥ %d records/s into the archive: %.0f — %s", goalRecordsPerS, r.recordsPerSecond(), report.Met(r.recordsPerSecond() >= goalRecordsPerS)),
		fmt.Sprintf("≤ %.0f gateway CPU-seconds per million records: %.2f — %s", goalCPUPerMillion, r.cpuPerMillion(r.gatewayCPU), report.Met(r.archived > 0 && r.cpuPerMillion(r.gatewayCPU) <= goalCPUPerMillion)),
		fmt.Sprintf("p99 ack ≤ %s: %s — %s", goalP99, r.p99.Round(time.Millisecond), report.Met(r.p99 > 0 && r.p99 <= goalP99)),
		fmt.Sprintf("gateway RSS ≤ 1.5 GB: peak %.0f MB — %s", float64(r.peakRSS)/1e6, report.Met(r.peakRSS <= goalRSSBytes)),
	}
}

func (r *deviceRun) print(w io.Writer) error {
	o := r.opts
	var b strings.Builder
	fmt.Fprintf(&b, "\nfleetsim: %d devices, %.0f records/s offered (Pareto α=%.2f, cap %.0f/s per device), window %s\n",
		o.devices, o.rate, o.alpha, o.maxRate, o.window.Round(time.Second))
	fmt.Fprintf(&b, "  into the archive:       %10.0f records/s (%.0f records)\n", r.recordsPerSecond(), r.archived)
	fmt.Fprintf(&b, "  gateway CPU:            %10.2f s per million records (%.1f cores)\n", r.cpuPerMillion(r.gatewayCPU), r.gatewayCPU.Seconds()/o.window.Seconds())
	fmt.Fprintf(&b, "  gateway CPU µs per accepted export: %.0f (%d accepted, %.1f records each on average; %d refused or failed)\n",
		float64(r.cpuPerExport())/float64(time.Microsecond), r.acceptedInWindow(), r.recordsPerExport(), r.failedInWindow)
	reads, writes := r.callsPerExport()
	fmt.Fprintf(&b, "  gateway system calls per accepted export: %.1f reads, %.1f writes\n", reads, writes)
	fmt.Fprintf(&b, "  simulator CPU:          %10.2f s per million records (%.1f cores), %.0f MB peak RSS\n", r.cpuPerMillion(r.simCPU), r.simCPU.Seconds()/o.window.Seconds(), float64(r.simPeakRSS)/1e6)
	fmt.Fprintf(&b, "  gateway RSS:            %10.0f MB peak, %.0f MB at the end\n", float64(r.peakRSS)/1e6, float64(r.endRSS)/1e6)
	fmt.Fprintf(&b, "  send to ack:            p50 %s, p99 %s, max %s over %d exports\n", r.p50.Round(100*time.Microsecond), r.p99.Round(100*time.Microsecond), r.pMax.Round(time.Millisecond), r.requestsInWindow)
	fmt.Fprintf(&b, "  connections held:       %d to %d\n", r.connMin, r.connMax)
	fmt.Fprintf(&b, "  errors:                 %d in the window, %d in the run\n", r.failedInWindow, r.stats.Failed.Load())
	for _, e := range r.stats.Errors() {
		fmt.Fprintf(&b, "    %6d × %s\n", e.Count, e.Message)
	}
	for _, g := range r.goals() {
		fmt.Fprintf(&b, "  goal: %s\n", g)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func (r *deviceRun) writeMarkdown(path string) error {
	o := r.opts
	var b strings.Builder
	b.WriteString("# Fleet simulator: one gateway under a fleet of OTLP devices\n\n")
	fmt.Fprintf(&b, "`go run ./bench/fleetsim -devices %d -rate %.0f -duration %s` (see [../README.md](../README.md#fleet-simulator)), %s UTC, load average at the end %s.\n\n",
		o.devices, o.rate, o.window.Round(time.Second), time.Now().UTC().Format("2006-01-02 15:04"), r.loadAvg)
	fmt.Fprintf(&b, "%d devices, certificates issued in %s; per-device rates Pareto α=%.2f (cap %.0f/s), bursts ×%.0f for %s every %s per device on average, a reconnect every %s per device on average; batches of at most %d records or every %s; compression %s.\n\n",
		o.devices, r.issued.Round(time.Millisecond), o.alpha, o.maxRate, o.burstFactor, o.burstFor, o.burstEvery, o.reconnectEvery, o.maxRecords, o.flush, o.compression)
	b.WriteString("| measure | value |\n|---|---:|\n")
	row := func(k, v string) { fmt.Fprintf(&b, "| %s | %s |\n", k, v) }
	row("records/s into the archive", fmt.Sprintf("%.0f", r.recordsPerSecond()))
	row("gateway CPU-s per million records", fmt.Sprintf("%.2f", r.cpuPerMillion(r.gatewayCPU)))
	row("gateway CPU, cores", fmt.Sprintf("%.2f", r.gatewayCPU.Seconds()/o.window.Seconds()))
	row("simulator CPU-s per million records", fmt.Sprintf("%.2f", r.cpuPerMillion(r.simCPU)))
	row("simulator CPU, cores", fmt.Sprintf("%.2f", r.simCPU.Seconds()/o.window.Seconds()))
	row("simulator peak RSS, MB", fmt.Sprintf("%.0f", float64(r.simPeakRSS)/1e6))
	row("gateway peak RSS, MB", fmt.Sprintf("%.0f", float64(r.peakRSS)/1e6))
	row("send to ack p50", r.p50.Round(100*time.Microsecond).String())
	row("send to ack p99", r.p99.Round(100*time.Microsecond).String())
	row("exports in the window", strconv.FormatInt(r.requestsInWindow, 10))
	row("records per accepted export (mean)", fmt.Sprintf("%.1f", r.recordsPerExport()))
	row("gateway CPU µs per accepted export", fmt.Sprintf("%.0f", float64(r.cpuPerExport())/float64(time.Microsecond)))
	reads, writes := r.callsPerExport()
	row("gateway read / write system calls per accepted export", fmt.Sprintf("%.1f / %.1f", reads, writes))
	row("connections held (min–max)", fmt.Sprintf("%d–%d", r.connMin, r.connMax))
	row("failed exports (window / run)", fmt.Sprintf("%d / %d", r.failedInWindow, r.stats.Failed.Load()))
	b.WriteString("\n")
	for _, g := range r.goals() {
		fmt.Fprintf(&b, "- %s\n", g)
	}
	if errs := r.stats.Errors(); len(errs) > 0 {
		b.WriteString("\nErrors:\n\n")
		for _, e := range errs {
			fmt.Fprintf(&b, "- %d × `%s`\n", e.Count, e.Message)
		}
	}
	fmt.Fprintf(&b, "\n![records/s, RSS and connections over the run](%s)\n", filepath.Base(o.chart))
	return os.WriteFile(path, []byte(b.String()), 0o644)
}

func (r *deviceRun) writeChart(path string) error {
	xs := make([]float64, len(r.samples))
	rate, rss, conns := make([]float64, len(r.samples)), make([]float64, len(r.samples)), make([]float64, len(r.samples))
	for i, s := range r.samples {
		xs[i] = s.at.Seconds()
		rate[i], rss[i], conns[i] = s.recordsPerS, s.rssMB, float64(s.conns)
	}
	mark := (r.opts.ramp + r.opts.warmup).Seconds()
	var b bytes.Buffer
	if err := report.Lines(&b, fmt.Sprintf("fleetsim: %d devices against one gateway (window from the dashed line)", r.opts.devices), mark, []report.Series{
		{Title: "records/s into the archive", X: xs, Y: rate, Format: "%.0f"},
		{Title: "gateway RSS, MB", X: xs, Y: rss, Format: "%.0f"},
		{Title: "connections held", X: xs, Y: conns, Format: "%.0f"},
	}); err != nil {
		return err
	}
	return os.WriteFile(path, b.Bytes(), 0o644)
}
