package durable

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestWriteFile(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		perm os.FileMode
	}{
		{"private", 0o600},
		{"public", 0o644},
		{"sealed", 0o400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			path := filepath.Join(dir, "f")
			require.NoError(t, os.WriteFile(path, []byte("old"), 0o600))
			require.NoError(t, WriteFile(path, []byte("new"), tt.perm))
			got, err := os.ReadFile(path)
			require.NoError(t, err)
			assert.Equal(t, "new", string(got))
			fi, err := os.Stat(path)
			require.NoError(t, err)
			assert.Equal(t, tt.perm, fi.Mode().Perm())
			assertNoTemp(t, dir)
		})
	}
}

func TestReplaceFailureKeepsOld(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "f")
	require.NoError(t, os.WriteFile(path, []byte("old"), 0o600))
	boom := errors.New("boom")
	err := Replace(path, 0o600, func(w io.Writer) error {
		_, _ = w.Write([]byte("half"))
		return boom
	})
	require.ErrorIs(t, err, boom)
	got, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, "old", string(got))
	assertNoTemp(t, dir)
}

func TestWriteFileMissingDir(t *testing.T) {
	t.Parallel()
	err := WriteFile(filepath.Join(t.TempDir(), "no", "f"), nil, 0o600)
	require.ErrorIs(t, err, os.ErrNotExist)
}

func TestIsTemp(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	f, err := os.CreateTemp(dir, ".x.seg.*"+TempSuffix)
	require.NoError(t, err)
	require.NoError(t, f.Close())
	assert.True(t, IsTemp(filepath.Base(f.Name())))
	assert.False(t, IsTemp("x.seg"))
	assert.False(t, IsTemp("x.tmp"))
}

func TestPrivateDir(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "a", "b")
	require.NoError(t, os.MkdirAll(dir, 0o755))
	require.NoError(t, PrivateDir(dir, 0o700))
	fi, err := os.Stat(dir)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o700), fi.Mode().Perm())
}

func TestLock(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "LOCK")
	l, err := Lock(path, 0o600)
	require.NoError(t, err)
	fi, err := os.Stat(path)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm())
	if _, err := Lock(path, 0o600); !errors.Is(err, ErrLocked) {
		t.Skipf("no flock on this platform: %v", err)
	}
	require.NoError(t, l.Unlock())
	require.NoError(t, l.Unlock())
	l2, err := Lock(path, 0o600)
	require.NoError(t, err)
	require.NoError(t, l2.Unlock())
}

func assertNoTemp(t *testing.T, dir string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	for _, e := range entries {
		assert.False(t, IsTemp(e.Name()), "temporary file left: %s", e.Name())
	}
}
