package segfmt

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
)

// MaxGroupBody is the largest group body a reader accepts; a longer length
// is damage.
const MaxGroupBody = MaxPayload + 1<<20

// MaxOverhead bounds what GroupWriter.Add adds beyond a record's shared
// entry, payload and tail: what a record costs on disk at most.
const MaxOverhead = GroupHeaderSize + 2*binary.MaxVarintLen64 + // group header
	1 + 2*binary.MaxVarintLen64 + // severity, deltas
	2*binary.MaxVarintLen64 + // shared reference and length
	binary.MaxVarintLen64 // payload length

// maxSharedSearch is how many of a group's newest shared entries Add
// compares a record's with: an input's records share one, so a longer
// search would only cost time on records that share nothing.
const maxSharedSearch = 4

// GroupWriter appends records to a buffer as version 2 frame groups. The
// open group lives at the end of the buffer, which the caller passes to
// every call (it may grow) and must not cut while a group is open except
// through Reset.
type GroupWriter struct {
	open     bool
	start    int // offset of the open group in the buffer
	prevSeq  uint64
	prevTime int64
	shared   []span // the open group's shared entries, in the buffer
}

type span struct{ off, n int }

// Open reports whether a group is open.
func (w *GroupWriter) Open() bool { return w.open }

// Len is the length of the open group in dst so far (0 if none is open).
func (w *GroupWriter) Len(dst []byte) int {
	if !w.open {
		return 0
	}
	return len(dst) - w.start
}

// Add appends the record numbered seq (above the open group's last), of
// severity sev and time t, with the shared entry shared (nil: none) and the
// payload made of payload followed by tail, opening a group when none is.
// It returns the extended buffer and how many bytes the record added.
func (w *GroupWriter) Add(dst []byte, seq uint64, sev uint8, t int64, shared, payload, tail []byte) ([]byte, int) {
	n0 := len(dst)
	if need := MaxOverhead + len(shared) + len(payload) + len(tail); cap(dst)-len(dst) < need {
		grown := make([]byte, len(dst), 2*cap(dst)+need)
		copy(grown, dst)
		dst = grown
	}
	if !w.open {
		w.open, w.start = true, len(dst)
		dst = append(dst, groupMagic[0], groupMagic[1], 0, 0, 0, 0, 0, 0, 0, 0)
		dst = binary.AppendUvarint(dst, seq)
		dst = binary.AppendUvarint(dst, uint64(t))
		w.prevSeq, w.prevTime = seq, t
		w.shared = w.shared[:0]
	}
	dst = append(dst, sev)
	dst = binary.AppendUvarint(dst, seq-w.prevSeq)
	dst = binary.AppendVarint(dst, t-w.prevTime)
	w.prevSeq, w.prevTime = seq, t
	if len(shared) == 0 {
		dst = append(dst, 0)
	} else if ref := w.find(dst, shared); ref >= 0 {
		dst = binary.AppendUvarint(dst, uint64(ref+1))
	} else {
		dst = binary.AppendUvarint(dst, uint64(len(w.shared)+1))
		dst = binary.AppendUvarint(dst, uint64(len(shared)))
		w.shared = append(w.shared, span{len(dst), len(shared)})
		dst = append(dst, shared...)
	}
	dst = binary.AppendUvarint(dst, uint64(len(payload)+len(tail)))
	dst = append(dst, payload...)
	dst = append(dst, tail...)
	return dst, len(dst) - n0
}

// find returns the index of the open group's entry equal to shared, or -1.
func (w *GroupWriter) find(dst, shared []byte) int {
	if !w.open {
		return -1
	}
	for i := len(w.shared) - 1; i >= 0 && i >= len(w.shared)-maxSharedSearch; i-- {
		if e := w.shared[i]; bytes.Equal(dst[e.off:e.off+e.n], shared) {
			return i
		}
	}
	return -1
}

// Cost is what Add would add to dst for a record numbered seq of time t
// with the shared entry shared and a payload of n bytes; with fresh, as the
// first of a new group.
func (w *GroupWriter) Cost(dst []byte, fresh bool, seq uint64, t int64, shared []byte, n int) int {
	c := 0
	prevSeq, prevTime := w.prevSeq, w.prevTime
	open := w.open && !fresh
	if !open {
		c += GroupHeaderSize + uvarintLen(seq) + uvarintLen(uint64(t))
		prevSeq, prevTime = seq, t
	}
	c += 1 + uvarintLen(seq-prevSeq) + varintLen(t-prevTime)
	switch {
	case len(shared) == 0:
		c++
	case open && w.find(dst, shared) >= 0:
		c += uvarintLen(uint64(w.find(dst, shared) + 1))
	default:
		next := 1
		if open {
			next = len(w.shared) + 1
		}
		c += uvarintLen(uint64(next)) + uvarintLen(uint64(len(shared))) + len(shared)
	}
	return c + uvarintLen(uint64(n)) + n
}

func uvarintLen(v uint64) int {
	n := 1
	for v >= 0x80 {
		v >>= 7
		n++
	}
	return n
}

func varintLen(v int64) int {
	u := uint64(v) << 1
	if v < 0 {
		u = ^u
	}
	return uvarintLen(u)
}

// Close ends the open group at the end of dst, writing its length and CRC
// in place. It does nothing when no group is open.
func (w *GroupWriter) Close(dst []byte) {
	if !w.open {
		return
	}
	h := dst[w.start:]
	body := h[GroupHeaderSize:]
	binary.LittleEndian.PutUint32(h[2:], uint32(len(body)))
	binary.LittleEndian.PutUint32(h[6:], crc32.Update(crc32.Checksum(h[2:6], castagnoli), castagnoli, body))
	w.open = false
}

// Reset forgets an open group whose bytes the caller discarded.
func (w *GroupWriter) Reset() {
	w.open = false
	w.shared = w.shared[:0]
}

// DecodeGroup checks the version 2 group at the start of b: its magic,
// length, CRC and records. On DecodeShort the returned int is the total
// length the group claims (or the header size when even the header is
// incomplete); on DecodeOK it is the group's length.
func DecodeGroup(b []byte) (int, DecodeResult) {
	if len(b) >= 2 && (b[0] != groupMagic[0] || b[1] != groupMagic[1]) {
		return 0, DecodeBad
	}
	if len(b) < GroupHeaderSize {
		return GroupHeaderSize, DecodeShort
	}
	n := binary.LittleEndian.Uint32(b[2:])
	if n > MaxGroupBody {
		return 0, DecodeBad
	}
	total := GroupHeaderSize + int(n)
	if len(b) < total {
		return total, DecodeShort
	}
	body := b[GroupHeaderSize:total]
	if crc32.Update(crc32.Checksum(b[2:6], castagnoli), castagnoli, body) != binary.LittleEndian.Uint32(b[6:]) {
		return 0, DecodeBad
	}
	var it groupIter
	if !it.reset(body) {
		return 0, DecodeBad
	}
	var f Frame
	for !it.done() {
		if !it.peek(&f) {
			return 0, DecodeBad
		}
		it.advance()
	}
	return total, DecodeOK
}

// groupIter walks the records of a group body whose CRC holds.
type groupIter struct {
	body   []byte
	pos    int // the next record
	next   int // the record after the peeked one
	hdr    int // the header's length, counted with the first record
	seq    uint64
	t      int64
	first  bool
	shared [][]byte
	// state after the peeked record, taken by advance
	nseq    uint64
	nt      int64
	nshared bool // the peeked record defines a shared entry, pend
	pend    []byte
}

func (it *groupIter) reset(body []byte) bool {
	*it = groupIter{body: body, shared: it.shared[:0], first: true}
	seq, n := binary.Uvarint(body)
	if n <= 0 {
		return false
	}
	t, m := binary.Uvarint(body[n:])
	if m <= 0 {
		return false
	}
	it.seq, it.t, it.pos = seq, int64(t), n+m
	it.hdr = GroupHeaderSize + n + m
	return true
}

func (it *groupIter) done() bool { return it.pos >= len(it.body) }

// peek decodes the record at pos into f without moving; false means the
// group is malformed.
func (it *groupIter) peek(f *Frame) bool {
	b := it.body[it.pos:]
	if len(b) < 1 {
		return false
	}
	sev := b[0]
	i := 1
	dseq, n := binary.Uvarint(b[i:])
	if n <= 0 || (dseq == 0) != it.first {
		return false
	}
	i += n
	dt, n := binary.Varint(b[i:])
	if n <= 0 {
		return false
	}
	i += n
	ref, n := binary.Uvarint(b[i:])
	if n <= 0 {
		return false
	}
	i += n
	var shared []byte
	it.nshared = false
	switch {
	case ref == 0:
	case ref <= uint64(len(it.shared)):
		shared = it.shared[ref-1]
	case ref == uint64(len(it.shared))+1:
		l, n := binary.Uvarint(b[i:])
		if n <= 0 || l == 0 || l > uint64(len(b)-i-n) {
			return false
		}
		i += n
		shared = b[i : i+int(l) : i+int(l)]
		i += int(l)
		it.nshared = true
	default:
		return false
	}
	l, n := binary.Uvarint(b[i:])
	if n <= 0 || l > uint64(len(b)-i-n) {
		return false
	}
	i += n
	payload := b[i : i+int(l) : i+int(l)]
	i += int(l)
	size := int64(i)
	if it.first {
		size += int64(it.hdr)
	}
	it.nseq, it.nt = it.seq+dseq, it.t+dt
	*f = Frame{Seq: it.nseq, Time: it.nt, Sev: sev, Shared: shared, Payload: payload, size: size}
	it.next, it.pend = it.pos+i, shared
	return true
}

// advance moves past the record peek decoded.
func (it *groupIter) advance() {
	if it.nshared {
		it.shared = append(it.shared, it.pend)
	}
	it.pos, it.seq, it.t, it.first = it.next, it.nseq, it.nt, false
}
