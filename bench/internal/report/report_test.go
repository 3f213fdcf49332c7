package report

import (
	"encoding/xml"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestMedian(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   []float64
		want float64
	}{
		{"none", nil, 0},
		{"one", []float64{4}, 4},
		{"odd", []float64{9, 1, 5}, 5},
		{"even", []float64{4, 1, 3, 2}, 2.5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			in := append([]float64(nil), tt.in...)
			assert.Equal(t, tt.want, Median(tt.in))
			assert.Equal(t, in, tt.in, "input left unsorted")
		})
	}
}

func sampleRuns() []Run {
	run := func(p string, round int, cpu time.Duration, rss int64) Run {
		return Run{Pipeline: p, Round: round, Lines: 1000, Records: 1000, Wall: 2 * cpu, CPU: cpu, PeakRSS: rss, WireBytes: 1 << 20,
			DiskWrite: 2 << 20, QueueBytes: 1 << 20}
	}
	return []Run{
		run("(a) fleetlog", 1, 100*time.Millisecond, 20<<20),
		run("(b) contrib", 1, 1000*time.Millisecond, 80<<20),
		run("(a) fleetlog", 2, 300*time.Millisecond, 22<<20),
		run("(b) contrib", 2, 2000*time.Millisecond, 90<<20),
		run("(a) fleetlog", 3, 200*time.Millisecond, 21<<20),
		run("(b) contrib", 3, 1000*time.Millisecond, 70<<20),
	}
}

// withPeer adds a peer's runs, one of which lost and duplicated lines.
func withPeer() []Run {
	runs := sampleRuns()
	for round, cpu := range []time.Duration{400, 500, 600} {
		r := Run{Pipeline: "(c) rsyslog", Round: round + 1, Lines: 1000, Records: 1000, Wall: time.Second,
			CPU: cpu * time.Millisecond, PeakRSS: 40 << 20, WireBytes: 1 << 20, DiskWrite: 1 << 20}
		if round == 1 {
			r.Lost, r.Duplicated, r.Records = 7, 2, 995
		}
		runs = append(runs, r)
	}
	return runs
}

func TestSummarize(t *testing.T) {
	t.Parallel()
	sums := Summarize(sampleRuns())
	require.Len(t, sums, 2)
	a, b := sums[0], sums[1]
	assert.Equal(t, "(a) fleetlog", a.Pipeline)
	assert.Equal(t, 3, a.Runs)
	assert.Equal(t, 200*time.Millisecond, a.CPU)
	assert.InDelta(t, 5000, a.LinesPerCPUSecond, 1e-9)
	assert.Equal(t, int64(21<<20), a.PeakRSS)
	assert.Equal(t, time.Second, b.CPU)
	assert.InDelta(t, 1000, b.LinesPerCPUSecond, 1e-9)
}

func TestTableHasMediansAndRatio(t *testing.T) {
	t.Parallel()
	var out strings.Builder
	require.NoError(t, Table(&out, Summarize(sampleRuns())))
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	require.Len(t, lines, 5)
	assert.Equal(t, "| (a) fleetlog | 3 | 0.40 | 0.20 | 5000 | 21.0 | 2.0 | 1.0 | 1.0 | 0 | 0 | 0 |", lines[2])
	assert.Equal(t, "| ratio (a) / (b) | | 0.20× | 0.20× | 5.00× | 0.26× | 1.00× | 1.00× | 1.00× | | | |", lines[4])
}

func TestTableComparesTheFirstWithEveryOtherLabel(t *testing.T) {
	t.Parallel()
	runs := withPeer()
	// A second (a) pipeline is not compared with the first.
	for _, r := range sampleRuns()[:1] {
		r.Pipeline = "(a) fleetlog-agent"
		runs = append(runs, r)
	}
	sums := Summarize(runs)
	require.Len(t, sums, 4)
	assert.Equal(t, int64(7), sums[2].Lost)
	assert.Equal(t, int64(2), sums[2].Duplicated)

	var out strings.Builder
	require.NoError(t, Table(&out, sums))
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	require.Len(t, lines, 8)
	assert.Equal(t, "| (c) rsyslog | 3 | 1.00 | 0.50 | 2000 | 40.0 | 1.0 | 0.0 | 1.0 | 7 | 2 | 0 |", lines[4])
	assert.True(t, strings.HasPrefix(lines[6], "| ratio (a) / (b) |"), lines[6])
	assert.Equal(t, "| ratio (a) / (c) | | 0.40× | 0.40× | 2.50× | 0.53× | 2.00× | n/a | 1.00× | | | |", lines[7])
}

func TestRunsTableShowsLostAndDuplicated(t *testing.T) {
	t.Parallel()
	var out strings.Builder
	require.NoError(t, RunsTable(&out, withPeer()))
	assert.Contains(t, out.String(), "| 2 | (c) rsyslog | 995 | 1.00 | 0.50 | 2000 | 40.0 | 1.0 | 0.0 | 1.0 | 7 | 2 | 0 |")
}

func TestSpreadTable(t *testing.T) {
	t.Parallel()
	var out strings.Builder
	require.NoError(t, SpreadTable(&out, withPeer()))
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	require.Len(t, lines, 5)
	assert.Equal(t, "| (a) fleetlog | 3333 – 10000 | 3.00× | 20.0 – 22.0 |", lines[2])
	assert.Equal(t, "| (c) rsyslog | 1667 – 2500 | 1.50× | 40.0 – 40.0 |", lines[4])
}

func TestSVGIsWellFormed(t *testing.T) {
	t.Parallel()
	var out strings.Builder
	require.NoError(t, SVG(&out, Summarize(withPeer())))
	dec := xml.NewDecoder(strings.NewReader(out.String()))
	for {
		_, err := dec.Token()
		if err != nil {
			require.ErrorContains(t, err, "EOF")
			break
		}
	}
	assert.Contains(t, out.String(), ">contrib<")
	assert.Contains(t, out.String(), ">5000<")
	assert.Contains(t, out.String(), ">rsyslog<")
	assert.Contains(t, out.String(), "written to disk")
}
