package fleetstate

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fleetlog/fleetlog/internal/fleetproto"
)

func open(t *testing.T) *Dir {
	t.Helper()
	d, err := Open(filepath.Join(t.TempDir(), "remote"))
	require.NoError(t, err)
	return d
}

func TestStagePromoteServe(t *testing.T) {
	t.Parallel()
	d := open(t)
	now := time.Unix(1700000000, 0).UTC()
	s, b, err := d.Serve(now)
	require.NoError(t, err)
	assert.Equal(t, Served{}, s)
	assert.Nil(t, b)

	c, err := d.Stage(Fragment{Serial: 3, Hash: "h3"}, []byte("a: 1\n"), now)
	require.NoError(t, err)
	s, b, err = d.Serve(now)
	require.NoError(t, err)
	assert.Equal(t, Served{Serial: 3, Candidate: true}, s)
	assert.Equal(t, "a: 1\n", string(b))
	st, _ := d.State()
	assert.Equal(t, fleetproto.RemoteConfigApplying, st.Last.State)

	require.NoError(t, d.Promote(c, now))
	s, b, err = d.Serve(now)
	require.NoError(t, err)
	assert.Equal(t, Served{Serial: 3}, s)
	assert.Equal(t, "a: 1\n", string(b))

	// The next one replaces it and the old fragment file goes.
	c, err = d.Stage(Fragment{Serial: 5}, []byte("b: 2\n"), now)
	require.NoError(t, err)
	require.NoError(t, d.Promote(c, now))
	_, err = os.Stat(d.FragmentPath(3))
	assert.ErrorIs(t, err, os.ErrNotExist)
	st, _ = d.State()
	assert.Equal(t, uint64(5), st.Applied.Serial)
	assert.Equal(t, fleetproto.RemoteConfigApplied, st.Last.State)

	for _, name := range []string{StateFile, "fragment-5.yaml"} {
		fi, err := os.Stat(filepath.Join(d.Path(), name))
		require.NoError(t, err)
		assert.Equal(t, os.FileMode(FileMode), fi.Mode().Perm(), name)
	}
	fi, err := os.Stat(d.Path())
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(DirMode), fi.Mode().Perm())
}

func TestRollBackInProcess(t *testing.T) {
	t.Parallel()
	d := open(t)
	now := time.Now()
	c, err := d.Stage(Fragment{Serial: 1}, []byte("a: 1\n"), now)
	require.NoError(t, err)
	require.NoError(t, d.Promote(c, now))
	c, err = d.Stage(Fragment{Serial: 2}, []byte("a: 2\n"), now)
	require.NoError(t, err)
	require.NoError(t, d.RollBack(c, "no delivery", now))
	s, b, err := d.Serve(now)
	require.NoError(t, err)
	assert.Equal(t, Served{Serial: 1}, s)
	assert.Equal(t, "a: 1\n", string(b))
	st, _ := d.State()
	assert.Equal(t, Outcome{Fragment: Fragment{Serial: 2}, State: fleetproto.RemoteConfigRolledBack, Error: "no delivery", At: st.Last.At}, *st.Last)
	_, err = os.Stat(d.FragmentPath(2))
	assert.ErrorIs(t, err, os.ErrNotExist)
}

// TestCandidateOfAnotherProcessIsRolledBack is the restart after a
// configuration failed to start: the new process serves the last good one.
func TestCandidateOfAnotherProcessIsRolledBack(t *testing.T) {
	t.Parallel()
	d := open(t)
	now := time.Now()
	c, err := d.Stage(Fragment{Serial: 1}, []byte("a: 1\n"), now)
	require.NoError(t, err)
	require.NoError(t, d.Promote(c, now))
	c, err = d.Stage(Fragment{Serial: 2, ConfigHash: []byte{2}}, []byte("a: 2\n"), now)
	require.NoError(t, err)
	c.Process = deadProcessToken(t)
	require.NoError(t, d.writeJSON(CandidateFile, c))

	s, err := d.Decide()
	require.NoError(t, err)
	assert.Equal(t, Served{Serial: 1}, s, "Decide changes nothing but serves the last good one")
	s, b, err := d.Serve(now)
	require.NoError(t, err)
	assert.Equal(t, Served{Serial: 1}, s)
	assert.Equal(t, "a: 1\n", string(b))
	st, _ := d.State()
	assert.Equal(t, fleetproto.RemoteConfigRolledBack, st.Last.State)
	assert.Equal(t, uint64(2), st.Last.Serial)
	assert.Equal(t, []byte{2}, st.Last.ConfigHash)
	assert.Equal(t, ErrStartNotConfirmed.Error(), st.Last.Error)
	cand, err := d.Candidate()
	require.NoError(t, err)
	assert.Nil(t, cand)
}

// TestCrashAfterPromoteCommit is a crash after state.json named the
// candidate applied but before candidate.json was removed.
func TestCrashAfterPromoteCommit(t *testing.T) {
	t.Parallel()
	d := open(t)
	now := time.Now()
	c, err := d.Stage(Fragment{Serial: 4}, []byte("a: 4\n"), now)
	require.NoError(t, err)
	require.NoError(t, d.Promote(c, now))
	c.Process = deadProcessToken(t)
	require.NoError(t, d.writeJSON(CandidateFile, c))
	s, b, err := d.Serve(now)
	require.NoError(t, err)
	assert.Equal(t, Served{Serial: 4}, s)
	assert.Equal(t, "a: 4\n", string(b))
	st, _ := d.State()
	assert.Equal(t, fleetproto.RemoteConfigApplied, st.Last.State)
}

func TestInstanceUIDIsStable(t *testing.T) {
	t.Parallel()
	d := open(t)
	a, err := d.InstanceUID(time.Now())
	require.NoError(t, err)
	b, err := d.InstanceUID(time.Now().Add(time.Hour))
	require.NoError(t, err)
	assert.Equal(t, a, b)
	assert.Equal(t, byte(0x70), a[6]&0xf0, "UUIDv7")
}

func TestDamagedFilesAreSetAside(t *testing.T) {
	t.Parallel()
	d := open(t)
	require.NoError(t, os.WriteFile(filepath.Join(d.Path(), StateFile), []byte("{"), FileMode))
	require.NoError(t, os.WriteFile(filepath.Join(d.Path(), CandidateFile), []byte("nope"), FileMode))
	s, b, err := d.Serve(time.Now())
	require.NoError(t, err)
	assert.Equal(t, Served{}, s, "the local configuration alone")
	assert.Nil(t, b)
	for _, name := range []string{StateFile, CandidateFile} {
		_, err := os.Stat(filepath.Join(d.Path(), name+".bad"))
		assert.NoError(t, err, name)
	}
}

// deadProcessToken is the token of a process that ran and exited.
func deadProcessToken(t *testing.T) string {
	t.Helper()
	cmd := exec.Command("true")
	require.NoError(t, cmd.Run())
	return strconv.Itoa(cmd.Process.Pid) + "-gone"
}

// TestCandidateOfARunningProcessIsLeftAlone: an operator's `validate` over
// the agent's directory, while the agent tries a candidate, serves the
// applied fragment and rolls nothing back.
func TestCandidateOfARunningProcessIsLeftAlone(t *testing.T) {
	t.Parallel()
	d := open(t)
	now := time.Now()
	c, err := d.Stage(Fragment{Serial: 1}, []byte("a: 1\n"), now)
	require.NoError(t, err)
	c.Process = strconv.Itoa(os.Getppid()) + "-agent"
	require.NoError(t, d.writeJSON(CandidateFile, c))
	s, b, err := d.Serve(now)
	require.NoError(t, err)
	assert.Equal(t, Served{}, s)
	assert.Nil(t, b)
	st, _ := d.State()
	assert.Equal(t, fleetproto.RemoteConfigApplying, st.Last.State)
	got, err := d.Candidate()
	require.NoError(t, err)
	assert.NotNil(t, got)

	// This process's PID with another token: a previous process in a
	// container where the agent is always PID 1.
	c.Process = strconv.Itoa(os.Getpid()) + "-previous"
	require.NoError(t, d.writeJSON(CandidateFile, c))
	_, _, err = d.Serve(now)
	require.NoError(t, err)
	st, _ = d.State()
	assert.Equal(t, fleetproto.RemoteConfigRolledBack, st.Last.State)
}
