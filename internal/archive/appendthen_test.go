package archive

import (
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// AppendThen calls written once per append, after the records are in the
// segment, whether they were written or found already stored.
func TestAppendThenCallsWrittenOnceWritten(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "archive")
	_, key := newKey(t)
	w, _ := openWriter(t, dir, key, &fakeClock{now: testEpoch})
	defer w.Close()

	calls := 0
	var sizeAtCall int64
	res, err := w.AppendThen(makeLogs("dev-1", "atms", "a", testEpoch, 10), func() {
		calls++
		w.mu.Lock()
		sizeAtCall = w.open.size
		w.mu.Unlock()
	})
	require.NoError(t, err)
	assert.Equal(t, 1, calls)
	assert.Equal(t, 10, res.Records)
	assert.Equal(t, res.Bytes, sizeAtCall, "written runs after the frames are in the segment")

	// Without a callback it is Append.
	res, err = w.AppendThen(makeLogs("dev-1", "atms", "b", testEpoch, 3), nil)
	require.NoError(t, err)
	assert.Equal(t, 3, res.Records)

	// An empty batch writes nothing and calls nothing.
	calls = 0
	_, err = w.AppendThen(makeLogs("dev-1", "atms", "c", testEpoch, 0), func() { calls++ })
	require.NoError(t, err)
	assert.Zero(t, calls)
}
