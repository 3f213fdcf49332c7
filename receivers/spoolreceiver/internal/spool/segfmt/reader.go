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

// Reader reads frames sequentially from a segment through one reused
// buffer, verifying every CRC. Damage is skipped by resyncing on the next
// intact frame. It never allocates except to grow its buffer for a frame
// larger than any seen before.
type Reader struct {
	r io.ReaderAt
	// Limit is how many bytes of the file may be read; the spool raises it
	// as data is written.
	Limit  int64
	buf    []byte
	base   int64 // file offset of buf[0]
	lo, hi int   // unread data is buf[lo:hi]
	cur    int   // length of the frame last returned, consumed by Advance
}

// ReadBufSize is the reader's initial buffer.
const ReadBufSize = 256 << 10

// Reset makes sr read r from offset off up to limit.
func (sr *Reader) Reset(r io.ReaderAt, off, limit int64) {
	if sr.buf == nil {
		sr.buf = make([]byte, ReadBufSize)
	}
	sr.r, sr.base, sr.Limit = r, off, limit
	sr.lo, sr.hi, sr.cur = 0, 0, 0
}

// Off is the file offset of the next unread byte.
func (sr *Reader) Off() int64 { return sr.base + int64(sr.lo) }

// Advance consumes the frame last returned by Next.
func (sr *Reader) Advance() {
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
		fr, n, res := DecodeFrame(sr.buf[sr.lo:sr.hi])
		switch res {
		case DecodeOK:
			sr.cur = n
			return fr, sr.Off() - start, StatusFrame, 0, nil
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
