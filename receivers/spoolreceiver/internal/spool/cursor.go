package spool

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
)

// The cursor file holds the sequence number up to which every record was
// acknowledged. It has two 32-byte slots, 512 bytes apart so that they never
// share a disk sector, written alternately in place:
//
//	offset size
//	0      8    magic "FLCURSOR"
//	8      8    generation (increases with every write)
//	16     8    acknowledged sequence number
//	24     4    CRC32C of bytes 0..23
//	28     4    zero
//
// A write torn by a crash damages at most the slot being written; Open
// takes the intact slot with the highest generation. This costs one small
// write and, per the fsync policy, one fdatasync per acknowledgement, with
// no rename or directory sync.
const (
	cursorName     = "cursor"
	cursorSlotSize = 32
	cursorSlotGap  = 512
)

var cursorMagic = [8]byte{'F', 'L', 'C', 'U', 'R', 'S', 'O', 'R'}

// castagnoli is the CRC32C table of the cursor slots.
var castagnoli = crc32.MakeTable(crc32.Castagnoli)

type cursorFile struct {
	f   *os.File
	gen uint64
	buf [cursorSlotSize]byte
}

// openCursor opens (creating if missing) the cursor in dir. found is false
// when there was no intact slot.
func openCursor(dir string) (c *cursorFile, ackSeq uint64, found bool, err error) {
	f, err := os.OpenFile(filepath.Join(dir, cursorName), os.O_RDWR|os.O_CREATE, filePerm)
	if err != nil {
		return nil, 0, false, fmt.Errorf("open cursor: %w", err)
	}
	c = &cursorFile{f: f}
	var slot [cursorSlotSize]byte
	for i := int64(0); i < 2; i++ {
		if _, err := f.ReadAt(slot[:], i*cursorSlotGap); err != nil && !errors.Is(err, io.EOF) {
			_ = f.Close()
			return nil, 0, false, fmt.Errorf("read cursor: %w", err)
		}
		gen, seq, ok := decodeCursorSlot(slot[:])
		if ok && (!found || gen > c.gen) {
			c.gen, ackSeq, found = gen, seq, true
		}
	}
	return c, ackSeq, found, nil
}

func decodeCursorSlot(b []byte) (gen, seq uint64, ok bool) {
	if !bytes.Equal(b[:8], cursorMagic[:]) ||
		binary.LittleEndian.Uint32(b[24:]) != crc32.Checksum(b[:24], castagnoli) {
		return 0, 0, false
	}
	return binary.LittleEndian.Uint64(b[8:]), binary.LittleEndian.Uint64(b[16:]), true
}

// write stores ackSeq in the next slot; sync makes it durable.
func (c *cursorFile) write(ackSeq uint64) error {
	c.gen++
	b := c.buf[:]
	copy(b, cursorMagic[:])
	binary.LittleEndian.PutUint64(b[8:], c.gen)
	binary.LittleEndian.PutUint64(b[16:], ackSeq)
	binary.LittleEndian.PutUint32(b[24:], crc32.Checksum(b[:24], castagnoli))
	if _, err := c.f.WriteAt(b, int64(c.gen%2)*cursorSlotGap); err != nil {
		return fmt.Errorf("write cursor: %w", err)
	}
	return nil
}

func (c *cursorFile) sync() error {
	if err := c.f.Sync(); err != nil {
		return fmt.Errorf("sync cursor: %w", err)
	}
	return nil
}

func (c *cursorFile) close() error { return c.f.Close() }
