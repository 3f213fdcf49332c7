package archive

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"errors"
	"fmt"
	"os"

	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/proof"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
)

// ProofFormat names the inclusion proof format.
const ProofFormat = "fleetlog-inclusion-proof/v1"

// InclusionProof shows that one record is in the tree a checkpoint signed.
// Anyone with the archive's first public key checks it offline (CheckProof):
// the key chain takes the trust from that key to the checkpoint's epoch, the
// checkpoint gives the root, and the hashes lead from the record's leaf to it
// (RFC 6962 / RFC 9162 inclusion proof). []byte fields are base64 in JSON.
type InclusionProof struct {
	Format string `json:"format"`
	// LeafIndex is the record's position in the tree; TreeSize the
	// checkpoint's size.
	LeafIndex uint64 `json:"leaf_index"`
	TreeSize  uint64 `json:"tree_size"`
	// Record is the leaf data: an OTLP ExportLogsServiceRequest (protobuf)
	// holding the record alone with its resource and scope (leaf.go).
	Record []byte `json:"record"`
	// Segment and Frame say where the record is stored (informative).
	Segment string `json:"segment"`
	Frame   uint64 `json:"frame"`
	// Hashes is the inclusion proof, from the leaf up.
	Hashes [][]byte `json:"hashes"`
	// Checkpoint is the signed checkpoint note; KeyChain one checkpoint note
	// of each epoch before the checkpoint's, each signed by its epoch's key
	// and committing to the next epoch's key.
	Checkpoint string   `json:"checkpoint"`
	KeyChain   []string `json:"key_chain,omitempty"`
}

// Proof errors.
var (
	// ErrNoRecord means no record of the tree matches the selection.
	ErrNoRecord = errors.New("no such record in the tree")
	// ErrProof means a proof that does not hold.
	ErrProof = errors.New("the proof does not hold")
)

// RecordSelector picks the record to prove: the leaf at Leaf when Filter is
// nil, else the first record the filter matches.
type RecordSelector struct {
	Leaf   uint64
	Filter *Filter
}

// Prove builds the inclusion proof of a record in the tree of checkpoint cp
// (the archive's newest when nil). It reads the archive up to cp's size and
// fails if the archive does not match cp.
func Prove(dir string, sel RecordSelector, cp *Checkpoint) (*InclusionProof, error) {
	own, err := readCheckpoints(dir)
	if err != nil {
		return nil, err
	}
	if cp == nil {
		if len(own) == 0 {
			return nil, fmt.Errorf("prove: the archive %s has no checkpoint", dir)
		}
		cp = own[len(own)-1]
	}
	p := &InclusionProof{Format: ProofFormat, TreeSize: cp.Size, Checkpoint: string(cp.Note)}
	chain := map[uint64]*Checkpoint{}
	for _, c := range own {
		if c.Epoch < cp.Epoch && c.Origin == cp.Origin {
			chain[c.Epoch] = c
		}
	}
	for e := uint64(0); e < cp.Epoch; e++ {
		c := chain[e]
		if c == nil {
			return nil, fmt.Errorf("prove: the archive keeps no checkpoint of epoch %d, which the key chain needs", e)
		}
		p.KeyChain = append(p.KeyChain, string(c.Note))
	}

	if sel.Filter != nil {
		found := false
		err := walkTree(dir, cp.Size, nil, func(index uint64, raw []byte, seg string, frame uint64) (bool, error) {
			i, ok, err := firstMatch(raw, sel.Filter, seg)
			if err != nil || !ok {
				return false, err
			}
			sel.Leaf, found = index+uint64(i), true
			return true, nil
		})
		if err != nil {
			return nil, err
		}
		if !found {
			return nil, fmt.Errorf("%w: no record of the first %d matches", ErrNoRecord, cp.Size)
		}
	}
	if sel.Leaf >= cp.Size {
		return nil, fmt.Errorf("%w: leaf %d, the checkpoint's tree has %d", ErrNoRecord, sel.Leaf, cp.Size)
	}
	p.LeafIndex = sel.Leaf

	nodes, err := proof.Inclusion(sel.Leaf, cp.Size)
	if err != nil {
		return nil, err
	}
	want := make(map[compact.NodeID]int, len(nodes.IDs))
	for i, id := range nodes.IDs {
		want[id] = i
	}
	hashes := make([][]byte, len(nodes.IDs))
	visit := func(id compact.NodeID, h []byte) {
		if i, ok := want[id]; ok {
			hashes[i] = bytes.Clone(h)
		}
	}
	var root []byte
	err = walkTree(dir, cp.Size, visit, func(index uint64, raw []byte, seg string, frame uint64) (bool, error) {
		if sel.Leaf < index {
			return false, nil
		}
		data, err := leafData(raw)
		if err != nil {
			return false, err
		}
		if i := sel.Leaf - index; i < uint64(len(data)) {
			p.Record, p.Segment, p.Frame = data[i], seg, frame
		}
		return false, nil
	}, func(r *compact.Range) { root = treeRoot(r) })
	if err != nil {
		return nil, err
	}
	if !bytes.Equal(root, cp.Root) {
		return nil, &VerifyError{Checkpoint: cp.Name, Problem: Inconsistent,
			Detail: fmt.Sprintf("the archive's first %d records hash to %x, the checkpoint says %x", cp.Size, root, cp.Root)}
	}
	for i, h := range hashes {
		if h == nil {
			return nil, fmt.Errorf("prove: the proof needs node %v, whose records retention deleted", nodes.IDs[i])
		}
	}
	if p.Hashes, err = nodes.Rehash(hashes, hasher.HashChildren); err != nil {
		return nil, err
	}
	return p, nil
}

// firstMatch returns the index in raw's records of the first one f matches.
func firstMatch(raw []byte, f *Filter, seg string) (int, bool, error) {
	var u plog.ProtoUnmarshaler
	ld, err := u.UnmarshalLogs(raw)
	if err != nil {
		return 0, false, err
	}
	i := 0
	for _, rl := range ld.ResourceLogs().All() {
		for _, sl := range rl.ScopeLogs().All() {
			for _, lr := range sl.LogRecords().All() {
				r := recordOf(rl.Resource().Attributes(), sl.Scope(), lr, seg)
				if f.Match(&r) {
					return i, true, nil
				}
				i++
			}
		}
	}
	return 0, false, nil
}

// walkTree feeds the tree's leaves, from leaf 0 up to size, into a compact
// range (calling visit for every node it computes) and calls frame with
// every frame's first leaf index and protobuf bytes until it returns true.
// A tombstone's tree head stands for the records retention deleted. done, if
// given, receives the range at size.
func walkTree(dir string, size uint64, visit compact.VisitFn, frame func(index uint64, raw []byte, seg string, seq uint64) (bool, error), done ...func(*compact.Range)) error {
	entries, err := scan(dir)
	if err != nil {
		return err
	}
	// The tree starts after the last manifest written without one.
	start := 0
	for i, e := range entries {
		if rel := e.manifest + e.tombstone; rel != "" {
			m, err := readManifestFile(dir, rel)
			if err != nil {
				return err
			}
			if m.Tree == nil {
				start = i + 1
			}
		}
	}
	c, err := newCodec()
	if err != nil {
		return err
	}
	defer c.close()
	lh := newLeafHasher()
	r := emptyTree()
	finish := func() error {
		if r.End() != size {
			return &VerifyError{Segment: dir, Problem: RolledBack,
				Detail: fmt.Sprintf("the archive's tree has %d records, the checkpoint %d", r.End(), size)}
		}
		for _, d := range done {
			d(r)
		}
		return nil
	}
	for _, e := range entries[start:] {
		if e.tombstone != "" {
			m, err := readManifestFile(dir, e.tombstone)
			if err != nil {
				return err
			}
			if m.Tree.Size > size {
				return fmt.Errorf("prove: records up to %d were deleted by retention", m.Tree.Size)
			}
			if r, err = m.Tree.rangeOf(); err != nil {
				return err
			}
			if visit != nil {
				ids := compact.RangeNodes(0, r.End(), nil)
				for i, id := range ids {
					visit(id, r.Hashes()[i])
				}
			}
			continue
		}
		if e.segment == "" {
			continue
		}
		data, err := os.ReadFile(joinRel(dir, e.segment))
		if err != nil {
			return fmt.Errorf("prove: %w", err)
		}
		frames, _, _ := ParseFrames(data)
		for _, f := range frames {
			raw, err := c.decompress(f.Payload)
			if err != nil {
				return fmt.Errorf("prove: %s frame %d: %w", e.segment, f.Seq, err)
			}
			leaves, n, err := lh.appendLeaves(nil, raw)
			if err != nil {
				return fmt.Errorf("prove: %s frame %d: %w", e.segment, f.Seq, err)
			}
			index := r.End()
			if stop, err := frame(index, raw, e.segment, f.Seq); err != nil || stop {
				return err
			}
			n = min(n, int(size-index))
			appendLeafHashes(r, leaves[:n*HashSize], visit)
			if r.End() == size {
				return finish()
			}
		}
	}
	return finish()
}

func readManifestFile(dir, rel string) (*parsedManifest, error) {
	data, err := os.ReadFile(joinRel(dir, rel))
	if err != nil {
		return nil, err
	}
	m, err := parseManifest(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", rel, err)
	}
	return m, nil
}

// ProofResult is what CheckProof established.
type ProofResult struct {
	Checkpoint *Checkpoint
	// Logs is the proven record.
	Logs plog.Logs
}

// CheckProof checks an inclusion proof offline against the archive's first
// public key (any of trusted): the key chain, the checkpoint's signature and
// the inclusion of the record's leaf under the checkpoint's root.
func CheckProof(p *InclusionProof, trusted []ed25519.PublicKey) (*ProofResult, error) {
	if p.Format != ProofFormat {
		return nil, fmt.Errorf("%w: format %q, want %q", ErrProof, p.Format, ProofFormat)
	}
	cp, err := ParseCheckpoint([]byte(p.Checkpoint))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrProof, err)
	}
	var key ed25519.PublicKey
	for _, k := range trusted {
		if Origin(k) == cp.Origin {
			key = k
		}
	}
	if key == nil {
		return nil, fmt.Errorf("%w: the checkpoint is of archive %s, whose first key is not among the trusted ones", ErrProof, cp.Origin)
	}
	if uint64(len(p.KeyChain)) != cp.Epoch {
		return nil, fmt.Errorf("%w: the checkpoint is signed in epoch %d, the key chain has %d links", ErrProof, cp.Epoch, len(p.KeyChain))
	}
	for e, note := range p.KeyChain {
		link, err := ParseCheckpoint([]byte(note))
		if err != nil {
			return nil, fmt.Errorf("%w: key chain link %d: %w", ErrProof, e, err)
		}
		if link.Epoch != uint64(e) || link.Origin != cp.Origin || !link.signedBy(key) {
			return nil, fmt.Errorf("%w: key chain link %d is not signed by epoch %d's key", ErrProof, e, e)
		}
		key = link.NextKey
	}
	if !cp.signedBy(key) {
		return nil, fmt.Errorf("%w: the checkpoint is not signed by epoch %d's key %s", ErrProof, cp.Epoch, KeyID(key))
	}
	if p.TreeSize != cp.Size {
		return nil, fmt.Errorf("%w: the proof is for a tree of %d, the checkpoint's has %d", ErrProof, p.TreeSize, cp.Size)
	}
	leaf := sha256.Sum256(append([]byte{0}, p.Record...))
	if err := proof.VerifyInclusion(hasher, p.LeafIndex, cp.Size, leaf[:], p.Hashes, cp.Root); err != nil {
		return nil, fmt.Errorf("%w: the record is not leaf %d of the checkpoint's tree: %w", ErrProof, p.LeafIndex, err)
	}
	var u plog.ProtoUnmarshaler
	ld, err := u.UnmarshalLogs(p.Record)
	if err != nil || ld.LogRecordCount() != 1 {
		return nil, fmt.Errorf("%w: the leaf is not one OTLP log record", ErrProof)
	}
	return &ProofResult{Checkpoint: cp, Logs: ld}, nil
}

// recordOf is a record as Filter.Match sees it.
func recordOf(resource pcommon.Map, scope pcommon.InstrumentationScope, lr plog.LogRecord, seg string) Record {
	return Record{
		Segment:      seg,
		Time:         recordTime(lr).AsTime().UTC(),
		ObservedTime: lr.ObservedTimestamp().AsTime().UTC(),
		Severity:     lr.SeverityNumber(),
		SeverityText: lr.SeverityText(),
		Body:         lr.Body(),
		Attributes:   lr.Attributes(),
		Resource:     resource,
		Scope:        scope,
	}
}
