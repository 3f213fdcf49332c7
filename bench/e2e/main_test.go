package main

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fleetlog/fleetlog/bench/internal/report"
)

func TestSelectPipelines(t *testing.T) {
	t.Parallel()
	o := options{agentConfig: "agent.yaml", configDir: "configs"}
	both, err := selectPipelines(o)
	require.NoError(t, err)
	require.Len(t, both, 2)
	assert.Equal(t, []string{"agent.yaml", "configs/fleetlog.yaml"}, both[0].configs)
	assert.Equal(t, []string{"configs/contrib.yaml"}, both[1].configs)

	o.only = "b"
	onlyB, err := selectPipelines(o)
	require.NoError(t, err)
	require.Len(t, onlyB, 1)
	assert.Equal(t, "(b) contrib", onlyB[0].name)

	o.only, o.agentBin = "", "bin/fleetlog-agent"
	three, err := selectPipelines(o)
	require.NoError(t, err)
	require.Len(t, three, 3)
	assert.Equal(t, "(a) fleetlog-agent", three[2].name)
	assert.Equal(t, "bin/fleetlog-agent", three[2].bin)
	assert.Equal(t, both[0].configs, three[2].configs)

	o.only = "c"
	_, err = selectPipelines(o)
	assert.ErrorContains(t, err, "-only")
}

func TestGoalLines(t *testing.T) {
	t.Parallel()
	sums := []report.Summary{
		{Pipeline: "(a) fleetlog", LinesPerCPUSecond: 400_000, PeakRSS: 30 << 20, CPU: time.Second},
		{Pipeline: "(a) fleetlog-agent", LinesPerCPUSecond: 400_000, PeakRSS: 39 << 20, CPU: time.Second},
		{Pipeline: "(b) contrib", LinesPerCPUSecond: 30_000, PeakRSS: 90 << 20, CPU: time.Second, Leaked: 2},
	}
	got := goalLines(sums)
	require.Len(t, got, 6, "%q", got)
	assert.Contains(t, got[0], "13.33× — met")
	assert.Contains(t, got[1], "(a) fleetlog: agent peak RSS ≤ 40 MB (38.1 MiB) during the run: 30.0 MiB — met")
	assert.Contains(t, got[2], "(a) fleetlog-agent: agent peak RSS ≤ 40 MB (38.1 MiB) during the run: 39.0 MiB — NOT met",
		"40 MB is decimal: 39 MiB is over it")
	assert.Contains(t, got[3], "(a) fleetlog: no planted secret reaches the sink: 0 leaked lines — met")
	assert.Contains(t, got[5], "2 leaked lines — NOT met")
}
