package archive

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"

	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/rfc6962"
)

// TreeHead is what a manifest commits to of the Merkle tree over the archive's
// records (leaf.go): its size and root after the segment's last record, and
// the compact range of the tree (the roots of the perfect subtrees covering
// leaves 0 to size-1, left to right), from which a writer continues the tree
// and a verifier checks it without the records before it. Hashes are hex.
type TreeHead struct {
	Size  uint64   `json:"size"`
	Root  string   `json:"root"`
	Range []string `json:"range"`
}

// EpochCommitment is what a manifest says of the key that signed it: the
// signing key's epoch and the next epoch's public key (base64), to which this
// epoch's key hands over (epoch.go).
type EpochCommitment struct {
	Epoch   uint64 `json:"key_epoch"`
	NextKey string `json:"next_key"`
}

var (
	hasher       = rfc6962.DefaultHasher
	rangeFactory = &compact.RangeFactory{Hash: hashChildren}
)

// hashChildren is RFC 6962's SHA-256(0x01 || left || right), as
// hasher.HashChildren, without its per-call hash allocation: the writer
// computes one per record under its lock.
func hashChildren(left, right []byte) []byte {
	var buf [1 + 2*HashSize]byte
	buf[0] = 1
	copy(buf[1:], left)
	copy(buf[1+HashSize:], right)
	sum := sha256.Sum256(buf[:])
	return sum[:]
}

// hashChildrenInto is hashChildren written to dst (HashSize bytes), which
// may overlap left or right.
func hashChildrenInto(dst, left, right []byte) {
	var buf [1 + 2*HashSize]byte
	buf[0] = 1
	copy(buf[1:], left)
	copy(buf[1+HashSize:], right)
	sum := sha256.Sum256(buf[:])
	copy(dst, sum[:])
}

// subtreeFolder adds leaf hashes to a compact range a batch at a time. The
// range keeps every node hash its hash function returns that it does not
// merge at once, so each must be a slice of its own: one allocation per
// record, a tenth of a small append's. The folder hashes the perfect
// subtrees the new leaves make in a reused buffer and has the range merge
// only their roots (compact.Range.AppendRange), the same tree with one
// allocation per fold and a few for the merges.
type subtreeFolder struct {
	ids []compact.NodeID
	buf []byte
}

// maxFolderBuffer bounds the buffer a folder keeps.
const maxFolderBuffer = 1 << 20

// appendLeaves adds consecutive 32-byte leaf hashes to r, which keeps no
// reference to leaves.
func (f *subtreeFolder) appendLeaves(r *compact.Range, leaves []byte) error {
	n := uint64(len(leaves) / HashSize)
	if n == 0 {
		return nil
	}
	begin := r.End()
	f.ids = compact.RangeNodes(begin, begin+n, f.ids[:0])
	roots := make([]byte, len(f.ids)*HashSize)
	hashes := make([][]byte, len(f.ids))
	for i, id := range f.ids {
		size := 1 << id.Level
		sub := leaves[:size*HashSize]
		leaves = leaves[size*HashSize:]
		f.buf = append(f.buf[:0], sub...)
		// Level by level, in place: node j of a level is made of nodes 2j
		// and 2j+1 of the level below, which no node before j overwrote.
		for m := size; m > 1; m /= 2 {
			for j := range m / 2 {
				hashChildrenInto(f.buf[j*HashSize:], f.buf[2*j*HashSize:(2*j+1)*HashSize], f.buf[(2*j+1)*HashSize:(2*j+2)*HashSize])
			}
		}
		hashes[i] = roots[i*HashSize : (i+1)*HashSize : (i+1)*HashSize]
		copy(hashes[i], f.buf[:HashSize])
	}
	if cap(f.buf) > maxFolderBuffer {
		f.buf = nil
	}
	other, err := rangeFactory.NewRange(begin, begin+n, hashes)
	if err != nil {
		return fmt.Errorf("tree range: %w", err)
	}
	return r.AppendRange(other, nil)
}

// emptyTree is a tree of no leaves.
func emptyTree() *compact.Range { return rangeFactory.NewEmptyRange(0) }

// treeRoot is the RFC 6962 root of r, which starts at leaf 0.
func treeRoot(r *compact.Range) []byte {
	if r.End() == 0 {
		return hasher.EmptyRoot()
	}
	// GetRootHash fails only for a range that does not start at leaf 0,
	// which the archive never builds.
	root, _ := r.GetRootHash(nil)
	return root
}

// appendLeafHashes adds consecutive 32-byte leaf hashes to r, which keeps
// references into leaves: the caller must not reuse it.
func appendLeafHashes(r *compact.Range, leaves []byte, visit compact.VisitFn) {
	for i := 0; i+HashSize <= len(leaves); i += HashSize {
		// Append fails only for a wrong-size range, never here.
		_ = r.Append(leaves[i:i+HashSize:i+HashSize], visit)
	}
}

// head is r's TreeHead.
func head(r *compact.Range) *TreeHead {
	h := &TreeHead{Size: r.End(), Root: hex.EncodeToString(treeRoot(r)), Range: make([]string, 0, len(r.Hashes()))}
	for _, x := range r.Hashes() {
		h.Range = append(h.Range, hex.EncodeToString(x))
	}
	return h
}

// rangeOf rebuilds the compact range a TreeHead records and checks it
// against the head's root.
func (h *TreeHead) rangeOf() (*compact.Range, error) {
	hashes := make([][]byte, 0, len(h.Range))
	for _, s := range h.Range {
		b, err := hex.DecodeString(s)
		if err != nil || len(b) != HashSize {
			return nil, fmt.Errorf("tree range: bad hash %q", s)
		}
		hashes = append(hashes, b)
	}
	r, err := rangeFactory.NewRange(0, h.Size, hashes)
	if err != nil {
		return nil, fmt.Errorf("tree range: %w", err)
	}
	if hex.EncodeToString(treeRoot(r)) != h.Root {
		return nil, fmt.Errorf("tree range does not hash to the root %s", h.Root)
	}
	return r, nil
}

// matches reports whether r is the tree h describes.
func (h *TreeHead) matches(r *compact.Range) bool {
	if h.Size != r.End() || len(h.Range) != len(r.Hashes()) {
		return false
	}
	for i, x := range r.Hashes() {
		if b, err := hex.DecodeString(h.Range[i]); err != nil || !bytes.Equal(b, x) {
			return false
		}
	}
	return h.Root == hex.EncodeToString(treeRoot(r))
}
