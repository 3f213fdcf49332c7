// Command e2e is the end-to-end agent benchmark: the same workload through
// fleetlog's agent pipeline (a) and the stock contrib pipeline (b), both run
// from the same bin/fleetlog binary as separate processes shipping over
// OTLP/gRPC (mutual TLS, zstd) to one sink on loopback. Rounds alternate
// (a) and (b); each run is timed until the sink holds every line.
//
//	go run ./bench/e2e [-lines 1000000] [-seed 1] [-rounds 3] [-only a|b]
//
// It prints the medians as a Markdown table with the ratio (a)/(b) and writes
// bench/results/e2e.md and e2e.svg. Run it from the repository root.
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
	"github.com/fleetlog/fleetlog/bench/internal/report"
	"github.com/fleetlog/fleetlog/bench/internal/workload"
)

// Goals the results are checked against.
const (
	goalRatio     = 10.0
	goalPeakRSSMB = 40 // decimal MB, as the goal is written
)

// pipeline is one agent setup under test.
type pipeline struct {
	key, name, bin string
	configs        []string
}

type options struct {
	bin, agentBin, agentConfig, configDir, outDir string
	only, workDir                                 string
	profileDir, env                               string
	lines, rounds                                 int
	seed                                          uint64
	timeout                                       time.Duration
	keep                                          bool
}

func main() {
	var o options
	flag.StringVar(&o.bin, "bin", "bin/fleetlog", "collector binary both pipelines run from")
	flag.StringVar(&o.agentBin, "agent-bin", "", "also run pipeline (a) from this agent-only binary (e.g. bin/fleetlog-agent), as a third pipeline")
	flag.StringVar(&o.agentConfig, "agent-config", "distributions/agent/config.yaml", "the shipped agent role config, pipeline (a)")
	flag.StringVar(&o.configDir, "configs", "bench/e2e/configs", "directory with fleetlog.yaml (overlay for (a)) and contrib.yaml (b)")
	flag.StringVar(&o.outDir, "out", "bench/results", "where to write e2e.md and e2e.svg; empty writes nothing")
	flag.StringVar(&o.only, "only", "", "run only pipeline a or b")
	flag.StringVar(&o.workDir, "workdir", "", "scratch directory (default: a new temporary one)")
	flag.IntVar(&o.lines, "lines", 1_000_000, "workload lines")
	flag.IntVar(&o.rounds, "rounds", 3, "rounds; each runs every pipeline once")
	flag.Uint64Var(&o.seed, "seed", 1, "workload seed")
	flag.DurationVar(&o.timeout, "timeout", 10*time.Minute, "longest a single run may take")
	flag.StringVar(&o.profileDir, "profile", "", "write each run's agent CPU profile (its whole life) and, at completion, heap and allocs profiles here; profiling costs the agent CPU, so such runs are not comparable to others")
	flag.StringVar(&o.env, "env", "", "extra environment for both agents, comma-separated KEY=VALUE (e.g. GOMAXPROCS=1)")
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
	pipes, err := selectPipelines(o)
	if err != nil {
		return err
	}
	for _, p := range pipes {
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
			fmt.Fprintf(os.Stderr, "round %d %-14s wall %6.2fs  cpu %6.2fs  %8.0f lines/CPU-s  peak RSS %6s MiB  wire %6s MiB  leaked %d\n",
				round, p.name, r.Wall.Seconds(), r.CPU.Seconds(), r.LinesPerCPUSecond(), report.MiB(r.PeakRSS), report.MiB(r.WireBytes), r.Leaked)
			runs = append(runs, r)
		}
	}

	sums := report.Summarize(runs)
	if err := report.Table(os.Stdout, sums); err != nil {
		return err
	}
	goals := goalLines(sums)
	fmt.Println()
	for _, g := range goals {
		fmt.Println(g)
	}
	if o.outDir == "" {
		return nil
	}
	return writeResults(o, st, sums, runs, goals)
}

func selectPipelines(o options) ([]pipeline, error) {
	a := pipeline{
		key: "a", name: "(a) fleetlog", bin: o.bin,
		configs: []string{o.agentConfig, filepath.Join(o.configDir, "fleetlog.yaml")},
	}
	b := pipeline{
		key: "b", name: "(b) contrib", bin: o.bin,
		configs: []string{filepath.Join(o.configDir, "contrib.yaml")},
	}
	var pipes []pipeline
	switch o.only {
	case "":
		pipes = []pipeline{a, b}
	case "a":
		pipes = []pipeline{a}
	case "b":
		pipes = []pipeline{b}
	default:
		return nil, fmt.Errorf("-only %q: want a or b", o.only)
	}
	if o.agentBin != "" && o.only != "b" {
		slim := a
		slim.key, slim.name, slim.bin = "a-slim", "(a) "+filepath.Base(o.agentBin), o.agentBin
		pipes = append(pipes, slim)
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
// directory and a fresh sink.
func runOnce(ctx context.Context, o options, p pipeline, certs *fixture.PKI, logFile string, round int, work string) (report.Run, error) {
	r := report.Run{Pipeline: p.name, Round: round, Lines: int64(o.lines)}
	dir := filepath.Join(work, fmt.Sprintf("run-%d-%s", round, p.key))
	if err := fixture.PrivateDir(dir); err != nil {
		return r, err
	}
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
	agent, err := fixture.StartAgent(p.bin, configs, certs, dir, logFile, env)
	if err != nil {
		return r, err
	}
	defer agent.Stop()

	usage, err := waitForAll(ctx, agent, int64(o.lines), o.timeout)
	r.Wall = time.Since(agent.Started())
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
	r.CPU, r.PeakRSS = usage.CPU, max(usage.PeakRSS, usage.RSS)
	r.Records, r.Leaked, r.WireBytes = c.Records, c.Leaked, c.WireBytes
	if err := agent.Stop(); err != nil {
		fmt.Fprintf(os.Stderr, "round %d %s: %v\n", round, p.name, err)
	}
	return r, nil
}

// Intervals at which runOnce looks at the sink and at the agent.
const (
	countEvery  = 10 * time.Millisecond
	sampleEvery = 250 * time.Millisecond
)

// waitForAll waits until the sink holds lines records and returns the
// agent's usage at that moment.
func waitForAll(ctx context.Context, agent *fixture.Agent, lines int64, timeout time.Duration) (agentproc.Usage, error) {
	s := agent.Sink
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(countEvery)
	defer tick.Stop()
	var last agentproc.Usage
	lastSample := time.Time{}
	for {
		if s.Counts().Records >= lines {
			return agent.Usage()
		}
		// Sampled along the way too, so that a run that dies still tells
		// how far it got.
		if time.Since(lastSample) >= sampleEvery {
			u, err := agent.Usage()
			if err != nil {
				return last, err
			}
			last, lastSample = u, time.Now()
		}
		if time.Now().After(deadline) {
			return last, fmt.Errorf("sink holds %d of %d lines after %s", s.Counts().Records, lines, timeout)
		}
		select {
		case <-ctx.Done():
			return last, ctx.Err()
		case <-tick.C:
		}
	}
}

// goalLines checks the goals: the ratio on the first (a) pipeline against
// (b), both from the same binary; the RSS goal for every (a) pipeline.
func goalLines(sums []report.Summary) []string {
	var as []report.Summary
	var b *report.Summary
	for i, s := range sums {
		switch {
		case strings.HasPrefix(s.Pipeline, "(a)"):
			as = append(as, s)
		case strings.HasPrefix(s.Pipeline, "(b)"):
			b = &sums[i]
		}
	}
	var out []string
	if len(as) > 0 && b != nil && b.LinesPerCPUSecond > 0 {
		r := as[0].LinesPerCPUSecond / b.LinesPerCPUSecond
		out = append(out, fmt.Sprintf("- %s ≥ %.0f× %s in lines per agent CPU-second: %.2f× — %s", as[0].Pipeline, goalRatio, b.Pipeline, r, report.Met(r >= goalRatio)))
	}
	for _, a := range as {
		mib := float64(a.PeakRSS) / (1 << 20)
		goal := report.MBInMiB(goalPeakRSSMB)
		out = append(out, fmt.Sprintf("- %s: agent peak RSS ≤ %d MB (%.1f MiB) during the run: %.1f MiB — %s", a.Pipeline, goalPeakRSSMB, goal, mib, report.Met(mib <= goal)))
	}
	for _, s := range sums {
		out = append(out, fmt.Sprintf("- %s: no planted secret reaches the sink: %d leaked lines — %s", s.Pipeline, s.Leaked, report.Met(s.Leaked == 0)))
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
	fmt.Fprintf(&b, "- binary: `%s`, %s MiB, both pipelines\n", o.bin, size(o.bin))
	if o.agentBin != "" {
		fmt.Fprintf(&b, "- agent-only binary: `%s`, %s MiB, pipeline (a) again\n", o.agentBin, size(o.agentBin))
	}
	fmt.Fprintf(&b, "- workload: %d lines, %s MiB, %d (%.1f%%) with PII or secrets, seed %d; %d rounds alternating the pipelines\n",
		st.Lines, report.MiB(st.Bytes), st.PII, 100*float64(st.PII)/float64(st.Lines), o.seed, o.rounds)
	b.WriteString("- transport: OTLP/gRPC over mutual TLS 1.3 with zstd, on loopback, to one sink that acknowledges at once\n")
	if o.env != "" {
		fmt.Fprintf(&b, "- agent environment: `%s`\n", o.env)
	}
	b.WriteString("\n")
	b.WriteString("## Medians\n\n")
	if err := report.Table(&b, sums); err != nil {
		return err
	}
	b.WriteString("\n![lines per agent CPU-second and peak RSS](e2e.svg)\n\n## Goals\n\n")
	for _, g := range goals {
		b.WriteString(g + "\n")
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

func kernel() string {
	b, err := os.ReadFile("/proc/sys/kernel/osrelease")
	if err != nil {
		return "unknown"
	}
	return strings.TrimSpace(string(b))
}
