package ledger

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzOpen: whatever follows a valid header (a torn write, garbage, a
// half-overwritten file), Open succeeds, and the ledger then skips, records
// and is cut back without a panic.
func FuzzOpen(f *testing.F) {
	b := read(lines("app", 0, 100), 0, 0, 100)[0]
	var e [entrySize]byte
	encode(e[:], &entry{start: 0, end: b.offsets[100], recNum: 100, count: 100, hash: hashBatch(b.tokens, b.offsets[1:]), where: at(100)})
	f.Add(e[:])
	f.Add(e[:entrySize/2])
	f.Add(append(append([]byte(nil), e[:]...), 1, 2, 3))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, tail []byte) {
		path := filepath.Join(t.TempDir(), "in.ledger")
		if err := os.WriteFile(path, append(header(spoolID), tail...), 0o600); err != nil {
			t.Fatal(err)
		}
		l, err := Open(Options{Path: path, SpoolID: spoolID, BootID: boot, Held: holdsAll})
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		_ = l.Skip(b.tokens, b.last, b.offsets)
		if err := l.Record(b.tokens, b.last, b.offsets, at(1), 0); err != nil {
			t.Fatal(err)
		}
		if _, err := l.Saved(); err != nil {
			t.Fatal(err)
		}
	})
}
