package spool

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type scanned struct {
	frames []frame
	res    scanResult
}

func scanAll(t *testing.T, data []byte, bufSize int) scanned {
	var out scanned
	var sr segReader
	sr.buf = make([]byte, bufSize)
	hdrOK := validSegHeader(data)
	res, err := scanSegmentWith(&sr, bytes.NewReader(data), int64(len(data)), hdrOK, func(f *frame) {
		f.payload = bytes.Clone(f.payload)
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
	f.Add(appendSegHeader(nil, chainInfo))
	f.Add(appendFrame(appendSegHeader(nil, chainWarn), 7, &Record{Severity: 13, Time: 42, Payload: []byte("hello")}))
	f.Fuzz(func(t *testing.T, data []byte) {
		big := scanAll(t, data, readBufSize)
		small := scanAll(t, data, 7)
		if !reflect.DeepEqual(big, small) {
			t.Fatalf("the buffer size changed the result: %d frames %+v vs %d frames %+v",
				len(big.frames), big.res, len(small.frames), small.res)
		}
		var total int
		for _, fr := range big.frames {
			r := Record{Severity: fr.sev, Time: fr.time, Payload: fr.payload}
			enc := appendFrame(nil, fr.seq, &r)
			got, n, res := decodeFrame(enc)
			require.Equal(t, decodeOK, res)
			require.Equal(t, len(enc), n)
			require.Equal(t, fr.seq, got.seq)
			total += n
		}
		require.LessOrEqual(t, total, len(data))
		if big.res.tornAt >= 0 {
			require.LessOrEqual(t, big.res.tornAt, int64(len(data)))
		}
	})
}

// FuzzRecoverSegment opens a spool whose one segment holds arbitrary bytes:
// Open must succeed, every intact record must be delivered, and a second
// Open must find nothing left to repair.
func FuzzRecoverSegment(f *testing.F) {
	seg := appendSegHeader(nil, chainInfo)
	for i := range 5 {
		r := rec(sevInfo, i)
		seg = appendFrame(seg, uint64(i+1), &r)
	}
	f.Add(seg)
	f.Add(seg[:len(seg)-3])
	f.Add(append(bytes.Clone(seg[:40]), seg[60:]...))
	f.Fuzz(func(t *testing.T, data []byte) {
		dir := filepath.Join(t.TempDir(), "spool")
		require.NoError(t, os.MkdirAll(dir, dirPerm))
		require.NoError(t, os.WriteFile(filepath.Join(dir, segName(chainInfo, 1)), data, filePerm))
		want := len(scanAll(t, data, readBufSize).frames)
		opts := Options{Dir: dir, MaxSize: 1 << 20, Fsync: FsyncNever}
		s, err := Open(opts)
		require.NoError(t, err)
		// Frames at or below the cursor (0 here) count as delivered, and a
		// second frame with a sequence number seen before is read once.
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		got := 0
		for {
			b, err := s.Read(ctx, 100, 1<<20)
			if err != nil {
				break
			}
			got += len(b.Records)
			require.NoError(t, s.Ack(b))
		}
		require.LessOrEqual(t, got, want)
		require.NoError(t, s.Close())
		s, err = Open(opts)
		require.NoError(t, err)
		st := s.Stats()
		assert.Zero(t, st.Corrupt+st.TornTailBytes+st.Records, "%+v", st)
		require.NoError(t, s.Close())
	})
}
