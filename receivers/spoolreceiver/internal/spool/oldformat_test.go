package spool

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/fleetlog/fleetlog/receivers/spoolreceiver/internal/record"
	"github.com/fleetlog/fleetlog/receivers/spoolreceiver/internal/spool/segfmt"
)

// v1Segment is a segment an agent of the previous version wrote (format
// version 1: one frame per record, version 1 payloads): three file lines
// and a syslog message.
const v1Segment = "testdata/v1/all-00000000000000000001.seg"

// TestReadsVersion1Segments: a spool left by the previous version is
// recovered and delivered whole, its records decode as they were written,
// and new records go to new segments in the current format.
func TestReadsVersion1Segments(t *testing.T) {
	data, err := os.ReadFile(v1Segment)
	require.NoError(t, err)
	require.Equal(t, segfmt.Version1, segfmt.HeaderVersion(data))
	dir := filepath.Join(t.TempDir(), "spool")
	require.NoError(t, os.MkdirAll(dir, dirPerm))
	require.NoError(t, os.WriteFile(filepath.Join(dir, filepath.Base(v1Segment)), data, filePerm))

	s := openSpool(t, Options{Dir: dir, Full: DropOldest})
	st := s.Stats()
	assert.Zero(t, st.Corrupt+st.TornTailBytes)
	assert.EqualValues(t, 4, st.Records)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	b, err := s.Read(ctx, 10, 1<<20)
	require.NoError(t, err)
	require.Len(t, b.Records, 4)
	dec := record.NewDecoder()
	for _, r := range b.Records {
		assert.Nil(t, r.Shared)
		require.NoError(t, dec.Decode(record.Spooled{Shared: r.Shared, Payload: r.Payload, Observed: r.Time, Severity: r.Severity}))
	}
	logs := dec.Logs()
	require.Equal(t, 2, logs.ResourceLogs().Len())
	files := logs.ResourceLogs().At(0).ScopeLogs().At(0).LogRecords()
	require.Equal(t, 3, files.Len())
	lr := files.At(1)
	assert.Equal(t, "2026-01-02T03:04:06Z ERROR disk /dev/sda1 failing", lr.Body().Str())
	assert.Equal(t, plog.SeverityNumberError, lr.SeverityNumber())
	assert.Equal(t, "ERROR", lr.SeverityText())
	assert.Equal(t, int64(1767323045000001000), int64(lr.ObservedTimestamp()))
	assert.Equal(t, map[string]any{"log.file.name": "app.log", "log.file.path": "/var/log/app/app.log"}, lr.Attributes().AsRaw())
	sys := logs.ResourceLogs().At(1)
	assert.Equal(t, map[string]any{"host.name": "edge-7"}, sys.Resource().Attributes().AsRaw())
	sl := sys.ScopeLogs().At(0)
	assert.Equal(t, "syslog", sl.Scope().Name())
	msg := sl.LogRecords().At(0)
	assert.Equal(t, map[string]any{"appname": "sshd", "priority": int64(38), "sd": map[string]any{"k": "v"}}, msg.Attributes().AsRaw())
	assert.Equal(t, map[string]any{"message": "Accepted publickey for ops", "n": []any{int64(1), 2.5, true}}, msg.Body().Map().AsRaw())
	assert.Equal(t, int64(1767323040000000000), int64(msg.Timestamp()))
	assert.Equal(t, "notice", msg.SeverityText())
	require.NoError(t, s.Ack(b))

	require.NoError(t, s.Append(context.Background(), recs(sevInfo, 0, 3)))
	assert.Equal(t, seq(0, 3), readN(t, s, 3, true))
	for _, f := range segFiles(t, dir) {
		data, err := os.ReadFile(f)
		require.NoError(t, err)
		assert.Equal(t, segfmt.Version, segfmt.HeaderVersion(data), f)
	}
}
