package agentproc

import (
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseStatCPU(t *testing.T) {
	t.Parallel()
	// The command name holds a space and a parenthesis on purpose.
	stat := []byte("4242 (fleet log) S 1 4242 4242 0 -1 4194560 5000 0 0 0 250 75 0 0 20 0 12 0 100 1000 200 0")
	cpu, err := parseStatCPU(stat)
	require.NoError(t, err)
	assert.Equal(t, 3250*time.Millisecond, cpu)

	_, err = parseStatCPU([]byte("4242 (x) S 1"))
	assert.Error(t, err)
}

func TestStatusKiB(t *testing.T) {
	t.Parallel()
	status := []byte("Name:\tfleetlog\nVmHWM:\t   20480 kB\nVmRSS:\t   10240 kB\n")
	v, err := statusKiB(status, "VmHWM:")
	require.NoError(t, err)
	assert.Equal(t, int64(20<<20), v)
	_, err = statusKiB(status, "VmSwap:")
	assert.Error(t, err)
}

func TestIOField(t *testing.T) {
	t.Parallel()
	io := []byte("rchar: 100\nwchar: 200\nread_bytes: 4096\nwrite_bytes: 8192\ncancelled_write_bytes: 0\n")
	v, err := ioField(io, "write_bytes:")
	require.NoError(t, err)
	assert.Equal(t, int64(8192), v)
	_, err = ioField(io, "syscr:")
	assert.Error(t, err)
}

func TestReadUsageOfSelf(t *testing.T) {
	t.Parallel()
	u, err := ReadUsage(os.Getpid())
	require.NoError(t, err)
	assert.Positive(t, u.RSS)
	assert.GreaterOrEqual(t, u.PeakRSS, u.RSS)
	assert.Positive(t, u.AnonRSS)
	assert.Positive(t, u.FileRSS)
	assert.GreaterOrEqual(t, u.DiskWrite, int64(0))
	assert.Positive(t, u.ReadCalls, "reading /proc took read calls")
	assert.GreaterOrEqual(t, u.WriteCalls, int64(0))
}
