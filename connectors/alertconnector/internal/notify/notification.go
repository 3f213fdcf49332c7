// Package notify delivers alert notifications: a dispatcher that
// deduplicates by fingerprint, repeats, silences and hands notifications to
// each output's durable outbox, and the outputs' wire formats (JSON
// webhook, Slack incoming webhook, Alertmanager v2, RFC 5424 syslog with
// CEF).
package notify // import "github.com/fleetlog/fleetlog/connectors/alertconnector/internal/notify"

import (
	"time"

	"github.com/fleetlog/fleetlog/internal/alert"
)

// Notification is one alert state change as outputs send it and as the
// outbox stores it (JSON); or an archive checkpoint (Checkpoint), which has
// no type and no severity.
type Notification struct {
	Status      alert.Status      `json:"status"`
	Rule        string            `json:"rule"`
	Type        alert.Kind        `json:"type,omitempty"`
	Severity    alert.Severity    `json:"severity,omitempty"`
	Description string            `json:"description,omitempty"`
	Fingerprint string            `json:"fingerprint"`
	Labels      map[string]string `json:"labels"`
	Device      string            `json:"device,omitempty"`
	Fleet       string            `json:"fleet,omitempty"`
	Site        string            `json:"site,omitempty"`
	Count       int64             `json:"count"`
	Window      string            `json:"window"`
	StartsAt    time.Time         `json:"starts_at"`
	// EndsAt is when a resolved alert ended.
	EndsAt *time.Time `json:"ends_at,omitempty"`
	// ValidUntil is, for a firing alert, how long receivers should hold it
	// firing without hearing again (two repeat intervals).
	ValidUntil  *time.Time `json:"valid_until,omitempty"`
	FirstRecord time.Time  `json:"first_record"`
	LastRecord  time.Time  `json:"last_record"`
	Summary     string     `json:"summary"`
	// Evidence is the `fleetlogctl archive query` for the alert's records.
	Evidence string `json:"evidence"`
	// CreatedAt is when the gateway created the notification.
	CreatedAt time.Time `json:"created_at"`
	// Repeat marks a re-send of a firing alert.
	Repeat bool `json:"repeat,omitempty"`
	// Checkpoint makes this no alert but an archive checkpoint, for the
	// outputs that take them (Output.Checkpoints).
	Checkpoint *Checkpoint `json:"checkpoint,omitempty"`
}

// Checkpoint is a checkpoint the archive signed: its tree and the signed
// note (a C2SP signed note), which a SIEM that keeps it can later check the
// archive against (`fleetlogctl archive verify --checkpoint`).
type Checkpoint struct {
	Origin string `json:"origin"`
	Size   uint64 `json:"size"`
	// Root is the tree's root hash, base64 as in the note.
	Root  string `json:"root"`
	Epoch uint64 `json:"epoch"`
	Note  []byte `json:"note"`
}

// FromAlert builds a notification.
func FromAlert(a alert.Alert, evidence string, now time.Time) *Notification {
	n := &Notification{
		Status: a.Status, Rule: a.Rule, Type: a.Type, Severity: a.Severity, Description: a.Description,
		Fingerprint: a.Fingerprint, Labels: a.Labels, Device: a.Device, Fleet: a.Fleet, Site: a.Site,
		Count: a.Count, Window: a.Window.String(), StartsAt: a.StartsAt, FirstRecord: a.FirstRecord,
		LastRecord: a.LastRecord, Summary: a.Summary, Evidence: evidence, CreatedAt: now,
	}
	if a.Status == alert.StatusResolved {
		ends := a.EndsAt
		n.EndsAt = &ends
	}
	return n
}

// Title is a one-line headline: "[FIRING] rule on device: summary".
func (n *Notification) Title() string {
	s := "[" + upper(string(n.Status)) + "] " + n.Rule
	switch {
	case n.Device != "":
		s += " on " + n.Device
	case n.Fleet != "":
		s += " in fleet " + n.Fleet
	}
	if n.Summary != "" {
		s += ": " + n.Summary
	}
	return s
}

func upper(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'a' && c <= 'z' {
			b[i] = c - 32
		}
	}
	return string(b)
}
