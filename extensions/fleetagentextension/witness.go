package fleetagentextension // import "github.com/fleetlog/fleetlog/extensions/fleetagentextension"

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"

	"github.com/fleetlog/fleetlog/internal/durable"
	"github.com/fleetlog/fleetlog/internal/fleetproto"
)

// witnessFileMode: the checkpoints are public, but every file of the
// agent's directory is private.
const witnessFileMode = 0o600

// errNotCheckpoint means a message that is not an archive checkpoint note.
var errNotCheckpoint = errors.New("not an archive checkpoint")

// witnessStore keeps the last fleetproto.WitnessCheckpoints checkpoints the
// gateway handed out. The agent does not hold the archive's public key and
// does not verify them: a witness is useful because it keeps what the
// gateway's archive signed, which the gateway checks itself (and anyone can
// with `fleetlogctl archive verify --checkpoint`); a checkpoint the archive
// did not sign proves nothing there.
//
// When one more arrives, the store drops a checkpoint of another archive
// than the newest first, else the one of the smallest tree: a gateway put
// back to an earlier state, which hands out smaller checkpoints, cannot push
// the larger ones out.
type witnessStore struct {
	path string // "" keeps them in memory only
	mu   sync.Mutex
	held []heldCheckpoint
}

type heldCheckpoint struct {
	note   string
	origin string
	size   uint64
}

// parseHeld reads the origin and tree size of a checkpoint note, the first
// two lines of a C2SP checkpoint, and checks its shape: a signed note of
// at most fleetproto.MaxCheckpointBytes.
func parseHeld(note []byte) (heldCheckpoint, error) {
	if len(note) > fleetproto.MaxCheckpointBytes {
		return heldCheckpoint{}, fmt.Errorf("%w: %d bytes, at most %d", errNotCheckpoint, len(note), fleetproto.MaxCheckpointBytes)
	}
	lines := bytes.SplitN(note, []byte("\n"), 3)
	if len(lines) < 3 || !bytes.HasPrefix(lines[0], []byte("fleetlog.archive/")) || !bytes.Contains(note, []byte("\n\n\u2014 ")) {
		return heldCheckpoint{}, errNotCheckpoint
	}
	size, err := strconv.ParseUint(string(lines[1]), 10, 64)
	if err != nil {
		return heldCheckpoint{}, fmt.Errorf("%w: tree size %q", errNotCheckpoint, lines[1])
	}
	return heldCheckpoint{note: string(note), origin: string(lines[0]), size: size}, nil
}

// openWitnessStore loads the checkpoints kept in dir ("": memory only). A
// file that does not read is started over, and its error returned.
func openWitnessStore(dir string) (*witnessStore, error) {
	s := &witnessStore{}
	if dir == "" {
		return s, nil
	}
	s.path = filepath.Join(dir, fleetproto.WitnessFile)
	data, err := os.ReadFile(s.path)
	if errors.Is(err, os.ErrNotExist) {
		return s, nil
	}
	if err != nil {
		return s, fmt.Errorf("read %s: %w", s.path, err)
	}
	for len(bytes.TrimSpace(data)) > 0 && len(s.held) < fleetproto.WitnessCheckpoints {
		var note []byte
		note, data = splitNote(data)
		h, err := parseHeld(note)
		if err != nil {
			return &witnessStore{path: s.path}, fmt.Errorf("read %s: %w", s.path, err)
		}
		s.held = append(s.held, h)
	}
	return s, nil
}

// splitNote cuts the first signed note from data: its text up to the blank
// line, then the signature lines, which start with an em dash.
func splitNote(data []byte) (note, rest []byte) {
	_, sigs, ok := bytes.Cut(data, []byte("\n\n"))
	if !ok {
		return data, nil
	}
	end := len(data) - len(sigs)
	for len(sigs) > 0 && bytes.HasPrefix(sigs, []byte("\u2014 ")) {
		line, next, _ := bytes.Cut(sigs, []byte("\n"))
		end += len(line) + 1
		sigs = next
	}
	end = min(end, len(data))
	return data[:end], data[end:]
}

// add keeps note; it reports whether the held checkpoints changed.
func (s *witnessStore) add(note []byte) (bool, error) {
	h, err := parseHeld(note)
	if err != nil {
		return false, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, o := range s.held {
		if o.note == h.note {
			return false, nil
		}
	}
	held := append(append(make([]heldCheckpoint, 0, len(s.held)+1), s.held...), h)
	if len(held) > fleetproto.WitnessCheckpoints {
		drop := -1
		for i, o := range held[:len(held)-1] {
			if o.origin != h.origin {
				drop = i
				break
			}
		}
		if drop < 0 {
			drop = 0
			for i, o := range held {
				if o.size < held[drop].size {
					drop = i
				}
			}
		}
		held = append(held[:drop], held[drop+1:]...)
	}
	if s.path != "" {
		var data []byte
		for _, o := range held {
			data = append(data, o.note...)
		}
		if err := durable.WriteFile(s.path, data, witnessFileMode); err != nil {
			return false, fmt.Errorf("keep checkpoint: %w", err)
		}
	}
	s.held = held
	return true, nil
}

// notes returns the held checkpoints, oldest first.
func (s *witnessStore) notes() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return notesOf(s.held)
}

func notesOf(held []heldCheckpoint) []string {
	if len(held) == 0 {
		return nil
	}
	out := make([]string, len(held))
	for i, h := range held {
		out[i] = h.note
	}
	return out
}
