package archive

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"sort"
	"sync"

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

// dedupPlan is what Append keeps of a batch. Plans are pooled (planPool):
// Append releases its plan when it returns.
type dedupPlan struct {
	// stamps are the batch's stamped records in order, read once outside
	// the writer's lock.
	stamps []stampRef
	// keys are the batch's stamped keys, in the order of their first
	// record, as plan found them; byKey indexes them when there are many
	// (a batch holds one or a few), last is the one found last.
	keys    []planKey
	byKey   map[markKey]int
	last    int
	skipped int
}

// planKey is one stamped key of a plan: its mark when the plan was made
// (base), the mark after the batch is stored (high) and the sequence number
// of the first record kept (first, when kept is set; none when every one is
// skipped).
type planKey struct {
	key               markKey
	base, high, first uint64
	kept              bool
}

type stampRef struct {
	key markKey
	seq uint64
}

var planPool = sync.Pool{New: func() any { return new(dedupPlan) }}

// maxPooledStamps bounds the stamps a released plan keeps room for.
const maxPooledStamps = 4096

// maxListedKeys is how many keys a plan looks up by a scan before it
// indexes them.
const maxListedKeys = 8

// newPlan reads the stamps of ld. It returns nil when ld holds no stamped
// record (nothing to check or note).
func newPlan(ld plog.Logs) *dedupPlan {
	p := planPool.Get().(*dedupPlan)
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
					if len(p.stamps) == 0 {
						p.stamps = slices.Grow(p.stamps, ld.LogRecordCount())
					}
				}
				p.stamps = append(p.stamps, stampRef{markKey{device, id}, seq})
			}
		}
	}
	if len(p.stamps) == 0 {
		p.release()
		return nil
	}
	return p
}

// release returns p to the pool; nil is released as nothing.
func (p *dedupPlan) release() {
	if p == nil {
		return
	}
	// Drop the references to the batch's strings.
	clear(p.stamps)
	clear(p.keys)
	p.stamps, p.keys, p.byKey, p.last, p.skipped = p.stamps[:0], p.keys[:0], nil, 0, 0
	if cap(p.stamps) > maxPooledStamps {
		p.stamps = nil
	}
	planPool.Put(p)
}

// find returns the index of k in p.keys, or -1.
func (p *dedupPlan) find(k markKey) int {
	if p.last < len(p.keys) && p.keys[p.last].key == k {
		return p.last
	}
	if p.byKey != nil {
		if i, ok := p.byKey[k]; ok {
			p.last = i
			return i
		}
		return -1
	}
	for i := range p.keys {
		if p.keys[i].key == k {
			p.last = i
			return i
		}
	}
	return -1
}

// addKey adds k with mark m to p.keys and returns its index.
func (p *dedupPlan) addKey(k markKey, m uint64) int {
	i := len(p.keys)
	p.keys = append(p.keys, planKey{key: k, base: m, high: m})
	switch {
	case p.byKey != nil:
		p.byKey[k] = i
	case len(p.keys) > maxListedKeys:
		p.byKey = make(map[markKey]int, 2*len(p.keys))
		for j, pk := range p.keys {
			p.byKey[pk.key] = j
		}
	}
	p.last = i
	return i
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
	clear(p.keys)
	p.keys, p.byKey, p.last, p.skipped = p.keys[:0], nil, 0, 0
	for _, s := range p.stamps {
		i := p.find(s.key)
		if i < 0 {
			i = p.addKey(s.key, v.get(s.key))
		}
		k := &p.keys[i]
		if s.seq <= k.high {
			p.skipped++
			continue
		}
		if !k.kept {
			k.first, k.kept = s.seq, true
		}
		k.high = s.seq
	}
}

// current reports whether planning again against v would keep the same
// records: each mark is where the plan found it or has moved up, but stayed
// below the first record the plan keeps of its key (another batch of the
// same spool, stored meanwhile, ended before this one starts). Records kept
// are above the mark and increasing, so they all stay above it, and records
// skipped stay at or below it.
func (p *dedupPlan) current(v markView) bool {
	for _, k := range p.keys {
		m := v.get(k.key)
		if m == k.base {
			continue
		}
		if m < k.base {
			return false
		}
		if k.kept && k.first <= m {
			return false
		}
	}
	return true
}

// raise raises the marks in over to the batch's, as they will be once it is
// written.
func (p *dedupPlan) raise(v markView) {
	for _, k := range p.keys {
		v.over[k.key] = max(v.get(k.key), k.high)
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
	high := make(map[markKey]uint64, len(p.keys))
	for _, k := range p.keys {
		high[k.key] = k.base
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
