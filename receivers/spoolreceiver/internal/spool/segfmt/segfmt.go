// Package segfmt is the spool's on-disk segment format: the segment header,
// the framing of records with their length and CRC32C, and the reader that
// finds every intact frame of a segment and tells torn tails from
// corruption. It knows nothing of the spool's policies (severity bands,
// eviction, fsync); the spool's recovery and reads both go through it, and
// its fuzzers pin it.
package segfmt // import "github.com/fleetlog/fleetlog/receivers/spoolreceiver/internal/spool/segfmt"

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
)

// A segment file starts with a 16-byte header:
//
//	offset size
//	0      7    magic "FLSPOOL"
//	7      1    format version (1)
//	8      1    chain (the spool's severity band)
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
	// HeaderSize is the length of a segment header.
	HeaderSize = 16
	// FrameHeaderSize is the length of a frame without its payload.
	FrameHeaderSize = 28
	// Version is the format version written and accepted.
	Version = 1

	// MaxPayload is the largest payload a reader accepts, whatever the
	// segment size the spool was written with; a longer length is damage.
	MaxPayload = 64 << 20
)

var (
	segMagic   = [7]byte{'F', 'L', 'S', 'P', 'O', 'O', 'L'}
	frameMagic = [2]byte{0xF5, 0x1E}
	castagnoli = crc32.MakeTable(crc32.Castagnoli)
)

// AppendHeader appends the header of a segment of the given chain.
func AppendHeader(dst []byte, chain int) []byte {
	var h [HeaderSize]byte
	copy(h[:], segMagic[:])
	h[7] = Version
	h[8] = byte(chain)
	binary.LittleEndian.PutUint32(h[12:], crc32.Checksum(h[:12], castagnoli))
	return append(dst, h[:]...)
}

// ValidHeader reports whether h starts with an intact segment header.
func ValidHeader(h []byte) bool {
	return len(h) >= HeaderSize &&
		bytes.Equal(h[:7], segMagic[:]) &&
		h[7] == Version &&
		binary.LittleEndian.Uint32(h[12:]) == crc32.Checksum(h[:12], castagnoli)
}

// AppendFrame appends the frame of one record (sequence number seq, severity
// sev, observed time t in Unix nanoseconds) to dst. It allocates only when
// dst must grow.
func AppendFrame(dst []byte, seq uint64, sev uint8, t int64, payload []byte) []byte {
	n := len(dst)
	need := FrameHeaderSize + len(payload)
	if cap(dst)-n < need {
		grown := make([]byte, n, 2*cap(dst)+need)
		copy(grown, dst)
		dst = grown
	}
	dst = dst[:n+FrameHeaderSize]
	h := dst[n:]
	h[0], h[1] = frameMagic[0], frameMagic[1]
	h[2] = sev
	h[3] = 0
	binary.LittleEndian.PutUint32(h[4:], uint32(len(payload)))
	binary.LittleEndian.PutUint64(h[8:], seq)
	binary.LittleEndian.PutUint64(h[16:], uint64(t))
	crc := crc32.Update(crc32.Checksum(h[2:24], castagnoli), castagnoli, payload)
	binary.LittleEndian.PutUint32(h[24:], crc)
	return append(dst, payload...)
}

// Frame is a decoded frame; Payload aliases the reader's buffer.
type Frame struct {
	Seq     uint64
	Time    int64
	Sev     uint8
	Payload []byte
}

// Size is the frame's length on disk.
func (f *Frame) Size() int64 { return int64(FrameHeaderSize + len(f.Payload)) }

// DecodeResult is what DecodeFrame found.
type DecodeResult int

// The results of DecodeFrame.
const (
	DecodeOK    DecodeResult = iota // an intact frame
	DecodeShort                     // b holds only the start of a frame of the returned length
	DecodeBad                       // b does not start with an intact frame
)

// DecodeFrame decodes the frame at the start of b. On DecodeShort the
// returned int is the total length the frame claims (or the header size when
// even the header is incomplete).
func DecodeFrame(b []byte) (Frame, int, DecodeResult) {
	if len(b) >= 2 && (b[0] != frameMagic[0] || b[1] != frameMagic[1]) {
		return Frame{}, 0, DecodeBad
	}
	if len(b) < FrameHeaderSize {
		return Frame{}, FrameHeaderSize, DecodeShort
	}
	n := binary.LittleEndian.Uint32(b[4:])
	if n > MaxPayload || b[3] != 0 {
		return Frame{}, 0, DecodeBad
	}
	total := FrameHeaderSize + int(n)
	if len(b) < total {
		return Frame{}, total, DecodeShort
	}
	payload := b[FrameHeaderSize:total:total]
	crc := crc32.Update(crc32.Checksum(b[2:24], castagnoli), castagnoli, payload)
	if crc != binary.LittleEndian.Uint32(b[24:]) {
		return Frame{}, 0, DecodeBad
	}
	return Frame{
		Seq:     binary.LittleEndian.Uint64(b[8:]),
		Time:    int64(binary.LittleEndian.Uint64(b[16:])),
		Sev:     b[2],
		Payload: payload,
	}, total, DecodeOK
}
