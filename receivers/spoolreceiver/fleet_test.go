package spoolreceiver

import (
	"context"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/extension"
	"go.opentelemetry.io/collector/receiver/receivertest"

	"github.com/fleetlog/fleetlog/internal/fleetproto"
	"github.com/fleetlog/fleetlog/receivers/spoolreceiver/internal/metadata"
)

// registry is a fleetproto.StatusRegistry extension, as fleet_agent is.
type registry struct {
	component.StartFunc
	component.ShutdownFunc
	mu  sync.Mutex
	src map[string]fleetproto.StatusSource
}

func (g *registry) RegisterStatusSource(name string, src fleetproto.StatusSource) func() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.src[name] = src
	return func() {
		g.mu.Lock()
		defer g.mu.Unlock()
		delete(g.src, name)
	}
}

func (g *registry) status() (*fleetproto.Status, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	var s fleetproto.Status
	for _, src := range g.src {
		src.FleetStatus(&s)
		return &s, true
	}
	return nil, false
}

type hostWith struct {
	component.Host
	exts map[component.ID]component.Component
}

func (h hostWith) GetExtensions() map[component.ID]component.Component { return h.exts }

func TestFleetStatusRegistersAndReports(t *testing.T) {
	t.Parallel()
	logDir := t.TempDir()
	cfg := testConfig(t, logDir)
	reg := &registry{src: map[string]fleetproto.StatusSource{}}
	host := hostWith{Host: componenttest.NewNopHost(), exts: map[component.ID]component.Component{
		component.MustNewID("fleet_agent"): extension.Extension(reg),
	}}
	next := &sink{}
	r, err := NewFactory().CreateLogs(context.Background(), receivertest.NewNopSettings(metadata.Type), cfg, next)
	require.NoError(t, err)
	require.NoError(t, r.Start(context.Background(), host))

	path := filepath.Join(logDir, "a.log")
	writeLines(t, path, 0, 100)
	waitFor(t, "100 lines", func() bool { return len(next.records()) >= 100 })
	waitFor(t, "the file's checkpoint at its end", func() bool {
		s, ok := reg.status()
		return ok && len(s.Files) == 1 && s.Files[0].LagBytes == 0 && s.Files[0].Offset > 0
	})
	s, _ := reg.status()
	assert.Equal(t, path, s.Files[0].Path)
	assert.Equal(t, s.Files[0].Size, s.Files[0].Offset)
	assert.WithinDuration(t, time.Now(), s.LastAck, 10*time.Second)
	require.NotNil(t, s.Spool)
	assert.Equal(t, int64(cfg.MaxSize), s.Spool.MaxBytes)
	assert.Zero(t, s.Spool.Records)

	require.NoError(t, r.Shutdown(context.Background()))
	_, ok := reg.status()
	assert.False(t, ok, "Shutdown must unregister")
}

// TestReloadKeepsSpoolAndCheckpoints is what a configuration reload does to
// the receiver: the old one shuts down while lines are being written, a new
// one with an extra file input starts on the same directory. Every line
// arrives exactly once.
func TestReloadKeepsSpoolAndCheckpoints(t *testing.T) {
	t.Parallel()
	logDir, newDir := t.TempDir(), t.TempDir()
	cfg := testConfig(t, logDir)
	next := &sink{}
	set := receivertest.NewNopSettings(metadata.Type)
	first, err := NewFactory().CreateLogs(context.Background(), set, cfg, next)
	require.NoError(t, err)
	require.NoError(t, first.Start(context.Background(), componenttest.NewNopHost()))

	path := filepath.Join(logDir, "a.log")
	const total = 3000
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; i < total; i += 100 {
			writeLines(t, path, i, i+100)
			time.Sleep(5 * time.Millisecond)
		}
	}()
	waitFor(t, "some lines", func() bool { return len(next.records()) >= 300 })
	require.NoError(t, first.Shutdown(context.Background()))

	reloaded := *cfg
	reloaded.Files = map[string]*FileConfig{"app": cfg.Files["app"]}
	fc := NewFileConfig()
	fc.Include = []string{filepath.Join(newDir, "*.log")}
	fc.PollInterval = 20 * time.Millisecond
	reloaded.Files["added"] = fc
	second, err := NewFactory().CreateLogs(context.Background(), set, &reloaded, next)
	require.NoError(t, err)
	require.NoError(t, second.Start(context.Background(), componenttest.NewNopHost()))
	defer func() { require.NoError(t, second.Shutdown(context.Background())) }()
	<-done
	writeLines(t, filepath.Join(newDir, "b.log"), 0, 200)

	waitFor(t, "every line", func() bool { return len(next.records()) >= total+200 })
	time.Sleep(200 * time.Millisecond) // a duplicate would arrive by now
	counts := map[string]int{}
	for _, lr := range next.records() {
		counts[lr.Attributes().AsRaw()["log.file.name"].(string)+" "+lr.Body().Str()]++
	}
	for i := range total {
		require.Equal(t, 1, counts["a.log line "+strconv.Itoa(i)], "a.log line %d", i)
	}
	for i := range 200 {
		require.Equal(t, 1, counts["b.log line "+strconv.Itoa(i)], "b.log line %d", i)
	}
	require.Len(t, next.records(), total+200)
}

func TestDecodeKnownFiles(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		raw  string
		want []knownFile
	}{
		{name: "json encoding", raw: "2\n{\"Offset\":10,\"FileAttributes\":{\"log.file.path\":\"/a.log\"}}\n{\"Offset\":3,\"FileAttributes\":{}}\n",
			want: []knownFile{{path: "/a.log", offset: 10}, {offset: 3}}},
		{name: "empty", raw: ""},
		{name: "garbage", raw: "\xff\xff\xff"},
		{name: "json cut short", raw: "3\n{\"Offset\":1,", want: nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			assert.Equal(t, tt.want, decodeKnownFiles([]byte(tt.raw)))
		})
	}
}

// FuzzDecodeKnownFiles: a damaged checkpoint yields fewer files, never a
// panic or a hang.
func FuzzDecodeKnownFiles(f *testing.F) {
	f.Add([]byte("1\n{\"Offset\":10,\"FileAttributes\":{\"log.file.path\":\"/a.log\"}}\n"))
	f.Add([]byte{0x0a, 0x0b, 0x10, 0x05, 0x22, 0x07, '{', '"', 'a', '"', ':', '1', '}'})
	f.Add([]byte{0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Add([]byte(""))
	f.Fuzz(func(t *testing.T, raw []byte) {
		for _, k := range decodeKnownFiles(raw) {
			_ = k.path
		}
	})
}
