// Command footprint measures what an agent costs a device: its resident
// memory after idling with the default agent config, its memory and CPU
// under a steady stream of log lines, and the binary's size.
//
//	go run ./bench/footprint [-bin bin/fleetlog,bin/fleetlog-agent] [-idle 60s] [-rate 10000] [-steady 30s]
//
// Each binary runs the shipped distributions/agent/config.yaml unchanged,
// shipping over mutual TLS to a sink on loopback. It prints a Markdown table
// and writes bench/results/footprint.md. Run it from the repository root.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/fleetlog/fleetlog/bench/internal/fixture"
	"github.com/fleetlog/fleetlog/bench/internal/report"
	"github.com/fleetlog/fleetlog/bench/internal/workload"
)

// Goals the results are checked against, in decimal MB as they are written
// (the tables report MiB).
const (
	goalIdleRSSMB  = 20
	goalRunRSSMB   = 40
	goalAgentBinMB = 40
)

// writeTick is how often the steady writer appends a slice of lines.
const writeTick = 100 * time.Millisecond

type options struct {
	bins                             []string
	agentConfig, outDir, env         string
	idle, steady, drain, sampleEvery time.Duration
	rate                             int
}

// result is one binary's footprint.
type result struct {
	bin                      string
	size                     int64
	idleRSS, idleCPU         float64 // MiB, share of one core
	idleAnon, idleFile       float64 // MiB
	steadyRSS, steadyPeak    float64 // MiB: largest VmRSS sample, VmHWM
	steadyCPU                float64 // share of one core
	written, delivered, lost int64
}

func main() {
	var o options
	var bins string
	flag.StringVar(&bins, "bin", "bin/fleetlog,bin/fleetlog-agent", "comma-separated binaries to measure")
	flag.StringVar(&o.agentConfig, "agent-config", "distributions/agent/config.yaml", "agent config every binary runs")
	flag.StringVar(&o.outDir, "out", "bench/results", "where to write footprint.md; empty writes nothing")
	flag.StringVar(&o.env, "env", "", "extra agent environment, comma-separated KEY=VALUE (e.g. GOMEMLIMIT=16MiB)")
	flag.DurationVar(&o.idle, "idle", 60*time.Second, "how long the agent idles before its RSS is read")
	flag.DurationVar(&o.steady, "steady", 30*time.Second, "how long lines are written at -rate")
	flag.DurationVar(&o.drain, "drain", 60*time.Second, "longest wait for the sink to catch up after writing")
	flag.DurationVar(&o.sampleEvery, "sample", 500*time.Millisecond, "RSS sampling interval under load")
	flag.IntVar(&o.rate, "rate", 10_000, "lines per second during the steady phase")
	flag.Parse()
	o.bins = strings.Split(bins, ",")

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, o); err != nil {
		fmt.Fprintln(os.Stderr, "footprint:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, o options) error {
	work, err := os.MkdirTemp("", "fleetlog-footprint-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	certs, err := fixture.NewPKI(filepath.Join(work, "pki"))
	if err != nil {
		return err
	}
	var results []result
	for i, bin := range o.bins {
		r, err := measure(ctx, o, bin, certs, filepath.Join(work, fmt.Sprintf("agent-%d", i)))
		if err != nil {
			return fmt.Errorf("%s: %w", bin, err)
		}
		results = append(results, r)
	}
	var b strings.Builder
	table(&b, o, results)
	fmt.Print(b.String())
	if o.outDir == "" {
		return nil
	}
	if err := os.MkdirAll(o.outDir, 0o755); err != nil {
		return err
	}
	return writeMarkdown(filepath.Join(o.outDir, "footprint.md"), o, b.String())
}

func measure(ctx context.Context, o options, bin string, certs *fixture.PKI, dir string) (result, error) {
	r := result{bin: bin}
	fi, err := os.Stat(bin)
	if err != nil {
		return r, err
	}
	r.size = fi.Size()
	logs := filepath.Join(dir, "logs")
	if err := fixture.PrivateDir(logs); err != nil {
		return r, err
	}
	var env []string
	if o.env != "" {
		env = strings.Split(o.env, ",")
	}
	agent, err := fixture.StartAgent(bin, []string{o.agentConfig}, certs, dir, filepath.Join(logs, "*.log"), env, nil)
	if err != nil {
		return r, err
	}
	defer agent.Stop()
	s := agent.Sink

	fmt.Fprintf(os.Stderr, "%s: idling %s\n", bin, o.idle)
	if err := sleep(ctx, o.idle); err != nil {
		return r, err
	}
	idle, err := agent.Usage()
	if err != nil {
		return r, agent.Failed(err)
	}
	r.idleRSS, r.idleAnon, r.idleFile = mib(idle.RSS), mib(idle.AnonRSS), mib(idle.FileRSS)
	r.idleCPU = idle.CPU.Seconds() / time.Since(agent.Started()).Seconds()

	fmt.Fprintf(os.Stderr, "%s: writing %d lines/s for %s\n", bin, o.rate, o.steady)
	f, err := os.OpenFile(filepath.Join(logs, "app.log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return r, err
	}
	defer f.Close()
	steadyStart := time.Now()
	maxRSS, err := steadyWrite(ctx, o, f, agent, &r)
	if err != nil {
		return r, agent.Failed(err)
	}
	after, err := agent.Usage()
	if err != nil {
		return r, agent.Failed(err)
	}
	r.steadyRSS = mib(max(maxRSS, after.RSS))
	r.steadyPeak = mib(max(after.PeakRSS, maxRSS))
	r.steadyCPU = (after.CPU - idle.CPU).Seconds() / time.Since(steadyStart).Seconds()

	deadline := time.Now().Add(o.drain)
	for s.Counts().Records < r.written && time.Now().Before(deadline) {
		if err := sleep(ctx, 100*time.Millisecond); err != nil {
			return r, err
		}
	}
	r.delivered = s.Counts().Records
	r.lost = max(0, r.written-r.delivered)
	return r, agent.Stop()
}

// steadyWrite appends lines at o.rate for o.steady, in slices every
// writeTick, and returns the largest RSS sampled meanwhile.
func steadyWrite(ctx context.Context, o options, w io.Writer, agent *fixture.Agent, r *result) (int64, error) {
	g := workload.New(1)
	perTick := o.rate * int(writeTick) / int(time.Second)
	tick := time.NewTicker(writeTick)
	defer tick.Stop()
	lastSample := time.Now()
	var maxRSS int64
	var buf []byte
	for ticks := int(o.steady / writeTick); ticks > 0; ticks-- {
		buf = buf[:0]
		for range perTick {
			buf, _ = g.Next(buf)
			buf = append(buf, '\n')
		}
		if _, err := w.Write(buf); err != nil {
			return maxRSS, fmt.Errorf("append lines: %w", err)
		}
		r.written += int64(perTick)
		if time.Since(lastSample) >= o.sampleEvery {
			u, err := agent.Usage()
			if err != nil {
				return maxRSS, err
			}
			maxRSS, lastSample = max(maxRSS, u.RSS), time.Now()
		}
		select {
		case <-ctx.Done():
			return maxRSS, ctx.Err()
		case <-tick.C:
		}
	}
	return maxRSS, nil
}

func table(b *strings.Builder, o options, rs []result) {
	fmt.Fprintf(b, "| binary | size MiB | idle RSS MiB (after %s) | of it anon / file MiB | idle CPU %% | RSS MiB at %d lines/s (max sampled) | peak RSS MiB (VmHWM) | CPU %% at %d lines/s | lines written / at sink |\n",
		o.idle, o.rate, o.rate)
	b.WriteString("|---|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, r := range rs {
		fmt.Fprintf(b, "| `%s` | %s | %.1f | %.1f / %.1f | %.2f | %.1f | %.1f | %.1f | %d / %d |\n",
			r.bin, report.MiB(r.size), r.idleRSS, r.idleAnon, r.idleFile, 100*r.idleCPU, r.steadyRSS, r.steadyPeak, 100*r.steadyCPU, r.written, r.delivered)
	}
	b.WriteString("\n")
	for _, r := range rs {
		idleGoal, runGoal := report.MBInMiB(goalIdleRSSMB), report.MBInMiB(goalRunRSSMB)
		fmt.Fprintf(b, "- `%s`: idle RSS ≤ %d MB (%.1f MiB): %.1f MiB — %s; RSS under load ≤ %d MB (%.1f MiB): %.1f MiB — %s",
			r.bin, goalIdleRSSMB, idleGoal, r.idleRSS, report.Met(r.idleRSS <= idleGoal), goalRunRSSMB, runGoal, r.steadyPeak, report.Met(r.steadyPeak <= runGoal))
		if strings.HasSuffix(r.bin, "-agent") {
			binGoal := report.MBInMiB(goalAgentBinMB)
			fmt.Fprintf(b, "; agent-only binary ≤ %d MB (%.1f MiB): %s MiB — %s", goalAgentBinMB, binGoal, report.MiB(r.size), report.Met(mib(r.size) <= binGoal))
		}
		b.WriteString("\n")
	}
}

func writeMarkdown(path string, o options, tbl string) error {
	var b strings.Builder
	b.WriteString("# Agent footprint\n\n")
	b.WriteString("Generated by `make bench-footprint` (`go run ./bench/footprint`); see bench/README.md.\n\n")
	fmt.Fprintf(&b, "- date: %s\n", time.Now().UTC().Format(time.RFC3339))
	fmt.Fprintf(&b, "- machine: %d CPUs (CPU %% is of one core)\n", runtime.NumCPU())
	fmt.Fprintf(&b, "- config: `%s` unchanged, mutual TLS 1.3 and zstd to a sink on loopback", o.agentConfig)
	if o.env != "" {
		fmt.Fprintf(&b, ", agent environment `%s`", o.env)
	}
	b.WriteString("\n\n")
	b.WriteString(tbl)
	return os.WriteFile(path, []byte(b.String()), 0o644)
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }
