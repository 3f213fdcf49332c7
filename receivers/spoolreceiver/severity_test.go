package spoolreceiver

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/stanza/entry"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/fleetlog/fleetlog/receivers/spoolreceiver/internal/severity"
)

// spoolBand names the spool's eviction band of a severity number, as
// internal/spool documents them: TRACE+DEBUG, INFO+unspecified, WARN,
// ERROR+FATAL.
func spoolBand(n uint8) string {
	switch {
	case n == 0:
		return "info"
	case n <= 8:
		return "debug"
	case n <= 12:
		return "info"
	case n <= 16:
		return "warn"
	}
	return "error"
}

// TestSniffedLevelsLandInTheirBands: what the sniffer and stanza's severity
// parsing give reaches the spool (severityOf) in the band its name says.
func TestSniffedLevelsLandInTheirBands(t *testing.T) {
	t.Parallel()
	tests := []struct{ line, band string }{
		{"2026-11-24T09:00:00Z TRACE enter", "debug"},
		{"2026-11-24T09:00:00Z DEBUG config", "debug"},
		{"03-17 16:13:38.811  1702  2395 V Tag: x", "debug"},
		{"2026-11-24T09:00:00Z INFO started", "info"},
		{"[Sun Dec 04 04:47:44 2005] [notice] ok", "info"},
		{"no level here", "info"},
		{"WARNING:root:disk", "warn"},
		{"2026-11-24T09:00:00Z ERROR failed", "error"},
		{"<2>kernel: crit", "error"},
		{"CRITICAL:db:down", "error"},
		{"[alert] x", "error"},
		{"2026-11-24T09:00:00Z FATAL exiting", "error"},
		{"panic: x", "error"},
		{"<0>emerg", "error"},
	}
	for _, tt := range tests {
		lv := severity.Sniff([]byte(tt.line))
		assert.Equal(t, tt.band, spoolBand(lv.Number), "%q sniffed %+v", tt.line, lv)
		// The operator path maps stanza's severities the same way.
		assert.Equal(t, lv.Number, severityOf(entry.Severity(lv.Number)))
	}
	for sev, band := range map[entry.Severity]string{
		entry.Trace: "debug", entry.Debug4: "debug", entry.Default: "info", entry.Info4: "info",
		entry.Warn: "warn", entry.Error: "error", entry.Fatal4: "error", entry.Severity(99): "error",
	} {
		assert.Equal(t, band, spoolBand(severityOf(sev)), "%v", sev)
	}
}

// TestMixedLevelFileUnderFullSpoolKeepsErrors writes a file of mixed-level
// lines, three times the spool's size, while the next consumer is down:
// the spool evicts DEBUG lines, and only them, and every ERROR, WARN and
// INFO line arrives once it is back.
func TestMixedLevelFileUnderFullSpoolKeepsErrors(t *testing.T) {
	t.Parallel()
	logDir := t.TempDir()
	cfg := testConfig(t, logDir)
	smallSpool(cfg) // 1MiB
	var up atomic.Bool
	next := &sink{fail: func(int64) error {
		if !up.Load() {
			return errors.New("gateway down")
		}
		return nil
	}}
	r := startReceiver(t, cfg, next)

	pad := strings.Repeat("x", 900)
	var b strings.Builder
	want := map[string]int{}
	for i := range 3000 { // ~3MB of DEBUG, 30 lines of each other level
		fmt.Fprintf(&b, "2026-11-24T09:00:00.%03dZ DEBUG worker step %d %s\n", i%1000, i, pad)
		if i%100 == 0 {
			for _, lvl := range []string{"INFO", "WARN", "ERROR"} {
				fmt.Fprintf(&b, "2026-11-24T09:00:00.%03dZ %s worker event %d\n", i%1000, lvl, i)
				want[lvl]++
			}
		}
	}
	appendFile(t, filepath.Join(logDir, "app.log"), b.String())
	waitFor(t, "the file read and debug evicted", func() bool {
		st := r.sp.Stats()
		return st.Evicted > 0 && st.Appended >= 3000+3*30
	})
	up.Store(true)
	waitFor(t, "the spool drained", func() bool { return r.sp.Stats().Records == 0 })

	got := map[string]int{}
	var loss int
	for _, lr := range next.records() {
		body := lr.Body().AsString()
		if strings.HasPrefix(body, "spool full: dropped") {
			loss++
			sev, ok := lr.Attributes().Get(attrDroppedSeverity)
			require.True(t, ok)
			assert.Equal(t, plog.SeverityNumberDebug.String(), sev.Str(), "only DEBUG lines were evicted")
			continue
		}
		got[lr.SeverityText()]++
		if lr.SeverityText() == "" {
			t.Errorf("a line without severity: %.60s", body)
		}
	}
	assert.Positive(t, loss, "the spool was full")
	assert.Less(t, got["DEBUG"], 3000, "DEBUG lines were evicted")
	for _, lvl := range []string{"INFO", "WARN", "ERROR"} {
		assert.Equal(t, want[lvl], got[lvl], "every %s line arrives", lvl)
	}
}
