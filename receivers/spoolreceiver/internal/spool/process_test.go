package spool

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The tests below run this test binary again as a child process that opens
// the spool named by childDirEnv and does what childModeEnv says.
const (
	childDirEnv  = "SPOOL_TEST_CHILD_DIR"
	childModeEnv = "SPOOL_TEST_CHILD_MODE"
)

func TestChildProcess(t *testing.T) {
	dir := os.Getenv(childDirEnv)
	if dir == "" {
		t.Skip("only runs as the child of another test")
	}
	s, err := Open(Options{Dir: dir, MaxSize: 64 << 20, SegmentSize: 64 << 10})
	switch os.Getenv(childModeEnv) {
	case "open":
		if err != nil {
			fmt.Println("open:", err)
			return
		}
		fmt.Println("open: ok")
		_ = s.Close()
	case "append":
		// Append until killed, reporting every record made durable by Sync.
		require.NoError(t, err)
		for i := 0; ; i++ {
			r := rec(uint8(i%24+1), i)
			require.NoError(t, s.Append(context.Background(), []Record{r}))
			if i%50 == 49 {
				require.NoError(t, s.Sync())
				fmt.Println("synced", i)
			}
		}
	}
}

func runChild(t *testing.T, dir, mode string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], "-test.run=^TestChildProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), childDirEnv+"="+dir, childModeEnv+"="+mode)
	return cmd
}

func TestLockAcrossProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a process")
	}
	dir := filepath.Join(t.TempDir(), "spool")
	s := openSpool(t, Options{Dir: dir})
	out, err := runChild(t, dir, "open").CombinedOutput()
	require.NoError(t, err, "%s", out)
	assert.Contains(t, string(out), "open: "+ErrLocked.Error())

	require.NoError(t, s.Close())
	out, err = runChild(t, dir, "open").CombinedOutput()
	require.NoError(t, err, "%s", out)
	assert.Contains(t, string(out), "open: ok")
}

// TestKilledWriter kills a process that appends with the default fsync
// policy: every record it had synced is there after a restart, in order and
// once, followed at most by some it had not synced yet, in order and once.
func TestKilledWriter(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a process")
	}
	dir := filepath.Join(t.TempDir(), "spool")
	for round := range 3 {
		cmd := runChild(t, dir, "append")
		stdout, err := cmd.StdoutPipe()
		require.NoError(t, err)
		require.NoError(t, cmd.Start())
		synced := -1
		sc := bufio.NewScanner(stdout)
		deadline := time.Now().Add(30 * time.Second)
		for sc.Scan() && synced < 1000 && time.Now().Before(deadline) {
			if n, ok := strings.CutPrefix(sc.Text(), "synced "); ok {
				synced, err = strconv.Atoi(n)
				require.NoError(t, err)
			}
		}
		require.NoError(t, cmd.Process.Kill())
		_ = cmd.Wait()
		require.GreaterOrEqual(t, synced, 1000, "round %d", round)

		s, err := Open(Options{Dir: dir, MaxSize: 64 << 20, SegmentSize: 64 << 10})
		require.NoError(t, err)
		st := s.Stats()
		assert.Zero(t, st.Corrupt, "a kill leaves at most a torn tail")
		require.GreaterOrEqual(t, st.Records, int64(synced+1))
		got := readN(t, s, int(st.Records), true)
		assert.Equal(t, seq(0, synced+1), got[:synced+1], "round %d", round)
		// Records not synced yet may be missing in part: a kill during a
		// sync may leave one band's buffer written and another's not.
		for i := synced + 1; i < len(got); i++ {
			require.Greater(t, got[i], got[i-1], "round %d: in order, once", round)
		}
		require.NoError(t, s.Close())
	}
}
