package fleetproto

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Files of the fleet's remote configuration signing key. `fleetlogctl certs
// init` writes the private key beside the gateway's certificate and the
// public key beside each device's; an agent accepts only a fragment signed
// by the key in its FLEETLOG_TLS_DIR/ConfigPublicKeyFile.
const (
	ConfigSigningKeyFile = "config-key.pem"
	ConfigPublicKeyFile  = "config-pub.pem"
)

// EnvelopeFile is the name of the one file in the OpAMP AgentConfigMap of a
// remote configuration: the JSON Envelope. Its content type is
// EnvelopeContentType.
const (
	EnvelopeFile        = "fleetlog-remote-config.json"
	EnvelopeContentType = "application/vnd.fleetlog.remote-config+json"
)

// signingDomain separates these signatures from any other use of the key.
const signingDomain = "fleetlog remote config v1\n"

// Assignment is what the gateway signs: a configuration fragment for one
// device.
type Assignment struct {
	// Serial increases with every assignment the gateway makes; an agent
	// applies only a serial above the one it runs, so an old signed
	// fragment cannot be replayed.
	Serial uint64 `json:"serial"`
	// Name is the operator's name for the assignment.
	Name string `json:"name"`
	// Device is the device ID the fragment is for; an agent refuses a
	// fragment for another device.
	Device string `json:"device"`
	// Fragment is the YAML configuration fragment, merged over the agent's
	// local configuration. Empty means: back to the local configuration.
	Fragment []byte `json:"fragment"`
	// IssuedAt is when the gateway signed it.
	IssuedAt time.Time `json:"issued_at"`
}

// FragmentHash returns the hex SHA-256 of the fragment.
func (a *Assignment) FragmentHash() string {
	h := sha256.Sum256(a.Fragment)
	return hex.EncodeToString(h[:])
}

// Envelope carries a signed Assignment.
type Envelope struct {
	// Payload is the JSON of the Assignment, exactly as signed.
	Payload []byte `json:"payload"`
	// KeyID names the signing key (KeyID of its public key).
	KeyID     string `json:"key_id"`
	Signature []byte `json:"signature"`
}

// Errors of Open.
var (
	ErrBadSignature = errors.New("remote config: signature does not verify with the fleet's config key")
	ErrWrongDevice  = errors.New("remote config: assignment is for another device")
	ErrMalformed    = errors.New("remote config: malformed envelope")
)

// KeyID returns a short stable name of a public key: the first 8 bytes of
// its SHA-256, in hex.
func KeyID(pub ed25519.PublicKey) string {
	h := sha256.Sum256(pub)
	return hex.EncodeToString(h[:8])
}

// Seal signs a and returns the encoded Envelope.
func Seal(a *Assignment, key ed25519.PrivateKey) ([]byte, error) {
	payload, err := json.Marshal(a)
	if err != nil {
		return nil, fmt.Errorf("encode assignment: %w", err)
	}
	env := Envelope{
		Payload:   payload,
		KeyID:     KeyID(key.Public().(ed25519.PublicKey)),
		Signature: ed25519.Sign(key, signedMessage(payload)),
	}
	return json.Marshal(&env)
}

// Open verifies an encoded Envelope with pub and returns its Assignment,
// which must be for device.
func Open(b []byte, pub ed25519.PublicKey, device string) (*Assignment, error) {
	var env Envelope
	if err := json.Unmarshal(b, &env); err != nil || len(env.Payload) == 0 {
		return nil, ErrMalformed
	}
	if len(pub) != ed25519.PublicKeySize || !ed25519.Verify(pub, signedMessage(env.Payload), env.Signature) {
		return nil, ErrBadSignature
	}
	var a Assignment
	if err := json.Unmarshal(env.Payload, &a); err != nil {
		return nil, ErrMalformed
	}
	if a.Device != device {
		return nil, fmt.Errorf("%w: %q, this is %q", ErrWrongDevice, a.Device, device)
	}
	return &a, nil
}

func signedMessage(payload []byte) []byte {
	return append([]byte(signingDomain), payload...)
}
