package archive

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/transparency-dev/formats/log"
	"golang.org/x/mod/sumdb/note"

	"github.com/fleetlog/fleetlog/internal/durable"
)

// Checkpoints are C2SP signed notes (https://c2sp.org/tlog-checkpoint and
// https://c2sp.org/signed-note) over the Merkle tree of the archive's
// records:
//
//	fleetlog.archive/<id of epoch 0's key>
//	<tree size>
//	<base64 root hash>
//	key-epoch <n>
//	next-key <base64 public key of epoch n+1>
//	time <RFC 3339>
//
//	— fleetlog.archive/<id> <base64 key hash and Ed25519 signature>
//
// signed by epoch n's key under the origin's name. The writer keeps every one
// it signs in checkpoints/YYYY/MM/DD/ (UTC day of signing), as
// cp-<size>-<epoch>.note; whoever keeps a copy elsewhere can later show that
// the archive still extends the tree it signed (Verify with Checkpoints).
const (
	checkpointsDir   = "checkpoints"
	checkpointPrefix = "cp-"
	checkpointExt    = ".note"
)

// Checkpoint is a parsed checkpoint; its signature is checked by Verify or
// CheckProof, not by ParseCheckpoint.
type Checkpoint struct {
	Origin  string
	Size    uint64
	Root    []byte
	Epoch   uint64
	NextKey ed25519.PublicKey
	Time    time.Time
	// Note is the signed note as stored; Name where it was read from.
	Note []byte
	Name string
}

// ErrBadCheckpoint means bytes that are not a fleetlog archive checkpoint.
var ErrBadCheckpoint = errors.New("not an archive checkpoint")

// noteSigner signs notes with an Ed25519 key under a name, as note.Signer.
func noteSigner(name string, key ed25519.PrivateKey) (note.Signer, error) {
	v, err := noteVerifier(name, key.Public().(ed25519.PublicKey))
	if err != nil {
		return nil, err
	}
	// The signed-note private key encoding: algorithm 1 (Ed25519), the seed.
	skey := fmt.Sprintf("PRIVATE+KEY+%s+%08x+%s", name, v.KeyHash(),
		base64.StdEncoding.EncodeToString(append([]byte{1}, key.Seed()...)))
	return note.NewSigner(skey)
}

func noteVerifier(name string, pub ed25519.PublicKey) (note.Verifier, error) {
	vkey, err := note.NewEd25519VerifierKey(name, pub)
	if err != nil {
		return nil, fmt.Errorf("checkpoint key: %w", err)
	}
	return note.NewVerifier(vkey)
}

// signCheckpoint returns the signed note of cp.
func signCheckpoint(cp *Checkpoint, key ed25519.PrivateKey) ([]byte, error) {
	text := log.Checkpoint{Origin: cp.Origin, Size: cp.Size, Hash: cp.Root}.Marshal()
	text = fmt.Appendf(text, "key-epoch %d\nnext-key %s\ntime %s\n",
		cp.Epoch, base64.StdEncoding.EncodeToString(cp.NextKey), formatTime(cp.Time))
	s, err := noteSigner(cp.Origin, key)
	if err != nil {
		return nil, err
	}
	signed, err := note.Sign(&note.Note{Text: string(text)}, s)
	if err != nil {
		return nil, fmt.Errorf("sign checkpoint: %w", err)
	}
	return signed, nil
}

// ParseCheckpoint reads a checkpoint note without checking its signature.
func ParseCheckpoint(data []byte) (*Checkpoint, error) {
	text, _, ok := bytes.Cut(data, []byte("\n\n"))
	if !ok {
		return nil, fmt.Errorf("%w: no signature", ErrBadCheckpoint)
	}
	var lc log.Checkpoint
	rest, err := lc.Unmarshal(append(text, '\n'))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadCheckpoint, err)
	}
	if len(lc.Hash) != HashSize || !strings.HasPrefix(lc.Origin, originPrefix) {
		return nil, fmt.Errorf("%w: origin %q or root hash", ErrBadCheckpoint, lc.Origin)
	}
	cp := &Checkpoint{Origin: lc.Origin, Size: lc.Size, Root: lc.Hash, Note: data}
	var sawEpoch, sawNext bool
	for _, line := range strings.Split(strings.TrimSuffix(string(rest), "\n"), "\n") {
		k, v, _ := strings.Cut(line, " ")
		switch k {
		case "key-epoch":
			if cp.Epoch, err = strconv.ParseUint(v, 10, 64); err != nil {
				return nil, fmt.Errorf("%w: key-epoch %q", ErrBadCheckpoint, v)
			}
			sawEpoch = true
		case "next-key":
			b, err := base64.StdEncoding.DecodeString(v)
			if err != nil || len(b) != ed25519.PublicKeySize {
				return nil, fmt.Errorf("%w: next-key %q", ErrBadCheckpoint, v)
			}
			cp.NextKey, sawNext = b, true
		case "time":
			if cp.Time, err = time.Parse(time.RFC3339Nano, v); err != nil {
				return nil, fmt.Errorf("%w: time %q", ErrBadCheckpoint, v)
			}
		}
	}
	if !sawEpoch || !sawNext {
		return nil, fmt.Errorf("%w: no key-epoch or next-key line", ErrBadCheckpoint)
	}
	return cp, nil
}

// ReadCheckpointFile reads and parses a file of one checkpoint.
func ReadCheckpointFile(file string) (*Checkpoint, error) {
	cps, err := ReadCheckpointsFile(file)
	if err != nil {
		return nil, err
	}
	if len(cps) != 1 {
		return nil, fmt.Errorf("%s: %w: %d checkpoints, want one", file, ErrBadCheckpoint, len(cps))
	}
	return cps[0], nil
}

// ReadCheckpointsFile reads a file of one or more checkpoints one after the
// other, as the writer appends them to its checkpoint copy; each is named
// file#n (n from 1), or file when it is the only one. A file of the syslog
// output's checkpoint events (siem.go) reads too, each named file:line.
func ReadCheckpointsFile(file string) ([]*Checkpoint, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	notes, lines, err := cefNotes(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	if len(notes) > 0 {
		out := make([]*Checkpoint, 0, len(notes))
		for i, note := range notes {
			cp, err := ParseCheckpoint(note)
			if err != nil {
				return nil, fmt.Errorf("%s:%d: %w", file, lines[i], err)
			}
			cp.Name = fmt.Sprintf("%s:%d", file, lines[i])
			out = append(out, cp)
		}
		return out, nil
	}
	var out []*Checkpoint
	for n := 1; len(bytes.TrimSpace(data)) > 0; n++ {
		note, rest := splitNote(data)
		cp, err := ParseCheckpoint(note)
		if err != nil {
			return nil, fmt.Errorf("%s: checkpoint %d: %w", file, n, err)
		}
		cp.Name = fmt.Sprintf("%s#%d", file, n)
		out = append(out, cp)
		data = rest
	}
	if len(out) == 1 {
		out[0].Name = file
	}
	return out, nil
}

// splitNote cuts the first signed note from data: its text up to the blank
// line, then the signature lines, which start with an em dash.
func splitNote(data []byte) (note, rest []byte) {
	_, sigs, ok := bytes.Cut(data, []byte("\n\n"))
	if !ok {
		return data, nil
	}
	end := len(data) - len(sigs)
	for len(sigs) > 0 && bytes.HasPrefix(sigs, []byte("— ")) {
		line, next, _ := bytes.Cut(sigs, []byte("\n"))
		end += len(line) + 1
		sigs = next
	}
	end = min(end, len(data))
	return data[:end], data[end:]
}

// appendCheckpointCopy appends a signed checkpoint to the copy file on other
// storage and syncs it.
func appendCheckpointCopy(file string, signed []byte) error {
	f, err := os.OpenFile(file, os.O_WRONLY|os.O_APPEND|os.O_CREATE, privateFilePerm)
	if err != nil {
		return fmt.Errorf("checkpoint copy: %w", err)
	}
	_, err = f.Write(signed)
	if err == nil {
		err = f.Sync()
	}
	if err = errors.Join(err, f.Close()); err != nil {
		return fmt.Errorf("checkpoint copy %s: %w", file, err)
	}
	return nil
}

// signedBy checks cp's signature under pub.
func (cp *Checkpoint) signedBy(pub ed25519.PublicKey) bool {
	v, err := noteVerifier(cp.Origin, pub)
	if err != nil {
		return false
	}
	_, err = note.Open(cp.Note, note.VerifierList(v))
	return err == nil
}

// checkpointPath is the archive-relative path of a checkpoint signed at t.
func checkpointPath(t time.Time, size, epoch uint64) string {
	return fmt.Sprintf("%s/%s/%s%016d-%06d%s", checkpointsDir, t.UTC().Format("2006/01/02"), checkpointPrefix, size, epoch, checkpointExt)
}

// writeCheckpointFile stores a signed checkpoint durably.
func writeCheckpointFile(dir, rel string, signed []byte) error {
	p := joinRel(dir, rel)
	day := filepath.Dir(p)
	if _, err := os.Stat(day); errors.Is(err, os.ErrNotExist) {
		if err := os.MkdirAll(day, privateDirPerm); err != nil {
			return fmt.Errorf("checkpoint: %w", err)
		}
		for d := day; d != filepath.Clean(dir); d = filepath.Dir(d) {
			if err := durable.SyncDir(filepath.Dir(d)); err != nil {
				return fmt.Errorf("checkpoint: %w", err)
			}
		}
	}
	if err := durable.WriteFile(p, signed, privateFilePerm); err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	return nil
}

// listCheckpoints returns the archive's checkpoint files (relative paths),
// in order of tree size and then epoch.
func listCheckpoints(dir string) ([]string, error) {
	type named struct {
		rel         string
		size, epoch uint64
	}
	var all []named
	root := filepath.Join(dir, checkpointsDir)
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, os.ErrNotExist) && p == root {
				return fs.SkipAll
			}
			return err
		}
		if d.IsDir() {
			return nil
		}
		size, epoch, ok := checkpointName(d.Name())
		if !ok {
			return nil
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		all = append(all, named{filepath.ToSlash(rel), size, epoch})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list checkpoints: %w", err)
	}
	sort.SliceStable(all, func(i, j int) bool {
		if all[i].size != all[j].size {
			return all[i].size < all[j].size
		}
		return all[i].epoch < all[j].epoch
	})
	out := make([]string, len(all))
	for i, n := range all {
		out[i] = n.rel
	}
	return out, nil
}

// readCheckpoints parses the archive's checkpoints in order. A checkpoint
// that does not parse is returned as an error naming it.
func readCheckpoints(dir string) ([]*Checkpoint, error) {
	rels, err := listCheckpoints(dir)
	if err != nil {
		return nil, err
	}
	out := make([]*Checkpoint, 0, len(rels))
	for _, rel := range rels {
		data, err := os.ReadFile(joinRel(dir, rel))
		if err != nil {
			return nil, fmt.Errorf("read checkpoint: %w", err)
		}
		cp, err := ParseCheckpoint(data)
		if err != nil {
			return nil, &VerifyError{Checkpoint: rel, Problem: Modified, Detail: err.Error()}
		}
		cp.Name = rel
		out = append(out, cp)
	}
	return out, nil
}

// LatestCheckpoint returns the archive's newest checkpoint (largest tree,
// in the newest day directory that holds one), unverified, or nil when it
// has none. It reads one day's directory, not every checkpoint.
func LatestCheckpoint(dir string) (*Checkpoint, error) {
	rel, err := latestCheckpointPath(dir)
	if err != nil || rel == "" {
		return nil, err
	}
	cp, err := ReadCheckpointFile(joinRel(dir, rel))
	if err != nil {
		return nil, err
	}
	cp.Name = rel
	return cp, nil
}

// latestCheckpointPath walks checkpoints/YYYY/MM/DD from the newest day back
// to the first that holds a checkpoint and returns its largest.
func latestCheckpointPath(dir string) (string, error) {
	var walk func(rel string, depth int) (string, error)
	walk = func(rel string, depth int) (string, error) {
		entries, err := os.ReadDir(joinRel(dir, rel))
		if errors.Is(err, os.ErrNotExist) {
			return "", nil
		}
		if err != nil {
			return "", fmt.Errorf("latest checkpoint: %w", err)
		}
		if depth == 3 {
			best, bestSize, bestEpoch := "", uint64(0), uint64(0)
			for _, e := range entries {
				size, epoch, ok := checkpointName(e.Name())
				if ok && (best == "" || size > bestSize || size == bestSize && epoch > bestEpoch) {
					best, bestSize, bestEpoch = rel+"/"+e.Name(), size, epoch
				}
			}
			return best, nil
		}
		// ReadDir sorts by name: the newest year, month or day is last.
		for i := len(entries) - 1; i >= 0; i-- {
			if !entries[i].IsDir() {
				continue
			}
			if found, err := walk(rel+"/"+entries[i].Name(), depth+1); err != nil || found != "" {
				return found, err
			}
		}
		return "", nil
	}
	return walk(checkpointsDir, 0)
}

// checkpointName reads the tree size and epoch of a checkpoint file name.
func checkpointName(name string) (size, epoch uint64, ok bool) {
	if !strings.HasPrefix(name, checkpointPrefix) || path.Ext(name) != checkpointExt {
		return 0, 0, false
	}
	sizeS, epochS, cut := strings.Cut(strings.TrimSuffix(strings.TrimPrefix(name, checkpointPrefix), checkpointExt), "-")
	size, err1 := strconv.ParseUint(sizeS, 10, 64)
	epoch, err2 := strconv.ParseUint(epochS, 10, 64)
	return size, epoch, cut && err1 == nil && err2 == nil
}
