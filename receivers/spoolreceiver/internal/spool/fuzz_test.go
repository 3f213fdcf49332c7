package spool

import (
	"bytes"
	"context"
	"encoding/binary"
	"hash/crc32"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fleetlog/fleetlog/receivers/spoolreceiver/internal/spool/segfmt"
)

// intactFrames counts the intact frames the segment format finds in data.
func intactFrames(t *testing.T, data []byte) int {
	n := 0
	_, err := segfmt.Scan(bytes.NewReader(data), int64(len(data)), segfmt.HeaderVersion(data), func(*segfmt.Frame) { n++ })
	require.NoError(t, err)
	return n
}

// FuzzRecoverSegment opens a spool whose one segment holds arbitrary bytes:
// Open must succeed, every intact record must be delivered, and a second
// Open must find nothing left to repair.
func FuzzRecoverSegment(f *testing.F) {
	seg := segfmt.AppendHeader(nil, chainInfo)
	var w segfmt.GroupWriter
	for i := range 5 {
		r := rec(sevInfo, i)
		seg, _ = w.Add(seg, uint64(i+1), r.Severity, r.Time, []byte("shared"), r.Payload, nil)
		if i%2 == 1 {
			w.Close(seg)
		}
	}
	w.Close(seg)
	f.Add(seg)
	f.Add(seg[:len(seg)-3])
	f.Add(append(bytes.Clone(seg[:40]), seg[60:]...))
	v1 := segfmt.AppendHeader(nil, chainInfo)
	v1[7] = segfmt.Version1
	binary.LittleEndian.PutUint32(v1[12:], crc32.Checksum(v1[:12], crc32.MakeTable(crc32.Castagnoli)))
	for i := range 5 {
		r := rec(sevInfo, i)
		v1 = segfmt.AppendFrame(v1, uint64(i+1), r.Severity, r.Time, r.Payload)
	}
	f.Add(v1)
	f.Fuzz(func(t *testing.T, data []byte) {
		dir := filepath.Join(t.TempDir(), "spool")
		require.NoError(t, os.MkdirAll(dir, dirPerm))
		require.NoError(t, os.WriteFile(filepath.Join(dir, segName(chainInfo, 1)), data, filePerm))
		want := intactFrames(t, data)
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
