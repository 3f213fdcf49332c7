package store

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestStoreRoundTrip(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "fleet")
	s, err := Open(dir)
	require.NoError(t, err)
	require.NoError(t, s.PutDevices(map[string][]byte{"a": []byte("1"), "b": []byte("2")}))
	require.NoError(t, s.PutAssignment("glob", []byte("x")))
	require.NoError(t, s.PutAssignment("gone", []byte("y")))
	require.NoError(t, s.DeleteAssignment("gone"))
	n, err := s.SerialReserved()
	require.NoError(t, err)
	assert.Zero(t, n)
	require.NoError(t, s.ReserveSerials(1000))
	require.NoError(t, s.Close())

	info, err := os.Stat(dir)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o700), info.Mode().Perm())
	info, err = os.Stat(filepath.Join(dir, FileName))
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), info.Mode().Perm())

	s, err = Open(dir)
	require.NoError(t, err)
	defer s.Close()
	devices := map[string]string{}
	require.NoError(t, s.Devices(func(id string, rec []byte) error { devices[id] = string(rec); return nil }))
	assert.Equal(t, map[string]string{"a": "1", "b": "2"}, devices)
	var names []string
	require.NoError(t, s.Assignments(func(name string, _ []byte) error { names = append(names, name); return nil }))
	assert.Equal(t, []string{"glob"}, names)
	n, err = s.SerialReserved()
	require.NoError(t, err)
	assert.Equal(t, uint64(1000), n)
}
