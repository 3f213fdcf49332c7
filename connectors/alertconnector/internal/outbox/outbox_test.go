package outbox

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestPutPeekRemoveSurvivesReopen(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "outbox")
	o, err := Open(dir, 10)
	require.NoError(t, err)
	for i := range 3 {
		require.NoError(t, o.Put([]byte(fmt.Sprint(i))))
	}
	st, err := os.Stat(dir)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o700), st.Mode().Perm())
	ents, err := o.Peek(2)
	require.NoError(t, err)
	require.Len(t, ents, 2)
	assert.Equal(t, "0", string(ents[0].Data))
	fi, err := os.Stat(o.path(ents[0].Seq))
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm())
	require.NoError(t, o.Remove(ents[0].Seq))
	o.Close()
	assert.ErrorIs(t, o.Put(nil), ErrClosed)

	// A crash during Put leaves a .tmp file: it is removed at Open.
	require.NoError(t, os.WriteFile(filepath.Join(dir, "00000000000000000099.json.tmp"), []byte("x"), 0o600))
	o, err = Open(dir, 10)
	require.NoError(t, err)
	assert.Equal(t, 2, o.Len())
	select {
	case <-o.Ready():
	default:
		t.Fatal("pending entries signal Ready at Open")
	}
	require.NoError(t, o.Put([]byte("3")))
	ents, err = o.Peek(10)
	require.NoError(t, err)
	var got []string
	for _, e := range ents {
		got = append(got, string(e.Data))
	}
	assert.Equal(t, []string{"1", "2", "3"}, got)
	_, err = os.Stat(filepath.Join(dir, "00000000000000000099.json.tmp"))
	assert.ErrorIs(t, err, os.ErrNotExist)
}

func TestFullDropsOldest(t *testing.T) {
	o, err := Open(t.TempDir(), 2)
	require.NoError(t, err)
	for i := range 5 {
		require.NoError(t, o.Put([]byte(fmt.Sprint(i))))
	}
	assert.Equal(t, 2, o.Len())
	assert.EqualValues(t, 3, o.Dropped())
	ents, _ := o.Peek(5)
	assert.Equal(t, "3", string(ents[0].Data))
}
