package spoolreceiver // import "github.com/fleetlog/fleetlog/receivers/spoolreceiver"

import (
	"context"
	"fmt"
	"maps"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/stanza/entry"
	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/stanza/fileconsumer"
	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/stanza/fileconsumer/emit"
	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/stanza/operator"
	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/stanza/operator/helper"
	"golang.org/x/text/encoding/unicode"

	"github.com/fleetlog/fleetlog/receivers/spoolreceiver/internal/record"
	"github.com/fleetlog/fleetlog/receivers/spoolreceiver/internal/severity"
	"github.com/fleetlog/fleetlog/receivers/spoolreceiver/internal/spool"
)

// scratch is reused between appends: one buffer holds every payload of a
// call, records slice into it, and the spool copies them on Append.
type scratch struct {
	buf    []byte
	shared []byte
	offs   []int
	lines  [][]byte
	recs   []spool.Record
	sevs   []uint8
	times  []int64
}

var scratchPool = sync.Pool{New: func() any { return new(scratch) }}

// release puts s back in the pool, dropping its references to the lines,
// which are stanza's buffers: they are not kept past the call.
func (s *scratch) release() {
	clear(s.lines)
	clear(s.recs)
	scratchPool.Put(s)
}

// nopEmit lets Validate build a fileconsumer to check its options.
func nopEmit(context.Context, [][]byte, map[string]any, int64, []int64) error { return nil }

// buildFile builds stanza's fileconsumer for one file input.
//
// For UTF-8, the default, stanza runs every byte of every line through
// x/text's UTF-8 transformer to replace invalid sequences: about 6% of the
// agent's CPU at full speed. The input instead reads the lines as they are
// ("utf-8-raw", stanza's pass-through) and fileEmit checks each with
// utf8.Valid, which is many times faster, and runs only an invalid line
// through that same transformer, so bodies stay exactly what stanza's UTF-8
// decoding gives. Not with multiline patterns, whose splitter has a fast
// path only for stanza's own UTF-8, nor with header parsing, whose
// attributes stanza decodes itself: those inputs keep stanza's decoding.
func (r *spoolReceiver) buildFile(fc *FileConfig) (*fileconsumer.Manager, error) {
	cfg := fc.Config
	repair := readRawUTF8(&cfg)
	if repair {
		cfg.Encoding = "utf-8-raw"
	}
	if len(fc.Operators) > 0 {
		emit, err := r.operatorEmit(fc, repair)
		if err != nil {
			return nil, err
		}
		return cfg.Build(r.set.TelemetrySettings, emit)
	}
	return cfg.Build(r.set.TelemetrySettings, r.fileEmit(fc, repair))
}

// readRawUTF8 reports whether an input with cfg reads lines raw and repairs
// them in fileEmit (see buildFile).
func readRawUTF8(cfg *fileconsumer.Config) bool {
	return isUTF8(cfg.Encoding) && cfg.SplitConfig.LineStartPattern == "" &&
		cfg.SplitConfig.LineEndPattern == "" && cfg.Header == nil
}

// isUTF8 reports whether stanza decodes enc as UTF-8 with replacement of
// invalid sequences (its names for unicode.UTF8).
func isUTF8(enc string) bool {
	switch strings.ToLower(enc) {
	case "", "utf-8", "utf8", "ascii", "us-ascii":
		return true
	}
	return false
}

// validUTF8 returns line, with every invalid UTF-8 sequence replaced as
// stanza's UTF-8 decoding replaces it.
func validUTF8(line []byte) []byte {
	if utf8.Valid(line) {
		return line
	}
	out, err := unicode.UTF8.NewDecoder().Bytes(line)
	if err != nil { // the UTF-8 decoder replaces; it does not fail
		return []byte(strings.ToValidUTF8(string(line), "\uFFFD"))
	}
	return out
}

// fileEmit returns fileconsumer's callback for one file input. It returns
// only after the lines are appended, waiting as long as the spool cannot
// take them (a full disk, a full spool under the block policy), so the
// reader stays at those lines. Only shutdown or a line that can never fit
// ends the wait with an error; that poisons the checkpoint store, because
// fileconsumer advances its offset past lines whatever emit returned, and
// that offset must then never be saved. With repair, lines are raw bytes
// to make valid UTF-8 (see buildFile).
func (r *spoolReceiver) fileEmit(fc *FileConfig, repair bool) emit.Callback {
	var static map[string]any
	if len(fc.Attributes) > 0 {
		static = make(map[string]any, len(fc.Attributes))
		for k, v := range fc.Attributes {
			static[k] = v
		}
	}
	lg := r.ledgers[fc]
	return func(ctx context.Context, tokens [][]byte, attrs map[string]any, lastRecord int64, tokenOffsets []int64) error {
		// Lines spooled before a crash, read again: skipped (ledger.go).
		if n := r.skipSpooled(ctx, lg, tokens, lastRecord, tokenOffsets); n > 0 {
			tokens, tokenOffsets = tokens[n:], tokenOffsets[n:]
			if len(tokens) == 0 {
				return nil
			}
		}
		if static != nil {
			merged := make(map[string]any, len(attrs)+len(static))
			maps.Copy(merged, attrs)
			maps.Copy(merged, static)
			attrs = merged
		}
		s := scratchPool.Get().(*scratch)
		defer s.release()
		now := time.Now().UnixNano()
		// The lines of one call share their attributes: encode them once,
		// as the records' shared part, which the spool stores once per
		// frame group. Each line goes to the spool as the tail of its
		// record, copied once, into the spool's buffer.
		e := record.Entry{Observed: now, Attributes: attrs}
		s.shared = record.AppendShared(s.shared[:0], &e)
		s.buf, s.recs, s.offs = s.buf[:0], s.recs[:0], s.offs[:0]
		s.sevs, s.lines = s.sevs[:0], s.lines[:0]
		for _, tok := range tokens {
			s.offs = append(s.offs, len(s.buf))
			if repair {
				tok = validUTF8(tok)
			}
			s.lines = append(s.lines, tok)
			if fc.DetectSeverity {
				lv := severity.Sniff(tok)
				e.Severity, e.SeverityText = lv.Number, lv.Text
			}
			s.sevs = append(s.sevs, e.Severity)
			e.BodyBytes = tok
			s.buf = record.AppendRecordHead(s.buf, &e)
		}
		s.offs = append(s.offs, len(s.buf))
		for i, line := range s.lines {
			s.recs = append(s.recs, spool.Record{Severity: s.sevs[i], Time: now, Shared: s.shared, Payload: s.buf[s.offs[i]:s.offs[i+1]], Tail: line})
		}
		if err := r.appendLines(ctx, lg, s.recs, true, tokens, lastRecord, tokenOffsets); err != nil {
			// Shutdown, or a line that can never fit: fileconsumer moves
			// past the lines whatever emit returns.
			r.store.Poison(err)
			return fmt.Errorf("append to spool: %w", err)
		}
		return nil
	}
}

// buildSyslog builds stanza's syslog input (tcp or udp, framing, parser) and
// points it at a sink that appends to the spool.
func (r *spoolReceiver) buildSyslog(name string, sc *SyslogConfig) (operator.Operator, error) {
	cfg := sc.Config
	cfg.OperatorID = "syslog_" + name
	in, err := cfg.Build(r.set.TelemetrySettings)
	if err != nil {
		return nil, fmt.Errorf("'syslog::%s': %w", name, err)
	}
	base, err := helper.NewOutputConfig("spool_"+name, "spool_output").Build(r.set.TelemetrySettings)
	if err != nil {
		return nil, fmt.Errorf("'syslog::%s': %w", name, err)
	}
	sink := &spoolSink{OutputOperator: base, r: r, udp: sc.UDP != nil}
	in.SetOutputIDs([]string{sink.ID()})
	if err := in.SetOutputs([]operator.Operator{sink}); err != nil {
		return nil, fmt.Errorf("'syslog::%s': %w", name, err)
	}
	return in, nil
}

// spoolSink is the terminal stanza operator of a syslog input.
type spoolSink struct {
	helper.OutputOperator
	r *spoolReceiver
	// udp inputs cannot push back on their peer: a spool that cannot take
	// the message (full under the block policy, a full disk) drops it,
	// counted, instead of stalling the socket.
	udp bool
}

// Process appends one parsed entry.
func (s *spoolSink) Process(ctx context.Context, e *entry.Entry) error {
	return s.ProcessBatch(ctx, []*entry.Entry{e})
}

// ProcessBatch appends parsed entries.
func (s *spoolSink) ProcessBatch(ctx context.Context, entries []*entry.Entry) error {
	sc := scratchPool.Get().(*scratch)
	defer sc.release()
	sc.encode(entries)
	if s.udp {
		return s.r.appendRecords(ctx, sc.recs, dropWhenFull)
	}
	// Over TCP this holds the connection's reader, so the peer is pushed
	// back on rather than its messages dropped.
	return s.r.appendRecords(ctx, sc.recs, waitForRoom)
}

// encode makes sc.recs the spool records of entries, encoded into sc.
func (sc *scratch) encode(entries []*entry.Entry) {
	sc.reset()
	sc.add(entries)
	sc.records()
}

// reset empties sc for add.
func (sc *scratch) reset() {
	sc.buf, sc.recs, sc.offs = sc.buf[:0], sc.recs[:0], sc.offs[:0]
	sc.sevs, sc.times = sc.sevs[:0], sc.times[:0]
}

// add encodes entries after the records sc holds, each in two parts: what
// records share (resource, scope, attributes) and its own.
func (sc *scratch) add(entries []*entry.Entry) {
	for _, e := range entries {
		re := entryToRecord(e)
		sc.offs = append(sc.offs, len(sc.buf))
		sc.buf = record.AppendShared(sc.buf, re)
		sc.offs = append(sc.offs, len(sc.buf))
		sc.buf = record.AppendRecord(sc.buf, re)
		sc.sevs = append(sc.sevs, severityOf(e.Severity))
		sc.times = append(sc.times, e.ObservedTimestamp.UnixNano())
	}
}

// records makes sc.recs the spool records of what add encoded, slicing
// sc.buf, which must not grow after.
func (sc *scratch) records() []spool.Record {
	sc.recs = sc.recs[:0]
	for i := range sc.sevs {
		start, mid, end := sc.offs[2*i], sc.offs[2*i+1], len(sc.buf)
		if 2*i+2 < len(sc.offs) {
			end = sc.offs[2*i+2]
		}
		sc.recs = append(sc.recs, spool.Record{
			Severity: sc.sevs[i],
			Time:     sc.times[i],
			Shared:   sc.buf[start:mid:mid],
			Payload:  sc.buf[mid:end:end],
		})
	}
	return sc.recs
}

func entryToRecord(e *entry.Entry) *record.Entry {
	var ts int64
	if !e.Timestamp.IsZero() {
		ts = e.Timestamp.UnixNano()
	}
	return &record.Entry{
		Timestamp:    ts,
		Observed:     e.ObservedTimestamp.UnixNano(),
		Severity:     severityOf(e.Severity),
		SeverityText: e.SeverityText,
		Scope:        e.ScopeName,
		Resource:     e.Resource,
		Attributes:   e.Attributes,
		Body:         e.Body,
	}
}

// severityOf maps stanza's severity (numbered like plog.SeverityNumber) to
// the spool's byte, clamping out-of-range values.
func severityOf(s entry.Severity) uint8 {
	return uint8(min(max(int(s), 0), 24))
}
