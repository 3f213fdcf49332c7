package archive

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"

	"github.com/klauspost/compress/zstd"
)

// Frame layout (all integers big-endian):
//
//	magic   4  "FLA1"
//	seq     8  archive-wide frame sequence number, from 1, no gaps
//	records 4  log records in the payload
//	length  4  payload length
//	payload    zstd holding an OTLP ExportLogsServiceRequest: one zstd
//	           frame, or several one after the other (RFC 8878 §3: the
//	           decompressed bytes are the frames' contents in order; a
//	           protobuf message's encodings one after the other are that
//	           message with their repeated fields joined). The writer
//	           writes one zstd frame of the appends that arrive together
//	           (commit.go); archives written before hold frames joined
//	           from each append's own zstd frame, which read the same
//	crc     4  CRC-32C of magic..payload
//	hash   32  SHA-256(previous frame's hash || magic..crc)
const (
	frameMagic      = "FLA1"
	frameHeaderSize = 4 + 8 + 4 + 4
	frameCRCSize    = 4
	// HashSize is the size of a chain hash.
	HashSize = sha256.Size
	// maxFramePayload bounds a frame so a corrupt length cannot make a
	// reader allocate without limit.
	maxFramePayload = 64 << 20
)

var (
	// ErrTruncated means data ends inside a frame.
	ErrTruncated = errors.New("data ends inside a frame")
	// ErrCorrupt means bytes that cannot be a frame header.
	ErrCorrupt = errors.New("not a frame")
	// ErrChecksum means a frame's CRC does not match its content.
	ErrChecksum = errors.New("frame checksum mismatch")
)

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// Hash is a chain hash.
type Hash [HashSize]byte

// Frame is one parsed frame. Its slices alias the data it was parsed from.
type Frame struct {
	Offset  int64
	Seq     uint64
	Records uint32
	Payload []byte
	// Body is magic..crc, the bytes the chain hash covers after the previous hash.
	Body []byte
	Hash Hash
}

// Size is the frame's length on disk.
func (f *Frame) Size() int64 { return int64(len(f.Body) + HashSize) }

// ChainHash returns SHA-256(prev || body).
func ChainHash(prev Hash, body []byte) Hash {
	h := sha256.New()
	h.Write(prev[:])
	h.Write(body)
	var out Hash
	h.Sum(out[:0])
	return out
}

// appendFrame appends an encoded frame of payload to dst and returns it with
// the frame's chain hash.
func appendFrame(dst []byte, prev Hash, seq uint64, records uint32, payload []byte) ([]byte, Hash) {
	start := len(dst)
	dst = appendFrameHeader(dst, seq, records)
	return sealFrame(append(dst, payload...), start, prev)
}

// appendFrameZstd is appendFrame of raw compressed by enc, as one zstd
// frame, written straight into dst.
func appendFrameZstd(dst []byte, prev Hash, seq uint64, records uint32, enc *zstd.Encoder, raw []byte) ([]byte, Hash) {
	start := len(dst)
	dst = appendFrameHeader(dst, seq, records)
	return sealFrame(enc.EncodeAll(raw, dst), start, prev)
}

// frameOverhead is what a frame adds to its payload.
const frameOverhead = frameHeaderSize + frameCRCSize + HashSize

// appendFrameHeader appends a frame's header, its payload length left for
// sealFrame.
func appendFrameHeader(dst []byte, seq uint64, records uint32) []byte {
	dst = append(dst, frameMagic...)
	dst = binary.BigEndian.AppendUint64(dst, seq)
	dst = binary.BigEndian.AppendUint32(dst, records)
	return binary.BigEndian.AppendUint32(dst, 0)
}

// sealFrame completes the frame at dst[start:], whose payload dst ends
// with: it sets the payload's length and appends the CRC and the chain hash.
func sealFrame(dst []byte, start int, prev Hash) ([]byte, Hash) {
	binary.BigEndian.PutUint32(dst[start+frameHeaderSize-4:], uint32(len(dst)-start-frameHeaderSize))
	dst = binary.BigEndian.AppendUint32(dst, crc32.Checksum(dst[start:], crcTable))
	h := ChainHash(prev, dst[start:])
	return append(dst, h[:]...), h
}

// ParseFrame parses the frame at the start of data. It checks the framing and
// the CRC but not the chain, which needs the previous hash.
func ParseFrame(data []byte) (Frame, error) {
	if len(data) < frameHeaderSize {
		if bytes.HasPrefix([]byte(frameMagic), data[:min(len(data), len(frameMagic))]) {
			return Frame{}, ErrTruncated
		}
		return Frame{}, ErrCorrupt
	}
	if string(data[:4]) != frameMagic {
		return Frame{}, ErrCorrupt
	}
	n := binary.BigEndian.Uint32(data[16:20])
	if n > maxFramePayload {
		return Frame{}, fmt.Errorf("%w: payload length %d exceeds %d", ErrCorrupt, n, maxFramePayload)
	}
	end := frameHeaderSize + int(n)
	if len(data) < end+frameCRCSize+HashSize {
		return Frame{}, ErrTruncated
	}
	if crc32.Checksum(data[:end], crcTable) != binary.BigEndian.Uint32(data[end:]) {
		return Frame{}, ErrChecksum
	}
	f := Frame{
		Seq:     binary.BigEndian.Uint64(data[4:12]),
		Records: binary.BigEndian.Uint32(data[12:16]),
		Payload: data[frameHeaderSize:end],
		Body:    data[:end+frameCRCSize],
	}
	copy(f.Hash[:], data[end+frameCRCSize:])
	return f, nil
}

// ParseFrames parses consecutive frames from data. It returns the frames it
// could parse and, if it stopped before the end, why (ErrTruncated,
// ErrCorrupt or ErrChecksum) at the offset of the first byte not consumed.
func ParseFrames(data []byte) ([]Frame, int64, error) {
	var frames []Frame
	off := 0
	for off < len(data) {
		f, err := ParseFrame(data[off:])
		if err != nil {
			return frames, int64(off), err
		}
		f.Offset = int64(off)
		frames = append(frames, f)
		off += int(f.Size())
	}
	return frames, int64(off), nil
}

// tornTail reports whether data from off on can be an unfinished last write:
// no frame starts after off. Bytes that fail to parse with a frame after
// them are damage, not a torn write.
func tornTail(data []byte, off int64) bool {
	return off >= int64(len(data)) || !bytes.Contains(data[off+1:], []byte(frameMagic))
}
