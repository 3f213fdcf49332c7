package archive

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/fleetlog/fleetlog/internal/durable"
)

// Forward-secure signing. The archive signs with one Ed25519 key per epoch.
// Epoch 0's key is the configured signing key, whose public key verifiers
// trust; every manifest and checkpoint signed in epoch n commits to the
// public key of epoch n+1, so the keys chain from the first one. When an
// epoch ends the writer makes epoch n+1's key current, creates epoch n+2's
// and erases epoch n's (and, after epoch 0, the configured key file), so
// whoever takes the gateway later holds no key that can sign for a past
// epoch. The private keys live in keys/ (0700), one PKCS#8 PEM file each
// (0600), beside keys/state.json, which says which epoch is current and
// since when.
const (
	keysDir       = "keys"
	keyStateFile  = "state.json"
	keyFilePrefix = "epoch-"
	keyFileExt    = ".pem"
	// originPrefix starts an archive's checkpoint origin, which ends with the
	// id of epoch 0's key: the archive's identity.
	originPrefix = "fleetlog.archive/"
)

// ErrNoKey means the archive has no key chain yet and no signing key was given.
var ErrNoKey = errors.New("no signing key: the archive has no epoch keys yet, and epoch 0's key must be given")

// keyState is keys/state.json.
type keyState struct {
	Origin  string `json:"origin"`
	Epoch   uint64 `json:"epoch"`
	Started string `json:"started"`
}

// epochKeys is the writer's current and next epoch keys.
type epochKeys struct {
	dir     string // the keys directory
	state   keyState
	started time.Time
	cur     ed25519.PrivateKey
	next    ed25519.PrivateKey
	// configured is the configured key file, erased once epoch 0 ends.
	configured string
	// notErased is why an old key found at open could not be erased.
	notErased error
	// ignored is set when a configured key was given that is not epoch 0's
	// key of an archive that has its chain already.
	ignored bool
}

// Origin names an archive in its checkpoints: originPrefix and the id of its
// epoch 0 key.
func Origin(first ed25519.PublicKey) string { return originPrefix + KeyID(first) }

// HasKeyChain reports whether the archive in dir signs with its own epoch
// keys already, so that no configured key is needed to open it.
func HasKeyChain(dir string) bool {
	_, err := os.Stat(filepath.Join(dir, keysDir, keyStateFile))
	return err == nil
}

func keyFile(epoch uint64) string {
	return fmt.Sprintf("%s%06d%s", keyFilePrefix, epoch, keyFileExt)
}

// openEpochKeys loads the archive's epoch keys, finishing an interrupted
// rotation, or starts the chain with first as epoch 0's key. A key it could
// not erase is left in notErased (ErrNotErased), which does not stop the
// writer.
func openEpochKeys(archiveDir string, first ed25519.PrivateKey, configuredFile string, now time.Time) (*epochKeys, error) {
	k := &epochKeys{dir: filepath.Join(archiveDir, keysDir), configured: configuredFile}
	if err := durable.PrivateDir(k.dir, privateDirPerm); err != nil {
		return nil, fmt.Errorf("epoch keys: %w", err)
	}
	data, err := os.ReadFile(filepath.Join(k.dir, keyStateFile))
	switch {
	case errors.Is(err, os.ErrNotExist):
		if len(first) != ed25519.PrivateKeySize {
			return nil, ErrNoKey
		}
		next, err := generateKey()
		if err != nil {
			return nil, err
		}
		if err := writeKey(k.dir, 0, first); err != nil {
			return nil, err
		}
		if err := writeKey(k.dir, 1, next); err != nil {
			return nil, err
		}
		k.state = keyState{Origin: Origin(first.Public().(ed25519.PublicKey)), Epoch: 0, Started: formatTime(now)}
		if err := k.saveState(); err != nil {
			return nil, err
		}
		k.cur, k.next, k.started = first, next, now
		return k, nil
	case err != nil:
		return nil, fmt.Errorf("epoch keys: %w", err)
	}
	if err := json.Unmarshal(data, &k.state); err != nil {
		return nil, fmt.Errorf("epoch keys: %s: %w", keyStateFile, err)
	}
	k.ignored = len(first) == ed25519.PrivateKeySize && Origin(first.Public().(ed25519.PublicKey)) != k.state.Origin
	if k.started, err = time.Parse(time.RFC3339Nano, k.state.Started); err != nil {
		return nil, fmt.Errorf("epoch keys: %s: started: %w", keyStateFile, err)
	}
	if k.cur, err = readKey(k.dir, k.state.Epoch); err != nil {
		return nil, err
	}
	if k.next, err = readKey(k.dir, k.state.Epoch+1); err != nil {
		return nil, err
	}
	// A crash between saving the state and erasing the old key leaves it:
	// erase it now.
	k.notErased = k.eraseBefore(k.state.Epoch)
	return k, nil
}

// Epoch is the current epoch.
func (k *epochKeys) epoch() uint64 { return k.state.Epoch }

// commitment is what the current epoch's signatures commit to.
func (k *epochKeys) commitment() *EpochCommitment {
	return &EpochCommitment{Epoch: k.state.Epoch, NextKey: base64.StdEncoding.EncodeToString(k.next.Public().(ed25519.PublicKey))}
}

// due reports whether the current epoch has lasted length (0: never).
func (k *epochKeys) due(now time.Time, length time.Duration) bool {
	return length > 0 && now.Sub(k.started) >= length
}

// rotate makes the next epoch current: it creates the key after it, records
// the new epoch, then erases the old key. It returns an error that leaves the
// keys usable (the old epoch goes on) unless the erasure failed, which is
// reported as ErrNotErased.
func (k *epochKeys) rotate(now time.Time) error {
	after, err := generateKey()
	if err != nil {
		return err
	}
	if err := writeKey(k.dir, k.state.Epoch+2, after); err != nil {
		return err
	}
	prev := k.state
	k.state.Epoch++
	k.state.Started = formatTime(now)
	if err := k.saveState(); err != nil {
		k.state = prev
		return err
	}
	clear(k.cur) // the old private key leaves memory as well
	k.cur, k.next, k.started = k.next, after, now
	return k.eraseBefore(k.state.Epoch)
}

// ErrNotErased means an old epoch's private key could not be erased: until it
// is, whoever reads it can sign for its epoch.
var ErrNotErased = errors.New("an old epoch key could not be erased")

// eraseBefore erases every key file of an epoch before epoch, and, once epoch
// 0 is over, the configured key file.
func (k *epochKeys) eraseBefore(epoch uint64) error {
	entries, err := os.ReadDir(k.dir)
	if err != nil {
		return fmt.Errorf("epoch keys: %w", err)
	}
	var errs []error
	for _, e := range entries {
		n, ok := keyFileEpoch(e.Name())
		if ok && n < epoch {
			if err := eraseFile(filepath.Join(k.dir, e.Name())); err != nil {
				errs = append(errs, err)
			}
		}
	}
	if epoch > 0 && k.configured != "" {
		if err := eraseFile(k.configured); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	if err := durable.SyncDir(k.dir); err != nil {
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		return fmt.Errorf("%w: %w", ErrNotErased, errors.Join(errs...))
	}
	return nil
}

// eraseFile overwrites a key file with zeros, syncs it and removes it. The
// overwrite helps on file systems that write in place; on copy-on-write or
// log-structured storage (and flash) old blocks may survive, so the archive's
// disk should be encrypted as well.
func eraseFile(path string) error {
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return err
		}
		// Not writable (a read-only mount): still try to remove it.
		if rerr := os.Remove(path); rerr != nil {
			return fmt.Errorf("erase %s: %w", path, rerr)
		}
		return durable.SyncDir(filepath.Dir(path))
	}
	st, err := f.Stat()
	if err == nil {
		_, err = f.WriteAt(make([]byte, st.Size()), 0)
	}
	if err == nil {
		err = f.Sync()
	}
	err = errors.Join(err, f.Close())
	if rerr := os.Remove(path); rerr != nil {
		return fmt.Errorf("erase %s: %w", path, errors.Join(err, rerr))
	}
	return durable.SyncDir(filepath.Dir(path))
}

func keyFileEpoch(name string) (uint64, bool) {
	digits, ok := strings.CutPrefix(name, keyFilePrefix)
	if !ok {
		return 0, false
	}
	digits, ok = strings.CutSuffix(digits, keyFileExt)
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseUint(digits, 10, 64)
	return n, err == nil
}

func (k *epochKeys) saveState() error {
	data, err := json.Marshal(k.state)
	if err != nil {
		return fmt.Errorf("epoch keys: %w", err)
	}
	if err := durable.WriteFile(filepath.Join(k.dir, keyStateFile), append(data, '\n'), privateFilePerm); err != nil {
		return fmt.Errorf("epoch keys: %w", err)
	}
	return nil
}

func generateKey() (ed25519.PrivateKey, error) {
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate epoch key: %w", err)
	}
	return key, nil
}

func writeKey(dir string, epoch uint64, key ed25519.PrivateKey) error {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return fmt.Errorf("encode epoch key: %w", err)
	}
	data := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
	if err := durable.WriteFile(filepath.Join(dir, keyFile(epoch)), data, privateFilePerm); err != nil {
		return fmt.Errorf("epoch keys: %w", err)
	}
	return nil
}

func readKey(dir string, epoch uint64) (ed25519.PrivateKey, error) {
	path := filepath.Join(dir, keyFile(epoch))
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("epoch keys: the key of epoch %d: %w", epoch, err)
	}
	block, _ := pem.Decode(data)
	if block == nil || block.Type != "PRIVATE KEY" {
		return nil, fmt.Errorf("epoch keys: %s: no PRIVATE KEY PEM block", path)
	}
	key, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("epoch keys: %s: %w", path, err)
	}
	ed, ok := key.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("epoch keys: %s: not an Ed25519 key", path)
	}
	return ed, nil
}

// keyEpochs lists the epochs whose private keys are on disk, for tests and
// diagnostics.
func keyEpochs(archiveDir string) ([]uint64, error) {
	entries, err := os.ReadDir(filepath.Join(archiveDir, keysDir))
	if err != nil {
		return nil, err
	}
	var out []uint64
	for _, e := range entries {
		if n, ok := keyFileEpoch(e.Name()); ok {
			out = append(out, n)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out, nil
}
