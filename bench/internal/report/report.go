// Package report turns benchmark runs into medians, a Markdown table and an
// SVG bar chart.
package report

import (
	"fmt"
	"html"
	"io"
	"math"
	"slices"
	"strings"
	"time"
)

// Run is one agent run over the whole workload.
type Run struct {
	// Pipeline names the agent pipeline, e.g. "(a) fleetlog".
	Pipeline string
	Round    int
	// Lines is the workload size; Records what the sink received, Lost the
	// workload lines it never received and Duplicated the extra copies of
	// those it received more than once (both by the lines' ids); Leaked how
	// many records still carried a secret.
	Lines, Records, Lost, Duplicated, Leaked int64
	// Wall is from the agent's start until the sink held every line; CPU is
	// the agent's user+system time over the same span.
	Wall, CPU time.Duration
	// PeakRSS is the agent's resident high-water mark, in bytes.
	PeakRSS int64
	// WireBytes is what crossed loopback to the sink.
	WireBytes int64
	// DiskWrite is what the agent wrote to disk (write_bytes of
	// /proc/PID/io); QueueBytes the largest its spool, queue or buffer
	// files were over the run.
	DiskWrite, QueueBytes int64
}

// LinesPerCPUSecond is the run's efficiency: workload lines per second of
// agent CPU.
func (r Run) LinesPerCPUSecond() float64 {
	if r.CPU <= 0 {
		return 0
	}
	return float64(r.Lines) / r.CPU.Seconds()
}

// Summary holds one pipeline's medians over its runs.
type Summary struct {
	Pipeline          string
	Runs              int
	Wall, CPU         time.Duration
	LinesPerCPUSecond float64
	PeakRSS           int64
	WireBytes         int64
	DiskWrite         int64
	QueueBytes        int64
	// Lost, Duplicated and Leaked are the largest counts of any run.
	Lost, Duplicated, Leaked int64
}

// Summarize returns a Summary per pipeline, in the order pipelines first
// appear in runs.
func Summarize(runs []Run) []Summary {
	var order []string
	by := map[string][]Run{}
	for _, r := range runs {
		if _, ok := by[r.Pipeline]; !ok {
			order = append(order, r.Pipeline)
		}
		by[r.Pipeline] = append(by[r.Pipeline], r)
	}
	out := make([]Summary, 0, len(order))
	for _, p := range order {
		rs := by[p]
		s := Summary{Pipeline: p, Runs: len(rs)}
		s.Wall = time.Duration(Median(collect(rs, func(r Run) float64 { return float64(r.Wall) })))
		s.CPU = time.Duration(Median(collect(rs, func(r Run) float64 { return float64(r.CPU) })))
		s.LinesPerCPUSecond = Median(collect(rs, Run.LinesPerCPUSecond))
		s.PeakRSS = int64(Median(collect(rs, func(r Run) float64 { return float64(r.PeakRSS) })))
		s.WireBytes = int64(Median(collect(rs, func(r Run) float64 { return float64(r.WireBytes) })))
		s.DiskWrite = int64(Median(collect(rs, func(r Run) float64 { return float64(r.DiskWrite) })))
		s.QueueBytes = int64(Median(collect(rs, func(r Run) float64 { return float64(r.QueueBytes) })))
		for _, r := range rs {
			s.Lost, s.Duplicated, s.Leaked = max(s.Lost, r.Lost), max(s.Duplicated, r.Duplicated), max(s.Leaked, r.Leaked)
		}
		out = append(out, s)
	}
	return out
}

func collect(rs []Run, f func(Run) float64) []float64 {
	xs := make([]float64, len(rs))
	for i, r := range rs {
		xs[i] = f(r)
	}
	return xs
}

// Median returns the median of xs, the mean of the middle two for an even
// count, and 0 for none. xs is not modified.
func Median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	m := len(s) / 2
	if len(s)%2 == 1 {
		return s[m]
	}
	return (s[m-1] + s[m]) / 2
}

// MiB formats bytes in MiB with one decimal.
func MiB(b int64) string { return fmt.Sprintf("%.1f", float64(b)/(1<<20)) }

// MBInMiB converts a goal in decimal megabytes, as the goals are written,
// to the MiB the tables report: 40 MB is 38.1 MiB.
func MBInMiB(mb float64) float64 { return mb * 1e6 / (1 << 20) }

// ratio formats a/b, or "n/a" when b is zero.
func ratio(a, b float64) string {
	if b == 0 {
		return "n/a"
	}
	return fmt.Sprintf("%.2f×", a/b)
}

// Table writes the medians as a Markdown table, then a row with the ratio
// of the first pipeline to each later one of another label ("(a)" against
// "(b)", "(c)", ...).
func Table(w io.Writer, sums []Summary) error {
	var b strings.Builder
	b.WriteString("| pipeline | runs | wall s | agent CPU s | lines / CPU-s | peak RSS MiB | disk written MiB | queue peak MiB | wire MiB | lost | duplicated | leaked lines |\n")
	b.WriteString("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, s := range sums {
		fmt.Fprintf(&b, "| %s | %d | %.2f | %.2f | %.0f | %s | %s | %s | %s | %d | %d | %d |\n",
			s.Pipeline, s.Runs, s.Wall.Seconds(), s.CPU.Seconds(), s.LinesPerCPUSecond, MiB(s.PeakRSS),
			MiB(s.DiskWrite), MiB(s.QueueBytes), MiB(s.WireBytes), s.Lost, s.Duplicated, s.Leaked)
	}
	for _, o := range Others(sums) {
		a := sums[0]
		fmt.Fprintf(&b, "| ratio %s / %s | | %s | %s | %s | %s | %s | %s | %s | | | |\n",
			short(a.Pipeline), short(o.Pipeline),
			ratio(a.Wall.Seconds(), o.Wall.Seconds()), ratio(a.CPU.Seconds(), o.CPU.Seconds()),
			ratio(a.LinesPerCPUSecond, o.LinesPerCPUSecond), ratio(float64(a.PeakRSS), float64(o.PeakRSS)),
			ratio(float64(a.DiskWrite), float64(o.DiskWrite)), ratio(float64(a.QueueBytes), float64(o.QueueBytes)),
			ratio(float64(a.WireBytes), float64(o.WireBytes)))
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// Others returns the pipelines the first one is compared with: each later
// one whose label ("(b)" of "(b) contrib") differs from the first's.
func Others(sums []Summary) []Summary {
	var out []Summary
	for _, s := range sums[min(1, len(sums)):] {
		if short(s.Pipeline) != short(sums[0].Pipeline) {
			out = append(out, s)
		}
	}
	return out
}

// RunsTable writes every run as a Markdown table.
func RunsTable(w io.Writer, runs []Run) error {
	var b strings.Builder
	b.WriteString("| round | pipeline | records at sink | wall s | agent CPU s | lines / CPU-s | peak RSS MiB | disk written MiB | queue peak MiB | wire MiB | lost | duplicated | leaked lines |\n")
	b.WriteString("|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, r := range runs {
		fmt.Fprintf(&b, "| %d | %s | %d | %.2f | %.2f | %.0f | %s | %s | %s | %s | %d | %d | %d |\n",
			r.Round, r.Pipeline, r.Records, r.Wall.Seconds(), r.CPU.Seconds(), r.LinesPerCPUSecond(), MiB(r.PeakRSS),
			MiB(r.DiskWrite), MiB(r.QueueBytes), MiB(r.WireBytes), r.Lost, r.Duplicated, r.Leaked)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// SpreadTable writes, per pipeline, the lowest and highest lines per agent
// CPU-second and peak RSS over its runs: how much the rounds disagree.
func SpreadTable(w io.Writer, runs []Run) error {
	var b strings.Builder
	b.WriteString("| pipeline | lines / CPU-s, lowest – highest | highest / lowest | peak RSS MiB, lowest – highest |\n")
	b.WriteString("|---|---:|---:|---:|\n")
	for _, s := range Summarize(runs) {
		lo, hi := math.Inf(1), 0.0
		var rlo, rhi int64 = math.MaxInt64, 0
		for _, r := range runs {
			if r.Pipeline != s.Pipeline {
				continue
			}
			v := r.LinesPerCPUSecond()
			lo, hi = min(lo, v), max(hi, v)
			rlo, rhi = min(rlo, r.PeakRSS), max(rhi, r.PeakRSS)
		}
		fmt.Fprintf(&b, "| %s | %.0f – %.0f | %s | %s – %s |\n", s.Pipeline, lo, hi, ratio(hi, lo), MiB(rlo), MiB(rhi))
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// short is a pipeline's label up to its first space: "(a)" for "(a) fleetlog".
func short(p string) string {
	if i := strings.IndexByte(p, ' '); i > 0 {
		return p[:i]
	}
	return p
}

// Chart geometry, in SVG user units. Each panel is as wide as its bars
// need, and at least minPanelW.
const (
	chartH           = 310
	minPanelW        = 330
	barStep          = 96
	plotTop, plotBot = 60, 250
	barW             = 64
)

var barColors = []string{"#2b7bb9", "#c0504d", "#7f7f7f", "#9bbb59", "#8064a2", "#f79646"}

// SVG writes a three-panel bar chart: median lines per agent CPU-second,
// median agent peak RSS and median bytes the agent wrote to disk, one bar
// per pipeline.
func SVG(w io.Writer, sums []Summary) error {
	panelW := max(minPanelW, len(sums)*barStep+10)
	chartW := 3*panelW + 80
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">`+"\n", chartW, chartH, chartW, chartH)
	b.WriteString(`<rect width="100%" height="100%" fill="white"/>` + "\n")
	panel(&b, 20, panelW, "lines per agent CPU-second (higher is better)", sums, func(s Summary) float64 { return s.LinesPerCPUSecond }, "%.0f")
	panel(&b, 40+panelW, panelW, "agent peak RSS, MiB (lower is better)", sums, func(s Summary) float64 { return float64(s.PeakRSS) / (1 << 20) }, "%.1f")
	panel(&b, 60+2*panelW, panelW, "written to disk, MiB (lower is better)", sums, func(s Summary) float64 { return float64(s.DiskWrite) / (1 << 20) }, "%.1f")
	b.WriteString("</svg>\n")
	_, err := io.WriteString(w, b.String())
	return err
}

func panel(b *strings.Builder, x0, panelW int, title string, sums []Summary, value func(Summary) float64, format string) {
	fmt.Fprintf(b, `<text x="%d" y="30" font-weight="bold">%s</text>`+"\n", x0, html.EscapeString(title))
	fmt.Fprintf(b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="black"/>`+"\n", x0, plotBot, x0+panelW-10, plotBot)
	top := 0.0
	for _, s := range sums {
		top = max(top, value(s))
	}
	if top == 0 {
		top = 1
	}
	step := (panelW - 10) / max(len(sums), 1)
	for i, s := range sums {
		v := value(s)
		h := int(v / top * float64(plotBot-plotTop))
		x := x0 + i*step + (step-barW)/2
		fmt.Fprintf(b, `<rect x="%d" y="%d" width="%d" height="%d" fill="%s"/>`+"\n", x, plotBot-h, barW, h, barColors[i%len(barColors)])
		fmt.Fprintf(b, `<text x="%d" y="%d" text-anchor="middle">`+format+`</text>`+"\n", x+barW/2, plotBot-h-6, v)
		// The label in two lines, "(a)" over "fleetlog", so that bars
		// stay narrow.
		label, name, _ := strings.Cut(s.Pipeline, " ")
		fmt.Fprintf(b, `<text x="%d" y="%d" text-anchor="middle">%s</text>`+"\n", x+barW/2, plotBot+18, html.EscapeString(label))
		fmt.Fprintf(b, `<text x="%d" y="%d" text-anchor="middle">%s</text>`+"\n", x+barW/2, plotBot+34, html.EscapeString(name))
	}
}

// Met words a goal check.
func Met(ok bool) string {
	if ok {
		return "met"
	}
	return "NOT met"
}
