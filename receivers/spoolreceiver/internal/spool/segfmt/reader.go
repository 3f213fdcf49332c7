package segfmt

import (
	"bytes"
	"io"
)

// Status is what Reader.Next found.
type Status int

// The statuses of Reader.Next.
const (
	StatusFrame Status = iota // a frame, possibly after skipped damage
	StatusEnd                 // clean end at the limit
	StatusTorn                // damage that runs to the limit, starting at tornAt
)

// Reader reads records sequentially from a segment through one reused
// buffer, verifying every CRC. Damage is skipped by resyncing on the next
// intact frame (version 1) or group (version 2). It never allocates except
// to grow its buffer for a frame larger than any seen before.
type Reader struct {
	r io.ReaderAt
	// Limit is how many bytes of the file may be read; the spool raises it
	// as data is written.
	Limit   int64
	version int
	buf     []byte
	base    int64 // file offset of buf[0]
	lo, hi  int   // unread data is buf[lo:hi]
	cur     int   // length of the frame last returned, consumed by Advance
	// In version 2, the group at buf[lo:] whose records are being read
	// (inGroup), of length grpLen.
	inGroup bool
	grpLen  int
	it      groupIter
}

// ReadBufSize is the reader's initial buffer.
const ReadBufSize = 256 << 10

// Reset makes sr read r, a segment of the given format version, from
// offset off up to limit.
func (sr *Reader) Reset(r io.ReaderAt, off, limit int64, version int) {
	if sr.buf == nil {
		sr.buf = make([]byte, ReadBufSize)
	}
	sr.r, sr.base, sr.Limit, sr.version = r, off, limit, version
	sr.lo, sr.hi, sr.cur = 0, 0, 0
	sr.inGroup = false
}

// Off is the file offset of the next unread byte: in version 2, of the
// group whose records are being read.
func (sr *Reader) Off() int64 { return sr.base + int64(sr.lo) }

// Advance consumes the record last returned by Next.
func (sr *Reader) Advance() {
	if sr.inGroup {
		sr.it.advance()
		if sr.it.done() {
			sr.lo += sr.grpLen
			sr.inGroup = false
		}
		return
	}
	sr.lo += sr.cur
	sr.cur = 0
}

// more reads further data into the buffer so that at least want bytes are
// unread if the file has them. It reports whether the unread data grew.
func (sr *Reader) more(want int) (bool, error) {
	before := sr.hi - sr.lo
	// Compact only when the free room at the end cannot take the rest of
	// want: moving data costs as much as reading it.
	if sr.lo > 0 && len(sr.buf)-sr.lo < want {
		copy(sr.buf, sr.buf[sr.lo:sr.hi])
		sr.base += int64(sr.lo)
		sr.hi -= sr.lo
		sr.lo = 0
	}
	if avail := sr.Limit - sr.base; int64(want) > avail {
		want = int(max(avail, 0))
	}
	if want > len(sr.buf) {
		grown := make([]byte, want)
		copy(grown, sr.buf[:sr.hi])
		sr.buf = grown
	}
	for sr.hi < len(sr.buf) {
		room := int64(len(sr.buf) - sr.hi)
		if left := sr.Limit - (sr.base + int64(sr.hi)); left < room {
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

// Next returns the next intact frame. skipped counts the damaged bytes
// passed over before it (a damaged region followed by an intact frame is
// corruption). StatusTorn means the damage runs to the limit: a torn tail
// starting at tornAt. The frame stays valid until Advance or the next call.
func (sr *Reader) Next() (f Frame, skipped int64, st Status, tornAt int64, err error) {
	if sr.inGroup {
		sr.it.peek(&f) // checked whole by DecodeGroup
		return f, 0, StatusFrame, 0, nil
	}
	start := sr.Off()
	for {
		if sr.hi-sr.lo < FrameHeaderSize && sr.Off()+int64(sr.hi-sr.lo) < sr.Limit {
			if _, err := sr.more(FrameHeaderSize); err != nil {
				return Frame{}, 0, 0, 0, err
			}
		}
		if sr.hi == sr.lo {
			if sr.Off() == start {
				return Frame{}, 0, StatusEnd, 0, nil
			}
			return Frame{}, 0, StatusTorn, start, nil
		}
		n, res := decodeFrameV(sr.version, sr.buf[sr.lo:sr.hi])
		switch res {
		case DecodeOK:
			if sr.version == Version1 {
				fr, _, _ := DecodeFrame(sr.buf[sr.lo:sr.hi])
				sr.cur = n
				return fr, sr.Off() - start, StatusFrame, 0, nil
			}
			skipped := sr.Off() - start
			sr.it.reset(sr.buf[sr.lo+GroupHeaderSize : sr.lo+n])
			if sr.it.done() {
				// An empty group (never written, but intact): nothing to
				// return, and no damage.
				sr.lo += n
				if skipped == 0 {
					start = sr.Off()
				}
				continue
			}
			sr.inGroup, sr.grpLen = true, n
			sr.it.peek(&f)
			return f, skipped, StatusFrame, 0, nil
		case DecodeShort:
			// A frame that cannot end within the limit is a torn tail or
			// has a damaged length: resync rather than read on.
			if sr.Off()+int64(n) <= sr.Limit {
				grew, err := sr.more(n)
				if err != nil {
					return Frame{}, 0, 0, 0, err
				}
				if grew {
					continue
				}
			}
		}
		sr.lo++
		if err := sr.seekMagic(); err != nil {
			return Frame{}, 0, 0, 0, err
		}
	}
}

// seekMagic moves to the next occurrence of the frame magic, or to the
// limit if there is none.
func (sr *Reader) seekMagic() error {
	for {
		magic := groupMagic[:]
		if sr.version == Version1 {
			magic = frameMagic[:]
		}
		if i := bytes.Index(sr.buf[sr.lo:sr.hi], magic); i >= 0 {
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
