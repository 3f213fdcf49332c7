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
	hdrOK := ValidHeader(data)
	res, err := scanWith(&sr, bytes.NewReader(data), int64(len(data)), hdrOK, func(f *Frame) {
		f.Payload = bytes.Clone(f.Payload)
		out.frames = append(out.frames, *f)
	})
	require.NoError(t, err)
	out.res = res
	return out
}

// FuzzDecodeFrames feeds arbitrary bytes to the segment scanner that both
// recovery and Read use: it must not panic, must only return frames that
// re-encode to intact frames, and must find the same frames whatever its
// buffer size.
func FuzzDecodeFrames(f *testing.F) {
	f.Add(AppendHeader(nil, 1))
	f.Add(AppendFrame(AppendHeader(nil, 3), 7, 13, 42, []byte("hello")))
	f.Fuzz(func(t *testing.T, data []byte) {
		big := scanAll(t, data, ReadBufSize)
		small := scanAll(t, data, 7)
		if !reflect.DeepEqual(big, small) {
			t.Fatalf("the buffer size changed the result: %d frames %+v vs %d frames %+v",
				len(big.frames), big.res, len(small.frames), small.res)
		}
		var total int
		for _, fr := range big.frames {
			enc := AppendFrame(nil, fr.Seq, fr.Sev, fr.Time, fr.Payload)
			got, n, res := DecodeFrame(enc)
			require.Equal(t, DecodeOK, res)
			require.Equal(t, len(enc), n)
			require.Equal(t, fr.Seq, got.Seq)
			total += n
		}
		require.LessOrEqual(t, total, len(data))
		if big.res.TornAt >= 0 {
			require.LessOrEqual(t, big.res.TornAt, int64(len(data)))
		}
	})
}
