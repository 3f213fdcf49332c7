package fleetprovider

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/confmaptest"
	"go.uber.org/zap"

	"github.com/fleetlog/fleetlog/internal/fleetproto"
	"github.com/fleetlog/fleetlog/internal/fleetstate"
)

func newTestProvider() *provider {
	return &provider{logger: zap.NewNop(), poll: 10 * time.Millisecond}
}

func retrieve(t *testing.T, p *provider, dir string, w confmap.WatcherFunc) map[string]any {
	t.Helper()
	r, err := p.Retrieve(context.Background(), "fleet:"+dir, w)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, r.Close(context.Background())) })
	conf, err := r.AsConf()
	require.NoError(t, err)
	return conf.ToStringMap()
}

func TestFactory(t *testing.T) {
	t.Parallel()
	p := NewFactory().Create(confmaptest.NewNopProviderSettings())
	assert.Equal(t, "fleet", p.Scheme())
	require.NoError(t, p.Shutdown(context.Background()))
}

func TestRetrieveBadURI(t *testing.T) {
	t.Parallel()
	p := newTestProvider()
	for _, uri := range []string{"file:/x", "fleet:"} {
		_, err := p.Retrieve(context.Background(), uri, nil)
		assert.Error(t, err, uri)
	}
}

func TestServesNothingThenTheCandidateAndReloads(t *testing.T) {
	t.Parallel()
	dirName := filepath.Join(t.TempDir(), "remote")
	p := newTestProvider()
	changed := make(chan struct{}, 1)
	w := func(e *confmap.ChangeEvent) {
		assert.NoError(t, e.Error)
		changed <- struct{}{}
	}
	assert.Empty(t, retrieve(t, p, dirName, w))

	dir, err := fleetstate.Open(dirName)
	require.NoError(t, err)
	c, err := dir.Stage(fleetstate.Fragment{Serial: 1}, []byte("receivers:\n  spool:\n    files:\n      extra:\n        include: [/x/*.log]\n"), time.Now())
	require.NoError(t, err)
	select {
	case <-changed:
	case <-time.After(5 * time.Second):
		t.Fatal("no change event")
	}
	got := retrieve(t, p, dirName, w)
	assert.Equal(t, []any{"/x/*.log"}, got["receivers"].(map[string]any)["spool"].(map[string]any)["files"].(map[string]any)["extra"].(map[string]any)["include"])

	// Promoting serves the same fragment: no reload.
	require.NoError(t, dir.Promote(c, time.Now()))
	select {
	case <-changed:
		t.Fatal("promotion must not reload")
	case <-time.After(100 * time.Millisecond):
	}
}

func TestRestartRollsBackAnUnconfirmedCandidate(t *testing.T) {
	t.Parallel()
	dirName := filepath.Join(t.TempDir(), "remote")
	dir, err := fleetstate.Open(dirName)
	require.NoError(t, err)
	c, err := dir.Stage(fleetstate.Fragment{Serial: 1}, []byte("a: good\n"), time.Now())
	require.NoError(t, err)
	require.NoError(t, dir.Promote(c, time.Now()))
	_, err = dir.Stage(fleetstate.Fragment{Serial: 2}, []byte("a: broken\n"), time.Now())
	require.NoError(t, err)
	writeForeignCandidate(t, dirName)

	assert.Equal(t, map[string]any{"a": "good"}, retrieve(t, newTestProvider(), dirName, nil))
	st, err := dir.State()
	require.NoError(t, err)
	assert.Equal(t, fleetproto.RemoteConfigRolledBack, st.Last.State)
	assert.Equal(t, uint64(2), st.Last.Serial)
}

// writeForeignCandidate makes the candidate in dir look like another
// process's, as it does to the agent restarted after a failed start.
func writeForeignCandidate(t *testing.T, dir string) {
	t.Helper()
	path := filepath.Join(dir, fleetstate.CandidateFile)
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	var c fleetstate.Candidate
	require.NoError(t, json.Unmarshal(b, &c))
	// The token of a process that ran and exited.
	cmd := exec.Command("true")
	require.NoError(t, cmd.Run())
	c.Process = strconv.Itoa(cmd.Process.Pid) + "-previous"
	b, err = json.Marshal(&c)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(path, b, fleetstate.FileMode))
}
