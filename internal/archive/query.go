package archive

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
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
	Segments, Skipped int
	Bytes             int64
	Records, Matched  uint64
}

// Query scans the archive in segment order and calls emit with every record
// that matches f, sorted by time within each segment. Segments whose manifest
// puts them wholly outside [Since, Until) are not read. Query does not
// authenticate what it reads; Verify does.
func Query(dir string, f Filter, emit func(*Record) error) (QueryStats, error) {
	var st QueryStats
	entries, err := scan(dir)
	if err != nil {
		return st, err
	}
	c, err := newCodec()
	if err != nil {
		return st, err
	}
	defer c.close()
	for _, e := range entries {
		if e.segment == "" || e.tombstone != "" {
			continue
		}
		if e.manifest != "" && f.skips(joinRel(dir, e.manifest)) {
			st.Skipped++
			continue
		}
		recs, err := readSegment(c, joinRel(dir, e.segment), e.segment, &f, &st)
		if err != nil {
			return st, err
		}
		st.Segments++
		sort.SliceStable(recs, func(i, j int) bool { return recs[i].Time.Before(recs[j].Time) })
		st.Matched += uint64(len(recs))
		for i := range recs {
			if err := emit(&recs[i]); err != nil {
				return st, err
			}
		}
	}
	return st, nil
}

// skips reports whether a sealed segment's manifest puts all its records
// outside the filter's time range. An unreadable manifest never skips.
func (f *Filter) skips(manifestPath string) bool {
	if f.Since.IsZero() && f.Until.IsZero() {
		return false
	}
	data, err := os.ReadFile(manifestPath)
	if err != nil {
		return false
	}
	m, err := parseManifest(data)
	if err != nil {
		return false
	}
	first, err1 := time.Parse(time.RFC3339Nano, m.FirstTime)
	last, err2 := time.Parse(time.RFC3339Nano, m.LastTime)
	if err1 != nil || err2 != nil {
		return false
	}
	return (!f.Since.IsZero() && last.Before(f.Since)) || (!f.Until.IsZero() && !first.Before(f.Until))
}

// readSegment decodes the records of a segment file that match f. It stops
// quietly at a torn tail (an open segment being written) and fails on
// anything else.
func readSegment(c *codec, path, rel string, f *Filter, st *QueryStats) ([]Record, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read segment %s: %w", rel, err)
	}
	st.Bytes += int64(len(data))
	return decodeSegment(c, data, rel, f, st)
}

// decodeSegment decodes the records of segment bytes that match f.
func decodeSegment(c *codec, data []byte, rel string, f *Filter, st *QueryStats) ([]Record, error) {
	frames, off, perr := ParseFrames(data)
	if perr != nil && !errors.Is(perr, ErrTruncated) {
		return nil, fmt.Errorf("read segment %s at byte %d: %w", rel, off, perr)
	}
	var recs []Record
	for _, fr := range frames {
		ld, err := c.decode(fr.Payload)
		if err != nil {
			return nil, fmt.Errorf("read segment %s frame %d: %w", rel, fr.Seq, err)
		}
		for _, rl := range ld.ResourceLogs().All() {
			for _, sl := range rl.ScopeLogs().All() {
				for _, lr := range sl.LogRecords().All() {
					st.Records++
					r := Record{
						Segment:      rel,
						Time:         recordTime(lr).AsTime().UTC(),
						ObservedTime: lr.ObservedTimestamp().AsTime().UTC(),
						Severity:     lr.SeverityNumber(),
						SeverityText: lr.SeverityText(),
						Body:         lr.Body(),
						Attributes:   lr.Attributes(),
						Resource:     rl.Resource().Attributes(),
						Scope:        sl.Scope(),
					}
					if f.Match(&r) {
						recs = append(recs, r)
					}
				}
			}
		}
	}
	return recs, nil
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
	for k, v := range f.Attrs {
		if _, ok := r.Attributes.Get(k); ok {
			if !attrIs(r.Attributes, k, v) {
				return false
			}
		} else if !attrIs(r.Resource, k, v) {
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
