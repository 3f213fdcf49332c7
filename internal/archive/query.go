package archive

import (
	"errors"
	"fmt"
	"os"
	"sort"
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
		recs, err := readSegment(c, joinRel(dir, e.segment), e.segment, &st)
		if err != nil {
			return st, err
		}
		st.Segments++
		sort.SliceStable(recs, func(i, j int) bool { return recs[i].Time.Before(recs[j].Time) })
		for i := range recs {
			if f.Match(&recs[i]) {
				st.Matched++
				if err := emit(&recs[i]); err != nil {
					return st, err
				}
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

// readSegment decodes every record of a segment file. It stops quietly at a
// torn tail (an open segment being written) and fails on anything else.
func readSegment(c *codec, path, rel string, st *QueryStats) ([]Record, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read segment %s: %w", rel, err)
	}
	st.Bytes += int64(len(data))
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
					recs = append(recs, Record{
						Segment:      rel,
						Time:         recordTime(lr).AsTime().UTC(),
						ObservedTime: lr.ObservedTimestamp().AsTime().UTC(),
						Severity:     lr.SeverityNumber(),
						SeverityText: lr.SeverityText(),
						Body:         lr.Body(),
						Attributes:   lr.Attributes(),
						Resource:     rl.Resource().Attributes(),
						Scope:        sl.Scope(),
					})
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
