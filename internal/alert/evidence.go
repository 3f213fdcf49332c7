package alert

import (
	"strings"
	"time"
)

// evidenceSlack widens the evidence range around the alert's records, for
// clock differences between a record's time and the archive's index.
const evidenceSlack = time.Minute

// EvidenceCommand is a ready-to-run `fleetlogctl archive query` for the
// records an alert is about, in the archive at dir.
func (a *Alert) EvidenceCommand(dir string) string {
	var b strings.Builder
	b.WriteString("fleetlogctl archive query --dir ")
	b.WriteString(shellQuote(dir))
	if a.Device != "" {
		b.WriteString(" --device ")
		b.WriteString(shellQuote(a.Device))
	} else if a.Fleet != "" {
		b.WriteString(" --fleet ")
		b.WriteString(shellQuote(a.Fleet))
	}
	first, last := a.FirstRecord, a.LastRecord
	if first.IsZero() {
		first = a.StartsAt
	}
	if last.IsZero() || last.Before(first) {
		last = first
	}
	if a.Type == KindAbsence {
		// The device's last records before it fell silent.
		first = last.Add(-a.Window)
	}
	if !first.IsZero() {
		b.WriteString(" --since ")
		b.WriteString(first.Add(-evidenceSlack).UTC().Format(time.RFC3339))
		b.WriteString(" --until ")
		b.WriteString(last.Add(evidenceSlack).UTC().Format(time.RFC3339))
	}
	b.WriteString(" -o text")
	return b.String()
}

// shellQuote single-quotes s unless it is plainly safe.
func shellQuote(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./:=@+,", r))
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// RecordScope is the instrumentation scope name of the alert records the
// gateway archives; offline runs over an archive skip them.
const RecordScope = "github.com/fleetlog/fleetlog/connectors/alertconnector"
