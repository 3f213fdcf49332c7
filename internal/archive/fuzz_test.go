package archive

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
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
		_, _ = decodeSegment(c, data, "fuzz", &Filter{}, &QueryStats{})
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
	seeds := map[string][]byte{
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
	out := filepath.Join("testdata", "fuzz", "FuzzSegmentReader")
	require.NoError(t, os.MkdirAll(out, 0o755))
	for name, data := range seeds {
		body := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", data)
		require.NoError(t, os.WriteFile(filepath.Join(out, name), []byte(body), 0o644))
	}
}
