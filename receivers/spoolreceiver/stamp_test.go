package spoolreceiver

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fleetlog/fleetlog/internal/spoolstamp"
)

// TestRecordsCarryTheSpoolStamp: every delivered record carries the spool's
// identity and a sequence number that increases in delivery order and
// across a restart of the same spool directory.
func TestRecordsCarryTheSpoolStamp(t *testing.T) {
	t.Parallel()
	logDir := t.TempDir()
	cfg := testConfig(t, logDir)
	var id string
	var last uint64
	check := func(next *sink, want int) {
		t.Helper()
		recs := next.records()
		require.Len(t, recs, want)
		for _, lr := range recs {
			gotID, seq, ok := spoolstamp.Read(lr.Attributes())
			require.True(t, ok, "record %q has no stamp", lr.Body().AsString())
			require.Equal(t, id, gotID)
			require.Greater(t, seq, last)
			last = seq
		}
	}

	next := &sink{}
	r := startReceiver(t, cfg, next)
	id = r.sp.ID()
	require.True(t, spoolstamp.ValidID(id))
	writeLines(t, filepath.Join(logDir, "a.log"), 0, 300)
	waitFor(t, "300 lines", func() bool { return len(next.records()) >= 300 })
	check(next, 300)
	require.NoError(t, r.Shutdown(context.Background()))

	next = &sink{}
	r = startReceiver(t, cfg, next)
	assert.Equal(t, id, r.sp.ID(), "the same spool directory keeps its identity")
	writeLines(t, filepath.Join(logDir, "a.log"), 300, 400)
	waitFor(t, "100 more lines", func() bool { return len(next.records()) >= 100 })
	check(next, 100)
}
