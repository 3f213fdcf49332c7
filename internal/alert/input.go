package alert

import (
	"encoding/json"
	"strings"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
)

// PdataAttrs is Attrs (as a pointer) over a log record's attributes and
// its resource's.
type PdataAttrs struct {
	Record, Resource pcommon.Map
}

// Get implements Attrs: the record's attribute, else the resource's.
func (a *PdataAttrs) Get(key string) (string, bool) {
	v, ok := a.Record.Get(key)
	if !ok {
		if v, ok = a.Resource.Get(key); !ok {
			return "", false
		}
	}
	return ValueString(v), true
}

// ValueString is v as rules read it: a string value as it is, any other as
// pdata writes it.
func ValueString(v pcommon.Value) string {
	if v.Type() == pcommon.ValueTypeStr {
		return v.Str()
	}
	return v.AsString()
}

// ResourceIdentity is IdentityOf over a resource's attributes alone, as
// fleet_metadata leaves them, without the Attrs a lookup through an
// interface needs.
func ResourceIdentity(res pcommon.Map) Identity {
	str := func(k string) string {
		v, ok := res.Get(k)
		if !ok {
			return ""
		}
		return ValueString(v)
	}
	return Identity{Device: str(keyDevice), Fleet: str(keyFleet), Site: str(keySite)}
}

// ParseLine reads one line of a log file as a Record for offline runs. A
// line that is a JSON object in `fleetlogctl archive query` form (time,
// severity_number, body, attributes, resource) is read as such; any other
// line is its own body, with the time of a leading RFC 3339 or BSD syslog
// ("Jan  2 15:04:05", in year) timestamp when it has one. base holds the
// attributes of every record of the file (device.id, fleet.name, ...).
func ParseLine(line string, year int, base map[string]string) Record {
	if strings.HasPrefix(line, "{") {
		if r, ok := parseJSONLine(line, base); ok {
			return r
		}
	}
	return Record{Time: sniffTime(line, year), Body: line, Attrs: MapAttrs(base)}
}

type jsonLine struct {
	Time           string         `json:"time"`
	SeverityNumber int32          `json:"severity_number"`
	Body           any            `json:"body"`
	Attributes     map[string]any `json:"attributes"`
	Resource       map[string]any `json:"resource"`
}

func parseJSONLine(line string, base map[string]string) (Record, bool) {
	var j jsonLine
	if err := json.Unmarshal([]byte(line), &j); err != nil || j.Body == nil {
		return Record{}, false
	}
	attrs := make(MapAttrs, len(base)+len(j.Attributes)+len(j.Resource))
	for k, v := range base {
		attrs[k] = v
	}
	// Record attributes win over the resource's, as in PdataAttrs.
	for _, m := range []map[string]any{j.Resource, j.Attributes} {
		for k, v := range m {
			attrs[k] = anyString(v)
		}
	}
	r := Record{Severity: plog.SeverityNumber(j.SeverityNumber), Body: anyString(j.Body), Attrs: attrs}
	r.Time, _ = time.Parse(time.RFC3339Nano, j.Time)
	return r, true
}

func anyString(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case nil:
		return ""
	}
	val := pcommon.NewValueEmpty()
	if err := val.FromRaw(v); err != nil {
		b, _ := json.Marshal(v)
		return string(b)
	}
	return val.AsString()
}

func sniffTime(line string, year int) time.Time {
	if i := strings.IndexByte(line, ' '); i > 0 {
		if t, err := time.Parse(time.RFC3339Nano, line[:i]); err == nil {
			return t
		}
	}
	if len(line) >= len(time.Stamp) {
		if t, err := time.Parse(time.Stamp, line[:len(time.Stamp)]); err == nil {
			return t.AddDate(year, 0, 0)
		}
	}
	return time.Time{}
}
