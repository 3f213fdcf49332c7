package piiprocessor // import "github.com/fleetlog/fleetlog/processors/piiprocessor"

import (
	"context"
	"strconv"
	"strings"
	"sync"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/processor"
	"go.opentelemetry.io/collector/processor/processorhelper"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/fleetlog/fleetlog/internal/pii"
	"github.com/fleetlog/fleetlog/internal/spoolstamp"
	"github.com/fleetlog/fleetlog/processors/piiprocessor/internal/metadata"
)

// BlockedKey is the detector name counted for, and the mask written over,
// values under blocked_keys.
const BlockedKey = "blocked_key"

const blockedMask = "[REDACTED:" + BlockedKey + "]"

// minCardNumber is the smallest integer with a card number's 13 digits.
const minCardNumber = 1_000_000_000_000

type piiProcessor struct {
	engine     *pii.Engine
	names      []string // engine.Names()
	detect     bool
	scope      ScopeConfig
	allowed    []string
	blocked    []string
	summaryKey string
	// summaryCount and summaryDetectors are summaryKey's two attributes,
	// joined once rather than per record.
	summaryCount, summaryDetectors string
	telemetry                      *metadata.TelemetryBuilder
	detectorOpt                    []metric.AddOption // by engine detector index
	blockedOpt                     metric.AddOption
	tallies                        sync.Pool // *tallies: processLogs runs concurrently
}

// tallies are the counts of one processLogs call: the current record's and
// the batch's.
type tallies struct {
	record, batch *pii.Tally
	clean         *cleanValues
}

// cleanValues remembers, within one processLogs call, the string attributes
// found clean. A tailed file's log.file.name and log.file.path repeat on
// every record of a batch, and whether a value holds a finding depends only
// on its key and its text, so each distinct pair is scanned once. Only clean
// verdicts are kept: a finding is redacted and counted every time.
type cleanValues struct {
	seen map[attrValue]struct{}
	// at is the clean pair last seen at each attribute position. The
	// records of a batch from one file carry the same attributes in the
	// same order, most often the same strings, which compare in less time
	// than seen takes to hash them.
	at [maxCleanAt]attrValue
}

// isClean reports whether the pair kv, at position i of its map, was found
// clean.
func (c *cleanValues) isClean(i int, kv attrValue) bool {
	if i < maxCleanAt && c.at[i] == kv {
		return true
	}
	if _, ok := c.seen[kv]; ok {
		if i < maxCleanAt {
			c.at[i] = kv
		}
		return true
	}
	return false
}

// add remembers that the pair kv at position i is clean.
func (c *cleanValues) add(i int, kv attrValue) {
	if len(c.seen) < maxCleanValues {
		c.seen[kv] = struct{}{}
	}
	if i < maxCleanAt {
		c.at[i] = kv
	}
}

// reset forgets every pair: they belong to one batch.
func (c *cleanValues) reset() {
	clear(c.seen)
	c.at = [maxCleanAt]attrValue{}
}

type attrValue struct{ key, value string }

// Bounds on cleanValues, so high-cardinality attributes cost no more than a
// scan: at most maxCleanValues pairs, each value at most maxCleanValueLen.
const (
	maxCleanValues   = 64
	maxCleanValueLen = 512
	maxCleanAt       = 8 // attribute positions remembered in cleanValues.at
)

func newPIIProcessor(set processor.Settings, cfg *Config) (*piiProcessor, error) {
	engine, err := cfg.NewEngine()
	if err != nil {
		return nil, err
	}
	tb, err := metadata.NewTelemetryBuilder(set.TelemetrySettings)
	if err != nil {
		return nil, err
	}
	p := &piiProcessor{
		engine:           engine,
		names:            engine.Names(),
		detect:           cfg.Mode == ModeDetect,
		scope:            cfg.Scope,
		allowed:          cfg.AllowedKeys,
		blocked:          cfg.BlockedKeys,
		summaryKey:       cfg.SummaryAttribute,
		summaryCount:     cfg.SummaryAttribute + ".count",
		summaryDetectors: cfg.SummaryAttribute + ".detectors",
		telemetry:        tb,
		blockedOpt:       metric.WithAttributeSet(attribute.NewSet(attribute.String("detector", BlockedKey))),
	}
	for _, name := range p.names {
		p.detectorOpt = append(p.detectorOpt, metric.WithAttributeSet(attribute.NewSet(attribute.String("detector", name))))
	}
	p.tallies.New = func() any {
		return &tallies{record: engine.NewTally(), batch: engine.NewTally(), clean: &cleanValues{seen: make(map[attrValue]struct{}, maxCleanValues)}}
	}
	return p, nil
}

func (p *piiProcessor) shutdown(context.Context) error {
	p.telemetry.Shutdown()
	return nil
}

// processLogs scans every record in scope. Per-record events are counted
// and reported once per batch, and never logged: a log line about a match
// would be a place for the match to leak.
func (p *piiProcessor) processLogs(ctx context.Context, ld plog.Logs) (plog.Logs, error) {
	t := p.tallies.Get().(*tallies)
	defer func() {
		// The remembered strings belong to this batch: do not keep them.
		t.clean.reset()
		p.tallies.Put(t)
	}()
	t.batch.Reset()
	var redacted, dropped, blocked int64

	ld.ResourceLogs().RemoveIf(func(rl plog.ResourceLogs) bool {
		if p.scope.ResourceAttributes {
			t.record.Reset()
			act, n, b := p.mapValues(rl.Resource().Attributes(), t.record, nil)
			blocked += b
			p.addCounts(t)
			if act == pii.ActionDropRecord && !p.detect && n > 0 {
				dropped += int64(countRecords(rl))
				return true
			}
		}
		before := dropped
		rl.ScopeLogs().RemoveIf(func(sl plog.ScopeLogs) bool {
			scopeBefore := dropped
			sl.LogRecords().RemoveIf(func(lr plog.LogRecord) bool {
				t.record.Reset()
				p.unsummarize(lr)
				act, n, b := p.record(lr, t)
				blocked += b
				if n == 0 {
					return false
				}
				redacted++
				p.addCounts(t)
				if act == pii.ActionDropRecord && !p.detect {
					dropped++
					return true
				}
				p.summarize(lr, t.record)
				return false
			})
			// Only a scope (or resource) emptied by drop_record goes.
			return dropped > scopeBefore && sl.LogRecords().Len() == 0
		})
		return dropped > before && rl.ScopeLogs().Len() == 0
	})

	for id, c := range t.batch.Counts {
		if c > 0 {
			p.telemetry.ProcessorPiiDetections.Add(ctx, int64(c), p.detectorOpt[id])
		}
	}
	if blocked > 0 {
		p.telemetry.ProcessorPiiDetections.Add(ctx, blocked, p.blockedOpt)
	}
	if redacted > 0 {
		p.telemetry.ProcessorPiiRecordsRedacted.Add(ctx, redacted)
	}
	if dropped > 0 {
		p.telemetry.ProcessorPiiRecordsDropped.Add(ctx, dropped)
		if ld.ResourceLogs().Len() == 0 {
			return ld, processorhelper.ErrSkipProcessingData
		}
	}
	return ld, nil
}

func countRecords(rl plog.ResourceLogs) int {
	n := 0
	for i := 0; i < rl.ScopeLogs().Len(); i++ {
		n += rl.ScopeLogs().At(i).LogRecords().Len()
	}
	return n
}

func (p *piiProcessor) addCounts(t *tallies) {
	for id, c := range t.record.Counts {
		t.batch.Counts[id] += c
	}
	t.batch.Total += t.record.Total
}

// record scans one log record's body and attributes. n counts matches and
// blocked values.
func (p *piiProcessor) record(lr plog.LogRecord, ts *tallies) (act pii.Action, n int, blocked int64) {
	t := ts.record
	if p.scope.Body {
		act, n = p.value("", lr.Body(), t)
		if act == pii.ActionDropAttribute {
			// A body is not an attribute: its match was masked in place.
			act = pii.ActionMask
		}
	}
	if p.scope.Attributes {
		a, m, b := p.mapValues(lr.Attributes(), t, ts.clean)
		act, n, blocked = max(act, a), n+m+int(b), b
	}
	return act, n, blocked
}

// value redacts v, found under key ("" for a body), in place and returns
// the strongest action and the number of matches in it.
func (p *piiProcessor) value(key string, v pcommon.Value, t *pii.Tally) (pii.Action, int) {
	switch v.Type() {
	case pcommon.ValueTypeStr:
		if p.detect {
			return p.engine.DetectKeyed(key, v.Str(), t)
		}
		out, act, n := p.engine.RedactKeyed(key, v.Str(), t)
		if n > 0 {
			v.SetStr(out)
		}
		return act, n
	case pcommon.ValueTypeInt:
		// A card number logged as a number: only integers long enough to be
		// one are formatted and scanned.
		i := v.Int()
		if i < minCardNumber && i > -minCardNumber {
			return pii.ActionMask, 0
		}
		s := strconv.FormatInt(i, 10)
		if p.detect {
			return p.engine.DetectKeyed(key, s, t)
		}
		out, act, n := p.engine.RedactKeyed(key, s, t)
		if n > 0 {
			v.SetStr(out)
		}
		return act, n
	case pcommon.ValueTypeMap:
		act, n, b := p.mapValues(v.Map(), t, nil)
		return act, n + int(b)
	case pcommon.ValueTypeSlice:
		strongest, total := pii.ActionMask, 0
		s := v.Slice()
		for i := 0; i < s.Len(); i++ {
			act, n := p.value(key, s.At(i), t)
			if act == pii.ActionDropAttribute {
				act = pii.ActionMask // the element's match was masked in place
			}
			strongest, total = max(strongest, act), total+n
		}
		return strongest, total
	}
	return pii.ActionMask, 0
}

// mapValues scans an attribute map or map body: allowed keys are skipped,
// blocked keys masked, values whose action is drop_attribute removed. With
// clean set, string values already found clean in this batch are skipped.
func (p *piiProcessor) mapValues(m pcommon.Map, t *pii.Tally, clean *cleanValues) (pii.Action, int, int64) {
	strongest, total := pii.ActionMask, 0
	var blocked int64
	at := -1 // the position of (k, v) in m
	m.RemoveIf(func(k string, v pcommon.Value) bool {
		at++
		// The spool's stamp is on every record, its id the same for a
		// batch but never remembered: told by its key before a look-up.
		if spoolStamp(k, v) {
			return false
		}
		// A pair found clean before was neither allowed nor blocked (those
		// are never remembered): it is skipped next.
		memo := clean != nil && v.Type() == pcommon.ValueTypeStr && len(v.Str()) <= maxCleanValueLen
		var seen attrValue
		if memo {
			seen = attrValue{k, v.Str()}
			if clean.isClean(at, seen) {
				return false
			}
		}
		if hasKeyFold(p.allowed, k) {
			return false
		}
		if hasKeyFold(p.blocked, k) {
			if v.Type() != pcommon.ValueTypeStr || v.Str() != blockedMask {
				blocked++
				if !p.detect {
					v.SetStr(blockedMask)
				}
			}
			return false
		}
		act, n := p.value(k, v, t)
		if memo && n == 0 {
			clean.add(at, seen)
		}
		total += n
		if n > 0 && act == pii.ActionDropAttribute && !p.detect {
			return true
		}
		if act != pii.ActionDropAttribute {
			strongest = max(strongest, act)
		}
		return false
	})
	return strongest, total, blocked
}

// spoolStamp reports whether k, v is a well-formed part of the spool's
// stamp (internal/spoolstamp), which the archive needs exactly as the spool
// made it: a large sequence number can pass the card number check, and
// redacting it would make the archive store re-deliveries again. Its values
// (an integer, 32 hex digits) cannot hold text; anything else under these
// keys is scanned as usual.
func spoolStamp(k string, v pcommon.Value) bool {
	switch k {
	case spoolstamp.SeqAttribute:
		return v.Type() == pcommon.ValueTypeInt
	case spoolstamp.IDAttribute:
		return v.Type() == pcommon.ValueTypeStr && spoolstamp.ValidID(v.Str())
	}
	return false
}

func hasKeyFold(keys []string, k string) bool {
	for _, key := range keys {
		if strings.EqualFold(key, k) {
			return true
		}
	}
	return false
}

// unsummarize removes a summary that arrived with the record: only this
// processor's own findings may stand under summary_attribute, or a device
// could claim (or hide) findings on the gateway's behalf.
func (p *piiProcessor) unsummarize(lr plog.LogRecord) {
	if p.summaryKey == "" {
		return
	}
	attrs := lr.Attributes()
	// One pass tells whether there is anything to remove: nearly every
	// record arrives without a summary, and each Remove is a pass of its own.
	found := false
	attrs.Range(func(k string, _ pcommon.Value) bool {
		found = k == p.summaryCount || k == p.summaryDetectors
		return !found
	})
	if found {
		attrs.Remove(p.summaryCount)
		attrs.Remove(p.summaryDetectors)
	}
}

// summarize adds <summary_attribute>.count and .detectors to a record.
func (p *piiProcessor) summarize(lr plog.LogRecord, t *pii.Tally) {
	if p.summaryKey == "" {
		return
	}
	attrs := lr.Attributes()
	attrs.PutInt(p.summaryCount, int64(t.Total))
	names := attrs.PutEmptySlice(p.summaryDetectors)
	for id, name := range p.names {
		if t.Counts[id] > 0 {
			names.AppendEmpty().SetStr(name)
		}
	}
}
