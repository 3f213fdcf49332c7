package spool

import (
	"bytes"
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

// group is a frame group of a segment file: where it is, how long, and
// the numbers of its records.
type group struct {
	off, size int
	recs      []int
}

// groupsOf returns the frame groups of a segment file.
func groupsOf(t *testing.T, path string) []group {
	t.Helper()
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	var out []group
	for off := segfmt.HeaderSize; off < len(data); {
		n, res := segfmt.DecodeGroup(data[off:])
		require.Equal(t, segfmt.DecodeOK, res, "group at %d", off)
		one := append(segfmt.AppendHeader(nil, 0), data[off:off+n]...)
		g := group{off: off, size: n}
		_, err := segfmt.Scan(bytes.NewReader(one), int64(len(one)), segfmt.Version, func(f *segfmt.Frame) {
			g.recs = append(g.recs, recNum(t, Record{Payload: f.Payload}))
		})
		require.NoError(t, err)
		out = append(out, g)
		off += n
	}
	return out
}

// groupOf returns the group of the segment file holding record n.
func groupOf(t *testing.T, path string, n int) group {
	t.Helper()
	for _, g := range groupsOf(t, path) {
		if slices.Contains(g.recs, n) {
			return g
		}
	}
	t.Fatalf("no record %d in %s", n, path)
	return group{}
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
	// damage returns the records it costs (a damaged frame group loses
	// its records) and the torn tail it makes, when they are not the
	// table's.
	type lost struct {
		recs     []int
		tornTail int64
	}
	none := func(f func(t *testing.T, dir string)) func(t *testing.T, dir string) lost {
		return func(t *testing.T, dir string) lost { f(t, dir); return lost{} }
	}
	tests := []struct {
		name   string
		acked  int // records acknowledged before the damage
		damage func(t *testing.T, dir string) lost
		want   want
	}{
		{
			name:   "clean",
			damage: none(func(*testing.T, string) {}),
			want:   want{records: all},
		},
		{
			name: "torn tail: half a group appended",
			damage: none(func(t *testing.T, dir string) {
				files := segFiles(t, dir)
				mutateFile(t, files[len(files)-1], func(b []byte) []byte {
					var w segfmt.GroupWriter
					g, _ := w.Add(nil, 1, 0, 0, nil, nil, nil) // a group starts with its magic
					return append(b, g[0], g[1], 100, 0, 0, 0, 1, 2, 3, 4)
				})
			}),
			want: want{records: all, tornTail: 10},
		},
		{
			name: "torn tail: last group cut short",
			damage: func(t *testing.T, dir string) lost {
				files := segFiles(t, dir)
				last := groupOf(t, files[len(files)-1], total-1)
				mutateFile(t, files[len(files)-1], func(b []byte) []byte { return b[:len(b)-5] })
				return lost{last.recs, int64(last.size - 5)}
			},
			want: want{records: all},
		},
		{
			name: "bad CRC in the middle",
			damage: func(t *testing.T, dir string) lost {
				first := segFiles(t, dir)[0]
				g := groupOf(t, first, 10)
				mutateFile(t, first, func(b []byte) []byte { b[g.off+segfmt.GroupHeaderSize+3]++; return b })
				return lost{recs: g.recs}
			},
			want: want{records: all, corrupt: 1, corruptCopies: 1},
		},
		{
			name: "damaged length in the middle",
			damage: func(t *testing.T, dir string) lost {
				first := segFiles(t, dir)[0]
				g := groupOf(t, first, 20)
				mutateFile(t, first, func(b []byte) []byte {
					binary.LittleEndian.PutUint32(b[g.off+2:], 1<<20)
					return b
				})
				return lost{recs: g.recs}
			},
			want: want{records: all, corrupt: 1, corruptCopies: 1},
		},
		{
			name: "damaged segment header",
			damage: none(func(t *testing.T, dir string) {
				mutateFile(t, segFiles(t, dir)[0], func(b []byte) []byte { b[3] = 'X'; return b })
			}),
			want: want{records: all, corrupt: 1, corruptCopies: 1},
		},
		{
			name: "truncated header",
			damage: none(func(t *testing.T, dir string) {
				require.NoError(t, os.WriteFile(filepath.Join(dir, segName(chainWarn, 5000)), segfmt.AppendHeader(nil, chainWarn)[:7], filePerm))
			}),
			want: want{records: all, tornTail: 7},
		},
		{
			name: "zero-length segment",
			damage: none(func(t *testing.T, dir string) {
				require.NoError(t, os.WriteFile(filepath.Join(dir, segName(chainError, 5000)), nil, filePerm))
			}),
			want: want{records: all},
		},
		{
			name: "garbage segment and unknown files",
			damage: none(func(t *testing.T, dir string) {
				garbage := make([]byte, 3000)
				for i := range garbage {
					garbage[i] = byte(i*7 + i/13)
				}
				require.NoError(t, os.WriteFile(filepath.Join(dir, segName(chainDebug, 7000)), garbage, filePerm))
				require.NoError(t, os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("keep me"), filePerm))
			}),
			want: want{records: all, corrupt: 1, corruptCopies: 1},
		},
		{
			name:  "missing cursor",
			acked: 100,
			damage: none(func(t *testing.T, dir string) {
				require.NoError(t, os.Remove(filepath.Join(dir, cursorName)))
			}),
			want: want{records: all, cursorResets: 1},
		},
		{
			name:  "unreadable cursor",
			acked: 100,
			damage: none(func(t *testing.T, dir string) {
				require.NoError(t, os.WriteFile(filepath.Join(dir, cursorName), []byte("garbage"), filePerm))
			}),
			want: want{records: all, cursorResets: 1},
		},
		{
			name:   "acknowledged half",
			acked:  150,
			damage: none(func(*testing.T, string) {}),
			want:   want{records: seq(150, total)},
		},
		{
			name:  "cursor ahead of data",
			acked: 100,
			damage: none(func(t *testing.T, dir string) {
				c, _, _, err := openCursor(dir)
				require.NoError(t, err)
				require.NoError(t, c.write(1_000_000))
				require.NoError(t, c.close())
			}),
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
			// In appends of 10: frame groups of 10 records, or fewer where
			// a segment ends.
			for i := 0; i < total; i += 10 {
				require.NoError(t, s.Append(context.Background(), recs(sevInfo, i, i+10)))
			}
			if tt.acked > 0 {
				readN(t, s, tt.acked, true)
			}
			require.NoError(t, s.Close())
			require.GreaterOrEqual(t, len(segFiles(t, dir)), 2)

			if l := tt.damage(t, dir); l.recs != nil {
				tt.want.records = without(l.recs...)
				tt.want.tornTail = l.tornTail
				require.Less(t, len(l.recs), 20, "damage costs one group")
			}

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
