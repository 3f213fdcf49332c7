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
//	7      1    format version (2; 1 in spools of earlier versions)
//	8      1    chain (the spool's severity band)
//	9      3    reserved, zero
//	12     4    CRC32C of bytes 0..11
//
// In version 2 it is followed by frame groups: the records one append
// gave one chain, up to a size, under one CRC, with the data the records
// share stored once (the group's dictionary) and varint framing:
//
//	offset size
//	0      2    group magic 0xF5 0x2F
//	2      4    body length n, little-endian
//	6      4    CRC32C (Castagnoli) of bytes 2..5 and the body
//	10     n    body:
//	              first sequence number (uvarint), first time (uvarint, Unix ns)
//	              records, each:
//	                severity (1 byte, plog.SeverityNumber)
//	                sequence number minus the previous record's (uvarint; 0 for the first)
//	                time minus the previous record's (zigzag varint)
//	                shared reference (uvarint): 0 none, i+1 the group's i-th
//	                  shared entry, or the number of entries plus one: a new
//	                  entry follows (uvarint length, bytes)
//	                payload length (uvarint), payload
//
// A group decodes on its own: damage costs the records of the groups it
// touches, never more, and the reader finds the next intact group after
// damage (resync) by trying every magic occurrence and accepting the first
// whose CRC holds and whose records parse. The length is covered by the CRC.
//
// Version 1 frames hold one record each, all integers little-endian:
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
// Readers take both versions; writers write version 2.
const (
	// HeaderSize is the length of a segment header.
	HeaderSize = 16
	// FrameHeaderSize is the length of a version 1 frame without its
	// payload.
	FrameHeaderSize = 28
	// GroupHeaderSize is the fixed part of a version 2 group.
	GroupHeaderSize = 10
	// Version is the format version written; Version1 is still read.
	Version  = 2
	Version1 = 1

	// MaxPayload is the largest payload a reader accepts, whatever the
	// segment size the spool was written with; a longer length is damage.
	MaxPayload = 64 << 20
)

var (
	segMagic   = [7]byte{'F', 'L', 'S', 'P', 'O', 'O', 'L'}
	frameMagic = [2]byte{0xF5, 0x1E}
	groupMagic = [2]byte{0xF5, 0x2F}
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

// ValidHeader reports whether h starts with an intact segment header of a
// version it reads.
func ValidHeader(h []byte) bool {
	return HeaderVersion(h) != 0
}

// HeaderVersion returns the format version of the intact segment header h
// starts with, or 0 when it does not start with one of a version it reads.
func HeaderVersion(h []byte) int {
	if len(h) < HeaderSize || !bytes.Equal(h[:7], segMagic[:]) ||
		binary.LittleEndian.Uint32(h[12:]) != crc32.Checksum(h[:12], castagnoli) {
		return 0
	}
	switch v := int(h[7]); v {
	case Version, Version1:
		return v
	}
	return 0
}

// AppendFrame appends the version 1 frame of one record (sequence number seq, severity
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

// Frame is one decoded record; Shared and Payload alias the reader's
// buffer. Shared is nil in version 1.
type Frame struct {
	Seq     uint64
	Time    int64
	Sev     uint8
	Shared  []byte
	Payload []byte
	// size is what the record takes on disk: in version 2 its entry,
	// and for the first of a group the group's header, and for the first
	// that refers to a shared entry that entry.
	size int64
}

// Size is the frame's length on disk.
func (f *Frame) Size() int64 {
	if f.size == 0 {
		return int64(FrameHeaderSize + len(f.Payload))
	}
	return f.size
}

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

// decodeFrameV returns DecodeFrame for version 1 and DecodeGroup for
// version 2.
func decodeFrameV(version int, b []byte) (int, DecodeResult) {
	if version == Version1 {
		_, n, res := DecodeFrame(b)
		return n, res
	}
	return DecodeGroup(b)
}
