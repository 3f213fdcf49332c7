package ledger

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fleetlog/fleetlog/receivers/spoolreceiver/internal/spool"
)

const (
	spoolID = "0123456789abcdef0123456789abcdef"
	boot    = "boot-a"
)

// batch is one fileconsumer emit call: as stanza calls the emit callback
// for a file read from start, at most max lines.
type batch struct {
	tokens  [][]byte
	last    int64 // record number after the batch
	offsets []int64
}

// read cuts content into stanza's batches from start (a byte offset at a
// line start; firstRecord lines precede it), max lines each.
func read(content []byte, start, firstRecord int64, max int) []batch {
	var out []batch
	pos, rec := start, firstRecord
	for pos < int64(len(content)) {
		b := batch{offsets: []int64{pos}}
		for len(b.tokens) < max && pos < int64(len(content)) {
			i := bytes.IndexByte(content[pos:], '\n')
			if i < 0 {
				break // a partial line: stanza waits for the rest
			}
			b.tokens = append(b.tokens, bytes.TrimSpace(content[pos:pos+int64(i)]))
			pos += int64(i) + 1
			rec++
			b.offsets = append(b.offsets, pos)
		}
		if len(b.tokens) == 0 {
			break
		}
		b.last = rec
		out = append(out, b)
	}
	return out
}

func lines(prefix string, from, to int) []byte {
	var b bytes.Buffer
	for i := from; i < to; i++ {
		b.WriteString(prefix)
		b.WriteString(" line ")
		b.WriteByte(byte('a' + i%26))
		b.WriteString(string(rune('0' + i%10)))
		b.WriteString(" of the test\n")
	}
	return b.Bytes()
}

// holdsAll is a spool that holds every record.
func holdsAll(_ spool.Placement, n int) int { return n }

// at places a batch's records in the info chain, up to seq.
func at(seq uint64) spool.Placement { return spool.Placement{Last: [5]uint64{1: seq}} }

func open(t *testing.T, path, bootID string) *Ledger {
	t.Helper()
	l, err := Open(Options{Path: path, SpoolID: spoolID, BootID: bootID, Held: holdsAll})
	require.NoError(t, err)
	t.Cleanup(func() { _ = l.Close() })
	return l
}

// spoolAll records every batch as taken by the spool (seq counts lines,
// synced is what the spool had fsynced).
func spoolAll(t *testing.T, l *Ledger, bs []batch, synced uint64) {
	t.Helper()
	seq := uint64(0)
	for _, b := range bs {
		seq += uint64(len(b.tokens))
		require.NoError(t, l.Record(b.tokens, b.last, b.offsets, at(seq), synced))
	}
}

// skipped is how many lines a reader going through bs is spared.
func skipped(l *Ledger, bs []batch) int {
	n := 0
	for _, b := range bs {
		n += l.Skip(b.tokens, b.last, b.offsets)
	}
	return n
}

func TestSkipAfterRestart(t *testing.T) {
	t.Parallel()
	file := lines("app", 0, 250)
	other := lines("new", 0, 250)
	tests := []struct {
		name string
		// before is what was read and spooled before the crash, after what
		// the restart reads.
		before, after []batch
		want          int
	}{
		{
			name:   "the whole read again",
			before: read(file, 0, 0, 100),
			after:  read(file, 0, 0, 100),
			want:   250,
		},
		{
			name:   "resumed at the saved checkpoint",
			before: read(file, int64(len(lines("app", 0, 40))), 40, 100),
			after:  read(file, int64(len(lines("app", 0, 40))), 40, 100),
			want:   210,
		},
		{
			// The crash came while the file had 130 lines: the last batch
			// before was short, the restart reads it in a longer one.
			name:   "the file grew since",
			before: read(file[:len(lines("app", 0, 130))], 0, 0, 100),
			after:  read(file, 0, 0, 100),
			want:   130,
		},
		{
			// stanza batches a file the same way from the same offset;
			// an entry reaching past the call's end is not skipped in part.
			name:   "batches cut otherwise: what lines up",
			before: read(file, 0, 0, 30),
			after:  read(file, 0, 0, 100),
			want:   90,
		},
		{
			// Rename rotation and copytruncate's copy: the same lines under
			// another name, which is not part of what is compared.
			name:   "rotated: same lines, other file name",
			before: read(file, 0, 0, 100),
			after:  read(append([]byte(nil), file...), 0, 0, 100),
			want:   250,
		},
		{
			// copytruncate's truncated original, or a new file at the same
			// path, rewritten with other lines.
			name:   "new file at the same path",
			before: read(file, 0, 0, 100),
			after:  read(other, 0, 0, 100),
			want:   0,
		},
		{
			name:   "truncated and written again past its first lines",
			before: read(file, 0, 0, 100),
			after:  read(append(lines("app", 0, 100), lines("new", 100, 250)...), 0, 0, 100),
			want:   100,
		},
		{
			// Same bytes, other line count before them (a reader that
			// resumed elsewhere): not the same lines.
			name:   "other record number",
			before: read(file, 0, 0, 100),
			after:  read(file, 0, 7, 100),
			want:   0,
		},
		{
			name: "same bytes cut into other lines",
			before: func() []batch {
				b := read(file, 0, 0, 100)[:1]
				// Move one line break: the same bytes, other lines.
				b[0].offsets[1]++
				return b
			}(),
			after: read(file, 0, 0, 100),
			want:  0,
		},
		{
			name:   "read from further on (offsets past the entries)",
			before: read(file, 0, 0, 100),
			after:  read(file, int64(len(lines("app", 0, 150))), 150, 100),
			want:   0,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "in.ledger")
			spoolAll(t, open(t, path, boot), tt.before, 0)
			l := open(t, path, boot)
			assert.Equal(t, tt.want, skipped(l, tt.after))
		})
	}
}

func TestTrust(t *testing.T) {
	t.Parallel()
	file := lines("app", 0, 300)
	bs := read(file, 0, 0, 100) // 3 batches, seqs 100, 200, 300
	tests := []struct {
		name       string
		bootBefore string
		bootAfter  string
		// synced per batch when recorded
		synced []uint64
		want   int
	}{
		{name: "same boot, nothing fsynced", bootBefore: boot, bootAfter: boot, synced: []uint64{0, 0, 0}, want: 300},
		{name: "other boot, nothing fsynced", bootBefore: boot, bootAfter: "boot-b", synced: []uint64{0, 0, 0}, want: 0},
		{name: "other boot, the first two fsynced by the last entry", bootBefore: boot, bootAfter: "boot-b", synced: []uint64{0, 0, 200}, want: 200},
		{name: "other boot, all fsynced", bootBefore: boot, bootAfter: "boot-b", synced: []uint64{100, 200, 300}, want: 300},
		{name: "boot unknown", bootBefore: "", bootAfter: "", synced: []uint64{0, 100, 100}, want: 100},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "in.ledger")
			l := open(t, path, tt.bootBefore)
			for i, b := range bs {
				require.NoError(t, l.Record(b.tokens, b.last, b.offsets, at(uint64(100*(i+1))), tt.synced[i]))
			}
			require.NoError(t, l.Close())
			assert.Equal(t, tt.want, skipped(open(t, path, tt.bootAfter), bs))
		})
	}
}

// A later run's fsync proves nothing about an earlier run's batches: its
// spool may not have synced their files.
func TestTrustSyncOfAnotherRun(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "in.ledger")
	file := lines("app", 0, 200)
	bs := read(file, 0, 0, 100)
	l := open(t, path, boot)
	require.NoError(t, l.Record(bs[0].tokens, bs[0].last, bs[0].offsets, at(100), 0))
	require.NoError(t, l.Close())
	l = open(t, path, boot)
	require.NoError(t, l.Record(bs[1].tokens, bs[1].last, bs[1].offsets, at(200), 200))
	require.NoError(t, l.Close())
	assert.Equal(t, 0, skipped(open(t, path, "boot-b"), bs[:1]))
}

func TestOtherSpool(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "in.ledger")
	bs := read(lines("app", 0, 100), 0, 0, 100)
	spoolAll(t, open(t, path, boot), bs, 0)
	l, err := Open(Options{Path: path, SpoolID: "another spool", BootID: boot, Held: holdsAll})
	require.NoError(t, err)
	defer l.Close()
	assert.Equal(t, 0, skipped(l, bs))
	assert.Equal(t, Stats{}, l.Stats())
}

func TestTornTail(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "in.ledger")
	bs := read(lines("app", 0, 300), 0, 0, 100)
	spoolAll(t, open(t, path, boot), bs[:2], 0)
	// A crash in the middle of the third entry's write.
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	require.NoError(t, err)
	_, err = f.Write(bytes.Repeat([]byte{0xAB}, entrySize/2))
	require.NoError(t, err)
	require.NoError(t, f.Close())

	l := open(t, path, boot)
	assert.Equal(t, 2, l.Stats().Loaded)
	// The torn part is cut, so what is recorded now is read next time.
	require.NoError(t, l.Record(bs[2].tokens, bs[2].last, bs[2].offsets, at(300), 0))
	require.NoError(t, l.Close())
	assert.Equal(t, 300, skipped(open(t, path, boot), bs))
}

func TestSavedEndsTheRereadAndCutsTheFile(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "in.ledger")
	bs := read(lines("app", 0, 200), 0, 0, 100)
	spoolAll(t, open(t, path, boot), bs, 0)

	l := open(t, path, boot)
	assert.Equal(t, 100, l.Skip(bs[0].tokens, bs[0].last, bs[0].offsets))
	n, err := l.Saved()
	require.NoError(t, err)
	assert.Equal(t, int64(100), n, "the lines the read after the start skipped")
	assert.Equal(t, 0, skipped(l, bs[1:]), "nothing is skipped after the first saved checkpoint")
	n, err = l.Saved()
	require.NoError(t, err)
	assert.Zero(t, n)
	st, err := os.Stat(path)
	require.NoError(t, err)
	assert.Equal(t, int64(len(header(spoolID))), st.Size())
	require.NoError(t, l.Close())
	assert.Equal(t, 0, skipped(open(t, path, boot), bs))
}

// Lines read twice after one restart (stanza re-reads a truncated file on
// purpose) are spooled the second time.
func TestEachEntrySkipsOnce(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "in.ledger")
	bs := read(lines("app", 0, 100), 0, 0, 100)
	spoolAll(t, open(t, path, boot), bs, 0)
	l := open(t, path, boot)
	assert.Equal(t, 100, skipped(l, bs))
	assert.Equal(t, 0, skipped(l, bs))
	assert.Equal(t, int64(100), l.Stats().Skipped)
}

// What one run records is never skipped in the same run.
func TestNoSkipWithinARun(t *testing.T) {
	t.Parallel()
	l := open(t, filepath.Join(t.TempDir(), "in.ledger"), boot)
	bs := read(lines("app", 0, 100), 0, 0, 100)
	spoolAll(t, l, bs, 0)
	assert.Equal(t, 0, skipped(l, bs))
}

func TestMaxSize(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "in.ledger")
	l, err := Open(Options{Path: path, SpoolID: spoolID, BootID: boot, Held: holdsAll, MaxSize: int64(len(header(spoolID))) + 2*entrySize})
	require.NoError(t, err)
	defer l.Close()
	bs := read(lines("app", 0, 400), 0, 0, 100)
	for i, b := range bs {
		err := l.Record(b.tokens, b.last, b.offsets, at(uint64(i)), 0)
		switch i {
		case 0, 1:
			require.NoError(t, err)
		case 2:
			require.ErrorIs(t, err, ErrTooLarge)
		default:
			require.NoError(t, err, "reported once")
		}
	}
	_, err = l.Saved()
	require.NoError(t, err)
	require.NoError(t, l.Record(bs[0].tokens, bs[0].last, bs[0].offsets, at(9), 0))
}

func TestMalformedCalls(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "in.ledger")
	bs := read(lines("app", 0, 100), 0, 0, 100)
	spoolAll(t, open(t, path, boot), bs, 0)
	l := open(t, path, boot)
	b := bs[0]
	assert.Equal(t, 0, l.Skip(b.tokens, b.last, b.offsets[:10]), "offsets shorter than the tokens")
	require.NoError(t, l.Record(b.tokens, b.last, b.offsets[:10], at(1), 0))
	assert.Equal(t, 0, l.Skip(nil, 0, nil))
	var none *Ledger
	assert.Equal(t, 0, none.Skip(b.tokens, b.last, b.offsets))
	require.NoError(t, none.Record(b.tokens, b.last, b.offsets, at(1), 0))
	_, err := none.Saved()
	require.NoError(t, err)
	require.NoError(t, none.Close())
}

// Recording and the check of an emit call after the restart's read
// allocate nothing.
func TestNoAllocations(t *testing.T) {
	l := open(t, filepath.Join(t.TempDir(), "in.ledger"), boot)
	b := read(lines("app", 0, 100), 0, 0, 100)[0]
	allocs := testing.AllocsPerRun(100, func() {
		_ = l.Skip(b.tokens, b.last, b.offsets)
		_ = l.Record(b.tokens, b.last, b.offsets, at(1), 0)
	})
	assert.Zero(t, allocs)
}

func BenchmarkRecord(b *testing.B) {
	l, err := Open(Options{Path: filepath.Join(b.TempDir(), "in.ledger"), SpoolID: spoolID, BootID: boot, Held: holdsAll, MaxSize: 1 << 40})
	require.NoError(b, err)
	defer l.Close()
	bt := read(lines("app", 0, 100), 0, 0, 100)[0]
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		_ = l.Record(bt.tokens, bt.last, bt.offsets, at(1), 0)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/100, "ns/line")
}

// A batch whose records the spool does not hold (the process died after
// the entry and before the records reached the files) is read again, and
// so is everything after it; of a batch the spool holds in part (its write
// cut short), the lines whose records it holds are skipped.
func TestNotHeld(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "in.ledger")
	bs := read(lines("app", 0, 300), 0, 0, 100)
	spoolAll(t, open(t, path, boot), bs, 0)
	tests := []struct {
		name string
		held func(spool.Placement, int) int
		want int
	}{
		{name: "all held", held: holdsAll, want: 300},
		{name: "the last batch not in the files", held: func(p spool.Placement, n int) int {
			if p.Last[1] <= 200 {
				return n
			}
			return 0
		}, want: 200},
		{name: "the last batch's first 30 lines in the files", held: func(p spool.Placement, n int) int {
			if p.Last[1] <= 200 {
				return n
			}
			return 30
		}, want: 230},
		{name: "the second batch's first 30 lines", held: func(p spool.Placement, n int) int {
			switch {
			case p.Last[1] <= 100:
				return n
			case p.Last[1] <= 200:
				return 30
			}
			return 0
		}, want: 130},
		{name: "no spool to ask", held: nil, want: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, err := Open(Options{Path: path, SpoolID: spoolID, BootID: boot, Held: tt.held})
			require.NoError(t, err)
			defer l.Close()
			assert.Equal(t, tt.want, skipped(l, bs))
		})
	}
}
