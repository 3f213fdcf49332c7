package archive

import (
	"bytes"
	"crypto/ed25519"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// tamperArchive builds an archive of three sealed segments of four frames
// each and an open segment of two frames.
func tamperArchive(t *testing.T, key ed25519.PrivateKey) (string, []entry) {
	t.Helper()
	dir := t.TempDir()
	clock := &fakeClock{now: testEpoch}
	w, _ := openWriter(t, dir, key, clock)
	for s := range 3 {
		for f := range 4 {
			appendLogs(t, w, makeLogs("d", "f", "m", testEpoch.Add(time.Duration(s*4+f)*time.Minute), 3))
		}
		require.NoError(t, w.Seal())
	}
	appendLogs(t, w, makeLogs("d", "f", "open", testEpoch, 1))
	appendLogs(t, w, makeLogs("d", "f", "open", testEpoch, 1))
	require.NoError(t, w.Close())
	entries, err := scan(dir)
	require.NoError(t, err)
	require.Len(t, entries, 4)
	return dir, entries
}

// frameAt returns the frames of a segment file.
func framesOf(t *testing.T, path string) ([]byte, []Frame) {
	t.Helper()
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	frames, _, err := ParseFrames(data)
	require.NoError(t, err)
	return data, frames
}

func rewrite(t *testing.T, path string, data []byte) {
	t.Helper()
	require.NoError(t, os.Chmod(path, 0o600))
	require.NoError(t, os.WriteFile(path, data, 0o600))
}

func TestVerifyDetectsTampering(t *testing.T) {
	pub, key := newKey(t)
	_, otherKey := newKey(t)
	tests := []struct {
		name        string
		tamper      func(t *testing.T, dir string, e []entry)
		wantProblem Problem
		wantSegment int // index into the entries
		wantFrame   uint64
		wantDetail  string
	}{
		{
			name: "flip one byte of a frame",
			tamper: func(t *testing.T, dir string, e []entry) {
				path := joinRel(dir, e[1].segment)
				data, frames := framesOf(t, path)
				data[frames[2].Offset+frameHeaderSize+5] ^= 0x01
				rewrite(t, path, data)
			},
			wantProblem: Modified, wantSegment: 1, wantFrame: 7,
		},
		{
			name: "flip one byte of a frame's chain hash",
			tamper: func(t *testing.T, dir string, e []entry) {
				path := joinRel(dir, e[0].segment)
				data, frames := framesOf(t, path)
				data[frames[1].Offset+frames[1].Size()-1] ^= 0x80
				rewrite(t, path, data)
			},
			wantProblem: Modified, wantSegment: 0, wantFrame: 2,
		},
		{
			name: "delete a frame",
			tamper: func(t *testing.T, dir string, e []entry) {
				path := joinRel(dir, e[1].segment)
				data, frames := framesOf(t, path)
				f := frames[1]
				rewrite(t, path, append(data[:f.Offset:f.Offset], data[f.Offset+f.Size():]...))
			},
			wantProblem: Missing, wantSegment: 1, wantFrame: 6,
		},
		{
			name: "swap two frames",
			tamper: func(t *testing.T, dir string, e []entry) {
				path := joinRel(dir, e[1].segment)
				data, frames := framesOf(t, path)
				a, b := frames[1], frames[2]
				var out []byte
				out = append(out, data[:a.Offset]...)
				out = append(out, data[b.Offset:b.Offset+b.Size()]...)
				out = append(out, data[a.Offset:a.Offset+a.Size()]...)
				out = append(out, data[b.Offset+b.Size():]...)
				rewrite(t, path, out)
			},
			wantProblem: Reordered, wantSegment: 1, wantFrame: 6,
		},
		{
			name: "truncate a sealed segment",
			tamper: func(t *testing.T, dir string, e []entry) {
				path := joinRel(dir, e[1].segment)
				data, _ := framesOf(t, path)
				rewrite(t, path, data[:len(data)-10])
			},
			wantProblem: Truncated, wantSegment: 1, wantFrame: 8,
		},
		{
			name: "truncate a sealed segment at a frame boundary",
			tamper: func(t *testing.T, dir string, e []entry) {
				path := joinRel(dir, e[1].segment)
				data, frames := framesOf(t, path)
				rewrite(t, path, data[:frames[3].Offset])
			},
			wantProblem: Truncated, wantSegment: 1, wantFrame: 8,
		},
		{
			name: "append to a sealed segment",
			tamper: func(t *testing.T, dir string, e []entry) {
				path := joinRel(dir, e[0].segment)
				data, _ := framesOf(t, path)
				rewrite(t, path, append(data, data[:100]...))
			},
			wantProblem: Modified, wantSegment: 0, wantFrame: 5,
		},
		{
			name: "delete a whole segment",
			tamper: func(t *testing.T, dir string, e []entry) {
				require.NoError(t, os.Remove(joinRel(dir, e[1].segment)))
				require.NoError(t, os.Remove(joinRel(dir, e[1].manifest)))
			},
			wantProblem: Missing, wantSegment: 1, wantDetail: "segments 2 to 2 are gone",
		},
		{
			name: "delete the newest sealed segment",
			tamper: func(t *testing.T, dir string, e []entry) {
				require.NoError(t, os.Remove(joinRel(dir, e[2].segment)))
				require.NoError(t, os.Remove(joinRel(dir, e[2].manifest)))
			},
			wantProblem: Missing, wantSegment: 2,
		},
		{
			name: "delete a segment file and keep its manifest",
			tamper: func(t *testing.T, dir string, e []entry) {
				require.NoError(t, os.Remove(joinRel(dir, e[0].segment)))
			},
			wantProblem: Missing, wantSegment: 0,
		},
		{
			name: "delete a manifest",
			tamper: func(t *testing.T, dir string, e []entry) {
				require.NoError(t, os.Remove(joinRel(dir, e[0].manifest)))
			},
			wantProblem: Missing, wantSegment: 0, wantDetail: "manifest is gone",
		},
		{
			name: "replace a manifest with another validly signed one",
			tamper: func(t *testing.T, dir string, e []entry) {
				other, err := os.ReadFile(joinRel(dir, e[2].manifest))
				require.NoError(t, err)
				rewrite(t, joinRel(dir, e[1].manifest), other)
			},
			wantProblem: Modified, wantSegment: 1, wantDetail: "was replaced",
		},
		{
			name: "edit a manifest",
			tamper: func(t *testing.T, dir string, e []entry) {
				path := joinRel(dir, e[1].manifest)
				data, err := os.ReadFile(path)
				require.NoError(t, err)
				rewrite(t, path, bytes.Replace(data, []byte(`"records":12`), []byte(`"records":11`), 1))
			},
			wantProblem: BadSignature, wantSegment: 1,
		},
		{
			name: "sign with another key",
			tamper: func(t *testing.T, dir string, e []entry) {
				path := joinRel(dir, e[1].manifest)
				data, err := os.ReadFile(path)
				require.NoError(t, err)
				m, err := parseManifest(data)
				require.NoError(t, err)
				m.Records = 11
				forged, _, err := encodeManifest(&m.Manifest, otherKey)
				require.NoError(t, err)
				rewrite(t, path, forged)
			},
			wantProblem: BadSignature, wantSegment: 1, wantDetail: "not signed by epoch 0's key",
		},
		{
			name: "forge a tombstone for a deleted segment",
			tamper: func(t *testing.T, dir string, e []entry) {
				data, err := os.ReadFile(joinRel(dir, e[1].manifest))
				require.NoError(t, err)
				m, err := parseManifest(data)
				require.NoError(t, err)
				m.Kind, m.ManifestSHA256 = KindTombstone, m.hash.String()
				forged, _, err := encodeManifest(&m.Manifest, otherKey)
				require.NoError(t, err)
				require.NoError(t, os.WriteFile(joinRel(dir, withExt(e[1].manifest, tombstoneExt)), forged, 0o444))
				require.NoError(t, os.Remove(joinRel(dir, e[1].segment)))
				require.NoError(t, os.Remove(joinRel(dir, e[1].manifest)))
			},
			wantProblem: BadSignature, wantSegment: 1,
		},
		{
			name: "flip one byte of the open segment",
			tamper: func(t *testing.T, dir string, e []entry) {
				path := joinRel(dir, e[3].segment)
				data, frames := framesOf(t, path)
				data[frames[0].Offset+frameHeaderSize+1] ^= 0x01
				rewrite(t, path, data)
			},
			wantProblem: Modified, wantSegment: 3, wantFrame: 13,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir, entries := tamperArchive(t, key)
			_, err := Verify(dir, []ed25519.PublicKey{pub}, nil)
			require.NoError(t, err, "untouched")
			tt.tamper(t, dir, entries)

			_, err = Verify(dir, []ed25519.PublicKey{pub}, nil)
			var ve *VerifyError
			require.ErrorAs(t, err, &ve)
			assert.Equal(t, tt.wantProblem, ve.Problem, ve.Error())
			assert.Equal(t, filepath.Base(entries[tt.wantSegment].segment), filepath.Base(ve.Segment), ve.Error())
			assert.Equal(t, tt.wantFrame, ve.Frame, ve.Error())
			assert.Contains(t, ve.Error(), tt.wantDetail)
		})
	}
}

// TestVerifyAcceptsRotatedKeys: segments of the previous format signed
// before a manual key rotation verify with the old key beside the new one,
// which starts the key chain.
func TestVerifyAcceptsRotatedKeys(t *testing.T) {
	oldPub, oldKey := newKey(t)
	newPub, newKey := newKey(t)
	dir := t.TempDir()
	clock := &fakeClock{now: testEpoch}
	w, _ := openWriter(t, dir, oldKey, clock)
	appendLogs(t, w, makeLogs("d", "f", "old", testEpoch, 3))
	require.NoError(t, w.Seal())
	require.NoError(t, w.Close())
	toLegacy(t, dir, oldKey)
	clock.now = clock.now.Add(time.Minute)
	w, _ = openWriter(t, dir, newKey, clock)
	clock.now = clock.now.Add(time.Minute)
	appendLogs(t, w, makeLogs("d", "f", "new", testEpoch, 3))
	require.NoError(t, w.Seal())
	require.NoError(t, w.Close())

	sum, err := Verify(dir, []ed25519.PublicKey{oldPub, newPub}, nil)
	require.NoError(t, err)
	assert.Equal(t, 2, sum.Sealed)
	assert.Equal(t, uint64(3), sum.TreeSize)

	_, err = Verify(dir, []ed25519.PublicKey{newPub}, nil)
	var ve *VerifyError
	require.ErrorAs(t, err, &ve)
	assert.Equal(t, BadSignature, ve.Problem)
	_, err = Verify(dir, []ed25519.PublicKey{oldPub}, nil)
	require.ErrorAs(t, err, &ve)
	assert.Equal(t, BadSignature, ve.Problem)
}

func TestVerifyReportsProgressAndTornOpenTail(t *testing.T) {
	pub, key := newKey(t)
	dir, entries := tamperArchive(t, key)
	appendBytes(t, joinRel(dir, entries[3].segment), []byte(frameMagic+"\x00\x00"))
	var calls []int
	sum, err := Verify(dir, []ed25519.PublicKey{pub}, func(done, total int) {
		assert.Equal(t, 4, total)
		calls = append(calls, done)
	})
	require.NoError(t, err)
	assert.Equal(t, []int{1, 2, 3, 4}, calls)
	assert.Equal(t, entries[3].segment, sum.Open)
	assert.Equal(t, int64(6), sum.OpenTorn)
	assert.Equal(t, uint64(3*4*3+2), sum.Records)
}

func TestVerifyOpenSegmentTail(t *testing.T) {
	pub, key := newKey(t)
	tests := []struct {
		name     string
		tamper   func(data []byte, frames []Frame) []byte
		wantTorn int64
		want     Problem
	}{
		{
			name:     "zeroes after the last frame, as a crash can leave",
			tamper:   func(data []byte, _ []Frame) []byte { return append(data, make([]byte, 512)...) },
			wantTorn: 512,
		},
		{
			name: "damaged last frame, indistinguishable from a torn write",
			tamper: func(data []byte, frames []Frame) []byte {
				data[frames[1].Offset+frameHeaderSize] ^= 1
				return data
			},
			wantTorn: -1,
		},
		{
			name: "damaged frame with a frame after it",
			tamper: func(data []byte, frames []Frame) []byte {
				data[frames[0].Offset+frameHeaderSize] ^= 1
				return data
			},
			want: Modified,
		},
		{
			name: "last frame's chain hash changed",
			tamper: func(data []byte, frames []Frame) []byte {
				data[len(data)-1] ^= 1
				return data
			},
			want: Modified,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir, entries := tamperArchive(t, key)
			path := joinRel(dir, entries[3].segment)
			data, frames := framesOf(t, path)
			rewrite(t, path, tt.tamper(data, frames))
			sum, err := Verify(dir, []ed25519.PublicKey{pub}, nil)
			if tt.want != "" {
				var ve *VerifyError
				require.ErrorAs(t, err, &ve)
				assert.Equal(t, tt.want, ve.Problem)
				return
			}
			require.NoError(t, err)
			if tt.wantTorn > 0 {
				assert.Equal(t, tt.wantTorn, sum.OpenTorn)
			} else {
				assert.Positive(t, sum.OpenTorn)
			}
		})
	}
}
