package segfmt

import (
	"bytes"
	"reflect"
	"testing"

	"github.com/stretchr/testify/require"
)

type scanned struct {
	frames []Frame
	res    ScanResult
}

func scanAll(t *testing.T, data []byte, bufSize int) scanned {
	var out scanned
	var sr Reader
	sr.buf = make([]byte, bufSize)
	version, start := HeaderVersion(data), int64(HeaderSize)
	if version == 0 {
		version, start = SalvageVersion(bytes.NewReader(data), int64(len(data))), 0
	}
	res, err := scanWith(&sr, bytes.NewReader(data), int64(len(data)), version, start, func(f *Frame) {
		f.Payload = bytes.Clone(f.Payload)
		f.Shared = bytes.Clone(f.Shared)
		out.frames = append(out.frames, *f)
	})
	require.NoError(t, err)
	out.res = res
	return out
}

// checkScan runs the checks both fuzzers share: the scanner must not panic,
// must find the same records whatever its buffer size, and must only return
// records that re-encode to intact ones of increasing sequence numbers
// within a group, taking no more bytes than the input has.
func checkScan(t *testing.T, data []byte) {
	big := scanAll(t, data, ReadBufSize)
	small := scanAll(t, data, 7)
	if !reflect.DeepEqual(big, small) {
		t.Fatalf("the buffer size changed the result: %d frames %+v vs %d frames %+v",
			len(big.frames), big.res, len(small.frames), small.res)
	}
	var total int64
	var w GroupWriter
	var enc []byte
	for _, fr := range big.frames {
		total += fr.Size()
		if fr.Shared == nil && fr.size == 0 { // version 1
			enc := AppendFrame(nil, fr.Seq, fr.Sev, fr.Time, fr.Payload)
			got, n, res := DecodeFrame(enc)
			require.Equal(t, DecodeOK, res)
			require.Equal(t, len(enc), n)
			require.Equal(t, fr.Seq, got.Seq)
			continue
		}
		w.Reset()
		enc, _ = w.Add(enc[:0], fr.Seq, fr.Sev, fr.Time, fr.Shared, fr.Payload, nil)
		w.Close(enc)
		n, res := DecodeGroup(enc)
		require.Equal(t, DecodeOK, res)
		require.Equal(t, len(enc), n)
	}
	require.LessOrEqual(t, total, int64(len(data)))
	if big.res.TornAt >= 0 {
		require.LessOrEqual(t, big.res.TornAt, int64(len(data)))
	}
}

// FuzzDecodeFrames feeds arbitrary bytes to the segment scanner that both
// recovery and Read use, seeded with version 1 segments.
func FuzzDecodeFrames(f *testing.F) {
	f.Add(v1Header(1))
	f.Add(AppendFrame(v1Header(3), 7, 13, 42, []byte("hello")))
	f.Fuzz(checkScan)
}

// FuzzDecodeGroups is FuzzDecodeFrames seeded with version 2 segments:
// groups with shared entries, several records, damage between them.
func FuzzDecodeGroups(f *testing.F) {
	for _, seed := range groupSeeds() {
		f.Add(seed)
	}
	f.Fuzz(checkScan)
}

// v1Header is a version 1 segment header.
func v1Header(chain int) []byte {
	h := AppendHeader(nil, chain)
	h[7] = Version1
	return fixHeaderCRC(h)
}

func groupSeeds() [][]byte {
	var w GroupWriter
	seg := AppendHeader(nil, 2)
	seg, _ = w.Add(seg, 10, 9, 1000, []byte("shared-a"), []byte("p1"), []byte("tail"))
	seg, _ = w.Add(seg, 11, 17, 1000, []byte("shared-a"), []byte("p2"), nil)
	seg, _ = w.Add(seg, 14, 13, 900, []byte("shared-b"), []byte("p3"), nil)
	seg, _ = w.Add(seg, 15, 0, 2000, nil, nil, nil)
	w.Close(seg)
	one := len(seg)
	seg, _ = w.Add(seg, 20, 9, 3000, []byte("shared-a"), []byte("p4"), nil)
	w.Close(seg)
	damaged := bytes.Clone(seg)
	damaged[one-1] ^= 0xff
	return [][]byte{AppendHeader(nil, 1), seg, damaged, seg[:len(seg)-3]}
}
