// Command e2e is the end-to-end agent benchmark: the same workload through
// fleetlog's agent pipeline (a) and the stock contrib pipeline (b), both run
// from the same bin/fleetlog binary as separate processes shipping over
// OTLP/gRPC (mutual TLS, zstd) to a sink of their own on loopback, and
// through the peers rsyslog (c) and syslog-ng (d) from their Debian packages,
// each forwarding syslog over mutual TLS to a syslog receiver of its own on
// loopback. Rounds alternate the pipelines; each run is timed until its
// receiver holds every line, counted by the lines' ids.
//
//	go run ./bench/e2e [-lines 1000000] [-seed 1] [-rounds 3] [-only a,b,c,d]
//
// It prints the medians as a Markdown table with the ratios of (a) to the
// others and writes bench/results/e2e.md and e2e.svg. A peer that is not
// installed is skipped with a message. Run it from the repository root.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/fleetlog/fleetlog/bench/internal/agentproc"
	"github.com/fleetlog/fleetlog/bench/internal/fixture"
	"github.com/fleetlog/fleetlog/bench/internal/peer"
	"github.com/fleetlog/fleetlog/bench/internal/report"
	"github.com/fleetlog/fleetlog/bench/internal/syslogsink"
	"github.com/fleetlog/fleetlog/bench/internal/workload"
)

// Goals the results are checked against.
const (
	goalRatio        = 15.0
	goalRsyslogRatio = 2.0
	goalPeakRSSMiB   = 35.0
	goalDiskPerInput = 1.1 // bytes written to disk per byte of workload
)

// pipeline is one agent setup under test: a collector (bin with configs)
// or a peer daemon.
type pipeline struct {
	key, name, bin string
	configs        []string
	peer           *peer.Peer
}

type options struct {
	bin, agentBin, agentConfig, configDir, outDir string
	only, workDir                                 string
	profileDir, env                               string
	rsyslog, syslogNG, note                       string
	lines, rounds                                 int
	seed                                          uint64
	timeout, stall                                time.Duration
	keep                                          bool
	// Set by run: the peers that run, the load average when it began.
	peers     []pipeline
	loadStart string
}

func main() {
	var o options
	flag.StringVar(&o.bin, "bin", "bin/fleetlog", "collector binary both pipelines run from")
	flag.StringVar(&o.agentBin, "agent-bin", "", "also run pipeline (a) from this agent-only binary (e.g. bin/fleetlog-agent), as a third pipeline")
	flag.StringVar(&o.agentConfig, "agent-config", "distributions/agent/config.yaml", "the shipped agent role config, pipeline (a)")
	flag.StringVar(&o.configDir, "configs", "bench/e2e/configs", "directory with fleetlog.yaml (overlay for (a)), contrib.yaml (b) and the peers' config templates (c, d)")
	flag.StringVar(&o.outDir, "out", "bench/results", "where to write e2e.md and e2e.svg; empty writes nothing")
	flag.StringVar(&o.only, "only", "", "run only these pipelines, comma-separated: a (fleetlog), b (contrib), c (rsyslog), d (syslog-ng)")
	flag.StringVar(&o.rsyslog, "rsyslog", "", "rsyslogd to run as peer (c) (default: on PATH or /usr/sbin)")
	flag.StringVar(&o.syslogNG, "syslog-ng", "", "syslog-ng to run as peer (d) (default: on PATH, /usr/sbin or unpacked under "+peer.SyslogNGRoot+")")
	flag.StringVar(&o.workDir, "workdir", "", "scratch directory (default: a new temporary one)")
	flag.IntVar(&o.lines, "lines", 1_000_000, "workload lines")
	flag.IntVar(&o.rounds, "rounds", 3, "rounds; each runs every pipeline once")
	flag.Uint64Var(&o.seed, "seed", 1, "workload seed")
	flag.DurationVar(&o.timeout, "timeout", 10*time.Minute, "longest a single run may take")
	flag.DurationVar(&o.stall, "stall", 30*time.Second, "a run whose receiver gets nothing new for this long ends with the lines it has; the rest count as lost")
	flag.StringVar(&o.profileDir, "profile", "", "write each run's agent CPU profile (its whole life) and, at completion, heap and allocs profiles here; profiling costs the agent CPU, so such runs are not comparable to others")
	flag.StringVar(&o.env, "env", "", "extra environment for both agents, comma-separated KEY=VALUE (e.g. GOMAXPROCS=1)")
	flag.StringVar(&o.note, "note", "", "a line about the machine for the results (e.g. what else ran on it)")
	flag.BoolVar(&o.keep, "keep", false, "keep the scratch directory (agent logs, data directories)")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, o); err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, o options) error {
	o.loadStart = loadAverage()
	pipes, err := selectPipelines(o)
	if err != nil {
		return err
	}
	for _, p := range pipes {
		if p.peer != nil {
			o.peers = append(o.peers, p)
			continue
		}
		needs, err := fixture.ComponentTypes(p.configs)
		if err != nil {
			return err
		}
		missing, err := fixture.MissingComponents(p.bin, needs)
		if err != nil {
			return err
		}
		if len(missing) > 0 {
			return fmt.Errorf("pipeline %s needs %s, which %s does not include; rebuild it or run the other pipeline with -only",
				p.name, strings.Join(missing, ", "), p.bin)
		}
	}

	work := o.workDir
	if work == "" {
		if work, err = os.MkdirTemp("", "fleetlog-e2e-"); err != nil {
			return err
		}
	}
	if !o.keep {
		defer os.RemoveAll(work)
	} else {
		fmt.Fprintln(os.Stderr, "scratch directory:", work)
	}
	certs, err := fixture.NewPKI(filepath.Join(work, "pki"))
	if err != nil {
		return err
	}
	logFile := filepath.Join(work, "logs", "workload.log")
	st, err := writeWorkload(logFile, o.seed, o.lines)
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "workload: %d lines, %.1f MiB, %d (%.1f%%) with PII or secrets, seed %d\n",
		st.Lines, float64(st.Bytes)/(1<<20), st.PII, 100*float64(st.PII)/float64(st.Lines), o.seed)

	var runs []report.Run
	for round := 1; round <= o.rounds; round++ {
		for _, p := range pipes {
			if err := ctx.Err(); err != nil {
				return err
			}
			r, err := runOnce(ctx, o, p, certs, logFile, round, work)
			if err != nil {
				return fmt.Errorf("round %d, %s: %w", round, p.name, err)
			}
			fmt.Fprintf(os.Stderr, "round %d %-18s wall %6.2fs  cpu %6.2fs  %8.0f lines/CPU-s  peak RSS %6s MiB  disk %6s MiB  queue %6s MiB  wire %6s MiB  lost %d  dup %d  leaked %d\n",
				round, p.name, r.Wall.Seconds(), r.CPU.Seconds(), r.LinesPerCPUSecond(), report.MiB(r.PeakRSS),
				report.MiB(r.DiskWrite), report.MiB(r.QueueBytes), report.MiB(r.WireBytes), r.Lost, r.Duplicated, r.Leaked)
			runs = append(runs, r)
		}
	}

	sums := report.Summarize(runs)
	if err := report.Table(os.Stdout, sums); err != nil {
		return err
	}
	goals := goalLines(sums, st.Bytes)
	fmt.Println()
	for _, g := range goals {
		fmt.Println(g)
	}
	if o.outDir == "" {
		return nil
	}
	return writeResults(o, st, sums, runs, goals)
}

// selectPipelines returns the pipelines to run, in order: (a), (b), (a)
// from the agent-only binary, then the peers that are installed; a peer
// that is not is left out with a message on stderr.
func selectPipelines(o options) ([]pipeline, error) {
	want := map[string]bool{}
	if o.only == "" {
		for _, k := range []string{"a", "b", "c", "d"} {
			want[k] = true
		}
	}
	for _, k := range strings.Split(o.only, ",") {
		switch k = strings.TrimSpace(k); k {
		case "":
		case "a", "b", "c", "d":
			want[k] = true
		default:
			return nil, fmt.Errorf("-only %q: want a comma-separated list of a, b, c, d", o.only)
		}
	}
	var pipes []pipeline
	a := pipeline{
		key: "a", name: "(a) fleetlog", bin: o.bin,
		configs: []string{o.agentConfig, filepath.Join(o.configDir, "fleetlog.yaml")},
	}
	if want["a"] {
		pipes = append(pipes, a)
	}
	if want["b"] {
		pipes = append(pipes, pipeline{
			key: "b", name: "(b) contrib", bin: o.bin,
			configs: []string{filepath.Join(o.configDir, "contrib.yaml")},
		})
	}
	if o.agentBin != "" && want["a"] {
		slim := a
		slim.key, slim.name, slim.bin = "a-slim", "(a) "+filepath.Base(o.agentBin), o.agentBin
		pipes = append(pipes, slim)
	}
	for _, c := range []struct {
		key  string
		find func(string) (*peer.Peer, error)
		bin  string
	}{{"c", peer.Rsyslog, o.rsyslog}, {"d", peer.SyslogNG, o.syslogNG}} {
		if !want[c.key] {
			continue
		}
		p, err := c.find(c.bin)
		if errors.Is(err, peer.ErrAbsent) {
			fmt.Fprintf(os.Stderr, "e2e: skipping pipeline (%s): %v\n", c.key, err)
			continue
		}
		if err != nil {
			return nil, err
		}
		pipes = append(pipes, pipeline{key: c.key, name: "(" + c.key + ") " + p.Name, bin: p.Bin, peer: p})
	}
	if len(pipes) == 0 {
		return nil, errors.New("no pipeline to run")
	}
	return pipes, nil
}

func writeWorkload(path string, seed uint64, lines int) (workload.Stats, error) {
	if err := fixture.PrivateDir(filepath.Dir(path)); err != nil {
		return workload.Stats{}, err
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return workload.Stats{}, err
	}
	st, err := workload.Write(f, seed, lines)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return st, err
}

// runOnce runs one agent over the whole workload with a fresh data
// directory and a fresh receiver.
func runOnce(ctx context.Context, o options, p pipeline, certs *fixture.PKI, logFile string, round int, work string) (report.Run, error) {
	dir := filepath.Join(work, fmt.Sprintf("run-%d-%s", round, p.key))
	if err := fixture.PrivateDir(dir); err != nil {
		return report.Run{}, err
	}
	if p.peer != nil {
		return runPeer(ctx, o, p, certs, logFile, round, dir)
	}
	r := report.Run{Pipeline: p.name, Round: round, Lines: int64(o.lines)}
	configs := p.configs
	var pprofAddr, profilePrefix string
	if o.profileDir != "" {
		if err := os.MkdirAll(o.profileDir, 0o755); err != nil {
			return r, err
		}
		profilePrefix = filepath.Join(o.profileDir, fmt.Sprintf("%s-%d", p.key, round))
		overlay, addr, err := fixture.ProfileOverlay(configs, dir, profilePrefix+".cpu.pprof")
		if err != nil {
			return r, err
		}
		configs, pprofAddr = append(slices.Clone(configs), overlay), addr
	}
	var env []string
	if o.env != "" {
		env = strings.Split(o.env, ",")
	}
	ledger := workload.NewLedger(o.lines)
	agent, err := fixture.StartAgent(p.bin, configs, certs, dir, logFile, env, ledger)
	if err != nil {
		return r, err
	}
	defer agent.Stop()

	// The agent keeps its spool (or file_storage) in the data directory.
	end, err := waitForAll(ctx, agent.Proc, ledger, filepath.Join(dir, "data"), o)
	if err != nil {
		return r, agent.Failed(err)
	}
	if pprofAddr != "" {
		for _, name := range []string{"heap", "allocs"} {
			if err := fixture.SaveProfile(pprofAddr, name, profilePrefix+"."+name+".pprof"); err != nil {
				return r, err
			}
		}
	}
	c := agent.Sink.Counts()
	end.fill(&r, agent.Started())
	r.Leaked, r.WireBytes = c.Leaked, c.WireBytes
	if err := agent.Stop(); err != nil {
		fmt.Fprintf(os.Stderr, "round %d %s: %v\n", round, p.name, err)
	}
	return r, nil
}

// runPeer runs a peer daemon over the whole workload, forwarding to a
// syslog receiver of its own, with fresh state and queue directories.
func runPeer(ctx context.Context, o options, p pipeline, certs *fixture.PKI, logFile string, round int, dir string) (report.Run, error) {
	r := report.Run{Pipeline: p.name, Round: round, Lines: int64(o.lines)}
	state := filepath.Join(dir, "state")
	params := peer.Params{
		LogFile:  logFile,
		CAFile:   filepath.Join(certs.DeviceDir, "ca.pem"),
		CertFile: filepath.Join(certs.DeviceDir, "cert.pem"),
		KeyFile:  filepath.Join(certs.DeviceDir, "key.pem"),
		DeviceID: fixture.DeviceID,
		WorkDir:  state, QueueDir: filepath.Join(state, "queue"),
	}
	for _, d := range []string{params.WorkDir, params.QueueDir} {
		if err := fixture.PrivateDir(d); err != nil {
			return r, err
		}
	}
	ledger := workload.NewLedger(o.lines)
	recv, err := syslogsink.Start(certs.GatewayDir, ledger)
	if err != nil {
		return r, err
	}
	defer recv.Close()
	params.Port = recv.Port()
	conf := filepath.Join(dir, p.peer.Name+".conf")
	if err := p.peer.Render(o.configDir, conf, params); err != nil {
		return r, err
	}
	outPath := filepath.Join(dir, p.peer.Name+".log")
	out, err := os.Create(outPath)
	if err != nil {
		return r, err
	}
	defer out.Close()
	proc, err := p.peer.Start(conf, dir, out)
	if err != nil {
		return r, err
	}
	defer proc.Stop(10 * time.Second)

	end, err := waitForAll(ctx, proc, ledger, state, o)
	if err != nil {
		return r, fmt.Errorf("%w\n%s output (%s):\n%s", err, p.peer.Name, outPath, fixture.Tail(outPath, 20))
	}
	c := recv.Counts()
	fmt.Fprintf(os.Stderr, "round %d %s: %d connections to the receiver\n", round, p.name, c.Connections)
	if c.FirstForeign != "" {
		fmt.Fprintf(os.Stderr, "round %d %s: %d messages without a workload line id, the first: %q\n", round, p.name, c.Lines.Foreign, c.FirstForeign)
	}
	end.fill(&r, proc.Started())
	r.Leaked, r.WireBytes = c.Leaked, c.WireBytes
	if err := proc.Stop(10 * time.Second); err != nil {
		fmt.Fprintf(os.Stderr, "round %d %s: %v\n", round, p.name, err)
	}
	if err := recv.Close(); err != nil {
		fmt.Fprintf(os.Stderr, "round %d %s: receiver: %v\n", round, p.name, err)
	}
	return r, nil
}

// Intervals at which waitForAll looks at the receiver and at the agent.
const (
	countEvery  = 10 * time.Millisecond
	sampleEvery = 250 * time.Millisecond
)

// runEnd is how a run ended: the agent's usage when its receiver held
// every line (or last got one), and the largest its queue directory was.
type runEnd struct {
	usage     agentproc.Usage
	at        time.Time
	lines     workload.Tally
	queuePeak int64
}

func (e runEnd) fill(r *report.Run, started time.Time) {
	r.Wall = e.at.Sub(started)
	r.CPU, r.PeakRSS, r.DiskWrite = e.usage.CPU, max(e.usage.PeakRSS, e.usage.RSS), e.usage.DiskWrite
	r.QueueBytes = e.queuePeak
	r.Records, r.Lost, r.Duplicated = e.lines.Records, e.lines.Lost, e.lines.Duplicated
}

// waitForAll waits until ledger holds every workload line, sampling the
// agent's usage and the size of its queue directory along the way. A run
// whose receiver gets nothing new for o.stall ends with what arrived; its
// usage is then the last one sampled while lines still came in, so that
// the agent's idle time after the last line is not counted.
func waitForAll(ctx context.Context, proc *agentproc.Proc, ledger *workload.Ledger, queueDir string, o options) (runEnd, error) {
	deadline := time.Now().Add(o.timeout)
	tick := time.NewTicker(countEvery)
	defer tick.Stop()
	var end runEnd
	var lastSample time.Time
	lastProgress := time.Now()
	var lastRecords, sampledRecords int64 = 0, -1
	sample := func(records int64) error {
		u, err := proc.Usage()
		if err != nil {
			return err
		}
		lastSample = time.Now()
		if records != sampledRecords {
			end.usage, sampledRecords = u, records
		}
		end.queuePeak = max(end.queuePeak, fixture.DirSize(queueDir))
		return nil
	}
	for {
		t := ledger.Tally()
		if t.Unique >= ledger.Lines() {
			sampledRecords = -1 // this sample is the run's
			err := sample(t.Records)
			end.at, end.lines = time.Now(), t
			return end, err
		}
		if t.Records != lastRecords {
			lastRecords, lastProgress = t.Records, time.Now()
			end.at, end.lines = lastProgress, t
		}
		if time.Since(lastSample) >= sampleEvery {
			if err := sample(t.Records); err != nil {
				return end, err
			}
		}
		if time.Since(lastProgress) >= o.stall {
			fmt.Fprintf(os.Stderr, "receiver got nothing new for %s: %d of %d lines; the first lost: %v\n", o.stall, t.Unique, ledger.Lines(), ledger.Missing(20))
			return end, nil
		}
		if time.Now().After(deadline) {
			return end, fmt.Errorf("receiver holds %d of %d lines after %s", t.Unique, ledger.Lines(), o.timeout)
		}
		select {
		case <-ctx.Done():
			return end, ctx.Err()
		case <-tick.C:
		}
	}
}

// goalLines checks the goals: the ratios of the first (a) pipeline to (b),
// both from the same binary, and to rsyslog (c); for every (a) pipeline
// the RSS goal and the bytes written to disk per byte of workload
// (inputBytes); for (a) and (b) that no secret reaches the sink (the
// peers redact nothing).
func goalLines(sums []report.Summary, inputBytes int64) []string {
	var as []report.Summary
	var b, c *report.Summary
	for i, s := range sums {
		switch {
		case strings.HasPrefix(s.Pipeline, "(a)"):
			as = append(as, s)
		case strings.HasPrefix(s.Pipeline, "(b)"):
			b = &sums[i]
		case strings.HasPrefix(s.Pipeline, "(c)"):
			c = &sums[i]
		}
	}
	var out []string
	for _, o := range []struct {
		s    *report.Summary
		goal float64
	}{{b, goalRatio}, {c, goalRsyslogRatio}} {
		if len(as) > 0 && o.s != nil && o.s.LinesPerCPUSecond > 0 {
			r := as[0].LinesPerCPUSecond / o.s.LinesPerCPUSecond
			out = append(out, fmt.Sprintf("- %s ≥ %.0f× %s in lines per agent CPU-second: %.2f× — %s", as[0].Pipeline, o.goal, o.s.Pipeline, r, report.Met(r >= o.goal)))
		}
	}
	for _, a := range as {
		mib := float64(a.PeakRSS) / (1 << 20)
		out = append(out, fmt.Sprintf("- %s: agent peak RSS ≤ %.0f MiB during the run: %.1f MiB — %s", a.Pipeline, goalPeakRSSMiB, mib, report.Met(mib <= goalPeakRSSMiB)))
	}
	if inputBytes > 0 {
		for _, a := range as {
			per := float64(a.DiskWrite) / float64(inputBytes)
			out = append(out, fmt.Sprintf("- %s: written to disk ≤ %.1f× the workload's bytes: %.2f× (%s MiB for %s MiB) — %s",
				a.Pipeline, goalDiskPerInput, per, report.MiB(a.DiskWrite), report.MiB(inputBytes), report.Met(per <= goalDiskPerInput)))
		}
	}
	for _, s := range sums {
		if strings.HasPrefix(s.Pipeline, "(a)") || strings.HasPrefix(s.Pipeline, "(b)") {
			out = append(out, fmt.Sprintf("- %s: no planted secret reaches the sink: %d leaked lines — %s", s.Pipeline, s.Leaked, report.Met(s.Leaked == 0)))
		}
	}
	for _, s := range sums {
		out = append(out, fmt.Sprintf("- %s: every line arrives once: %d lost, %d duplicated in the worst run — %s", s.Pipeline, s.Lost, s.Duplicated, report.Met(s.Lost == 0 && s.Duplicated == 0)))
	}
	return out
}

func writeResults(o options, st workload.Stats, sums []report.Summary, runs []report.Run, goals []string) error {
	if err := os.MkdirAll(o.outDir, 0o755); err != nil {
		return err
	}
	svg, err := os.Create(filepath.Join(o.outDir, "e2e.svg"))
	if err != nil {
		return err
	}
	if err := errors.Join(report.SVG(svg, sums), svg.Close()); err != nil {
		return err
	}
	md, err := os.Create(filepath.Join(o.outDir, "e2e.md"))
	if err != nil {
		return err
	}
	err = writeMarkdown(md, o, st, sums, runs, goals)
	return errors.Join(err, md.Close())
}

func writeMarkdown(w io.Writer, o options, st workload.Stats, sums []report.Summary, runs []report.Run, goals []string) error {
	size := func(path string) string {
		fi, err := os.Stat(path)
		if err != nil {
			return "?"
		}
		return report.MiB(fi.Size())
	}
	var b strings.Builder
	b.WriteString("# End-to-end agent benchmark\n\n")
	b.WriteString("Generated by `make bench-e2e` (`go run ./bench/e2e`); see bench/README.md for what is measured and how.\n\n")
	fmt.Fprintf(&b, "- date: %s\n", time.Now().UTC().Format(time.RFC3339))
	fmt.Fprintf(&b, "- machine: %s, %d CPUs, Linux %s\n", cpuModel(), runtime.NumCPU(), kernel())
	fmt.Fprintf(&b, "- binary: `%s`, %s MiB, pipelines (a) and (b)\n", o.bin, size(o.bin))
	if o.agentBin != "" {
		fmt.Fprintf(&b, "- agent-only binary: `%s`, %s MiB, pipeline (a) again\n", o.agentBin, size(o.agentBin))
	}
	fmt.Fprintf(&b, "- workload: %d lines, %s MiB, %d (%.1f%%) with PII or secrets, seed %d; %d rounds alternating the pipelines\n",
		st.Lines, report.MiB(st.Bytes), st.PII, 100*float64(st.PII)/float64(st.Lines), o.seed, o.rounds)
	b.WriteString("- transport: OTLP/gRPC over mutual TLS 1.3 with zstd, on loopback, to a sink per run that acknowledges at once\n")
	for _, p := range o.peers {
		fmt.Fprintf(&b, "- peer %s: `%s` (%s), syslog (RFC 5424, octet-counted) over mutual TLS 1.3 to a receiver per run on loopback\n", p.name, p.bin, p.peer.Version())
	}
	fmt.Fprintf(&b, "- load average (1, 5, 15 min) at the start: %s; at the end: %s\n", o.loadStart, loadAverage())
	if o.note != "" {
		fmt.Fprintf(&b, "- note: %s\n", o.note)
	}
	if o.env != "" {
		fmt.Fprintf(&b, "- agent environment: `%s`\n", o.env)
	}
	b.WriteString("\n")
	b.WriteString("## Medians\n\n")
	if err := report.Table(&b, sums); err != nil {
		return err
	}
	b.WriteString("\n![lines per agent CPU-second, peak RSS and disk written](e2e.svg)\n\n## Goals\n\n")
	for _, g := range goals {
		b.WriteString(g + "\n")
	}
	b.WriteString("\n## Spread over the rounds\n\n")
	if err := report.SpreadTable(&b, runs); err != nil {
		return err
	}
	b.WriteString("\n## Every run\n\n")
	if err := report.RunsTable(&b, runs); err != nil {
		return err
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func cpuModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return "unknown CPU"
	}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown CPU"
}

// loadAverage is the machine's load over 1, 5 and 15 minutes.
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], ", ")
}

func kernel() string {
	b, err := os.ReadFile("/proc/sys/kernel/osrelease")
	if err != nil {
		return "unknown"
	}
	return strings.TrimSpace(string(b))
}
