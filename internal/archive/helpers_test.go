package archive

import (
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
)

var testEpoch = time.Date(2026, 11, 24, 9, 0, 0, 0, time.UTC)

func newKey(t testing.TB) (ed25519.PublicKey, ed25519.PrivateKey) {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	return pub, priv
}

// fakeClock is a settable clock for the writer.
type fakeClock struct{ now time.Time }

func (c *fakeClock) Now() time.Time { return c.now }

func openWriter(t testing.TB, dir string, key ed25519.PrivateKey, clock *fakeClock) (*Writer, *Recovery) {
	t.Helper()
	w, rec, err := Open(Options{
		Dir: dir, Key: key, GatewayID: "gw-test", MaxSegmentSize: 64 << 20,
		MaxSegmentAge: time.Hour, Fsync: FsyncAlways, Now: clock.Now,
	})
	require.NoError(t, err)
	return w, rec
}

var severities = []plog.SeverityNumber{plog.SeverityNumberDebug, plog.SeverityNumberInfo, plog.SeverityNumberWarn, plog.SeverityNumberError}

// makeLogs returns n records from device in fleet, one second apart from
// start, with body "<prefix> <i>", cycling through severities.
func makeLogs(device, fleet, prefix string, start time.Time, n int) plog.Logs {
	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	rl.Resource().Attributes().PutStr(DeviceAttribute, device)
	rl.Resource().Attributes().PutStr(FleetAttribute, fleet)
	sl := rl.ScopeLogs().AppendEmpty()
	sl.Scope().SetName("test")
	for i := range n {
		lr := sl.LogRecords().AppendEmpty()
		ts := start.Add(time.Duration(i) * time.Second)
		lr.SetTimestamp(pcommon.NewTimestampFromTime(ts))
		lr.SetObservedTimestamp(pcommon.NewTimestampFromTime(ts.Add(time.Millisecond)))
		lr.SetSeverityNumber(severities[i%len(severities)])
		lr.Body().SetStr(fmt.Sprintf("%s %d", prefix, i))
		lr.Attributes().PutInt("i", int64(i))
		lr.Attributes().PutStr("app", []string{"kiosk", "pos"}[i%2])
	}
	return ld
}

func appendLogs(t testing.TB, w *Writer, ld plog.Logs) {
	t.Helper()
	_, err := w.Append(ld)
	require.NoError(t, err)
}

// appendConcurrently appends, from each of workers goroutines, appends
// batches of perAppend records of its own device, with bodies named
// prefix<worker>-<append>, and returns how many appends reported a seal.
func appendConcurrently(t *testing.T, w *Writer, workers, appends, perAppend int, prefix string) int {
	t.Helper()
	var wg sync.WaitGroup
	var sealed atomic.Int64
	for g := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range appends {
				res, err := w.Append(makeLogs(fmt.Sprintf("dev-%d", g), "f", fmt.Sprintf("%s%d-%d", prefix, g, i), testEpoch, perAppend))
				assert.NoError(t, err)
				if res.Sealed {
					sealed.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	return int(sealed.Load())
}
