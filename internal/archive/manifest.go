package archive

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Manifest kinds.
const (
	KindSegment   = "segment"
	KindTombstone = "tombstone"
)

const (
	manifestVersion = 1
	// signingContext prefixes the signed message so a manifest signature
	// cannot be replayed as a signature over anything else.
	signingContext = "fleetlog archive manifest v1\n"
)

// ErrBadSignature means a manifest's signature does not verify under any
// trusted key.
var ErrBadSignature = errors.New("bad signature")

// Manifest describes a sealed segment, or, as a tombstone, one that retention
// deleted. Hashes are lowercase hex; times are RFC 3339 with nanoseconds, UTC.
type Manifest struct {
	Version   int    `json:"version"`
	Kind      string `json:"kind"`
	Seq       uint64 `json:"seq"`
	Segment   string `json:"segment"`
	GatewayID string `json:"gateway_id"`
	KeyID     string `json:"key_id"`
	CreatedAt string `json:"created_at"`
	SealedAt  string `json:"sealed_at"`
	// FirstTime and LastTime are the earliest and latest record times; empty
	// when no record carried a time.
	FirstTime        string `json:"first_time,omitempty"`
	LastTime         string `json:"last_time,omitempty"`
	Records          uint64 `json:"records"`
	Frames           uint64 `json:"frames"`
	FirstFrame       uint64 `json:"first_frame"`
	Size             int64  `json:"size"`
	SegmentSHA256    string `json:"segment_sha256"`
	PrevChainHash    string `json:"prev_chain_hash"`
	LastChainHash    string `json:"last_chain_hash"`
	PrevManifestHash string `json:"prev_manifest_hash"`

	// Tombstone only: the deleted manifest's hash, when and under which policy.
	ManifestSHA256 string `json:"manifest_sha256,omitempty"`
	DeletedAt      string `json:"deleted_at,omitempty"`
	Retention      string `json:"retention,omitempty"`

	// Tree is the Merkle tree over all records after this segment's last
	// one, and Epoch the signing key's epoch and the next epoch's key
	// (tree.go, epoch.go); both absent in manifests written before them.
	Tree  *TreeHead        `json:"tree,omitempty"`
	Epoch *EpochCommitment `json:"epoch,omitempty"`

	// Index summarises a sealed segment's records for queries (index.go);
	// absent in manifests written before it existed. It is last, so a
	// reader that wants only the fields above can stop early.
	Index *SegmentIndex `json:"index,omitempty"`
}

type signatureLine struct {
	KeyID     string `json:"key_id"`
	Signature string `json:"signature"`
}

// KeyID names a public key: the first 8 bytes of SHA-256 of its 32 raw bytes, in hex.
func KeyID(pub ed25519.PublicKey) string {
	sum := sha256.Sum256(pub)
	return hex.EncodeToString(sum[:8])
}

// TimeFormat is how the archive writes times: RFC 3339 in UTC with all nine
// fractional digits, so times sort as text and line up in columns.
const TimeFormat = "2006-01-02T15:04:05.000000000Z07:00"

func formatTime(t time.Time) string { return t.UTC().Format(TimeFormat) }

// encodeManifest returns the manifest file (body line, signature line) and
// the manifest hash, SHA-256 of the body line.
func encodeManifest(m *Manifest, key ed25519.PrivateKey) ([]byte, Hash, error) {
	m.Version = manifestVersion
	m.KeyID = KeyID(key.Public().(ed25519.PublicKey))
	body, err := json.Marshal(m)
	if err != nil {
		return nil, Hash{}, fmt.Errorf("encode manifest: %w", err)
	}
	sig := ed25519.Sign(key, append([]byte(signingContext), body...))
	line, err := json.Marshal(signatureLine{KeyID: m.KeyID, Signature: base64.StdEncoding.EncodeToString(sig)})
	if err != nil {
		return nil, Hash{}, fmt.Errorf("encode manifest: %w", err)
	}
	out := make([]byte, 0, len(body)+len(line)+2)
	out = append(append(append(append(out, body...), '\n'), line...), '\n')
	return out, sha256.Sum256(body), nil
}

// parsedManifest is a manifest file taken apart.
type parsedManifest struct {
	Manifest
	body []byte
	sig  signatureLine
	hash Hash
}

// parseManifest decodes a manifest file without checking its signature.
func parseManifest(data []byte) (*parsedManifest, error) {
	body, rest, ok := bytes.Cut(data, []byte("\n"))
	if !ok {
		return nil, errors.New("manifest has no signature line")
	}
	p := &parsedManifest{body: body, hash: sha256.Sum256(body)}
	if err := json.Unmarshal(body, &p.Manifest); err != nil {
		return nil, fmt.Errorf("decode manifest: %w", err)
	}
	if err := json.Unmarshal(bytes.TrimSuffix(rest, []byte("\n")), &p.sig); err != nil {
		return nil, fmt.Errorf("decode manifest signature: %w", err)
	}
	if p.Version != manifestVersion {
		return nil, fmt.Errorf("unsupported manifest version %d", p.Version)
	}
	return p, nil
}

// verify checks the signature against the trusted key with the manifest's key id.
func (p *parsedManifest) verify(keys map[string]ed25519.PublicKey) error {
	pub, ok := keys[p.sig.KeyID]
	if !ok || p.sig.KeyID != p.KeyID {
		return fmt.Errorf("%w: signed with key %s, which is not trusted", ErrBadSignature, p.sig.KeyID)
	}
	sig, err := base64.StdEncoding.DecodeString(p.sig.Signature)
	if err != nil || !ed25519.Verify(pub, append([]byte(signingContext), p.body...), sig) {
		return fmt.Errorf("%w: signature does not match the manifest under key %s", ErrBadSignature, p.sig.KeyID)
	}
	return nil
}

func parseHash(s string) (Hash, error) {
	var h Hash
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != HashSize {
		return h, fmt.Errorf("bad hash %q", s)
	}
	copy(h[:], b)
	return h, nil
}

func (h Hash) String() string { return hex.EncodeToString(h[:]) }
