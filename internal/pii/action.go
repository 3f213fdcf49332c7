package pii

import (
	"errors"
	"fmt"
)

// Action says what happens to a match.
type Action int

const (
	// ActionMask replaces the match with [REDACTED:<detector>].
	ActionMask Action = iota
	// ActionHash replaces the match with [<detector>:<12 hex>], the start of
	// HMAC-SHA256(key, match): a stable pseudonym that correlates across logs.
	ActionHash
	// ActionDropAttribute removes the attribute holding the match; in a
	// string body the match is masked.
	ActionDropAttribute
	// ActionDropRecord drops the whole log record.
	ActionDropRecord
)

var actionNames = [...]string{"mask", "hash", "drop_attribute", "drop_record"}

// ErrUnknownAction is returned for an action name that is not one of
// mask, hash, drop_attribute or drop_record.
var ErrUnknownAction = errors.New("unknown action (want mask, hash, drop_attribute or drop_record)")

func (a Action) String() string {
	if a < 0 || int(a) >= len(actionNames) {
		return fmt.Sprintf("Action(%d)", int(a))
	}
	return actionNames[a]
}

// MarshalText implements encoding.TextMarshaler.
func (a Action) MarshalText() ([]byte, error) { return []byte(a.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (a *Action) UnmarshalText(text []byte) error {
	for i, n := range actionNames {
		if string(text) == n {
			*a = Action(i)
			return nil
		}
	}
	return fmt.Errorf("%q: %w", text, ErrUnknownAction)
}
