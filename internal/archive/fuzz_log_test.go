package archive

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/plog"
)

// FuzzCheckpoint feeds garbage to the checkpoint parser, its signature check
// and the inclusion proof checker.
func FuzzCheckpoint(f *testing.F) {
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if cp, err := ParseCheckpoint(data); err == nil {
			_ = cp.signedBy(pub)
			_ = cp.signedBy(cp.NextKey)
		}
		for rest := data; len(rest) > 0; {
			note, next := splitNote(rest)
			if len(note) == 0 || len(next) >= len(rest) {
				t.Fatalf("splitNote made no progress on %q", rest)
			}
			rest = next
		}
		var p InclusionProof
		if json.Unmarshal(data, &p) == nil {
			_, _ = CheckProof(&p, []ed25519.PublicKey{pub})
		}
	})
}

// FuzzLeaves feeds garbage to the walk that cuts records out of a frame's
// protobuf bytes: it must not panic, and the hashes and the assembled leaves
// must agree.
func FuzzLeaves(f *testing.F) {
	f.Fuzz(func(t *testing.T, raw []byte) {
		leaves, n, err := newLeafHasher().appendLeaves(nil, raw)
		if err != nil {
			return
		}
		data, err := leafData(raw)
		if err != nil || len(data) != n || len(leaves) != n*HashSize {
			t.Fatalf("%d leaves hashed, %d assembled (%v)", n, len(data), err)
		}
		for i, d := range data {
			sum := sha256.Sum256(append([]byte{0}, d...))
			if string(sum[:]) != string(leaves[i*HashSize:(i+1)*HashSize]) {
				t.Fatalf("leaf %d: hash and data disagree", i)
			}
		}
	})
}

// TestWriteLogFuzzSeeds regenerates FuzzCheckpoint's and FuzzLeaves' seed
// corpora with -update.
func TestWriteLogFuzzSeeds(t *testing.T) {
	if !*update {
		t.Skip("run with -update to regenerate testdata/fuzz")
	}
	dir, _, _, _ := epochArchive(t)
	cp, err := LatestCheckpoint(dir)
	require.NoError(t, err)
	p, err := Prove(dir, RecordSelector{Leaf: 3}, nil)
	require.NoError(t, err)
	proof, err := json.Marshal(p)
	require.NoError(t, err)
	writeSeeds(t, "FuzzCheckpoint", map[string][]byte{
		"valid":     cp.Note,
		"no-sig":    cp.Note[:len(cp.Note)/2],
		"no-epoch":  []byte("fleetlog.archive/00\n1\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n\n— x y\n"),
		"proof":     proof,
		"not-proof": []byte(`{"format":"fleetlog-inclusion-proof/v1","leaf_index":9,"tree_size":2}`),
	})
	var m plog.ProtoMarshaler
	raw, err := m.MarshalLogs(makeLogs("d", "f", "seed", testEpoch, 3))
	require.NoError(t, err)
	writeSeeds(t, "FuzzLeaves", map[string][]byte{
		"valid":     raw,
		"truncated": raw[:len(raw)-5],
		"empty":     {},
		"garbage":   []byte("\x0a\xff\xff\xff\xff\x0f"),
	})
}
