package archive

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sort"

	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/fleetlog/fleetlog/internal/spoolstamp"
)

// The archive stores each stamped record once (see internal/spoolstamp):
// per device and spool identity it keeps the highest spool sequence number
// it stored, its mark, and Append skips stamped records at or below it.
// Records without a stamp are always stored.
//
// The marks are never written on their own: they are what the stored
// records say. Open rebuilds them from the segments, so a crash between
// writing records and noting their mark cannot exist. To keep Open from
// reading the whole archive, every seal also writes marksFile, the marks of
// all segments up to the one sealed (sealed segments never change, and the
// file outlives retention's deletions); Open starts from it and reads only
// the segments after it, which is the open segment and, after a crash
// between a seal and the marks file, the segment just sealed.
const marksFile = "spool-marks.json"

// markKey is the unit of de-duplication. The device comes from the record's
// resource, which the gateway sets from the client certificate, so a device
// cannot move another device's mark.
type markKey struct {
	device, spool string
}

// marksState is marksFile's content.
type marksState struct {
	// Segment is the sequence number of the last segment the marks cover.
	Segment uint64      `json:"segment"`
	Marks   []markEntry `json:"marks"`
}

type markEntry struct {
	Device string `json:"device"`
	Spool  string `json:"spool"`
	Seq    uint64 `json:"seq"`
}

// noteMarks raises the marks to the stamps of the records in ld.
func noteMarks(marks map[markKey]uint64, ld plog.Logs) {
	for _, rl := range ld.ResourceLogs().All() {
		device := deviceOf(rl)
		for _, sl := range rl.ScopeLogs().All() {
			scope := sl.Scope().Attributes()
			for _, lr := range sl.LogRecords().All() {
				if id, seq, ok := spoolstamp.Read(scope, lr.Attributes()); ok {
					k := markKey{device, id}
					marks[k] = max(marks[k], seq)
				}
			}
		}
	}
}

func deviceOf(rl plog.ResourceLogs) string {
	if v, ok := rl.Resource().Attributes().Get(DeviceAttribute); ok {
		return v.AsString()
	}
	return ""
}

// dedupPlan is what Append keeps of a batch.
type dedupPlan struct {
	// stamps are the batch's stamped records in order, read once outside
	// the writer's lock.
	stamps []stampRef
	// base is each stamped key's mark when the plan was made, high the mark
	// after the batch is stored, first the sequence number of the first
	// record kept of the key (none when every one is skipped).
	base, high, first map[markKey]uint64
	skipped           int
}

type stampRef struct {
	key markKey
	seq uint64
}

// newPlan reads the stamps of ld. It returns nil when ld holds no stamped
// record (nothing to check or note).
func newPlan(ld plog.Logs) *dedupPlan {
	var stamps []stampRef
	for _, rl := range ld.ResourceLogs().All() {
		device := ""
		deviceRead := false
		for _, sl := range rl.ScopeLogs().All() {
			scope := sl.Scope().Attributes()
			for _, lr := range sl.LogRecords().All() {
				id, seq, ok := spoolstamp.Read(scope, lr.Attributes())
				if !ok {
					continue
				}
				if !deviceRead {
					device, deviceRead = deviceOf(rl), true
				}
				stamps = append(stamps, stampRef{markKey{device, id}, seq})
			}
		}
	}
	if stamps == nil {
		return nil
	}
	return &dedupPlan{stamps: stamps}
}

// markView is the marks a plan is made or checked against: the writer's,
// raised by over, the marks of the appends a group writes before the one
// checked (commit.go), which reach the writer's only once they are written.
// Whoever reads w.marks holds w.mu or w.marksMu; whoever changes them holds
// both.
type markView struct {
	marks, over map[markKey]uint64
}

func (v markView) get(k markKey) uint64 {
	if m, ok := v.over[k]; ok {
		return m
	}
	return v.marks[k]
}

// plan decides which records are re-deliveries, against the marks of v.
// Records are taken in order: a record is kept when its sequence number is
// above the mark and above every kept record of its key before it.
func (p *dedupPlan) plan(v markView) {
	if p == nil {
		return
	}
	p.base, p.high, p.first, p.skipped = map[markKey]uint64{}, map[markKey]uint64{}, map[markKey]uint64{}, 0
	for _, s := range p.stamps {
		hi, seen := p.high[s.key]
		if !seen {
			hi = v.get(s.key)
			p.base[s.key] = hi
		}
		if s.seq <= hi {
			p.skipped++
			p.high[s.key] = hi
			continue
		}
		if _, ok := p.first[s.key]; !ok {
			p.first[s.key] = s.seq
		}
		p.high[s.key] = s.seq
	}
}

// current reports whether planning again against v would keep the same
// records: each mark is where the plan found it or has moved up, but stayed
// below the first record the plan keeps of its key (another batch of the
// same spool, stored meanwhile, ended before this one starts). Records kept
// are above the mark and increasing, so they all stay above it, and records
// skipped stay at or below it.
func (p *dedupPlan) current(v markView) bool {
	for k, base := range p.base {
		m := v.get(k)
		if m == base {
			continue
		}
		if m < base {
			return false
		}
		if first, ok := p.first[k]; ok && first <= m {
			return false
		}
	}
	return true
}

// raise raises the marks in over to the batch's, as they will be once it is
// written.
func (p *dedupPlan) raise(v markView) {
	for k, hi := range p.high {
		v.over[k] = max(v.get(k), hi)
	}
}

// skippedCount is how many records the plan skips; a nil plan skips none.
func (p *dedupPlan) skippedCount() int {
	if p == nil {
		return 0
	}
	return p.skipped
}

// keep returns ld without the records the plan skips, or ld itself when it
// skips none. ld is not modified.
func (p *dedupPlan) keep(ld plog.Logs) plog.Logs {
	if p == nil || p.skipped == 0 {
		return ld
	}
	out := plog.NewLogs()
	high := make(map[markKey]uint64, len(p.base))
	for k, v := range p.base {
		high[k] = v
	}
	for _, rl := range ld.ResourceLogs().All() {
		device := deviceOf(rl)
		var nrl plog.ResourceLogs
		rlStarted := false
		for _, sl := range rl.ScopeLogs().All() {
			var dst plog.LogRecordSlice
			started := false
			scope := sl.Scope().Attributes()
			for _, lr := range sl.LogRecords().All() {
				if id, seq, ok := spoolstamp.Read(scope, lr.Attributes()); ok {
					k := markKey{device, id}
					if seq <= high[k] {
						continue
					}
					high[k] = seq
				}
				if !started {
					if !rlStarted {
						nrl, rlStarted = out.ResourceLogs().AppendEmpty(), true
						rl.Resource().CopyTo(nrl.Resource())
						nrl.SetSchemaUrl(rl.SchemaUrl())
					}
					nsl := nrl.ScopeLogs().AppendEmpty()
					sl.Scope().CopyTo(nsl.Scope())
					nsl.SetSchemaUrl(sl.SchemaUrl())
					dst = nsl.LogRecords()
					started = true
				}
				lr.CopyTo(dst.AppendEmpty())
			}
		}
	}
	return out
}

// loadMarks reads marksFile; ok is false when there is none or it cannot be
// used (then every segment is read).
func (w *Writer) loadMarks() (segment uint64, ok bool, err error) {
	data, err := os.ReadFile(w.abs(marksFile))
	if errors.Is(err, fs.ErrNotExist) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("read %s: %w", marksFile, err)
	}
	var st marksState
	if json.Unmarshal(data, &st) != nil {
		return 0, false, nil
	}
	for _, m := range st.Marks {
		k := markKey{m.Device, m.Spool}
		w.marks[k] = max(w.marks[k], m.Seq)
	}
	return st.Segment, true, nil
}

// saveMarksLocked writes marksFile covering segments up to segment, the one
// just sealed (there is no open segment then).
func (w *Writer) saveMarksLocked(segment uint64) error {
	st := marksState{Segment: segment, Marks: make([]markEntry, 0, len(w.marks))}
	for k, v := range w.marks {
		st.Marks = append(st.Marks, markEntry{Device: k.device, Spool: k.spool, Seq: v})
	}
	sort.Slice(st.Marks, func(i, j int) bool {
		a, b := st.Marks[i], st.Marks[j]
		if a.Device != b.Device {
			return a.Device < b.Device
		}
		return a.Spool < b.Spool
	})
	data, err := json.Marshal(st)
	if err != nil {
		return fmt.Errorf("encode %s: %w", marksFile, err)
	}
	return writeFileAtomic(w.abs(marksFile), append(data, '\n'), privateFilePerm)
}

// marksFromSegment raises the marks to the stamps stored in a segment file,
// reading its frames up to the first that does not parse or decode.
func (w *Writer) marksFromSegment(rel string) error {
	data, err := os.ReadFile(w.abs(rel))
	if err != nil {
		return fmt.Errorf("read marks from %s: %w", rel, err)
	}
	frames, _, _ := ParseFrames(data)
	for _, f := range frames {
		ld, err := w.codec.decode(f.Payload)
		if err != nil {
			break
		}
		noteMarks(w.marks, ld)
	}
	return nil
}
