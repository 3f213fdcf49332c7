package spool

import (
	"context"
	"encoding/binary"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fleetlog/fleetlog/receivers/spoolreceiver/internal/spool/segfmt"
)

// segFiles lists dir's segments, oldest first.
func segFiles(t *testing.T, dir string) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*"+segSuffix))
	require.NoError(t, err)
	slices.Sort(files)
	return files
}

// frameOffsets returns the offset of each frame in a segment file.
func frameOffsets(t *testing.T, path string) []int {
	t.Helper()
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	var offs []int
	for off := segfmt.HeaderSize; off < len(data); {
		_, n, res := segfmt.DecodeFrame(data[off:])
		require.Equal(t, segfmt.DecodeOK, res, "frame at %d", off)
		offs = append(offs, off)
		off += n
	}
	return offs
}

func mutateFile(t *testing.T, path string, fn func([]byte) []byte) {
	t.Helper()
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(path, fn(data), filePerm))
}

func TestRecovery(t *testing.T) {
	const total = 300
	all := seq(0, total)
	without := func(drop ...int) []int {
		return slices.DeleteFunc(slices.Clone(all), func(n int) bool { return slices.Contains(drop, n) })
	}
	type want struct {
		records                   []int // delivered after Open, in order
		corrupt, tornTail         int64
		cursorResets, cursorAhead int64
		corruptCopies             int
	}
	tests := []struct {
		name   string
		acked  int // records acknowledged before the damage
		damage func(t *testing.T, dir string)
		want   want
	}{
		{
			name:   "clean",
			damage: func(*testing.T, string) {},
			want:   want{records: all},
		},
		{
			name: "torn tail: half a frame appended",
			damage: func(t *testing.T, dir string) {
				files := segFiles(t, dir)
				mutateFile(t, files[len(files)-1], func(b []byte) []byte {
					magic := segfmt.AppendFrame(nil, 1, 0, 0, nil)[:2] // a frame starts with its magic
					return append(b, magic[0], magic[1], 9, 0, 100, 0, 0, 0, 1, 2)
				})
			},
			want: want{records: all, tornTail: 10},
		},
		{
			name: "torn tail: last frame cut short",
			damage: func(t *testing.T, dir string) {
				files := segFiles(t, dir)
				mutateFile(t, files[len(files)-1], func(b []byte) []byte { return b[:len(b)-5] })
			},
			want: want{records: without(total - 1), tornTail: int64(segfmt.FrameHeaderSize + len(rec(0, 299).Payload) - 5)},
		},
		{
			name: "bad CRC in the middle",
			damage: func(t *testing.T, dir string) {
				first := segFiles(t, dir)[0]
				offs := frameOffsets(t, first)
				mutateFile(t, first, func(b []byte) []byte { b[offs[10]+segfmt.FrameHeaderSize]++; return b })
			},
			want: want{records: without(10), corrupt: 1, corruptCopies: 1},
		},
		{
			name: "damaged length in the middle",
			damage: func(t *testing.T, dir string) {
				first := segFiles(t, dir)[0]
				offs := frameOffsets(t, first)
				mutateFile(t, first, func(b []byte) []byte {
					binary.LittleEndian.PutUint32(b[offs[20]+4:], 1<<20)
					return b
				})
			},
			want: want{records: without(20), corrupt: 1, corruptCopies: 1},
		},
		{
			name: "damaged segment header",
			damage: func(t *testing.T, dir string) {
				mutateFile(t, segFiles(t, dir)[0], func(b []byte) []byte { b[3] = 'X'; return b })
			},
			want: want{records: all, corrupt: 1, corruptCopies: 1},
		},
		{
			name: "truncated header",
			damage: func(t *testing.T, dir string) {
				require.NoError(t, os.WriteFile(filepath.Join(dir, segName(chainWarn, 5000)), segfmt.AppendHeader(nil, chainWarn)[:7], filePerm))
			},
			want: want{records: all, tornTail: 7},
		},
		{
			name: "zero-length segment",
			damage: func(t *testing.T, dir string) {
				require.NoError(t, os.WriteFile(filepath.Join(dir, segName(chainError, 5000)), nil, filePerm))
			},
			want: want{records: all},
		},
		{
			name: "garbage segment and unknown files",
			damage: func(t *testing.T, dir string) {
				garbage := make([]byte, 3000)
				for i := range garbage {
					garbage[i] = byte(i*7 + i/13)
				}
				require.NoError(t, os.WriteFile(filepath.Join(dir, segName(chainDebug, 7000)), garbage, filePerm))
				require.NoError(t, os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("keep me"), filePerm))
			},
			want: want{records: all, corrupt: 1, corruptCopies: 1},
		},
		{
			name:  "missing cursor",
			acked: 100,
			damage: func(t *testing.T, dir string) {
				require.NoError(t, os.Remove(filepath.Join(dir, cursorName)))
			},
			want: want{records: all, cursorResets: 1},
		},
		{
			name:  "unreadable cursor",
			acked: 100,
			damage: func(t *testing.T, dir string) {
				require.NoError(t, os.WriteFile(filepath.Join(dir, cursorName), []byte("garbage"), filePerm))
			},
			want: want{records: all, cursorResets: 1},
		},
		{
			name:   "acknowledged half",
			acked:  150,
			damage: func(*testing.T, string) {},
			want:   want{records: seq(150, total)},
		},
		{
			name:  "cursor ahead of data",
			acked: 100,
			damage: func(t *testing.T, dir string) {
				c, _, _, err := openCursor(dir)
				require.NoError(t, err)
				require.NoError(t, c.write(1_000_000))
				require.NoError(t, c.close())
			},
			want: want{records: nil, cursorAhead: 1},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := filepath.Join(t.TempDir(), "spool")
			opts := Options{Dir: dir, MaxSize: 1 << 20, SegmentSize: 4 << 10, Fsync: FsyncNever}
			s, err := Open(opts)
			require.NoError(t, err)
			require.NoError(t, s.Append(context.Background(), recs(sevInfo, 0, total)))
			if tt.acked > 0 {
				readN(t, s, tt.acked, true)
			}
			require.NoError(t, s.Close())
			require.GreaterOrEqual(t, len(segFiles(t, dir)), 2)

			tt.damage(t, dir)

			s, err = Open(opts)
			require.NoError(t, err)
			defer s.Close()
			st := s.Stats()
			assert.Equal(t, tt.want.corrupt, st.Corrupt, "corrupt")
			assert.Equal(t, tt.want.tornTail, st.TornTailBytes, "torn tail bytes")
			assert.Equal(t, tt.want.cursorResets, st.CursorResets, "cursor resets")
			assert.Equal(t, tt.want.cursorAhead, st.CursorAhead, "cursor ahead")
			assert.EqualValues(t, len(tt.want.records), st.Records, "records")
			assert.Equal(t, tt.want.records, readN(t, s, len(tt.want.records), true))
			assertEmpty(t, s)

			// New records follow, numbered after whatever the cursor said.
			require.NoError(t, s.Append(context.Background(), recs(sevError, total, total+5)))
			assert.Equal(t, seq(total, total+5), readN(t, s, 5, true))

			copies, _ := filepath.Glob(filepath.Join(dir, corruptDir, "*"))
			assert.Len(t, copies, tt.want.corruptCopies)
			require.NoError(t, s.Close())

			// A second Open finds the repaired spool clean.
			s, err = Open(opts)
			require.NoError(t, err)
			st = s.Stats()
			assert.Zero(t, st.Corrupt+st.TornTailBytes+st.CursorResets+st.CursorAhead+st.Records, "%+v", st)
			require.NoError(t, s.Close())
			if _, err := os.Stat(filepath.Join(dir, "notes.txt")); err == nil {
				data, _ := os.ReadFile(filepath.Join(dir, "notes.txt"))
				assert.Equal(t, "keep me", string(data))
			}
		})
	}
}
