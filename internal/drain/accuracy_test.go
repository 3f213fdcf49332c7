package drain

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fleetlog/fleetlog/internal/loghub"
)

// publishedDrain is Drain's grouping accuracy per loghub system, Table of
// Zhu et al., "Tools and Benchmarks for Automated Log Parsing", ICSE-SEIP
// 2019, with per-system preprocessing regexes and parameters.
var publishedDrain = map[string]float64{
	"HDFS": 0.998, "Hadoop": 0.948, "Spark": 0.920, "Zookeeper": 0.967,
	"OpenStack": 0.733, "BGL": 0.963, "HPC": 0.887, "Thunderbird": 0.955,
	"Windows": 0.997, "Linux": 0.690, "Mac": 0.787, "Android": 0.911,
	"HealthApp": 0.780, "Apache": 1.000, "OpenSSH": 0.788, "Proxifier": 0.527,
}

// groupingAccuracy is the benchmark's measure: the share of lines whose
// mined group holds exactly the lines of their ground-truth event.
func groupingAccuracy(parsed, truth []string) float64 {
	byParsed := map[string][]int{}
	truthSize := map[string]int{}
	for i := range parsed {
		byParsed[parsed[i]] = append(byParsed[parsed[i]], i)
		truthSize[truth[i]]++
	}
	correct := 0
	for _, lines := range byParsed {
		ev := truth[lines[0]]
		same := true
		for _, l := range lines {
			if truth[l] != ev {
				same = false
				break
			}
		}
		if same && truthSize[ev] == len(lines) {
			correct += len(lines)
		}
	}
	return float64(correct) / float64(len(parsed))
}

// TestLoghubAccuracy mines every loghub 2k sample with the defaults and the
// generic masking (no per-system regexes) and reports the grouping accuracy
// beside Drain's published one. It fails only on a collapse (below 0.4 on
// a system where Drain reached 0.9), so a change to the masking shows as
// numbers first.
func TestLoghubAccuracy(t *testing.T) {
	dir := loghub.Require(t)
	systems, err := loghub.Systems(dir)
	require.NoError(t, err)
	var sum, pubSum float64
	var n int
	var report strings.Builder
	for _, sys := range systems {
		rows, err := loghub.ReadStructured(dir, sys)
		require.NoError(t, err)
		m := New(Config{MaxTemplates: len(rows)})
		parsed := make([]string, len(rows))
		truth := make([]string, len(rows))
		for i, r := range rows {
			tpl, _ := m.Add(r.Content)
			require.NotNil(t, tpl, "%s line %d", sys, i)
			parsed[i] = fmt.Sprint(tpl.ID)
			truth[i] = r.EventID
		}
		acc := groupingAccuracy(parsed, truth)
		pub := publishedDrain[sys]
		fmt.Fprintf(&report, "%-12s templates %4d  accuracy %.3f  published Drain %.3f\n", sys, m.Len(), acc, pub)
		if pub >= 0.9 {
			assert.Greater(t, acc, 0.4, sys)
		}
		sum += acc
		pubSum += pub
		n++
	}
	fmt.Fprintf(&report, "%-12s                 accuracy %.3f  published Drain %.3f\n", "average", sum/float64(n), pubSum/float64(n))
	t.Log("\n" + report.String())
}
