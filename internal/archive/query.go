package archive

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
)

// Resource attributes the query filters match.
const (
	DeviceAttribute = "device.id"
	FleetAttribute  = "fleet.name"
)

// Filter selects records. Zero fields match everything.
type Filter struct {
	Since, Until time.Time // Since inclusive, Until exclusive
	Device       string
	Fleet        string
	MinSeverity  plog.SeverityNumber
	Contains     string
	// Attrs must all match a record attribute or, failing that, a resource
	// attribute of the same name.
	Attrs map[string]string
}

// Record is one log record as a query returns it.
type Record struct {
	Segment      string
	Time         time.Time
	ObservedTime time.Time
	Severity     plog.SeverityNumber
	SeverityText string
	Body         pcommon.Value
	Attributes   pcommon.Map
	Resource     pcommon.Map
	Scope        pcommon.InstrumentationScope
}

// QueryStats counts what a query read.
type QueryStats struct {
	// Segments were read; Skipped were not, their manifest showing that no
	// record can match; Counted were not either, a count taking their
	// matches from the manifest (a segment inside the time range, with no
	// filter but severity). Unindexed counts the segments read because their
	// manifest predates the index (or is unreadable) and a device, fleet,
	// severity or attribute filter could not be checked against it.
	Segments, Skipped, Counted, Unindexed int
	Bytes                                 int64
	Records, Matched                      uint64
}

func (s *QueryStats) add(o QueryStats) {
	s.Segments += o.Segments
	s.Skipped += o.Skipped
	s.Counted += o.Counted
	s.Unindexed += o.Unindexed
	s.Bytes += o.Bytes
	s.Records += o.Records
	s.Matched += o.Matched
}

// QueryOptions tune how a query runs; the zero value is the default.
type QueryOptions struct {
	// Workers is how many segments are read at once: GOMAXPROCS when 0.
	Workers int
	// CountOnly counts the matching records in QueryStats.Matched without
	// calling emit.
	CountOnly bool
	// Progress, when set, is called from Query's goroutine after each
	// segment, in order.
	Progress func(QueryProgress)
}

// QueryProgress is how far a query is.
type QueryProgress struct {
	// Done of Total segments are read or skipped.
	Done, Total int
	Stats       QueryStats
}

// Query scans the archive in segment order and calls emit with every record
// that matches f, sorted by time within each segment. Segments whose
// manifest shows that no record can match (time range, and the index's
// devices, fleets, severities and attribute filter) are not read. Query does
// not authenticate what it reads; Verify does.
func Query(dir string, f Filter, emit func(*Record) error) (QueryStats, error) {
	return QueryWithOptions(dir, f, QueryOptions{}, emit)
}

// segmentResult is what a worker found in one segment.
type segmentResult struct {
	recs []Record
	st   QueryStats
	err  error
}

// QueryWithOptions is Query, run as opts says. Segments are read by up to
// opts.Workers goroutines, a few segments ahead of the one being emitted;
// emit is called from the caller's goroutine, in the same order as Query.
func QueryWithOptions(dir string, f Filter, opts QueryOptions, emit func(*Record) error) (QueryStats, error) {
	var st QueryStats
	entries, err := scan(dir)
	if err != nil {
		return st, err
	}
	todo := entries[:0]
	for _, e := range entries {
		if e.segment != "" && e.tombstone == "" {
			todo = append(todo, e)
		}
	}
	workers := opts.Workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	workers = max(1, min(workers, len(todo)))
	// Results wait in order; the window bounds how many segments' records
	// are held at once.
	slots := make([]chan segmentResult, len(todo))
	for i := range slots {
		slots[i] = make(chan segmentResult, 1)
	}
	window := make(chan struct{}, 2*workers)
	jobs := make(chan int)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer close(jobs)
		for i := range todo {
			select {
			case window <- struct{}{}:
			case <-stop:
				return
			}
			select {
			case jobs <- i:
			case <-stop:
				return
			}
		}
	}()
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, cerr := newCodec()
			if cerr == nil {
				defer c.close()
			}
			for i := range jobs {
				if cerr != nil {
					slots[i] <- segmentResult{err: cerr}
					continue
				}
				slots[i] <- querySegment(c, dir, todo[i], &f, opts.CountOnly)
			}
		}()
	}
	defer func() {
		close(stop)
		wg.Wait()
	}()
	for i := range todo {
		r := <-slots[i]
		<-window
		st.add(r.st)
		if r.err != nil {
			return st, r.err
		}
		for j := range r.recs {
			if err := emit(&r.recs[j]); err != nil {
				return st, err
			}
		}
		if opts.Progress != nil {
			opts.Progress(QueryProgress{Done: i + 1, Total: len(todo), Stats: st})
		}
	}
	return st, nil
}

// querySegment reads one segment unless its manifest rules it out.
func querySegment(c *codec, dir string, e entry, f *Filter, countOnly bool) segmentResult {
	var r segmentResult
	if e.manifest != "" {
		skip, m := f.skips(joinRel(dir, e.manifest), countOnly)
		if skip {
			r.st.Skipped++
			return r
		}
		if countOnly && m != nil {
			if n, ok := f.countFromManifest(m); ok {
				r.st.Counted++
				r.st.Matched += n
				return r
			}
		}
		if f.needsIndex() && (m == nil || m.Index == nil) {
			r.st.Unindexed++
		}
	} else if f.needsIndex() {
		r.st.Unindexed++ // the open segment
	}
	recs, err := readSegment(c, joinRel(dir, e.segment), e.segment, f, &r.st, countOnly)
	if err != nil {
		r.err = err
		return r
	}
	r.st.Segments++
	if !countOnly {
		sort.SliceStable(recs, func(i, j int) bool { return recs[i].Time.Before(recs[j].Time) })
		r.recs = recs
	}
	return r
}

// needsIndex reports whether f filters on what only the index knows.
func (f *Filter) needsIndex() bool {
	return f.Device != "" || f.Fleet != "" || f.MinSeverity != 0 || len(f.Attrs) > 0
}

// skips reports whether a sealed segment's manifest shows that no record
// can match f. It returns the manifest when it read and parsed it whole:
// when f needs the index, or for a count (countFromManifest). An
// unreadable manifest never skips.
//
// The time range is read first, from the start of the manifest, so that
// a segment outside it costs a few kilobytes however large its index.
func (f *Filter) skips(manifestPath string, count bool) (bool, *Manifest) {
	if !f.Since.IsZero() || !f.Until.IsZero() {
		first, last, err := readManifestTimes(manifestPath)
		if err == nil && f.outside(first, last) {
			return true, nil
		}
	}
	if !f.needsIndex() && !(count && f.countable()) {
		return false, nil
	}
	data, err := os.ReadFile(manifestPath)
	if err != nil {
		return false, nil
	}
	p, err := parseManifest(data)
	if err != nil {
		return false, nil
	}
	if p.Index != nil && !p.Index.MayMatch(f) {
		return true, &p.Manifest
	}
	return false, &p.Manifest
}

// outside reports whether [first, last] lies wholly outside [Since, Until).
func (f *Filter) outside(first, last string) bool {
	t0, err1 := time.Parse(time.RFC3339Nano, first)
	t1, err2 := time.Parse(time.RFC3339Nano, last)
	if err1 != nil || err2 != nil {
		return false
	}
	return (!f.Since.IsZero() && t1.Before(f.Since)) || (!f.Until.IsZero() && !t0.Before(f.Until))
}

// readManifestTimes reads first_time and last_time from the start of a
// manifest body, stopping before the index.
func readManifestTimes(path string) (first, last string, err error) {
	file, err := os.Open(path)
	if err != nil {
		return "", "", err
	}
	defer file.Close()
	dec := json.NewDecoder(bufio.NewReaderSize(file, 4096))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return "", "", fmt.Errorf("manifest %s: not a JSON object", path)
	}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return "", "", err
		}
		switch tok {
		case "first_time":
			err = dec.Decode(&first)
		case "last_time":
			return first, last, dec.Decode(&last)
		case "index":
			return first, last, nil
		default:
			var skip json.RawMessage
			err = dec.Decode(&skip)
		}
		if err != nil {
			return "", "", err
		}
	}
	return first, last, nil
}

// readSegment decodes the records of a segment file that match f, or with
// countOnly only counts them. It stops quietly at a torn tail (an open
// segment being written) and fails on anything else.
func readSegment(c *codec, path, rel string, f *Filter, st *QueryStats, countOnly bool) ([]Record, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read segment %s: %w", rel, err)
	}
	st.Bytes += int64(len(data))
	return decodeSegment(c, data, rel, f, st, countOnly)
}

// decodeSegment decodes the records of segment bytes that match f, adding
// them to st.Matched; with countOnly it returns none.
func decodeSegment(c *codec, data []byte, rel string, f *Filter, st *QueryStats, countOnly bool) ([]Record, error) {
	frames, off, perr := ParseFrames(data)
	if perr != nil && !errors.Is(perr, ErrTruncated) {
		return nil, fmt.Errorf("read segment %s at byte %d: %w", rel, off, perr)
	}
	m := f.matcher()
	var pre *prefilter
	if f.usePrefilter() {
		pre = &prefilter{m: &m, needle: []byte(f.Contains)}
	}
	var recs []Record
	for _, fr := range frames {
		raw, err := c.decompress(fr.Payload)
		if err != nil {
			return nil, fmt.Errorf("read segment %s frame %d: %w", rel, fr.Seq, err)
		}
		// The prefilter counts the frame's records; the loop below counts
		// them when it decodes them all.
		counted := false
		if pre != nil {
			reduced, n, all, perr := pre.reduce(raw)
			if perr == nil && !all {
				st.Records += n
				counted = true
				if len(reduced) == 0 {
					continue
				}
				raw = reduced
			}
		}
		ld, err := c.unmarshal(raw)
		if err != nil {
			return nil, fmt.Errorf("read segment %s frame %d: %w", rel, fr.Seq, err)
		}
		for _, rl := range ld.ResourceLogs().All() {
			res := rl.Resource().Attributes()
			if !m.resource(res) {
				if !counted {
					for _, sl := range rl.ScopeLogs().All() {
						st.Records += uint64(sl.LogRecords().Len())
					}
				}
				continue
			}
			for _, sl := range rl.ScopeLogs().All() {
				for _, lr := range sl.LogRecords().All() {
					if !counted {
						st.Records++
					}
					if !m.record(lr, res) {
						continue
					}
					st.Matched++
					if countOnly {
						continue
					}
					recs = append(recs, Record{
						Segment:      rel,
						Time:         recordTime(lr).AsTime().UTC(),
						ObservedTime: lr.ObservedTimestamp().AsTime().UTC(),
						Severity:     lr.SeverityNumber(),
						SeverityText: lr.SeverityText(),
						Body:         lr.Body(),
						Attributes:   lr.Attributes(),
						Resource:     res,
						Scope:        sl.Scope(),
					})
				}
			}
		}
	}
	return recs, nil
}

// matcher is Match taken apart, so that a resource that cannot match is
// passed over once and a record is tested before a Record is built for it.
type matcher struct {
	f            *Filter
	since, until int64 // UnixNano; 0 when unset
}

func (f *Filter) matcher() matcher {
	m := matcher{f: f}
	if !f.Since.IsZero() {
		m.since = f.Since.UnixNano()
	}
	if !f.Until.IsZero() {
		m.until = f.Until.UnixNano()
	}
	return m
}

// resource reports whether records of a resource can match: Device and
// Fleet look only at the resource.
func (m *matcher) resource(res pcommon.Map) bool {
	f := m.f
	return (f.Device == "" || attrIs(res, DeviceAttribute, f.Device)) && (f.Fleet == "" || attrIs(res, FleetAttribute, f.Fleet))
}

// record is Match for a record of a resource that passed resource.
func (m *matcher) record(lr plog.LogRecord, res pcommon.Map) bool {
	f := m.f
	if m.since != 0 || m.until != 0 {
		t := recordTime(lr).AsTime().UnixNano()
		if (m.since != 0 && t < m.since) || (m.until != 0 && t >= m.until) {
			return false
		}
	}
	if f.MinSeverity != 0 && lr.SeverityNumber() < f.MinSeverity {
		return false
	}
	if f.Contains != "" {
		body := lr.Body()
		var text string
		if body.Type() == pcommon.ValueTypeStr {
			text = body.Str()
		} else {
			text = body.AsString()
		}
		if !strings.Contains(text, f.Contains) {
			return false
		}
	}
	return attrsMatch(f.Attrs, lr.Attributes(), res)
}

// Match reports whether r passes every filter.
func (f *Filter) Match(r *Record) bool {
	if !f.Since.IsZero() && r.Time.Before(f.Since) {
		return false
	}
	if !f.Until.IsZero() && !r.Time.Before(f.Until) {
		return false
	}
	if f.MinSeverity != 0 && r.Severity < f.MinSeverity {
		return false
	}
	if f.Device != "" && !attrIs(r.Resource, DeviceAttribute, f.Device) {
		return false
	}
	if f.Fleet != "" && !attrIs(r.Resource, FleetAttribute, f.Fleet) {
		return false
	}
	if f.Contains != "" && !strings.Contains(r.Body.AsString(), f.Contains) {
		return false
	}
	return attrsMatch(f.Attrs, r.Attributes, r.Resource)
}

// attrsMatch reports whether every key=value of want is a record attribute
// or, when the record has no such key, a resource attribute.
func attrsMatch(want map[string]string, attrs, res pcommon.Map) bool {
	for k, v := range want {
		if _, ok := attrs.Get(k); ok {
			if !attrIs(attrs, k, v) {
				return false
			}
		} else if !attrIs(res, k, v) {
			return false
		}
	}
	return true
}

func attrIs(m pcommon.Map, key, want string) bool {
	v, ok := m.Get(key)
	return ok && v.AsString() == want
}

// jsonRecord is a record's JSON line.
type jsonRecord struct {
	Time           string         `json:"time"`
	ObservedTime   string         `json:"observed_time"`
	Severity       string         `json:"severity"`
	SeverityNumber int32          `json:"severity_number"`
	Body           any            `json:"body"`
	Attributes     map[string]any `json:"attributes"`
	Resource       map[string]any `json:"resource"`
	Scope          string         `json:"scope,omitempty"`
	Segment        string         `json:"segment"`
}

// MarshalJSON encodes the record as one JSON object: time, observed_time,
// severity, severity_number, body, attributes, resource, scope, segment.
func (r *Record) MarshalJSON() ([]byte, error) {
	return json.Marshal(jsonRecord{
		Time:           formatOptionalTime(r.Time),
		ObservedTime:   formatOptionalTime(r.ObservedTime),
		Severity:       r.SeverityName(),
		SeverityNumber: int32(r.Severity),
		Body:           r.Body.AsRaw(),
		Attributes:     r.Attributes.AsRaw(),
		Resource:       r.Resource.AsRaw(),
		Scope:          r.Scope.Name(),
		Segment:        r.Segment,
	})
}

// Text renders the record on one line: time, severity, device and body.
func (r *Record) Text() string {
	var b strings.Builder
	b.WriteString(formatOptionalTime(r.Time))
	fmt.Fprintf(&b, " %-5s", r.SeverityName())
	if v, ok := r.Resource.Get(DeviceAttribute); ok {
		fmt.Fprintf(&b, " [%s]", v.AsString())
	}
	b.WriteByte(' ')
	b.WriteString(r.Body.AsString())
	return b.String()
}

// SeverityName is the record's severity text, or the name of its severity
// number when it has none.
func (r *Record) SeverityName() string {
	if r.SeverityText != "" {
		return r.SeverityText
	}
	if r.Severity == plog.SeverityNumberUnspecified {
		return ""
	}
	return strings.ToUpper(r.Severity.String())
}

func formatOptionalTime(t time.Time) string {
	if t.IsZero() || t.UnixNano() == 0 {
		return ""
	}
	return formatTime(t)
}

// ParseSeverity reads a minimum severity: a name (trace, debug, info, warn,
// error, fatal, case-insensitive, optionally with a 2-4 suffix) or a number 1-24.
func ParseSeverity(s string) (plog.SeverityNumber, error) {
	if n, err := strconv.Atoi(s); err == nil && n >= 1 && n <= 24 {
		return plog.SeverityNumber(n), nil
	}
	for n := plog.SeverityNumberTrace; n <= plog.SeverityNumberFatal4; n++ {
		if strings.EqualFold(n.String(), s) {
			return n, nil
		}
	}
	if strings.EqualFold(s, "warning") {
		return plog.SeverityNumberWarn, nil
	}
	return 0, fmt.Errorf("unknown severity %q: use trace, debug, info, warn, error, fatal or 1-24", s)
}
