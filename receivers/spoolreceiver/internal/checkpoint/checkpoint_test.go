package checkpoint

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/extension/xextension/storage"
)

// TestBarrierRunsBeforeTheWrite records what is on disk each time the
// barrier runs: the new value must not be there yet.
func TestBarrierRunsBeforeTheWrite(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "checkpoints.json")
	var seen []string
	s, err := Open(path, func() error {
		raw, _ := os.ReadFile(path)
		seen = append(seen, string(raw))
		return nil
	})
	require.NoError(t, err)
	ctx := context.Background()
	require.NoError(t, s.Set(ctx, "a", []byte("1")))
	require.NoError(t, s.Set(ctx, "a", []byte("2")))
	assert.Equal(t, []string{"", `{"a":"MQ=="}`}, seen, "each barrier saw only the previous value")

	info, err := os.Stat(path)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), info.Mode().Perm())

	again, err := Open(path, nil)
	require.NoError(t, err)
	v, err := again.Get(ctx, "a")
	require.NoError(t, err)
	assert.Equal(t, "2", string(v))
}

func TestFailedBarrierSavesNothing(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "checkpoints.json")
	boom := errors.New("disk gone")
	s, err := Open(path, func() error { return boom })
	require.NoError(t, err)
	require.ErrorIs(t, s.Set(context.Background(), "a", []byte("1")), boom)
	v, _ := s.Get(context.Background(), "a")
	assert.Nil(t, v)
	_, err = os.Stat(path)
	assert.ErrorIs(t, err, os.ErrNotExist)
}

func TestPoisonStopsWrites(t *testing.T) {
	t.Parallel()
	s, err := Open(filepath.Join(t.TempDir(), "c.json"), nil)
	require.NoError(t, err)
	ctx := context.Background()
	require.NoError(t, s.Set(ctx, "a", []byte("1")))
	s.Poison(errors.New("spool full"))
	require.ErrorIs(t, s.Set(ctx, "a", []byte("2")), ErrPoisoned)
	require.ErrorIs(t, s.Delete(ctx, "a"), ErrPoisoned)
	get := storage.GetOperation("a")
	require.NoError(t, s.Batch(ctx, get), "reads still work")
	assert.Equal(t, "1", string(get.Value))
}

func TestDamagedFileIsSetAside(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "c.json")
	require.NoError(t, os.WriteFile(path, []byte("{not json"), 0o600))
	s, err := Open(path, nil)
	require.NoError(t, err)
	v, _ := s.Get(context.Background(), "a")
	assert.Nil(t, v)
	_, err = os.Stat(path + ".bad")
	assert.NoError(t, err)
}
