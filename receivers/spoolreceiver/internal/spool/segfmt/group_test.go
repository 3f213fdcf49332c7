package segfmt

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func fixHeaderCRC(h []byte) []byte {
	binary.LittleEndian.PutUint32(h[12:], crc32.Checksum(h[:12], castagnoli))
	return h
}

// TestGroupRoundTrip: records come back with their sequence numbers,
// times, severities, shared entries and payloads (payload and tail joined),
// and their sizes add up to the bytes Add reported and the segment holds.
func TestGroupRoundTrip(t *testing.T) {
	var w GroupWriter
	seg := AppendHeader(nil, 1)
	type rec struct {
		seq           uint64
		sev           uint8
		t             int64
		shared, p, tl string
	}
	recs := []rec{
		{5, 9, 100, "file=a", "x", "line one"},
		{6, 17, 100, "file=a", "y", "line two"},
		{9, 13, 50, "file=b", "", "back in time"},
		{10, 0, 200, "", "bare", ""},
		{11, 9, 200, "file=a", "z", "again"},
	}
	added := 0
	for i, r := range recs {
		cost := w.Cost(seg, false, r.seq, r.t, []byte(r.shared), len(r.p)+len(r.tl))
		var n int
		seg, n = w.Add(seg, r.seq, r.sev, r.t, []byte(r.shared), []byte(r.p), []byte(r.tl))
		assert.Equal(t, cost, n, "record %d", i)
		added += n
		if i == 2 {
			w.Close(seg) // a second group from here on
		}
	}
	w.Close(seg)
	assert.Equal(t, len(seg)-HeaderSize, added)

	var got []Frame
	var total int64
	res, err := Scan(bytes.NewReader(seg), int64(len(seg)), Version, func(f *Frame) {
		c := *f
		c.Shared, c.Payload = bytes.Clone(f.Shared), bytes.Clone(f.Payload)
		got = append(got, c)
		total += f.Size()
	})
	require.NoError(t, err)
	assert.Equal(t, ScanResult{TornAt: -1}, res)
	require.Len(t, got, len(recs))
	for i, r := range recs {
		assert.Equal(t, r.seq, got[i].Seq)
		assert.Equal(t, r.sev, got[i].Sev)
		assert.Equal(t, r.t, got[i].Time)
		assert.Equal(t, r.shared, string(got[i].Shared))
		assert.Equal(t, r.p+r.tl, string(got[i].Payload))
	}
	assert.Equal(t, int64(added), total)
}

// TestGroupDamage: a damaged group costs its own records; the next group
// is found, and damage at the end is a torn tail.
func TestGroupDamage(t *testing.T) {
	var w GroupWriter
	seg := AppendHeader(nil, 1)
	var ends []int
	for i := range 3 {
		seg, _ = w.Add(seg, uint64(1+2*i), 9, 1, []byte("s"), []byte("a"), nil)
		seg, _ = w.Add(seg, uint64(2+2*i), 9, 1, []byte("s"), []byte("b"), nil)
		w.Close(seg)
		ends = append(ends, len(seg))
	}
	seqs := func(data []byte) ([]uint64, ScanResult) {
		var out []uint64
		res, err := Scan(bytes.NewReader(data), int64(len(data)), Version, func(f *Frame) { out = append(out, f.Seq) })
		require.NoError(t, err)
		return out, res
	}
	mid := bytes.Clone(seg)
	mid[ends[0]+GroupHeaderSize+2] ^= 0x40
	got, res := seqs(mid)
	assert.Equal(t, []uint64{1, 2, 5, 6}, got)
	assert.Equal(t, int64(1), res.Regions)

	got, res = seqs(seg[:len(seg)-1])
	assert.Equal(t, []uint64{1, 2, 3, 4}, got)
	assert.Equal(t, int64(ends[1]), res.TornAt)
}

// TestVersion1StillRead: a version 1 segment reads as before.
func TestVersion1StillRead(t *testing.T) {
	seg := AppendFrame(AppendFrame(v1Header(2), 3, 9, 7, []byte("one")), 4, 17, 8, []byte("two"))
	require.Equal(t, Version1, HeaderVersion(seg))
	var got []string
	_, err := Scan(bytes.NewReader(seg), int64(len(seg)), Version1, func(f *Frame) {
		assert.Nil(t, f.Shared)
		got = append(got, string(f.Payload))
	})
	require.NoError(t, err)
	assert.Equal(t, []string{"one", "two"}, got)
	assert.Equal(t, Version1, SalvageVersion(bytes.NewReader(seg[HeaderSize:]), int64(len(seg)-HeaderSize)))
}
