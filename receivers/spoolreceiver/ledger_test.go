package spoolreceiver

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/stanza/fileconsumer/emit"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/metric/metricdata/metricdatatest"

	"github.com/fleetlog/fleetlog/receivers/spoolreceiver/internal/metadatatest"
)

// emitCall is one call of fileconsumer's emit callback, as its reader makes
// it: at most 100 lines, their end offsets after the batch's start, and the
// file's line number after the batch.
type emitCall struct {
	tokens  [][]byte
	last    int64
	offsets []int64
}

// fileBatches is how fileconsumer reads lines(from..to) of a file from its
// start.
func fileBatches(from, to int, line func(int) string) []emitCall {
	var out []emitCall
	pos := int64(0)
	for i := 0; i < to; i += 100 {
		c := emitCall{offsets: []int64{pos}}
		for j := i; j < min(i+100, to); j++ {
			l := line(j)
			pos += int64(len(l)) + 1
			if j >= from {
				c.tokens = append(c.tokens, []byte(l))
				c.offsets = append(c.offsets, pos)
			}
		}
		c.last = int64(min(i+100, to))
		if len(c.tokens) > 0 {
			out = append(out, c)
		}
	}
	return out
}

func (c emitCall) call(t *testing.T, e emit.Callback) {
	t.Helper()
	require.NoError(t, e(context.Background(), c.tokens, map[string]any{"log.file.name": "app.log"}, c.last, c.offsets))
}

// crashImage copies the receiver's directory as a crash of the process
// leaves it: what was written to the files (not what the spool buffered),
// without the spool's lock.
func crashImage(t *testing.T, from string) string {
	t.Helper()
	to := t.TempDir()
	err := filepath.WalkDir(from, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(from, path)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(to, rel), 0o700)
		}
		if d.Name() == "LOCK" {
			return nil
		}
		src, err := os.Open(path)
		if err != nil {
			return err
		}
		defer src.Close()
		dst, err := os.OpenFile(filepath.Join(to, rel), os.O_CREATE|os.O_WRONLY, 0o600)
		if err != nil {
			return err
		}
		_, err = io.Copy(dst, src)
		return errors.Join(err, dst.Close())
	})
	require.NoError(t, err)
	return to
}

// TestCrashReReadSpoolsEachLineOnce: a file input spools 1,000 lines and
// the process dies (the gateway unreachable, the checkpoint not saved yet,
// half the lines written to the spool's files and half still buffered);
// the restarted receiver is fed the same lines again from the file's start,
// as fileconsumer reads them from its last checkpoint, and then new ones.
// Every line is delivered once: those in the spool's files are skipped,
// those the crash lost from its buffers are spooled again.
func TestCrashReReadSpoolsEachLineOnce(t *testing.T) {
	t.Parallel()
	for _, withOperators := range []bool{false, true} {
		t.Run(fmt.Sprintf("operators=%v", withOperators), func(t *testing.T) {
			t.Parallel()
			newConfig := func() *Config {
				cfg := testConfig(t, t.TempDir()) // a directory without files: emit is called below
				if withOperators {
					var err error
					cfg, err = operatorConfig(t, t.TempDir(), "- type: noop")
					require.NoError(t, err)
				}
				cfg.FsyncInterval = time.Hour // the test decides what is written
				// No poll: its checkpoint would cut the ledger, since
				// these lines come from the test, not from the poll.
				cfg.Files["app"].PollInterval = time.Hour
				return cfg
			}
			build := func(r *spoolReceiver) emit.Callback {
				fc := r.cfg.Files["app"]
				if withOperators {
					e, err := r.operatorEmit(fc, true)
					require.NoError(t, err)
					return e
				}
				return r.fileEmit(fc, true)
			}
			calls := fileBatches(0, 1000, textLine)

			cfg := newConfig()
			// The gateway never answers: delivery holds its first batch
			// and reads no more (reading would write the spool's buffers
			// out).
			stop := make(chan struct{})
			down := &sink{fail: func(int64) error { <-stop; return errors.New("gateway unreachable") }}
			before := startReceiver(t, cfg, down)
			t.Cleanup(func() { close(stop) }) // before the receiver's shutdown
			e := build(before)
			for _, c := range calls[:5] {
				c.call(t, e)
			}
			require.NoError(t, before.sp.Sync()) // as a full buffer is written out
			waitFor(t, "delivery to hold a batch", func() bool { return down.calls.Load() > 0 })
			for _, c := range calls[5:] {
				c.call(t, e)
			}
			image := crashImage(t, cfg.Directory)

			cfg2 := newConfig()
			cfg2.Directory = image
			up := &sink{}
			tel := componenttest.NewTelemetry()
			t.Cleanup(func() { require.NoError(t, tel.Shutdown(context.Background())) })
			require.NoError(t, cfg2.Validate())
			rcv, err := NewFactory().CreateLogs(context.Background(), metadatatest.NewSettings(tel), cfg2, up)
			require.NoError(t, err)
			require.NoError(t, rcv.Start(context.Background(), componenttest.NewNopHost()))
			t.Cleanup(func() { require.NoError(t, rcv.Shutdown(context.Background())) })
			after := rcv.(*spoolReceiver)
			e = build(after)
			for _, c := range calls {
				c.call(t, e)
			}
			// The 500 in the files.
			wantSkipped := int64(500)
			assert.Equal(t, wantSkipped, after.ledgers[after.cfg.Files["app"]].Stats().Skipped)
			metadatatest.AssertEqualSpoolRereadSkippedRecords(t, tel, []metricdata.DataPoint[int64]{{Value: wantSkipped}}, metricdatatest.IgnoreTimestamp())
			for _, c := range fileBatches(1000, 1100, textLine) {
				c.call(t, e)
			}
			waitFor(t, "1,100 lines", func() bool { return len(up.records()) >= 1100 })
			time.Sleep(100 * time.Millisecond) // room for a duplicate to show
			bodies := up.bodies()
			seen := map[string]int{}
			for _, b := range bodies {
				seen[b]++
			}
			for i := range 1100 {
				assert.Equal(t, 1, seen[textLine(i)], "line %d", i)
			}
			assert.Len(t, bodies, 1100)
		})
	}
}

// TestReReadOfOtherLinesIsSpooled: after a crash, a file at the same path
// with other lines at the same offsets (truncated and rewritten, a new file
// after rotation) is spooled in full.
func TestReReadOfOtherLinesIsSpooled(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t, t.TempDir())
	cfg.FsyncInterval = time.Hour
	cfg.Files["app"].PollInterval = time.Hour
	before := startReceiver(t, cfg, &sink{fail: func(int64) error { return errors.New("down") }})
	e := before.fileEmit(before.cfg.Files["app"], true)
	for _, c := range fileBatches(0, 300, textLine) {
		c.call(t, e)
	}
	require.NoError(t, before.sp.Sync())
	image := crashImage(t, cfg.Directory)

	cfg2 := testConfig(t, t.TempDir())
	cfg2.Directory = image
	cfg2.Files["app"].PollInterval = time.Hour
	up := &sink{}
	after := startReceiver(t, cfg2, up)
	e = after.fileEmit(after.cfg.Files["app"], true)
	other := func(i int) string { return fmt.Sprintf("lane %d", i) } // as long as textLine(i)
	for _, c := range fileBatches(0, 300, other) {
		c.call(t, e)
	}
	waitFor(t, "600 lines", func() bool { return len(up.records()) >= 600 })
	time.Sleep(100 * time.Millisecond)
	assert.Len(t, up.records(), 600)
}

// TestLedgerCutAtCheckpoint: the input's saved checkpoint cuts its ledger
// back, and ledgers of inputs no longer configured are removed at start.
func TestLedgerCutAtCheckpoint(t *testing.T) {
	t.Parallel()
	logDir := t.TempDir()
	cfg := testConfig(t, logDir)
	stale := filepath.Join(cfg.Directory, ledgerSubdir, ledgerFile("gone"))
	require.NoError(t, os.MkdirAll(filepath.Dir(stale), 0o700))
	require.NoError(t, os.WriteFile(stale, []byte("x"), 0o600))
	next := &sink{}
	r := startReceiver(t, cfg, next)
	assert.NoFileExists(t, stale)

	writeLines(t, filepath.Join(logDir, "app.log"), 0, 1000)
	waitFor(t, "1,000 lines", func() bool { return len(next.records()) >= 1000 })
	path := filepath.Join(cfg.Directory, ledgerSubdir, ledgerFile("app"))
	waitFor(t, "the ledger cut back", func() bool {
		st, err := os.Stat(path)
		return err == nil && st.Size() < 100
	})
	require.NotNil(t, r.ledgers[cfg.Files["app"]])
}

// TestRestartMidCatchUpAfterRotation runs the real file input: it catches
// up a backlog of 80,000 lines into a spool too small for it (block policy,
// the gateway unreachable), so it stops in the middle of its first poll,
// its checkpoint still unsaved. The process dies there (a copy of its
// directory), the file is rotated while it is down, and the agent starts
// again on that directory with room: it reads the rotated file again from
// its start and the new file at the old path. Every line arrives once: what
// was spooled is recognised and skipped, the rest and the new file's lines
// are spooled.
func TestRestartMidCatchUpAfterRotation(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		rotate func(*testing.T, *appWriter, string)
	}{
		{name: "rename", rotate: rotateRename},
		{name: "copytruncate", rotate: rotateCopyTruncate},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			logDir := t.TempDir()
			app := filepath.Join(logDir, "app.log")
			w := openAppWriter(t, app)
			const backlog, more = 80_000, 500
			w.lines(t, 0, backlog)
			config := func() *Config {
				cfg := testConfig(t, "")
				fc := NewFileConfig()
				fc.Include = []string{app, app + ".1"}
				fc.PollInterval = 20 * time.Millisecond
				cfg.Files = map[string]*FileConfig{"app": fc}
				return cfg
			}

			cfg := config()
			cfg.FullPolicy = FullBlock
			smallSpool(cfg)
			stop := make(chan struct{})
			down := &sink{fail: func(int64) error {
				select {
				case <-stop:
				case <-time.After(10 * time.Millisecond):
				}
				return errors.New("gateway unreachable")
			}}
			before := startReceiver(t, cfg, down)
			t.Cleanup(func() { close(stop) })
			// Stuck: the spool is full and the input waits for room.
			var last int64
			same := 0
			waitFor(t, "the input to wait for room", func() bool {
				n := before.sp.Stats().Appended
				if n > 0 && n == last {
					same++
				} else {
					same = 0
				}
				last = n
				return same >= 15 // 300ms without an append
			})
			require.Less(t, last, int64(backlog), "the spool must not hold the whole backlog")
			image := crashImage(t, cfg.Directory)

			tc.rotate(t, w, app+".1")
			w.lines(t, backlog, backlog+more)

			cfg2 := config()
			cfg2.Directory = image
			up := &sink{}
			after := startReceiver(t, cfg2, up)
			waitFor(t, "every line", func() bool { return len(up.records()) >= backlog+more })
			time.Sleep(300 * time.Millisecond) // room for a duplicate to show
			seen := map[string]int{}
			for _, b := range up.bodies() {
				seen[b]++
			}
			missing, twice := 0, 0
			for i := range backlog + more {
				switch seen[textLine(i)] {
				case 0:
					missing++
				case 1:
				default:
					twice++
				}
			}
			assert.Zero(t, missing)
			assert.Zero(t, twice)
			assert.Len(t, up.records(), backlog+more)
			assert.Positive(t, after.ledgers[after.cfg.Files["app"]].Stats().Skipped)
		})
	}
}
