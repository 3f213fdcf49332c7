package filewatch

import (
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func TestWatcherReportsChanges(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "watched")
	changes := make(chan struct{}, 10)
	w := New(path, 5*time.Millisecond, func() { changes <- struct{}{} })
	w.Start()
	defer w.Stop()

	waitChange := func(what string) {
		t.Helper()
		select {
		case <-changes:
		case <-time.After(5 * time.Second):
			t.Fatalf("no change reported after %s", what)
		}
	}
	require.NoError(t, os.WriteFile(path, []byte("a\n"), 0o600))
	waitChange("create")
	require.NoError(t, os.WriteFile(path, []byte("a\nb\n"), 0o600))
	waitChange("append")
	// Replace by rename, as editors and configuration managers do.
	tmp := path + ".tmp"
	require.NoError(t, os.WriteFile(tmp, []byte("c\nd\n"), 0o600))
	require.NoError(t, os.Rename(tmp, path))
	waitChange("rename over")
	require.NoError(t, os.Remove(path))
	waitChange("remove")
}

func TestWatcherQuietWithoutChanges(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "watched")
	require.NoError(t, os.WriteFile(path, []byte("a\n"), 0o600))
	var calls atomic.Int32
	w := New(path, time.Millisecond, func() { calls.Add(1) })
	w.Start()
	time.Sleep(30 * time.Millisecond)
	w.Stop()
	assert.Zero(t, calls.Load())
}

func TestStopWithoutStart(t *testing.T) {
	t.Parallel()
	w := New("unused", time.Second, func() {})
	w.Stop()
	w.Stop()
	w.Start() // after Stop: must not leak a goroutine
}
