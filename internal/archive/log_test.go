package archive

import (
	"crypto/ed25519"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/plog"
)

func TestLeafDataIsOneRecordOTLP(t *testing.T) {
	ld := makeLogs("dev-1", "atms", "leaf", testEpoch, 5)
	sl := ld.ResourceLogs().At(0).ScopeLogs().AppendEmpty()
	sl.Scope().SetName("second")
	sl.LogRecords().AppendEmpty().Body().SetStr("in the second scope")
	var m plog.ProtoMarshaler
	raw, err := m.MarshalLogs(ld)
	require.NoError(t, err)

	data, err := leafData(raw)
	require.NoError(t, err)
	require.Len(t, data, 6)
	leaves, n, err := newLeafHasher().appendLeaves(nil, raw)
	require.NoError(t, err)
	require.Equal(t, 6, n)
	for i, d := range data {
		sum := sha256.Sum256(append([]byte{0}, d...))
		assert.Equal(t, sum[:], leaves[i*HashSize:(i+1)*HashSize], "leaf %d", i)
		assert.Equal(t, hasher.HashLeaf(d), sum[:])

		var u plog.ProtoUnmarshaler
		one, err := u.UnmarshalLogs(d)
		require.NoError(t, err)
		require.Equal(t, 1, one.LogRecordCount())
		rl := one.ResourceLogs().At(0)
		dev, _ := rl.Resource().Attributes().Get(DeviceAttribute)
		assert.Equal(t, "dev-1", dev.Str())
		lr := rl.ScopeLogs().At(0).LogRecords().At(0)
		if i < 5 {
			assert.Equal(t, "test", rl.ScopeLogs().At(0).Scope().Name())
			assert.Equal(t, ld.ResourceLogs().At(0).ScopeLogs().At(0).LogRecords().At(i).Body().Str(), lr.Body().Str())
		} else {
			assert.Equal(t, "second", rl.ScopeLogs().At(0).Scope().Name())
			assert.Equal(t, "in the second scope", lr.Body().Str())
		}
	}
	_, _, err = newLeafHasher().appendLeaves(nil, []byte{0xff, 0xff})
	assert.ErrorIs(t, err, errBadOTLP)
}

func TestHashChildrenIsRFC6962(t *testing.T) {
	a, b := sha256.Sum256([]byte("a")), sha256.Sum256([]byte("b"))
	assert.Equal(t, hasher.HashChildren(a[:], b[:]), hashChildren(a[:], b[:]))
}

// The folder builds the same tree as appending the leaves one at a time,
// from any size on, in folds of any length, and keeps no reference to the
// leaves it was given.
func TestSubtreeFolderBuildsTheSameTree(t *testing.T) {
	leaf := func(i int) []byte {
		h := sha256.Sum256([]byte(fmt.Sprint("leaf ", i)))
		return h[:]
	}
	folds := []int{1, 1, 2, 3, 1, 7, 8, 16, 5, 64, 33, 1, 100, 255, 2, 1024, 9}
	one, folded := emptyTree(), emptyTree()
	var f subtreeFolder
	next := 0
	for _, n := range folds {
		var leaves []byte
		for range n {
			l := leaf(next)
			leaves = append(leaves, l...)
			appendLeafHashes(one, l, nil)
			next++
		}
		require.NoError(t, f.appendLeaves(folded, leaves))
		clear(leaves) // the folded range must not see this
		require.Equal(t, one.End(), folded.End())
		require.Equal(t, one.Hashes(), folded.Hashes(), "after %d leaves", next)
		require.Equal(t, treeRoot(one), treeRoot(folded))
	}
	require.NoError(t, f.appendLeaves(folded, nil))
	assert.Equal(t, one.End(), folded.End())
}

// epochWriter opens a writer whose epochs last an hour and whose first key
// is read from keyFile (nil key: the archive's own keys).
func epochWriter(t *testing.T, dir string, key ed25519.PrivateKey, keyFile string, clock *fakeClock) *Writer {
	t.Helper()
	w, _, err := Open(Options{
		Dir: dir, Key: key, KeyFile: keyFile, KeyEpoch: time.Hour, GatewayID: "gw-test",
		MaxSegmentSize: 64 << 20, MaxSegmentAge: time.Hour, Fsync: FsyncAlways, Now: clock.Now,
	})
	require.NoError(t, err)
	return w
}

func writeKeyFile(t *testing.T, path string, key ed25519.PrivateKey) {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(key)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600))
}

// epochArchive writes three sealed segments, one per epoch (0, 1, 2), and an
// open one; every epoch ends with a checkpoint.
func epochArchive(t *testing.T) (dir, keyFile string, pub ed25519.PublicKey, clock *fakeClock) {
	t.Helper()
	base := t.TempDir()
	dir, keyFile = filepath.Join(base, "archive"), filepath.Join(base, "archive-key.pem")
	pub, key := newKey(t)
	writeKeyFile(t, keyFile, key)
	clock = &fakeClock{now: testEpoch}
	w := epochWriter(t, dir, key, keyFile, clock)
	for s := range 3 {
		for f := range 3 {
			appendLogs(t, w, makeLogs("d", "f", "epoch", testEpoch.Add(time.Duration(s*3+f)*time.Minute), 4))
			clock.now = clock.now.Add(time.Minute)
			require.NoError(t, w.Checkpoint())
		}
		require.NoError(t, w.Seal())
		if s < 2 {
			clock.now = clock.now.Add(time.Hour)
			require.NoError(t, w.Checkpoint()) // ends the epoch
		}
	}
	appendLogs(t, w, makeLogs("d", "f", "open", testEpoch, 2))
	require.NoError(t, w.Checkpoint())
	require.NoError(t, w.Close())
	return dir, keyFile, pub, clock
}

func TestEpochKeysRotateAndErase(t *testing.T) {
	dir, keyFile, pub, clock := epochArchive(t)

	epochs, err := keyEpochs(dir)
	require.NoError(t, err)
	assert.Equal(t, []uint64{2, 3}, epochs, "only the current and the next epoch's keys are left")
	assert.NoFileExists(t, keyFile, "the configured key signs epoch 0 only and is erased after it")
	for _, p := range []string{filepath.Join(dir, keysDir), filepath.Join(dir, keysDir, "epoch-000002.pem")} {
		st, err := os.Stat(p)
		require.NoError(t, err)
		want := os.FileMode(0o600)
		if st.IsDir() {
			want = 0o700
		}
		assert.Equal(t, want, st.Mode().Perm(), p)
	}

	sum, err := Verify(dir, []ed25519.PublicKey{pub}, nil)
	require.NoError(t, err)
	assert.Equal(t, uint64(2), sum.Epoch)
	assert.Equal(t, uint64(3*3*4+2), sum.TreeSize)
	assert.Equal(t, sum.Records, sum.TreeSize)
	assert.Positive(t, sum.Checkpoints)

	// The erased configured key is not needed to go on.
	w := epochWriter(t, dir, nil, keyFile, clock)
	appendLogs(t, w, makeLogs("d", "f", "again", testEpoch, 3))
	require.NoError(t, w.Seal())
	require.NoError(t, w.Close())
	sum, err = Verify(dir, []ed25519.PublicKey{pub}, nil)
	require.NoError(t, err)
	assert.Equal(t, uint64(3*3*4+5), sum.TreeSize)

	// Another configured key is not used.
	_, other := newKey(t)
	w, rec, err := Open(Options{Dir: dir, Key: other, MaxSegmentSize: 1 << 20, MaxSegmentAge: time.Hour, Now: clock.Now})
	require.NoError(t, err)
	assert.True(t, rec.KeyIgnored)
	appendLogs(t, w, makeLogs("d", "f", "other", testEpoch, 1))
	require.NoError(t, w.Seal())
	require.NoError(t, w.Close())
	_, err = Verify(dir, []ed25519.PublicKey{pub}, nil)
	require.NoError(t, err)

	// Without the archive's keys and without a configured key, nothing signs.
	_, _, err = Open(Options{Dir: t.TempDir(), MaxSegmentSize: 1 << 20, MaxSegmentAge: time.Hour})
	assert.ErrorIs(t, err, ErrNoKey)
}

func TestEpochRotationFinishesAfterCrash(t *testing.T) {
	dir, _, pub, clock := epochArchive(t)
	// A crash after the state moved to epoch 2 but before epoch 1's key was
	// erased leaves that key behind: the next start erases it.
	k, err := readKey(filepath.Join(dir, keysDir), 2)
	require.NoError(t, err)
	require.NoError(t, writeKey(filepath.Join(dir, keysDir), 1, k))
	w := epochWriter(t, dir, nil, "", clock)
	require.NoError(t, w.Close())
	epochs, err := keyEpochs(dir)
	require.NoError(t, err)
	assert.Equal(t, []uint64{2, 3}, epochs)
	_, err = Verify(dir, []ed25519.PublicKey{pub}, nil)
	require.NoError(t, err)
}

// copyDir copies an archive as a backup would (cp -a).
func copyDir(t *testing.T, from, to string) {
	t.Helper()
	out, err := exec.Command("cp", "-a", from, to).CombinedOutput()
	require.NoError(t, err, string(out))
}

func latest(t *testing.T, dir string) *Checkpoint {
	t.Helper()
	cp, err := LatestCheckpoint(dir)
	require.NoError(t, err)
	require.NotNil(t, cp)
	saved := filepath.Join(t.TempDir(), "saved.note")
	require.NoError(t, os.WriteFile(saved, cp.Note, 0o600))
	cp, err = ReadCheckpointFile(saved)
	require.NoError(t, err)
	return cp
}

func TestVerifyDetectsRollbackAndRewrite(t *testing.T) {
	tests := []struct {
		name string
		// attack changes the archive in dir; saved is a checkpoint a
		// witness took before. It returns the checkpoints to verify with.
		attack      func(t *testing.T, dir string, saved *Checkpoint, clock *fakeClock) []*Checkpoint
		wantAlone   Problem // "" when the archive alone still verifies
		wantProblem Problem
		wantDetail  string
	}{
		{
			name: "truncation: the newest segments deleted, the archive's checkpoints left",
			attack: func(t *testing.T, dir string, _ *Checkpoint, _ *fakeClock) []*Checkpoint {
				entries, err := scan(dir)
				require.NoError(t, err)
				for _, e := range entries[2:] {
					for _, rel := range []string{e.segment, e.manifest} {
						if rel != "" {
							require.NoError(t, os.Remove(joinRel(dir, rel)))
						}
					}
				}
				return nil
			},
			wantAlone: Truncated, wantProblem: Truncated, wantDetail: "the archive's own checkpoint",
		},
		{
			name: "truncation with the checkpoints deleted as well",
			attack: func(t *testing.T, dir string, saved *Checkpoint, _ *fakeClock) []*Checkpoint {
				entries, err := scan(dir)
				require.NoError(t, err)
				for _, e := range entries[2:] {
					for _, rel := range []string{e.segment, e.manifest} {
						if rel != "" {
							require.NoError(t, os.Remove(joinRel(dir, rel)))
						}
					}
				}
				cps, err := listCheckpoints(dir)
				require.NoError(t, err)
				for _, rel := range cps {
					if cp, err := ReadCheckpointFile(joinRel(dir, rel)); err == nil && cp.Size > 24 {
						require.NoError(t, os.Remove(joinRel(dir, rel)))
					}
				}
				return []*Checkpoint{saved}
			},
			wantProblem: RolledBack, wantDetail: "the newest 14 records are gone",
		},
		{
			name: "full rollback to a backup from epoch 1",
			attack: func(t *testing.T, dir string, saved *Checkpoint, _ *fakeClock) []*Checkpoint {
				require.NoError(t, os.RemoveAll(dir))
				copyDir(t, dir+".epoch1", dir)
				return []*Checkpoint{saved}
			},
			wantProblem: RolledBack, wantDetail: "covers 38 records, the archive holds 12",
		},
		{
			name: "rewrite with the current key",
			attack: func(t *testing.T, dir string, saved *Checkpoint, clock *fakeClock) []*Checkpoint {
				// Put back the state before the last sealed segment, keys
				// included, and write other records with the current key.
				require.NoError(t, os.RemoveAll(dir))
				copyDir(t, dir+".epoch2", dir)
				w := epochWriter(t, dir, nil, "", clock)
				for range 5 {
					appendLogs(t, w, makeLogs("d", "f", "forged", testEpoch, 4))
				}
				require.NoError(t, w.Seal())
				require.NoError(t, w.Close())
				return []*Checkpoint{saved}
			},
			wantProblem: Inconsistent, wantDetail: "records up to there were changed",
		},
		{
			name: "a checkpoint signed with the current key over another tree",
			attack: func(t *testing.T, dir string, saved *Checkpoint, _ *fakeClock) []*Checkpoint {
				key, err := readKey(filepath.Join(dir, keysDir), saved.Epoch)
				require.NoError(t, err)
				forged := *saved
				forged.Root = make([]byte, HashSize)
				forged.Note, err = signCheckpoint(&forged, key)
				require.NoError(t, err)
				forged.Name = "forged.note"
				return []*Checkpoint{&forged}
			},
			wantProblem: Inconsistent, wantDetail: "forged.note",
		},
		{
			name: "a checkpoint whose signature was edited",
			attack: func(t *testing.T, dir string, saved *Checkpoint, _ *fakeClock) []*Checkpoint {
				forged := *saved
				forged.Note = []byte(string(saved.Note[:len(saved.Note)-6]) + "AAAA=\n")
				return []*Checkpoint{&forged}
			},
			wantProblem: BadSignature, wantDetail: "not signed by epoch 2's key",
		},
		{
			name: "another archive's checkpoint",
			attack: func(t *testing.T, dir string, saved *Checkpoint, _ *fakeClock) []*Checkpoint {
				_, other := newKey(t)
				forged := *saved
				forged.Epoch = 0
				forged.Origin = Origin(other.Public().(ed25519.PublicKey))
				var err error
				forged.Note, err = signCheckpoint(&forged, other)
				require.NoError(t, err)
				return []*Checkpoint{&forged}
			},
			wantProblem: BadSignature, wantDetail: "another archive",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			base := t.TempDir()
			dir, keyFile := filepath.Join(base, "archive"), filepath.Join(base, "archive-key.pem")
			pub, key := newKey(t)
			writeKeyFile(t, keyFile, key)
			clock := &fakeClock{now: testEpoch}
			w := epochWriter(t, dir, key, keyFile, clock)
			for s := range 3 {
				if s > 0 {
					require.NoError(t, w.Close())
					copyDir(t, dir, dir+".epoch"+string(rune('0'+s)))
					w = epochWriter(t, dir, nil, "", clock)
				}
				for range 3 {
					appendLogs(t, w, makeLogs("d", "f", "real", testEpoch, 4))
					clock.now = clock.now.Add(time.Minute)
					require.NoError(t, w.Checkpoint())
				}
				require.NoError(t, w.Seal())
				if s < 2 {
					clock.now = clock.now.Add(time.Hour)
					require.NoError(t, w.Checkpoint())
				}
			}
			appendLogs(t, w, makeLogs("d", "f", "open", testEpoch, 2))
			require.NoError(t, w.Checkpoint())
			require.NoError(t, w.Close())
			saved := latest(t, dir) // a witness's copy: 38 records, epoch 2
			require.Equal(t, uint64(38), saved.Size)
			sum, err := VerifyArchive(dir, VerifyOptions{Keys: []ed25519.PublicKey{pub}, Checkpoints: []*Checkpoint{saved}})
			require.NoError(t, err, "untouched")
			assert.Equal(t, 1, sum.External)

			cps := tt.attack(t, dir, saved, clock)

			_, err = Verify(dir, []ed25519.PublicKey{pub}, nil)
			if tt.wantAlone == "" {
				require.NoError(t, err, "the attack is not visible in the archive alone")
			} else {
				var ve *VerifyError
				require.ErrorAs(t, err, &ve)
				assert.Equal(t, tt.wantAlone, ve.Problem, ve.Error())
			}
			_, err = VerifyArchive(dir, VerifyOptions{Keys: []ed25519.PublicKey{pub}, Checkpoints: cps})
			var ve *VerifyError
			require.ErrorAs(t, err, &ve)
			assert.Equal(t, tt.wantProblem, ve.Problem, ve.Error())
			assert.Contains(t, ve.Error(), tt.wantDetail)
		})
	}
}

func TestVerifyDetectsOldKeyForgery(t *testing.T) {
	tests := []struct {
		name        string
		epoch       func(m *Manifest, next ed25519.PrivateKey)
		wantSegment int
		wantDetail  string
	}{
		{
			name:       "today's key signs yesterday's manifest under yesterday's epoch",
			epoch:      func(m *Manifest, _ ed25519.PrivateKey) { m.Records-- },
			wantDetail: "is not signed by epoch 0's key",
		},
		{
			name: "today's key signs yesterday's manifest under today's epoch",
			epoch: func(m *Manifest, next ed25519.PrivateKey) {
				m.Epoch = &EpochCommitment{Epoch: 2, NextKey: base64.StdEncoding.EncodeToString(next.Public().(ed25519.PublicKey))}
			},
			// The first segment alone now verifies; the next one, signed in
			// epoch 1, gives it away.
			wantSegment: 1, wantDetail: "a later key signed an earlier segment",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir, _, pub, _ := epochArchive(t)
			// The attacker holds every private key left on disk: epochs 2 and 3.
			current, err := readKey(filepath.Join(dir, keysDir), 2)
			require.NoError(t, err)
			next, err := readKey(filepath.Join(dir, keysDir), 3)
			require.NoError(t, err)
			_, err = readKey(filepath.Join(dir, keysDir), 0)
			require.ErrorIs(t, err, os.ErrNotExist, "epoch 0's key is erased")

			entries, err := scan(dir)
			require.NoError(t, err)
			path := joinRel(dir, entries[0].manifest)
			data, err := os.ReadFile(path)
			require.NoError(t, err)
			m, err := parseManifest(data)
			require.NoError(t, err)
			tt.epoch(&m.Manifest, next)
			forged, _, err := encodeManifest(&m.Manifest, current)
			require.NoError(t, err)
			rewrite(t, path, forged)

			_, err = Verify(dir, []ed25519.PublicKey{pub}, nil)
			var ve *VerifyError
			require.ErrorAs(t, err, &ve)
			assert.Equal(t, BadSignature, ve.Problem, ve.Error())
			assert.Equal(t, entries[tt.wantSegment].segment, ve.Segment)
			assert.Contains(t, ve.Error(), tt.wantDetail)
		})
	}
}

func TestVerifyDetectsBrokenKeyChain(t *testing.T) {
	dir, _, pub, _ := epochArchive(t)
	// A key chain that starts from another key: epoch 0 not trusted.
	_, other := newKey(t)
	otherPub := other.Public().(ed25519.PublicKey)
	_, err := Verify(dir, []ed25519.PublicKey{otherPub}, nil)
	var ve *VerifyError
	require.ErrorAs(t, err, &ve)
	assert.Equal(t, BadSignature, ve.Problem, ve.Error())

	// An edited checkpoint of the archive's own.
	cps, err := listCheckpoints(dir)
	require.NoError(t, err)
	path := joinRel(dir, cps[2])
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	data[len(data)-20] ^= 1 // inside the signature
	rewrite(t, path, data)
	_, err = Verify(dir, []ed25519.PublicKey{pub}, nil)
	require.ErrorAs(t, err, &ve)
	assert.Equal(t, BadSignature, ve.Problem, ve.Error())
	assert.Equal(t, cps[2], ve.Checkpoint)
	assert.Contains(t, ve.Error(), "checkpoint "+cps[2]+": bad signature")
}

func TestInclusionProof(t *testing.T) {
	dir, _, pub, _ := epochArchive(t)
	trusted := []ed25519.PublicKey{pub}
	cp := latest(t, dir)

	for _, leaf := range []uint64{0, 5, 17, cp.Size - 1} {
		p, err := Prove(dir, RecordSelector{Leaf: leaf}, cp)
		require.NoError(t, err, "leaf %d", leaf)
		assert.Len(t, p.KeyChain, 2, "epochs 0 and 1 lead to epoch 2")
		res, err := CheckProof(p, trusted)
		require.NoError(t, err, "leaf %d", leaf)
		assert.Equal(t, 1, res.Logs.LogRecordCount())
	}

	p, err := Prove(dir, RecordSelector{Filter: &Filter{Contains: "open 1"}}, nil)
	require.NoError(t, err)
	assert.Equal(t, uint64(37), p.LeafIndex)
	res, err := CheckProof(p, trusted)
	require.NoError(t, err)
	assert.Equal(t, "open 1", res.Logs.ResourceLogs().At(0).ScopeLogs().At(0).LogRecords().At(0).Body().Str())

	_, err = Prove(dir, RecordSelector{Filter: &Filter{Contains: "never written"}}, cp)
	require.ErrorIs(t, err, ErrNoRecord)
	_, err = Prove(dir, RecordSelector{Leaf: cp.Size}, cp)
	require.ErrorIs(t, err, ErrNoRecord)

	// A record that is not in the log: another body under the same proof.
	notIn := makeLogs("d", "f", "never", testEpoch, 1)
	var m plog.ProtoMarshaler
	raw, err := m.MarshalLogs(notIn)
	require.NoError(t, err)
	forged := *p
	forged.Record = raw
	_, err = CheckProof(&forged, trusted)
	require.ErrorIs(t, err, ErrProof)
	assert.Contains(t, err.Error(), "is not leaf 37")
	// The right record at another position.
	forged = *p
	forged.LeafIndex--
	_, err = CheckProof(&forged, trusted)
	require.ErrorIs(t, err, ErrProof)
	// A proof checked against another archive's key.
	_, other := newKey(t)
	_, err = CheckProof(p, []ed25519.PublicKey{other.Public().(ed25519.PublicKey)})
	require.ErrorIs(t, err, ErrProof)
	// A broken key chain.
	forged = *p
	forged.KeyChain = forged.KeyChain[:1]
	_, err = CheckProof(&forged, trusted)
	require.ErrorIs(t, err, ErrProof)
}

// toLegacy rewrites an archive as the version before the Merkle tree wrote
// it: manifests without tree head or epoch, signed by key, and no keys or
// checkpoints.
func toLegacy(t *testing.T, dir string, key ed25519.PrivateKey) {
	t.Helper()
	entries, err := scan(dir)
	require.NoError(t, err)
	var prev Hash
	for _, e := range entries {
		if e.manifest == "" {
			continue
		}
		path := joinRel(dir, e.manifest)
		data, err := os.ReadFile(path)
		require.NoError(t, err)
		m, err := parseManifest(data)
		require.NoError(t, err)
		m.Tree, m.Epoch = nil, nil
		m.PrevManifestHash = prev.String()
		out, hash, err := encodeManifest(&m.Manifest, key)
		require.NoError(t, err)
		rewrite(t, path, out)
		prev = hash
	}
	require.NoError(t, os.RemoveAll(filepath.Join(dir, keysDir)))
	require.NoError(t, os.RemoveAll(filepath.Join(dir, checkpointsDir)))
}

func TestArchivesOfThePreviousFormat(t *testing.T) {
	dir := t.TempDir()
	pub, key := newKey(t)
	clock := &fakeClock{now: testEpoch}
	w, _ := openWriter(t, dir, key, clock)
	for range 2 {
		appendLogs(t, w, makeLogs("d", "f", "old", testEpoch, 3))
		require.NoError(t, w.Seal())
	}
	appendLogs(t, w, makeLogs("d", "f", "old open", testEpoch, 2))
	require.NoError(t, w.Close())
	toLegacy(t, dir, key)

	sum, err := Verify(dir, []ed25519.PublicKey{pub}, nil)
	require.NoError(t, err, "an archive of the previous format verifies as before")
	assert.Equal(t, uint64(8), sum.Records)
	assert.Zero(t, sum.TreeSize)

	// The new writer goes on with it: the tree starts at the open segment.
	clock.now = clock.now.Add(time.Hour)
	w, rec := openWriter(t, dir, key, clock)
	assert.Equal(t, uint64(2), rec.Records)
	clock.now = clock.now.Add(time.Minute)
	appendLogs(t, w, makeLogs("d", "f", "new", testEpoch, 3))
	require.NoError(t, w.Seal())
	appendLogs(t, w, makeLogs("d", "f", "new open", testEpoch, 1))
	require.NoError(t, w.Checkpoint())
	require.NoError(t, w.Close())

	sum, err = Verify(dir, []ed25519.PublicKey{pub}, nil)
	require.NoError(t, err)
	assert.Equal(t, uint64(12), sum.Records)
	assert.Equal(t, uint64(6), sum.TreeSize, "the tree holds the records from the first segment sealed by the new version")
	p, err := Prove(dir, RecordSelector{Filter: &Filter{Contains: "old open 1"}}, nil)
	require.NoError(t, err)
	_, err = CheckProof(p, []ed25519.PublicKey{pub})
	require.NoError(t, err)

	// An old-format manifest slipped in after the tree began is caught.
	entries, err := scan(dir)
	require.NoError(t, err)
	path := joinRel(dir, entries[2].manifest)
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	m, err := parseManifest(data)
	require.NoError(t, err)
	m.Tree, m.Epoch = nil, nil
	out, _, err := encodeManifest(&m.Manifest, key)
	require.NoError(t, err)
	rewrite(t, path, out)
	_, err = Verify(dir, []ed25519.PublicKey{pub}, nil)
	var ve *VerifyError
	require.ErrorAs(t, err, &ve)
	assert.Equal(t, Modified, ve.Problem, ve.Error())
}

func TestWriterRefusesAnArchiveBehindItsCheckpoint(t *testing.T) {
	dir := t.TempDir()
	_, key := newKey(t)
	clock := &fakeClock{now: testEpoch}
	w, _ := openWriter(t, dir, key, clock)
	appendLogs(t, w, makeLogs("d", "f", "a", testEpoch, 3))
	require.NoError(t, w.Seal())
	appendLogs(t, w, makeLogs("d", "f", "b", testEpoch, 3))
	require.NoError(t, w.Checkpoint())
	require.NoError(t, w.Close())
	entries, err := scan(dir)
	require.NoError(t, err)
	require.NoError(t, os.Remove(joinRel(dir, entries[1].segment)))

	_, _, err = Open(Options{Dir: dir, Key: key, MaxSegmentSize: 1 << 20, MaxSegmentAge: time.Hour, Now: clock.Now})
	assert.ErrorIs(t, err, ErrCheckpointAhead)
}

func TestCheckpointsAtSealsAndWhileRecordsArrive(t *testing.T) {
	dir := t.TempDir()
	pub, key := newKey(t)
	clock := &fakeClock{now: testEpoch}
	w, _ := openWriter(t, dir, key, clock)
	count := func() int {
		cps, err := listCheckpoints(dir)
		require.NoError(t, err)
		return len(cps)
	}
	assert.Equal(t, 1, count(), "the empty tree's, when the chain starts")
	appendLogs(t, w, makeLogs("d", "f", "a", testEpoch, 3))
	require.NoError(t, w.Checkpoint())
	assert.Equal(t, 2, count())
	require.NoError(t, w.Checkpoint())
	assert.Equal(t, 2, count(), "nothing new, no checkpoint")
	appendLogs(t, w, makeLogs("d", "f", "b", testEpoch, 3))
	require.NoError(t, w.Seal())
	assert.Equal(t, 3, count(), "one at every seal")
	require.NoError(t, w.Close())

	cp := latest(t, dir)
	assert.Equal(t, uint64(6), cp.Size)
	assert.Equal(t, Origin(pub), cp.Origin)
	assert.True(t, cp.signedBy(pub))
	sum, err := Verify(dir, []ed25519.PublicKey{pub}, nil)
	require.NoError(t, err)
	assert.Equal(t, 3, sum.Checkpoints)
	assert.Equal(t, cp.Root, sum.TreeRoot)
	entries, err := scan(dir)
	require.NoError(t, err)
	m, err := readManifestFile(dir, entries[0].manifest)
	require.NoError(t, err)
	require.NotNil(t, m.Tree)
	assert.Equal(t, uint64(6), m.Tree.Size)
	require.NotNil(t, m.Epoch)
	assert.Zero(t, m.Epoch.Epoch)
}

func TestTreeOutlivesRetention(t *testing.T) {
	dir, _, pub, clock := epochArchive(t)
	// Records of segments 1 and 2 (epochs 0 and 1) go; a tombstone signed in
	// the current epoch keeps their tree head.
	w := epochWriter(t, dir, nil, "", clock)
	clock.now = clock.now.Add(30 * time.Minute)
	deleted, err := w.ApplyRetention(time.Hour+30*time.Minute, "90m")
	require.NoError(t, err)
	require.Equal(t, 2, deleted)
	require.NoError(t, w.Close())

	sum, err := Verify(dir, []ed25519.PublicKey{pub}, nil)
	require.NoError(t, err)
	assert.Equal(t, 2, sum.Tombstones)
	assert.Equal(t, uint64(38), sum.TreeSize, "the tree still counts the deleted records")
	assert.Positive(t, sum.CheckpointsUnchecked)
	m, err := readManifestFile(dir, func() string {
		entries, err := scan(dir)
		require.NoError(t, err)
		return entries[0].tombstone
	}())
	require.NoError(t, err)
	assert.Equal(t, uint64(2), m.Epoch.Epoch)
	assert.Equal(t, uint64(12), m.Tree.Size)

	// Records after the deleted ones can still be proven.
	p, err := Prove(dir, RecordSelector{Leaf: 37}, nil)
	require.NoError(t, err)
	_, err = CheckProof(p, []ed25519.PublicKey{pub})
	require.NoError(t, err)
	_, err = Prove(dir, RecordSelector{Leaf: 3}, nil)
	require.Error(t, err, "a deleted record cannot be proven")
}

func TestCheckpointsDuringConcurrentAppends(t *testing.T) {
	dir := t.TempDir()
	pub, key := newKey(t)
	clock := &fakeClock{now: testEpoch}
	w, _, err := Open(Options{Dir: dir, Key: key, MaxSegmentSize: 256, MaxSegmentAge: time.Hour, Fsync: FsyncAlways, Now: clock.Now})
	require.NoError(t, err)
	done := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		for {
			select {
			case <-done:
				return
			default:
				assert.NoError(t, w.Checkpoint())
				time.Sleep(time.Millisecond)
			}
		}
	}()
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 10 {
				_, err := w.Append(makeLogs(fmt.Sprintf("d%d", g), "f", "c", testEpoch, 5+i))
				assert.NoError(t, err)
			}
		}()
	}
	wg.Wait()
	close(done)
	<-stopped
	require.NoError(t, w.Checkpoint())
	require.NoError(t, w.Close())
	sum, err := Verify(dir, []ed25519.PublicKey{pub}, nil)
	require.NoError(t, err)
	assert.Equal(t, uint64(4*(10*5+45)), sum.TreeSize)
	assert.Positive(t, sum.Sealed, "segments of 256 B filled and sealed, however the appends were grouped and compressed")
	assert.Positive(t, sum.Checkpoints)
}

func TestCheckpointCopyOnOtherStorage(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "archive")
	copyFile := filepath.Join(t.TempDir(), "witness.checkpoints")
	pub, key := newKey(t)
	clock := &fakeClock{now: testEpoch}
	open := func() *Writer {
		w, _, err := Open(Options{Dir: dir, Key: key, CheckpointCopy: copyFile, MaxSegmentSize: 1 << 20, MaxSegmentAge: time.Hour, Fsync: FsyncAlways, Now: clock.Now})
		require.NoError(t, err)
		return w
	}
	w := open()
	appendLogs(t, w, makeLogs("d", "f", "a", testEpoch, 3))
	require.NoError(t, w.Seal())
	require.NoError(t, w.Close())
	copyDir(t, dir, dir+".old")
	w = open()
	appendLogs(t, w, makeLogs("d", "f", "b", testEpoch, 4))
	require.NoError(t, w.Checkpoint())
	require.NoError(t, w.Close())

	cps, err := ReadCheckpointsFile(copyFile)
	require.NoError(t, err)
	require.Len(t, cps, 3, "the empty tree's, the seal's and the newest")
	assert.Equal(t, []uint64{0, 3, 7}, []uint64{cps[0].Size, cps[1].Size, cps[2].Size})
	assert.Equal(t, copyFile+"#3", cps[2].Name)
	st, err := os.Stat(copyFile)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), st.Mode().Perm())
	_, err = VerifyArchive(dir, VerifyOptions{Keys: []ed25519.PublicKey{pub}, Checkpoints: cps})
	require.NoError(t, err)

	// The copy outlives the archive's rollback.
	require.NoError(t, os.RemoveAll(dir))
	require.NoError(t, os.Rename(dir+".old", dir))
	_, err = VerifyArchive(dir, VerifyOptions{Keys: []ed25519.PublicKey{pub}, Checkpoints: cps})
	var ve *VerifyError
	require.ErrorAs(t, err, &ve)
	assert.Equal(t, RolledBack, ve.Problem, ve.Error())
	assert.Contains(t, ve.Error(), copyFile+"#3")

	// A file of one checkpoint is what ReadCheckpointFile wants.
	_, err = ReadCheckpointFile(copyFile)
	assert.ErrorIs(t, err, ErrBadCheckpoint)
	data, err := os.ReadFile(copyFile)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(copyFile, append(data, "garbage\n"...), 0o600))
	_, err = ReadCheckpointsFile(copyFile)
	assert.ErrorIs(t, err, ErrBadCheckpoint)
}

func TestVerifyDetectsTwoNextKeys(t *testing.T) {
	dir, _, pub, clock := epochArchive(t)
	// Today's key signs a checkpoint handing over to a key of the
	// attacker's, beside the archive's own checkpoints of today.
	current, err := readKey(filepath.Join(dir, keysDir), 2)
	require.NoError(t, err)
	_, mine := newKey(t)
	cp := latest(t, dir)
	forged := *cp
	forged.NextKey = mine.Public().(ed25519.PublicKey)
	forged.Time = clock.now
	signed, err := signCheckpoint(&forged, current)
	require.NoError(t, err)
	require.NoError(t, writeCheckpointFile(dir, checkpointPath(clock.now, cp.Size+100, 2), signed))

	_, err = Verify(dir, []ed25519.PublicKey{pub}, nil)
	var ve *VerifyError
	require.ErrorAs(t, err, &ve)
	assert.Equal(t, Modified, ve.Problem, ve.Error())
	assert.Contains(t, ve.Error(), "commits to two different keys for epoch 3")
}

func TestLatestCheckpointAcrossDays(t *testing.T) {
	dir := t.TempDir()
	_, key := newKey(t)
	clock := &fakeClock{now: testEpoch}
	w, _ := openWriter(t, dir, key, clock)
	for day := range 3 {
		clock.now = testEpoch.Add(time.Duration(day*49) * time.Hour)
		appendLogs(t, w, makeLogs("d", "f", "day", clock.now, 2+day))
		require.NoError(t, w.Checkpoint())
	}
	require.NoError(t, w.Close())
	cp, err := LatestCheckpoint(dir)
	require.NoError(t, err)
	assert.Equal(t, uint64(2+3+4), cp.Size)
	assert.Equal(t, "checkpoints/2026/11/28/cp-0000000000000009-000000.note", cp.Name)
	all, err := listCheckpoints(dir)
	require.NoError(t, err)
	assert.Len(t, all, 4)

	none, err := LatestCheckpoint(t.TempDir())
	require.NoError(t, err)
	assert.Nil(t, none)
}

func TestEveryEpochSignsBeforeItEnds(t *testing.T) {
	dir, _, pub, clock := epochArchive(t)
	// A crash right after a rotation: epoch 3 is current, nothing signed in
	// it, and it is over by the time the gateway starts again.
	keys, err := openEpochKeys(dir, nil, "", clock.now)
	require.NoError(t, err)
	require.NoError(t, keys.rotate(clock.now))
	clock.now = clock.now.Add(2 * time.Hour)

	w := epochWriter(t, dir, nil, "", clock)
	require.NoError(t, w.Close())
	sum, err := Verify(dir, []ed25519.PublicKey{pub}, nil)
	require.NoError(t, err, "epoch 3 handed over to epoch 4 before it ended")
	assert.Equal(t, uint64(4), sum.Epoch)
}

func TestOpenWhenACheckpointCannotBeWritten(t *testing.T) {
	dir := t.TempDir()
	pub, key := newKey(t)
	clock := &fakeClock{now: testEpoch}
	w, _ := openWriter(t, dir, key, clock)
	require.NoError(t, w.Close())
	// A file where today's checkpoint directory belongs: no checkpoint can
	// be written, as on a full disk.
	day := filepath.Join(dir, checkpointsDir, "2026", "11", "24")
	require.NoError(t, os.RemoveAll(day))
	require.NoError(t, os.WriteFile(day, nil, 0o600))

	w, _ = openWriter(t, dir, key, clock)
	appendLogs(t, w, makeLogs("d", "f", "x", testEpoch, 2))
	require.Error(t, w.Checkpoint(), "reported, and the writer goes on")
	appendLogs(t, w, makeLogs("d", "f", "y", testEpoch, 2))
	require.NoError(t, os.Remove(day))
	require.NoError(t, w.Checkpoint())
	require.NoError(t, w.Close())
	sum, err := Verify(dir, []ed25519.PublicKey{pub}, nil)
	require.NoError(t, err)
	assert.Equal(t, uint64(4), sum.TreeSize)
	assert.Equal(t, 1, sum.Checkpoints)
}
