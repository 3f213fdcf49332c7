package main

import (
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// openPTY opens a pseudo-terminal pair: the terminal side, and the side
// that reads what is written to it.
func openPTY(t *testing.T) (tty, reader *os.File) {
	t.Helper()
	ptmx, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminals here: %v", err)
	}
	t.Cleanup(func() { ptmx.Close() })
	require.NoError(t, unix.IoctlSetPointerInt(int(ptmx.Fd()), unix.TIOCSPTLCK, 0))
	n, err := unix.IoctlGetInt(int(ptmx.Fd()), unix.TIOCGPTN)
	require.NoError(t, err)
	tty, err = os.OpenFile("/dev/pts/"+strconv.Itoa(n), os.O_RDWR|unix.O_NOCTTY, 0)
	require.NoError(t, err)
	t.Cleanup(func() { tty.Close() })
	return tty, ptmx
}

func TestArchiveQueryProgressOnTerminal(t *testing.T) {
	dir, _ := writeArchive(t)
	tty, reader := openPTY(t)
	stdout, err := os.Create(t.TempDir() + "/out")
	require.NoError(t, err)
	defer stdout.Close()
	require.NoError(t, runWithStreams(t, stdout, tty, "archive", "query", "--dir", dir, "--count"))

	require.NoError(t, reader.SetReadDeadline(time.Now().Add(5*time.Second)))
	// The writes are done; read until the last one arrived.
	var got []byte
	buf := make([]byte, 4096)
	for !strings.HasSuffix(string(got), "\r\033[K") {
		n, err := reader.Read(buf)
		require.NoError(t, err, "read so far: %q", got)
		got = append(got, buf[:n]...)
	}
	assert.Contains(t, string(got), "2/2 segments")
	out, err := os.ReadFile(stdout.Name())
	require.NoError(t, err)
	assert.Equal(t, "2\n", string(out), "stdout holds only the count")
}
