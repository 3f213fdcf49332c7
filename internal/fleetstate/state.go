// Package fleetstate is the agent's on-disk state of remote configuration,
// shared by the two parts that live in one agent process: the fleet_agent
// extension, which stages a verified fragment, confirms it or rolls it back,
// and the fleet confmap provider, which serves the fragment that runs.
//
// A directory holds
//
//	state.json          the applied fragment's serial and the newest outcome
//	fragment-N.yaml     the fragment of serial N (the applied one, and a
//	                    candidate while it is on trial)
//	candidate.json      the candidate on trial and the process that tries it
//	instance-uid        the agent's OpAMP instance UID
//
// Every file is 0600 in a 0700 directory and written durably (temporary
// file, fsync, rename, fsync of the directory), so a crash leaves the old
// file or the new one. The commit points are chosen so that a crash between
// any two writes leaves a state the next start resolves the same way: a
// candidate.json is written only after its fragment, and a candidate whose
// process is not the current one was never confirmed and is rolled back.
package fleetstate // import "github.com/fleetlog/fleetlog/internal/fleetstate"

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/fleetlog/fleetlog/internal/fleetproto"
)

// File names inside a state directory.
const (
	StateFile       = "state.json"
	CandidateFile   = "candidate.json"
	InstanceUIDFile = "instance-uid"
	fragmentPrefix  = "fragment-"
	fragmentSuffix  = ".yaml"

	DirMode  = 0o700
	FileMode = 0o600
)

// ErrStartNotConfirmed is the reason recorded for a candidate found by a
// process other than the one that tried it.
var ErrStartNotConfirmed = errors.New("the agent stopped before the configuration was confirmed: it failed to start, or the agent exited while it was on trial")

// processToken names this process among the processes that use a state
// directory over time. It is set once, at program start, and never changes;
// the extension and the provider, both in this process, see the same value.
var processToken = newToken()

func newToken() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return strconv.Itoa(os.Getpid()) + "-" + hex.EncodeToString(b[:])
}

// ProcessToken returns this process's token.
func ProcessToken() string { return processToken }

// Fragment identifies one remote configuration fragment.
type Fragment struct {
	Serial uint64 `json:"serial"`
	Name   string `json:"name,omitempty"`
	// Hash is the hex SHA-256 of the fragment.
	Hash string `json:"hash,omitempty"`
	// ConfigHash is the hash of the OpAMP remote config that carried it,
	// which the agent reports back in its RemoteConfigStatus.
	ConfigHash []byte `json:"config_hash,omitempty"`
}

// Outcome is what became of the newest remote configuration.
type Outcome struct {
	Fragment
	// State is one of the fleetproto.RemoteConfig* states.
	State string    `json:"state"`
	Error string    `json:"error,omitempty"`
	At    time.Time `json:"at"`
}

// State is the content of state.json.
type State struct {
	// Applied is the fragment the agent runs when no candidate is on
	// trial; serial 0 is the local configuration alone.
	Applied Fragment `json:"applied"`
	// Last is the outcome of the newest remote configuration, nil if none
	// was ever received.
	Last *Outcome `json:"last,omitempty"`
	// Newest is the highest serial ever handled (applied, refused or rolled
	// back); an assignment must be above it.
	Newest uint64 `json:"newest_serial,omitempty"`
}

// Candidate is a fragment on trial.
type Candidate struct {
	Fragment
	// Process is the ProcessToken of the process trying it.
	Process   string    `json:"process"`
	WrittenAt time.Time `json:"written_at"`
}

// Dir is a state directory.
type Dir struct{ path string }

// Open creates the directory if needed and makes sure it is 0700.
func Open(path string) (*Dir, error) {
	if err := os.MkdirAll(path, DirMode); err != nil {
		return nil, fmt.Errorf("create %s: %w", path, err)
	}
	if err := os.Chmod(path, DirMode); err != nil {
		return nil, fmt.Errorf("restrict %s: %w", path, err)
	}
	return &Dir{path: path}, nil
}

// Path returns the directory.
func (d *Dir) Path() string { return d.path }

// FragmentPath returns the file of the fragment with serial.
func (d *Dir) FragmentPath(serial uint64) string {
	return filepath.Join(d.path, fragmentPrefix+strconv.FormatUint(serial, 10)+fragmentSuffix)
}

// State reads state.json; a missing file is the zero State, and so is a
// damaged one, which is set aside as state.json.bad: the agent then runs
// its local configuration, which needs no remote state to be right.
func (d *Dir) State() (State, error) {
	var st State
	err := d.readJSON(StateFile, &st)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return State{}, nil
	case errors.Is(err, errDamaged):
		return State{}, d.setAside(StateFile)
	}
	return st, err
}

// Candidate returns the candidate on trial, or nil. A damaged
// candidate.json is set aside and there is no candidate.
func (d *Dir) Candidate() (*Candidate, error) {
	var c Candidate
	err := d.readJSON(CandidateFile, &c)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return nil, nil
	case errors.Is(err, errDamaged):
		return nil, d.setAside(CandidateFile)
	case err != nil:
		return nil, err
	}
	return &c, nil
}

var errDamaged = errors.New("damaged")

func (d *Dir) setAside(name string) error {
	p := filepath.Join(d.path, name)
	if err := os.Rename(p, p+".bad"); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("set aside damaged %s: %w", p, err)
	}
	return nil
}

// SetOutcome records o as the newest outcome.
func (d *Dir) SetOutcome(o Outcome) error {
	st, err := d.State()
	if err != nil {
		return err
	}
	st.Last = &o
	st.Newest = max(st.Newest, o.Serial)
	return d.writeJSON(StateFile, &st)
}

// Stage writes a candidate's fragment and then the candidate itself, for
// this process, with the outcome "applying". From then on Serve serves it
// in this process.
func (d *Dir) Stage(f Fragment, fragment []byte, now time.Time) (*Candidate, error) {
	if err := writeFile(d.FragmentPath(f.Serial), fragment); err != nil {
		return nil, err
	}
	if err := d.SetOutcome(Outcome{Fragment: f, State: fleetproto.RemoteConfigApplying, At: now}); err != nil {
		return nil, err
	}
	c := &Candidate{Fragment: f, Process: processToken, WrittenAt: now}
	if err := d.writeJSON(CandidateFile, c); err != nil {
		return nil, err
	}
	return c, nil
}

// Promote makes the candidate the applied fragment. The state file is the
// commit point; the candidate and the fragment it replaces are removed
// after it.
func (d *Dir) Promote(c *Candidate, now time.Time) error {
	st, err := d.State()
	if err != nil {
		return err
	}
	old := st.Applied.Serial
	st.Applied = c.Fragment
	st.Last = &Outcome{Fragment: c.Fragment, State: fleetproto.RemoteConfigApplied, At: now}
	st.Newest = max(st.Newest, c.Serial)
	if err := d.writeJSON(StateFile, &st); err != nil {
		return err
	}
	if old != c.Serial {
		d.removeFragment(old)
	}
	return d.remove(CandidateFile)
}

// RollBack records the candidate as rolled back for reason and removes it;
// Serve then serves the applied fragment again.
func (d *Dir) RollBack(c *Candidate, reason string, now time.Time) error {
	if err := d.SetOutcome(Outcome{Fragment: c.Fragment, State: fleetproto.RemoteConfigRolledBack, Error: reason, At: now}); err != nil {
		return err
	}
	if err := d.remove(CandidateFile); err != nil {
		return err
	}
	st, err := d.State()
	if err == nil && st.Applied.Serial != c.Serial {
		d.removeFragment(c.Serial)
	}
	return nil
}

// Served is what the provider serves.
type Served struct {
	// Serial of the fragment (0: none, the local configuration alone).
	Serial uint64
	// Candidate is set when the fragment is a candidate on trial.
	Candidate bool
}

// Decide returns what Serve would serve, without changing anything.
func (d *Dir) Decide() (Served, error) {
	s, _, err := d.decide()
	return s, err
}

// decide also returns a candidate that must be cleaned up or rolled back.
func (d *Dir) decide() (Served, *Candidate, error) {
	st, err := d.State()
	if err != nil {
		return Served{}, nil, err
	}
	applied := Served{Serial: st.Applied.Serial}
	c, err := d.Candidate()
	if err != nil || c == nil {
		return applied, nil, err
	}
	switch {
	case c.Serial <= st.Applied.Serial:
		return applied, c, nil // promoted; only the cleanup is left
	case st.Last != nil && st.Last.Serial == c.Serial && st.Last.State == fleetproto.RemoteConfigRolledBack:
		return applied, c, nil // rolled back; only the cleanup is left
	case c.Process == processToken:
		return Served{Serial: c.Serial, Candidate: true}, nil, nil
	case otherProcessAlive(c.Process):
		// Another process that is still running staged it: most likely the
		// agent itself, while this process is an operator's `validate` or
		// `print-config` over the same directory. Serve the applied
		// fragment and leave the candidate to its process.
		return applied, nil, nil
	}
	return applied, c, nil
}

// otherProcessAlive reports whether the process named by token is running
// and is not this one. A token with this process's PID is a previous
// process's: in a container the agent is PID 1 at every start.
func otherProcessAlive(token string) bool {
	p, _, ok := strings.Cut(token, "-")
	pid, err := strconv.Atoi(p)
	if !ok || err != nil || pid <= 0 || pid == os.Getpid() {
		return false
	}
	return pidAlive(pid)
}

// Serve returns what the provider serves now and its fragment. A candidate
// left by another process was never confirmed: it is rolled back
// (ErrStartNotConfirmed) before the applied fragment is served.
func (d *Dir) Serve(now time.Time) (Served, []byte, error) {
	s, stale, err := d.decide()
	if err != nil {
		return Served{}, nil, err
	}
	if stale != nil {
		st, err := d.State()
		if err != nil {
			return Served{}, nil, err
		}
		if stale.Serial > st.Applied.Serial && (st.Last == nil || st.Last.Serial != stale.Serial || st.Last.State != fleetproto.RemoteConfigRolledBack) {
			if err := d.RollBack(stale, ErrStartNotConfirmed.Error(), now); err != nil {
				return Served{}, nil, err
			}
		} else if err := d.remove(CandidateFile); err != nil {
			return Served{}, nil, err
		}
	}
	if s.Serial == 0 {
		return s, nil, nil
	}
	b, err := os.ReadFile(d.FragmentPath(s.Serial))
	if err != nil {
		return Served{}, nil, fmt.Errorf("read remote config fragment: %w", err)
	}
	return s, b, nil
}

// InstanceUID returns the agent's OpAMP instance UID, creating it (a UUIDv7
// from the time and randomness) on first use.
func (d *Dir) InstanceUID(now time.Time) ([16]byte, error) {
	var uid [16]byte
	path := filepath.Join(d.path, InstanceUIDFile)
	if b, err := os.ReadFile(path); err == nil {
		if n, err := hex.Decode(uid[:], trimSpace(b)); err == nil && n == 16 {
			return uid, nil
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return uid, fmt.Errorf("read %s: %w", path, err)
	}
	uid, err := NewInstanceUID(now)
	if err != nil {
		return uid, err
	}
	return uid, writeFile(path, []byte(hex.EncodeToString(uid[:])+"\n"))
}

// NewInstanceUID returns a new UUIDv7 (RFC 9562) for now.
func NewInstanceUID(now time.Time) ([16]byte, error) {
	var uid [16]byte
	ms := uint64(now.UnixMilli())
	for i := range 6 {
		uid[i] = byte(ms >> (40 - 8*i))
	}
	if _, err := rand.Read(uid[6:]); err != nil {
		return uid, fmt.Errorf("instance UID: %w", err)
	}
	uid[6] = uid[6]&0x0f | 0x70 // version 7
	uid[8] = uid[8]&0x3f | 0x80 // variant
	return uid, nil
}

func trimSpace(b []byte) []byte {
	for len(b) > 0 && (b[len(b)-1] == '\n' || b[len(b)-1] == ' ') {
		b = b[:len(b)-1]
	}
	return b
}

func (d *Dir) readJSON(name string, v any) error {
	b, err := os.ReadFile(filepath.Join(d.path, name))
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("decode %s: %w: %w", filepath.Join(d.path, name), errDamaged, err)
	}
	return nil
}

func (d *Dir) writeJSON(name string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return writeFile(filepath.Join(d.path, name), append(b, '\n'))
}

func (d *Dir) remove(name string) error {
	err := os.Remove(filepath.Join(d.path, name))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return syncDir(d.path)
}

func (d *Dir) removeFragment(serial uint64) {
	if serial != 0 {
		_ = os.Remove(d.FragmentPath(serial))
	}
}

// writeFile writes data durably: a temporary file in the same directory,
// fsync'd, renamed over path, then the directory fsync'd.
func writeFile(path string, data []byte) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	name := tmp.Name()
	defer os.Remove(name) // no-op after the rename
	if err := tmp.Chmod(FileMode); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(name, path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return syncDir(dir)
}

func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := f.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	return nil
}
