package spoolreceiver

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fleetlog/fleetlog/internal/spoolstamp"
)

// TestRecordsCarryTheSpoolStamp: every delivered record carries a sequence
// number, and its scope the spool's identity, that increases in delivery order and
// across a restart of the same spool directory.
func TestRecordsCarryTheSpoolStamp(t *testing.T) {
	t.Parallel()
	logDir := t.TempDir()
	cfg := testConfig(t, logDir)
	var id string
	var last uint64
	check := func(next *sink, want int) {
		t.Helper()
		recs, scopes := next.records(), next.scopeAttrs()
		require.Len(t, recs, want)
		for i, lr := range recs {
			_, perRecord := lr.Attributes().Get(spoolstamp.IDAttribute)
			require.False(t, perRecord, "the identity is the scope's, not the record's")
			gotID, seq, ok := spoolstamp.Read(scopes[i], lr.Attributes())
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
