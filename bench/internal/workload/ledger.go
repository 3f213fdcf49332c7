package workload

import (
	"bytes"
	"sync/atomic"
	"time"
)

// idLayout is the timestamp every workload line starts with. Line n carries
// base + n ms, so the timestamp is the line's id.
const idLayout = "2006-01-02T15:04:05.000Z"

// ID returns the number of the workload line msg carries, found at the
// start of msg or after its first space-separated fields (a syslog header in
// front of the line), and whether msg carries one.
func ID(msg []byte) (int64, bool) {
	// The line's timestamp is the first token of its own shape: a syslog
	// header's timestamp has another (offset, precision), so it is skipped.
	for range 16 {
		if id, ok := parseID(msg); ok {
			return id, true
		}
		i := bytes.IndexByte(msg, ' ')
		if i < 0 {
			return 0, false
		}
		msg = msg[i+1:]
	}
	return 0, false
}

func parseID(msg []byte) (int64, bool) {
	if len(msg) < len(idLayout) || msg[len(idLayout)-1] != 'Z' || (len(msg) > len(idLayout) && msg[len(idLayout)] != ' ') {
		return 0, false
	}
	ts, err := time.Parse(idLayout, string(msg[:len(idLayout)]))
	if err != nil || ts.Before(base) {
		return 0, false
	}
	return int64(ts.Sub(base) / time.Millisecond), true
}

// Ledger counts how often each line of a workload of known size arrived,
// so that a receiver can tell lost lines from duplicated ones exactly. It is
// safe for concurrent use.
type Ledger struct {
	seen    []atomic.Uint32
	records atomic.Int64
	unique  atomic.Int64
	foreign atomic.Int64
}

// NewLedger returns a Ledger for a workload of lines lines.
func NewLedger(lines int) *Ledger {
	return &Ledger{seen: make([]atomic.Uint32, lines)}
}

// Add records one received message and reports whether it was a workload
// line not seen before. A message without a line id of this workload is
// counted as foreign.
func (l *Ledger) Add(msg []byte) bool {
	l.records.Add(1)
	id, ok := ID(msg)
	if !ok || id >= int64(len(l.seen)) {
		l.foreign.Add(1)
		return false
	}
	if l.seen[id].Add(1) == 1 {
		l.unique.Add(1)
		return true
	}
	return false
}

// Tally is what a Ledger has counted.
type Tally struct {
	// Records received, duplicates and foreign messages included.
	Records int64
	// Unique workload lines received at least once.
	Unique int64
	// Duplicated is the number of extra copies of lines received more than
	// once.
	Duplicated int64
	// Lost is the number of workload lines not received (yet).
	Lost int64
	// Foreign messages carried no id of the workload.
	Foreign int64
}

// Tally returns the counts so far.
func (l *Ledger) Tally() Tally {
	t := Tally{Records: l.records.Load(), Unique: l.unique.Load(), Foreign: l.foreign.Load()}
	t.Duplicated = t.Records - t.Unique - t.Foreign
	t.Lost = int64(len(l.seen)) - t.Unique
	return t
}

// Lines is the workload size the ledger expects.
func (l *Ledger) Lines() int64 { return int64(len(l.seen)) }

// Missing returns the ids of up to n lines not received, in order.
func (l *Ledger) Missing(n int) []int64 {
	var out []int64
	for i := range l.seen {
		if len(out) >= n {
			break
		}
		if l.seen[i].Load() == 0 {
			out = append(out, int64(i))
		}
	}
	return out
}
