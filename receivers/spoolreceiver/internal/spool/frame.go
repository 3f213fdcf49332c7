package spool

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"io"
)

// On-disk format.
//
// A segment file starts with a 16-byte header:
//
//	offset size
//	0      7    magic "FLSPOOL"
//	7      1    format version (1)
//	8      1    chain (severity band, see chainNames)
//	9      3    reserved, zero
//	12     4    CRC32C of bytes 0..11
//
// and is followed by frames, one per record, all integers little-endian:
//
//	offset size
//	0      2    frame magic 0xF5 0x1E
//	2      1    severity (plog.SeverityNumber)
//	3      1    flags, zero
//	4      4    payload length n
//	8      8    sequence number (global, increasing across all chains)
//	16     8    observed time, Unix nanoseconds
//	24     4    CRC32C (Castagnoli) of bytes 2..23 and the payload
//	28     n    payload
//
// The length is covered by the CRC, so a damaged length cannot send a
// reader far off course unnoticed, and the per-frame magic lets a reader
// find the next intact frame after damage (resync): it tries every magic
// occurrence and accepts the first whose CRC holds.
const (
	segHeaderSize   = 16
	frameHeaderSize = 28
	formatVersion   = 1

	// maxPayload is the largest payload a reader accepts, whatever the
	// segment size the spool was written with; a longer length is damage.
	maxPayload = 64 << 20
)

var (
	segMagic   = [7]byte{'F', 'L', 'S', 'P', 'O', 'O', 'L'}
	frameMagic = [2]byte{0xF5, 0x1E}
	castagnoli = crc32.MakeTable(crc32.Castagnoli)
)

// appendSegHeader appends the header of a segment of the given chain.
func appendSegHeader(dst []byte, chain int) []byte {
	var h [segHeaderSize]byte
	copy(h[:], segMagic[:])
	h[7] = formatVersion
	h[8] = byte(chain)
	binary.LittleEndian.PutUint32(h[12:], crc32.Checksum(h[:12], castagnoli))
	return append(dst, h[:]...)
}

// validSegHeader reports whether h starts with an intact segment header.
func validSegHeader(h []byte) bool {
	return len(h) >= segHeaderSize &&
		bytes.Equal(h[:7], segMagic[:]) &&
		h[7] == formatVersion &&
		binary.LittleEndian.Uint32(h[12:]) == crc32.Checksum(h[:12], castagnoli)
}

// appendFrame appends the frame of one record to dst. It allocates only when
// dst must grow.
func appendFrame(dst []byte, seq uint64, r *Record) []byte {
	n := len(dst)
	need := frameHeaderSize + len(r.Payload)
	if cap(dst)-n < need {
		grown := make([]byte, n, 2*cap(dst)+need)
		copy(grown, dst)
		dst = grown
	}
	dst = dst[:n+frameHeaderSize]
	h := dst[n:]
	h[0], h[1] = frameMagic[0], frameMagic[1]
	h[2] = r.Severity
	h[3] = 0
	binary.LittleEndian.PutUint32(h[4:], uint32(len(r.Payload)))
	binary.LittleEndian.PutUint64(h[8:], seq)
	binary.LittleEndian.PutUint64(h[16:], uint64(r.Time))
	crc := crc32.Update(crc32.Checksum(h[2:24], castagnoli), castagnoli, r.Payload)
	binary.LittleEndian.PutUint32(h[24:], crc)
	return append(dst, r.Payload...)
}

// frame is a decoded frame; payload aliases the reader's buffer.
type frame struct {
	seq     uint64
	time    int64
	sev     uint8
	payload []byte
}

// size is the frame's length on disk.
func (f *frame) size() int64 { return int64(frameHeaderSize + len(f.payload)) }

type decodeResult int

const (
	decodeOK    decodeResult = iota
	decodeShort              // b holds only the start of a frame of the returned length
	decodeBad                // b does not start with an intact frame
)

// decodeFrame decodes the frame at the start of b. On decodeShort the
// returned int is the total length the frame claims (or the header size when
// even the header is incomplete).
func decodeFrame(b []byte) (frame, int, decodeResult) {
	if len(b) >= 2 && (b[0] != frameMagic[0] || b[1] != frameMagic[1]) {
		return frame{}, 0, decodeBad
	}
	if len(b) < frameHeaderSize {
		return frame{}, frameHeaderSize, decodeShort
	}
	n := binary.LittleEndian.Uint32(b[4:])
	if n > maxPayload || b[3] != 0 {
		return frame{}, 0, decodeBad
	}
	total := frameHeaderSize + int(n)
	if len(b) < total {
		return frame{}, total, decodeShort
	}
	payload := b[frameHeaderSize:total:total]
	crc := crc32.Update(crc32.Checksum(b[2:24], castagnoli), castagnoli, payload)
	if crc != binary.LittleEndian.Uint32(b[24:]) {
		return frame{}, 0, decodeBad
	}
	return frame{
		seq:     binary.LittleEndian.Uint64(b[8:]),
		time:    int64(binary.LittleEndian.Uint64(b[16:])),
		sev:     b[2],
		payload: payload,
	}, total, decodeOK
}

// scanStatus is what segReader.next found.
type scanStatus int

const (
	scanFrame scanStatus = iota // a frame, possibly after skipped damage
	scanEnd                     // clean end at the limit
	scanTorn                    // damage that runs to the limit, starting at tornAt
)

// segReader reads frames sequentially from a segment through one reused
// buffer, verifying every CRC. Damage is skipped by resyncing on the next
// intact frame. It never allocates except to grow its buffer for a frame
// larger than any seen before.
type segReader struct {
	r      io.ReaderAt
	limit  int64 // bytes of the file that may be read
	buf    []byte
	base   int64 // file offset of buf[0]
	lo, hi int   // unread data is buf[lo:hi]
	cur    int   // length of the frame last returned, consumed by advance
}

const readBufSize = 256 << 10

func (sr *segReader) reset(r io.ReaderAt, off, limit int64) {
	if sr.buf == nil {
		sr.buf = make([]byte, readBufSize)
	}
	sr.r, sr.base, sr.limit = r, off, limit
	sr.lo, sr.hi, sr.cur = 0, 0, 0
}

// off is the file offset of the next unread byte.
func (sr *segReader) off() int64 { return sr.base + int64(sr.lo) }

// advance consumes the frame last returned by next.
func (sr *segReader) advance() {
	sr.lo += sr.cur
	sr.cur = 0
}

// more reads further data into the buffer so that at least want bytes are
// unread if the file has them. It reports whether the unread data grew.
func (sr *segReader) more(want int) (bool, error) {
	before := sr.hi - sr.lo
	// Compact only when the free room at the end cannot take the rest of
	// want: moving data costs as much as reading it.
	if sr.lo > 0 && len(sr.buf)-sr.lo < want {
		copy(sr.buf, sr.buf[sr.lo:sr.hi])
		sr.base += int64(sr.lo)
		sr.hi -= sr.lo
		sr.lo = 0
	}
	if avail := sr.limit - sr.base; int64(want) > avail {
		want = int(max(avail, 0))
	}
	if want > len(sr.buf) {
		grown := make([]byte, want)
		copy(grown, sr.buf[:sr.hi])
		sr.buf = grown
	}
	for sr.hi < len(sr.buf) {
		room := int64(len(sr.buf) - sr.hi)
		if left := sr.limit - (sr.base + int64(sr.hi)); left < room {
			room = left
		}
		if room <= 0 {
			break
		}
		n, err := sr.r.ReadAt(sr.buf[sr.hi:sr.hi+int(room)], sr.base+int64(sr.hi))
		sr.hi += n
		if err == io.EOF || (err == nil && n == 0) {
			break
		}
		if err != nil {
			return sr.hi-sr.lo > before, err
		}
		if sr.hi-sr.lo >= want {
			break
		}
	}
	return sr.hi-sr.lo > before, nil
}

// next returns the next intact frame. skipped counts the damaged bytes
// passed over before it (a damaged region followed by an intact frame is
// corruption). scanTorn means the damage runs to the limit: a torn tail
// starting at tornAt. The frame stays valid until advance or the next call.
func (sr *segReader) next() (f frame, skipped int64, st scanStatus, tornAt int64, err error) {
	start := sr.off()
	for {
		if sr.hi-sr.lo < frameHeaderSize && sr.off()+int64(sr.hi-sr.lo) < sr.limit {
			if _, err := sr.more(frameHeaderSize); err != nil {
				return frame{}, 0, 0, 0, err
			}
		}
		if sr.hi == sr.lo {
			if sr.off() == start {
				return frame{}, 0, scanEnd, 0, nil
			}
			return frame{}, 0, scanTorn, start, nil
		}
		fr, n, res := decodeFrame(sr.buf[sr.lo:sr.hi])
		switch res {
		case decodeOK:
			sr.cur = n
			return fr, sr.off() - start, scanFrame, 0, nil
		case decodeShort:
			// A frame that cannot end within the limit is a torn tail or
			// has a damaged length: resync rather than read on.
			if sr.off()+int64(n) <= sr.limit {
				grew, err := sr.more(n)
				if err != nil {
					return frame{}, 0, 0, 0, err
				}
				if grew {
					continue
				}
			}
		}
		sr.lo++
		if err := sr.seekMagic(); err != nil {
			return frame{}, 0, 0, 0, err
		}
	}
}

// seekMagic moves to the next occurrence of the frame magic, or to the
// limit if there is none.
func (sr *segReader) seekMagic() error {
	for {
		if i := bytes.Index(sr.buf[sr.lo:sr.hi], frameMagic[:]); i >= 0 {
			sr.lo += i
			return nil
		}
		// Keep a trailing first magic byte: its pair may follow.
		if sr.hi-sr.lo > 1 {
			sr.lo = sr.hi - 1
		}
		grew, err := sr.more(sr.hi - sr.lo + 1)
		if err != nil {
			return err
		}
		if !grew {
			sr.lo = sr.hi
			return nil
		}
	}
}
