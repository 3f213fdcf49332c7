// Package spoolstamp owns the stamp that lets the archive store each record
// once: the agent's spool puts its identity and the record's sequence number
// on every log record it delivers, and the archive keeps, per device and
// spool identity, the highest sequence number it stored and skips
// re-deliveries at or below it.
//
// The stamp is written in its compact form: the identity once per batch, as
// an attribute of the instrumentation scope of each ScopeLogs the spool
// delivers, and only the sequence number on each log record (not resource
// attributes: a batch mixes records of many resources, and the gateway
// rewrites resources):
//
//	scope   fleetlog.spool.id   string  32 lowercase hex digits, random, made
//	                                    once with the spool directory
//	record  fleetlog.spool.seq  int     the spool's sequence number of the
//	                                    record, increasing in delivery order
//
// Agents of the previous version put both attributes on every log record
// (the per-record form), and archives hold records stamped so; Read takes
// both forms. A record that carries fleetlog.spool.id itself is read in the
// per-record form, whatever its scope says; the spool removes that
// attribute from the records it stamps, so a line cannot bring its own.
//
// A spool delivers its records strictly in sequence order and the next batch
// only after the previous one was acknowledged, which is what makes "at or
// below the highest stored" a correct duplicate test. The device part of the
// archive's key comes from the gateway (the certificate's identity), never
// from the record, so one device cannot make the archive skip another's
// records by copying its spool identity.
package spoolstamp // import "github.com/fleetlog/fleetlog/internal/spoolstamp"

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"

	"go.opentelemetry.io/collector/pdata/pcommon"
)

// Attribute names of the stamp.
const (
	// IDAttribute is the spool identity: IDLen lowercase hex digits. On the
	// scope in the compact form, on the log record in the per-record form.
	IDAttribute = "fleetlog.spool.id"
	// SeqAttribute is the record's sequence number in its spool (> 0), on
	// the log record in both forms.
	SeqAttribute = "fleetlog.spool.seq"
)

// IDLen is the length of a spool identity in characters (128 random bits).
const IDLen = 32

// NewID returns a fresh random spool identity.
func NewID() (string, error) {
	var b [IDLen / 2]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("make spool identity: %w", err)
	}
	return hex.EncodeToString(b[:]), nil
}

// ValidID reports whether id is a well-formed spool identity.
func ValidID(id string) bool {
	if len(id) != IDLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// StampScope puts the spool identity on a scope's attributes (the compact
// form), replacing whatever was there under its name.
func StampScope(scope pcommon.Map, id string) {
	scope.PutStr(IDAttribute, id)
}

// StampSeq puts seq on a log record's attributes (the compact form: the
// record's scope carries the identity, see StampScope), replacing whatever
// was there under its name and removing an identity the record carried.
func StampSeq(attrs pcommon.Map, seq uint64) {
	attrs.Remove(IDAttribute)
	attrs.PutInt(SeqAttribute, int64(seq))
}

// StampRecord puts the stamp in the per-record form, both attributes on the
// log record, as agents of the previous version did. Readers still take it;
// new writers use StampScope and StampSeq.
func StampRecord(attrs pcommon.Map, id string, seq uint64) {
	attrs.PutStr(IDAttribute, id)
	attrs.PutInt(SeqAttribute, int64(seq))
}

// Read returns the stamp of a log record with attributes attrs whose scope
// has attributes scope, in either form. ok is false when the record carries
// none or a malformed one (a wrong type, a bad identity, a sequence number
// below 1): such a record is not a re-delivery candidate and is stored as
// is.
func Read(scope, attrs pcommon.Map) (id string, seq uint64, ok bool) {
	s, found := attrs.Get(SeqAttribute)
	if !found || s.Type() != pcommon.ValueTypeInt || s.Int() < 1 {
		return "", 0, false
	}
	v, found := attrs.Get(IDAttribute)
	if !found {
		v, found = scope.Get(IDAttribute)
	}
	if !found || v.Type() != pcommon.ValueTypeStr || !ValidID(v.Str()) {
		return "", 0, false
	}
	return v.Str(), uint64(s.Int()), true
}
