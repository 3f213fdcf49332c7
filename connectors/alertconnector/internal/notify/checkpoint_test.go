package notify

import (
	"context"
	"crypto/ed25519"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.uber.org/zap"

	"github.com/fleetlog/fleetlog/connectors/alertconnector/internal/outbox"
	"github.com/fleetlog/fleetlog/internal/alert"
	"github.com/fleetlog/fleetlog/internal/archive"
)

// recorder is an output's far end that keeps what it was sent.
type recorder struct {
	mu  sync.Mutex
	got []*Notification
}

func (r *recorder) Send(_ context.Context, ns []*Notification) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.got = append(r.got, ns...)
	return nil
}
func (r *recorder) MaxBatch() int { return 16 }
func (r *recorder) Close() error  { return nil }
func (r *recorder) all() []*Notification {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]*Notification(nil), r.got...)
}

// signedCheckpoint returns the checkpoint a real archive of n records signs.
func signedCheckpoint(t *testing.T, n int) []byte {
	t.Helper()
	_, key, err := ed25519.GenerateKey(nil)
	require.NoError(t, err)
	w, _, err := archive.Open(archive.Options{Dir: filepath.Join(t.TempDir(), "archive"), Key: key, GatewayID: "gw-1"})
	require.NoError(t, err)
	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	rl.Resource().Attributes().PutStr("device.id", "atm-1")
	for i := range n {
		rl.ScopeLogs().AppendEmpty().LogRecords().AppendEmpty().Body().SetStr("line " + strings.Repeat("x", i))
	}
	_, err = w.Append(ld)
	require.NoError(t, err)
	require.NoError(t, w.Checkpoint())
	note := w.LatestCheckpointNote()
	require.NoError(t, w.Close())
	require.NotEmpty(t, note)
	return note
}

// TestCheckpointsGoOnlyWhereTaken: a checkpoint reaches the outputs that
// take checkpoints and no other, silences or not; its syslog event carries
// the signed note, which a file of such events gives back whole.
func TestCheckpointsGoOnlyWhereTaken(t *testing.T) {
	note := signedCheckpoint(t, 3)
	parsed, err := archive.ParseCheckpoint(note)
	require.NoError(t, err)
	open := func() *outbox.Outbox {
		ob, err := outbox.Open(t.TempDir(), 100)
		require.NoError(t, err)
		return ob
	}
	siem, chat := &recorder{}, &recorder{}
	cnt := newCounts()
	d := New(Config{Silences: []Silence{{Matchers: map[string]string{}}}}, []*Output{
		{Name: "syslog", Sender: siem, Outbox: open(), Retry: fastRetry(), Checkpoints: true},
		{Name: "slack", Sender: chat, Outbox: open(), Retry: fastRetry()},
	}, cnt, zap.NewNop())
	d.Start()
	defer d.Shutdown()
	d.EnqueueCheckpoint(&Checkpoint{Origin: parsed.Origin, Size: parsed.Size, Epoch: parsed.Epoch, Note: note})
	d.Enqueue([]alert.Alert{sample(alert.StatusFiring)}) // silenced
	require.Eventually(t, func() bool { return len(siem.all()) == 1 }, 5*time.Second, 10*time.Millisecond)
	time.Sleep(50 * time.Millisecond)
	assert.Empty(t, chat.all(), "a checkpoint is for the outputs that take them")
	assert.Zero(t, cnt.get(cnt.failed, "syslog"))
	got := siem.all()
	require.Len(t, got, 1)
	require.NotNil(t, got[0].Checkpoint, "the outbox keeps the checkpoint")

	msg := string(Syslog(got[0], SyslogParams{Facility: 10, Hostname: "gw-1", Version: "1.2.3"}))
	assert.Contains(t, msg, "<86>1 ", "facility 10, informational")
	assert.Contains(t, msg, " gw-1 fleetlog - archive_checkpoint - CEF:0|fleetlog|fleetlog-gateway|1.2.3|archive_checkpoint|Archive checkpoint|1|")
	assert.Contains(t, msg, "cn1Label=treeSize cn1=3 ")
	assert.Contains(t, msg, "cs1Label=origin cs1="+parsed.Origin+" ")
	// As a SIEM keeps it: the frame's length off, one event a line.
	_, line, _ := strings.Cut(msg, " ")
	file := filepath.Join(t.TempDir(), "siem-export.log")
	require.NoError(t, os.WriteFile(file, []byte("an unrelated line\n"+line+"\n"), 0o600))
	cps, err := archive.ReadCheckpointsFile(file)
	require.NoError(t, err)
	require.Len(t, cps, 1)
	assert.Equal(t, note, cps[0].Note)
	assert.Equal(t, file+":2", cps[0].Name)
}
