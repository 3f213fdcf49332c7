package archive

import (
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/plog"
)

// FuzzSegmentReader feeds garbage to everything that reads segment bytes:
// the frame parser, the verifier's chain check and the query decoder. None
// may panic; the seed corpus in testdata/fuzz runs with every go test.
func FuzzSegmentReader(f *testing.F) {
	c, err := newCodec()
	if err != nil {
		f.Fatal(err)
	}
	defer c.close()
	f.Fuzz(func(t *testing.T, data []byte) {
		frames, off, _ := ParseFrames(data)
		if off > int64(len(data)) {
			t.Fatalf("parsed past the end: %d > %d", off, len(data))
		}
		for _, fr := range frames {
			_, _ = c.decode(fr.Payload)
		}
		v := &verifier{sum: &Summary{}, nextFrame: 1}
		_, _, _ = v.frames("fuzz", data)
		_, _ = decodeSegment(c, data, "fuzz", &Filter{}, &QueryStats{}, false)
		// The same with the prefilter walking the frames' protobuf.
		_, _ = decodeSegment(c, data, "fuzz", &Filter{Contains: "a", Since: testEpoch}, &QueryStats{}, false)
	})
}

// TestWriteFuzzSeeds regenerates the seed corpus with -update.
func TestWriteFuzzSeeds(t *testing.T) {
	if !*update {
		t.Skip("run with -update to regenerate testdata/fuzz")
	}
	dir := t.TempDir()
	_, key := newKey(t)
	w, _ := openWriter(t, dir, key, &fakeClock{now: testEpoch})
	appendLogs(t, w, makeLogs("d", "f", "seed", testEpoch, 3))
	appendLogs(t, w, makeLogs("d", "f", "seed", testEpoch.Add(time.Minute), 2))
	seg := joinRel(dir, w.open.rel)
	require.NoError(t, w.Close())
	valid, err := os.ReadFile(seg)
	require.NoError(t, err)
	frames, _, err := ParseFrames(valid)
	require.NoError(t, err)
	flipped := append([]byte(nil), valid...)
	flipped[frameHeaderSize+2] ^= 0xff
	bigLength := append([]byte(nil), valid...)
	copy(bigLength[16:20], []byte{0x7f, 0xff, 0xff, 0xff})
	// A frame with a valid CRC around a payload that is not zstd.
	notZstd, _ := appendFrame(nil, Hash{}, 1, 1, []byte("not zstd at all"))
	// A frame joined from two appends' zstd frames (commit.go).
	enc, err := newEncoder()
	require.NoError(t, err)
	defer enc.Close()
	var m plog.ProtoMarshaler
	var payload []byte // two zstd frames, one after the other
	for i := range 2 {
		raw, err := m.MarshalLogs(makeLogs(fmt.Sprintf("d%d", i), "f", "joined", testEpoch, 2+i))
		require.NoError(t, err)
		payload = enc.EncodeAll(raw, payload)
	}
	joined, _ := appendFrame(nil, Hash{}, 1, 5, payload)
	seeds := map[string][]byte{
		"joined":       joined,
		"valid":        valid,
		"truncated":    valid[:len(valid)-7],
		"second-frame": valid[frames[1].Offset:],
		"flipped":      flipped,
		"huge-length":  bigLength,
		"not-zstd":     notZstd,
		"magic-only":   []byte(frameMagic),
		"empty":        {},
		"text":         []byte("2026-11-24 INFO not a segment\n"),
	}
	writeSeeds(t, "FuzzSegmentReader", seeds)
}

// FuzzManifest feeds garbage to the manifest parser and signature check.
func FuzzManifest(f *testing.F) {
	pub, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		f.Fatal(err)
	}
	keys := map[string]ed25519.PublicKey{KeyID(pub): pub}
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := parseManifest(data)
		if err != nil {
			return
		}
		_ = m.verify(keys)
		_, _ = parseHash(m.LastChainHash)
		// Re-signing what parsed must verify.
		again, _, err := encodeManifest(&m.Manifest, key)
		if err != nil {
			return
		}
		m2, err := parseManifest(again)
		if err != nil {
			t.Fatalf("re-encoded manifest does not parse: %v", err)
		}
		if err := m2.verify(keys); err != nil {
			t.Fatalf("re-signed manifest does not verify: %v", err)
		}
	})
}

// TestWriteManifestFuzzSeeds regenerates FuzzManifest's seed corpus with -update.
func TestWriteManifestFuzzSeeds(t *testing.T) {
	if !*update {
		t.Skip("run with -update to regenerate testdata/fuzz")
	}
	_, key := newKey(t)
	m := &Manifest{Kind: KindSegment, Seq: 1, Segment: segmentPath(testEpoch, 1), Records: 3, Frames: 1, FirstFrame: 1,
		PrevChainHash: Hash{}.String(), LastChainHash: Hash{1}.String(), PrevManifestHash: Hash{}.String()}
	valid, _, err := encodeManifest(m, key)
	require.NoError(t, err)
	seeds := map[string][]byte{
		"valid":       valid,
		"body-only":   valid[:len(valid)/2],
		"bad-version": []byte(`{"version":2}` + "\n" + `{"key_id":"x","signature":"x"}` + "\n"),
		"bad-base64":  []byte(`{"version":1}` + "\n" + `{"key_id":"x","signature":"%%%"}` + "\n"),
		"not-json":    []byte("seg\nment\n"),
	}
	writeSeeds(t, "FuzzManifest", seeds)
}

func writeSeeds(t *testing.T, target string, seeds map[string][]byte) {
	t.Helper()
	out := filepath.Join("testdata", "fuzz", target)
	require.NoError(t, os.MkdirAll(out, 0o755))
	for name, data := range seeds {
		body := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", data)
		require.NoError(t, os.WriteFile(filepath.Join(out, name), []byte(body), 0o644))
	}
}
