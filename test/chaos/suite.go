package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/fleetlog/fleetlog/internal/e2e"
)

// suiteConfig is how the suite runs.
type suiteConfig struct {
	Short       bool
	Only        []string
	Root        string
	BinDir      string
	Work        string
	MaxRecovery time.Duration
	Log         io.Writer
}

// sizes are a variant's line counts and fault durations.
type sizes struct {
	KillLines, Lines, RotateEvery int
	// Lines per second the writer aims at.
	Rate                 int
	Kills                int
	KillEvery            time.Duration
	GatewayDown, LinkOut time.Duration
	NATIdle, NATOutage   time.Duration
	// AgentFS, GatewayFS and GatewayFSGrown are tmpfs sizes for the disk
	// scenarios.
	AgentFS, GatewayFS, GatewayFSGrown string
	// TornBacklog is the line the agent-kill-backlog scenario's backlog
	// ends at.
	TornBacklog int
	// DiskLines is what the agent disk scenario writes: more than AgentFS
	// holds once spooled.
	DiskLines int
}

var (
	full = sizes{
		KillLines: 1_000_000, Lines: 200_000, RotateEvery: 100_000, Rate: 40_000,
		Kills: 10, KillEvery: 2500 * time.Millisecond,
		GatewayDown: 30 * time.Second, LinkOut: 30 * time.Second,
		NATIdle: 30 * time.Second, NATOutage: 150 * time.Second,
		AgentFS: "16m", GatewayFS: "256k", GatewayFSGrown: "256m",
		TornBacklog: 200_000, DiskLines: 200_000,
	}
	short = sizes{
		KillLines: 20_000, Lines: 10_000, RotateEvery: 4_000, Rate: 10_000,
		Kills: 3, KillEvery: 700 * time.Millisecond,
		GatewayDown: 3 * time.Second, LinkOut: 3 * time.Second,
		NATIdle: 2 * time.Second, NATOutage: 5 * time.Second,
		AgentFS: "16m", GatewayFS: "16k", GatewayFSGrown: "64m",
		TornBacklog: 40_000, DiskLines: 100_000,
	}
)

// result is one scenario's outcome.
type result struct {
	Name       string
	Written    int
	Distinct   int
	Missing    int
	Duplicates int
	// SameStamp is the part of Duplicates that are one spooled record
	// stored twice; the rest are lines read again at intake.
	SameStamp int
	// Skipped is the gateway's count of re-deliveries it did not store
	// again (its last process only).
	Skipped  int
	Recovery time.Duration
	Notes    []string
	Crash    string
	Err      error
	Skip     string
}

type scenario struct {
	name string
	run  func(ctx context.Context, e *env) result
}

var scenarios = []scenario{
	{"agent-kill", agentKill},
	{"gateway-kill", gatewayKill},
	{"link-outage", linkOutage},
	{"nat-expiry", natExpiry},
	{"agent-disk-full", agentDiskFull},
	{"gateway-disk-full", gatewayDiskFull},
	{"torn-spool-tail", tornSpoolTail},
	{"agent-kill-backlog", agentKillBacklog},
}

func scenarioNames() []string {
	var out []string
	for _, s := range scenarios {
		out = append(out, s.name)
	}
	return out
}

// env is what a scenario runs in.
type env struct {
	cfg  suiteConfig
	size sizes
	dir  string
	log  io.Writer
	name string
}

func (e *env) logf(format string, args ...any) {
	fmt.Fprintf(e.log, "[%s %s] %s\n", time.Now().UTC().Format("15:04:05"), e.name, fmt.Sprintf(format, args...))
}

// rig makes a rig in the scenario's directory.
func (e *env) rig(opts e2e.RigOptions) (*e2e.Rig, error) {
	opts.Root, opts.BinDir, opts.Dir = e.cfg.Root, e.cfg.BinDir, e.dir
	return e2e.NewRig(opts)
}

// writer returns a log writer for the rig at the variant's rate.
func (e *env) writer(r *e2e.Rig, total int) *e2e.LogWriter {
	const chunk = 1000
	return &e2e.LogWriter{
		Dir: r.LogDir, Prefix: "chaos-", Total: total, RotateEvery: e.size.RotateEvery,
		Chunk: chunk, Pause: time.Duration(float64(time.Second) * chunk / float64(e.size.Rate)),
	}
}

// runSuite runs the selected scenarios one after the other.
func runSuite(ctx context.Context, cfg suiteConfig) ([]result, error) {
	var err error
	if cfg.Root, err = filepath.Abs(cfg.Root); err != nil {
		return nil, err
	}
	if cfg.BinDir == "" {
		cfg.BinDir = filepath.Join(cfg.Root, "bin")
	}
	for _, b := range []string{"fleetlog", "fleetlog-agent", "fleetlogctl"} {
		if _, err := os.Stat(filepath.Join(cfg.BinDir, b)); err != nil {
			return nil, fmt.Errorf("%s is missing: run 'make build' first", filepath.Join(cfg.BinDir, b))
		}
	}
	for _, n := range cfg.Only {
		if !slices.Contains(scenarioNames(), n) {
			return nil, fmt.Errorf("unknown scenario %q (have %s)", n, strings.Join(scenarioNames(), ", "))
		}
	}
	work := cfg.Work
	removeWork := false
	if work == "" {
		if work, err = os.MkdirTemp("", "fleetlog-chaos-"); err != nil {
			return nil, err
		}
		removeWork = true
	}
	size := full
	if cfg.Short {
		size = short
	}
	var out []result
	for _, s := range scenarios {
		if len(cfg.Only) > 0 && !slices.Contains(cfg.Only, s.name) {
			continue
		}
		e := &env{cfg: cfg, size: size, dir: filepath.Join(work, s.name), log: cfg.Log, name: s.name}
		if err := os.MkdirAll(e.dir, 0o700); err != nil {
			return nil, err
		}
		began := time.Now()
		e.logf("start")
		res := s.run(ctx, e)
		res.Name = s.name
		e.logf("done in %s: %s", time.Since(began).Round(time.Second), res.summary())
		out = append(out, res)
	}
	if removeWork && len(failures(out, cfg.MaxRecovery)) == 0 {
		_ = os.RemoveAll(work)
	} else {
		fmt.Fprintf(cfg.Log, "chaos: work directory kept: %s\n", work)
	}
	return out, nil
}

func (r result) summary() string {
	switch {
	case r.Skip != "":
		return "skipped: " + r.Skip
	case r.Err != nil:
		return "error: " + r.Err.Error()
	}
	return fmt.Sprintf("written %d, distinct %d, missing %d, duplicates %d, recovery %s",
		r.Written, r.Distinct, r.Missing, r.Duplicates, r.Recovery.Round(100*time.Millisecond))
}

// failures lists what makes the run fail.
func failures(res []result, maxRecovery time.Duration) []string {
	var out []string
	for _, r := range res {
		switch {
		case r.Skip != "":
		case r.Err != nil:
			out = append(out, r.Name+": "+r.Err.Error())
		case r.Crash != "":
			out = append(out, r.Name+": a tier crashed")
		case r.Missing > 0:
			out = append(out, fmt.Sprintf("%s: %d lines missing", r.Name, r.Missing))
		case r.Duplicates > 0:
			out = append(out, fmt.Sprintf("%s: %d duplicates", r.Name, r.Duplicates))
		case r.Recovery > maxRecovery:
			out = append(out, fmt.Sprintf("%s: recovery took %s", r.Name, r.Recovery.Round(time.Second)))
		}
	}
	return out
}

// measure waits until the archive holds every line written, from healed on,
// and counts what it holds. Recovery is the time from healed until every
// line was in the archive.
func (e *env) measure(ctx context.Context, r *e2e.Rig, written int, healed time.Time) result {
	res := result{Written: written}
	// Long enough to tell a slow recovery from a loss.
	deadline := healed.Add(max(e.cfg.MaxRecovery*3/2, time.Minute))
	for {
		stored, err := e2e.StoredRecords(r.ArchiveDir())
		if err != nil {
			res.Err = err
			return res
		}
		now := time.Now()
		if stored >= int64(written) {
			counts, err := e2e.CountLines(r.ArchiveDir(), "chaos-")
			if err != nil {
				res.Err = err
				return res
			}
			if _, missing, _ := counts.Tally(written); missing == 0 {
				res.Recovery = now.Sub(healed)
				break
			}
		}
		if now.After(deadline) || ctx.Err() != nil {
			res.Recovery = now.Sub(healed)
			res.Notes = append(res.Notes, "gave up waiting")
			break
		}
		if crash := r.Crashed(); crash != "" {
			res.Crash = crash
			break
		}
		time.Sleep(250 * time.Millisecond)
	}
	// A quiet moment for late re-deliveries, then the final count.
	time.Sleep(2 * time.Second)
	counts, err := e2e.CountLines(r.ArchiveDir(), "chaos-")
	if err != nil {
		res.Err = err
		return res
	}
	res.Distinct, res.Missing, res.Duplicates = counts.Tally(written)
	res.SameStamp = counts.SameStamp
	if res.Missing > 0 {
		res.Notes = append(res.Notes, fmt.Sprintf("first missing: %v", counts.FirstMissing(written, 5)))
	}
	if res.Duplicates > 0 {
		res.Notes = append(res.Notes, fmt.Sprintf("first duplicates: %v", counts.FirstDuplicates(written, 5)))
	}
	if n, err := e2e.Counter(r.GatewayMetrics, "otelcol_archive_records_duplicate"); err == nil {
		res.Skipped = int(n)
	}
	if res.Crash == "" {
		res.Crash = r.Crashed()
	}
	return res
}

// startBoth starts the gateway and the agent.
func startBoth(r *e2e.Rig) error {
	if err := r.StartGateway(); err != nil {
		return err
	}
	return r.StartAgent()
}

// runWriter starts w in the background; the channel yields its result.
func runWriter(ctx context.Context, w *e2e.LogWriter) <-chan error {
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	return done
}

// waitWritten waits until w wrote at least n lines.
func waitWritten(ctx context.Context, w *e2e.LogWriter, n int) error {
	return e2e.Wait(ctx, 20*time.Millisecond, func() bool { return w.Written() >= n })
}

// closeRig stops the rig, noting a tier that did not stop in time, and
// keeps the last processes' output in the scenario's directory.
func closeRig(r *e2e.Rig, res *result) {
	if err := r.Close(); err != nil {
		res.Notes = append(res.Notes, "stop: "+err.Error())
	}
	for _, p := range []*e2e.Process{r.Gateway, r.Agent} {
		if p != nil {
			_ = os.WriteFile(filepath.Join(filepath.Dir(r.LogDir), p.Name+".log"), []byte(p.Out.String()), 0o600)
		}
	}
}

var errNotRoot = errors.New("needs root to mount a small tmpfs (CI runs as root)")

// formatTable renders the results as a Markdown table.
func formatTable(res []result) string {
	var b strings.Builder
	b.WriteString("| scenario | lines written | distinct delivered | missing | duplicates | re-deliveries skipped | recovery after heal | notes |\n")
	b.WriteString("|---|---:|---:|---:|---:|---:|---:|---|\n")
	for _, r := range res {
		notes := strings.Join(r.Notes, "; ")
		if r.Duplicates > 0 {
			notes = strings.TrimPrefix(fmt.Sprintf("%s; duplicates: %d the same spooled record, %d lines read again at intake", notes, r.SameStamp, r.Duplicates-r.SameStamp), "; ")
		}
		switch {
		case r.Skip != "":
			fmt.Fprintf(&b, "| %s | | | | | | | skipped: %s |\n", r.Name, r.Skip)
			continue
		case r.Err != nil:
			notes = strings.TrimPrefix(notes+"; error: "+r.Err.Error(), "; ")
		case r.Crash != "":
			notes = strings.TrimPrefix(notes+"; CRASH", "; ")
		}
		fmt.Fprintf(&b, "| %s | %d | %d | %d | %d | %d | %.1f s | %s |\n",
			r.Name, r.Written, r.Distinct, r.Missing, r.Duplicates, r.Skipped, r.Recovery.Seconds(), notes)
	}
	return b.String()
}

func resultsDoc(cfg suiteConfig, res []result, table string) string {
	variant := "full"
	if cfg.Short {
		variant = "short"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "# Fault suite results (%s)\n\n", variant)
	fmt.Fprintf(&b, "Run %s on %s by `go run ./test/chaos", time.Now().UTC().Format(time.RFC3339), hostName())
	if cfg.Short {
		b.WriteString(" -short")
	}
	b.WriteString("` (`make chaos`). Counts are from the gateway's archive; recovery is the time from the moment the path healed until the archive held every line written.\n\n")
	b.WriteString(table)
	for _, r := range res {
		if r.Crash != "" {
			fmt.Fprintf(&b, "\n%s crash:\n\n```\n%s\n```\n", r.Name, r.Crash)
		}
	}
	return b.String()
}

func hostName() string {
	h, err := os.Hostname()
	if err != nil {
		return "an unnamed host"
	}
	return h
}
