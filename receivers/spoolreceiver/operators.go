package spoolreceiver // import "github.com/fleetlog/fleetlog/receivers/spoolreceiver"

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"time"

	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/stanza/entry"
	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/stanza/fileconsumer/emit"
	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/stanza/operator"
	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/stanza/operator/helper"
	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/stanza/pipeline"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/extension/xextension/storage"

	// The parsers and transformers of the contrib filelog receiver's
	// `operators` (pkg/stanza/adapter registers the same set), less the
	// outputs, which would take lines away from the spool.
	_ "github.com/open-telemetry/opentelemetry-collector-contrib/pkg/stanza/operator/parser/csv"
	_ "github.com/open-telemetry/opentelemetry-collector-contrib/pkg/stanza/operator/parser/jsonarray"
	_ "github.com/open-telemetry/opentelemetry-collector-contrib/pkg/stanza/operator/parser/jsonparser"
	_ "github.com/open-telemetry/opentelemetry-collector-contrib/pkg/stanza/operator/parser/keyvalue"
	_ "github.com/open-telemetry/opentelemetry-collector-contrib/pkg/stanza/operator/parser/regex"
	_ "github.com/open-telemetry/opentelemetry-collector-contrib/pkg/stanza/operator/parser/scope"
	_ "github.com/open-telemetry/opentelemetry-collector-contrib/pkg/stanza/operator/parser/severity"
	_ "github.com/open-telemetry/opentelemetry-collector-contrib/pkg/stanza/operator/parser/syslog"
	_ "github.com/open-telemetry/opentelemetry-collector-contrib/pkg/stanza/operator/parser/timeparser"
	_ "github.com/open-telemetry/opentelemetry-collector-contrib/pkg/stanza/operator/parser/trace"
	_ "github.com/open-telemetry/opentelemetry-collector-contrib/pkg/stanza/operator/parser/uri"
	_ "github.com/open-telemetry/opentelemetry-collector-contrib/pkg/stanza/operator/transformer/add"
	_ "github.com/open-telemetry/opentelemetry-collector-contrib/pkg/stanza/operator/transformer/assignkeys"
	_ "github.com/open-telemetry/opentelemetry-collector-contrib/pkg/stanza/operator/transformer/copy"
	_ "github.com/open-telemetry/opentelemetry-collector-contrib/pkg/stanza/operator/transformer/filter"
	_ "github.com/open-telemetry/opentelemetry-collector-contrib/pkg/stanza/operator/transformer/flatten"
	_ "github.com/open-telemetry/opentelemetry-collector-contrib/pkg/stanza/operator/transformer/move"
	_ "github.com/open-telemetry/opentelemetry-collector-contrib/pkg/stanza/operator/transformer/noop"
	_ "github.com/open-telemetry/opentelemetry-collector-contrib/pkg/stanza/operator/transformer/regexreplace"
	_ "github.com/open-telemetry/opentelemetry-collector-contrib/pkg/stanza/operator/transformer/remove"
	_ "github.com/open-telemetry/opentelemetry-collector-contrib/pkg/stanza/operator/transformer/retain"
	_ "github.com/open-telemetry/opentelemetry-collector-contrib/pkg/stanza/operator/transformer/router"
	_ "github.com/open-telemetry/opentelemetry-collector-contrib/pkg/stanza/operator/transformer/sanitizeutf8"
	_ "github.com/open-telemetry/opentelemetry-collector-contrib/pkg/stanza/operator/transformer/unquote"

	"github.com/fleetlog/fleetlog/receivers/spoolreceiver/internal/spool"
)

// Errors of a file input's `operators`.
var (
	// ErrOperatorAsync rejects an operator that holds entries back and emits
	// them later: by then the lines' checkpoint may be saved, and an append
	// error could no longer stop it.
	ErrOperatorAsync = errors.New("holds entries and emits them later, after their checkpoint may be saved; not supported before the spool")
	// ErrOperatorRole rejects an input or output operator: a file input's
	// pipeline starts at the file and ends in the spool.
	ErrOperatorRole = errors.New("only parsers and transformers may be used: the pipeline starts at the file and ends in the spool")
)

// ErrOperatorLogSize rejects a max_log_size that leaves no room for what
// operators add to a line.
var ErrOperatorLogSize = errors.New("must leave room for twice the line in a spool record with 'operators' (a parser keeps the line and adds its fields)")

// checkOperatorLogSize reports a max_log_size under key that lets a line
// with its parsed fields, about twice its size, outgrow a spool record: its
// append would fail every time and stop the input's checkpoints.
func checkOperatorLogSize(key string, size, maxSize int64) error {
	if limit := (spool.MaxPayload(maxSize) - recordOverhead) / 2; size > limit {
		return fmt.Errorf("'%s' (%d bytes) %w: at most %d bytes with this max_size", key, size, ErrOperatorLogSize, limit)
	}
	return nil
}

// asyncOperators are the stanza operators that emit on their own schedule:
// recombine flushes on a timer, and the container parser recombines CRI-O
// and containerd partial lines through it. Multi-line records come from the
// input's `multiline` option instead, which splits synchronously.
var asyncOperators = map[string]string{
	"recombine": "use the input's 'multiline' option",
	"container": "parse container logs with json_parser or regex_parser",
}

// validateOperators checks a file input's operators, naming each by its
// key and index: its type and options (by building it alone), its role,
// and then the wiring of the whole pipeline (outputs that exist, no cycle).
func validateOperators(key string, cfgs []operator.Config) error {
	if len(cfgs) == 0 {
		return nil
	}
	set := componenttest.NewNopTelemetrySettings()
	var errs []error
	for i, oc := range cfgs {
		at := fmt.Sprintf("'%s[%d]'", key, i)
		if oc.Builder == nil {
			errs = append(errs, fmt.Errorf("%s: missing required field 'type'", at))
			continue
		}
		at = fmt.Sprintf("'%s[%d]' (%s)", key, i, oc.Type())
		if hint, ok := asyncOperators[oc.Type()]; ok {
			errs = append(errs, fmt.Errorf("%s %w: %s", at, ErrOperatorAsync, hint))
			continue
		}
		op, err := oc.Build(set)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", at, err))
			continue
		}
		// Building may start a goroutine (a regex_parser's cache).
		_ = op.Stop()
		if !op.CanProcess() || !op.CanOutput() {
			errs = append(errs, fmt.Errorf("%s: %w", at, ErrOperatorRole))
		}
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	pipe, _, err := buildPipeline(set, cfgs, &fileSink{})
	if err != nil {
		return fmt.Errorf("'%s': %w", key, err)
	}
	_ = pipe.Stop()
	return nil
}

// checkOperatorKeys decodes each operator under conf's `operators` again,
// rejecting keys its type does not have: stanza's own decoding ignores them,
// so a misspelt `parse_form` would silently do nothing.
func checkOperatorKeys(key string, conf *confmap.Conf) error {
	list, _ := conf.Get("operators").([]any)
	for i, item := range list {
		m, ok := item.(map[string]any)
		if !ok {
			continue
		}
		typ, _ := m["type"].(string)
		newBuilder, ok := operator.DefaultRegistry.Lookup(typ)
		if !ok {
			continue // the first decoding already said so
		}
		if err := confmap.NewFromStringMap(m).Unmarshal(newBuilder()); err != nil {
			return fmt.Errorf("'%s[%d]' (%s): %w", key, i, typ, err)
		}
	}
	return nil
}

// buildPipeline builds cfgs into a pipeline that ends in sink and returns it
// with its first operator, the one lines enter.
func buildPipeline(set component.TelemetrySettings, cfgs []operator.Config, sink *fileSink) (*pipeline.DirectedPipeline, operator.Operator, error) {
	base, err := helper.NewOutputConfig("spool_output", "spool_output").Build(set)
	if err != nil {
		return nil, nil, err
	}
	sink.OutputOperator = base
	pipe, err := pipeline.Config{Operators: cfgs, DefaultOutput: sink}.Build(set)
	if err != nil {
		return nil, nil, err
	}
	firstID := cfgs[0].ID() // after Build made the IDs unique
	for _, op := range pipe.Operators() {
		if op.ID() == firstID {
			return pipe, op, nil
		}
	}
	return nil, nil, fmt.Errorf("operator %q not in the pipeline", firstID)
}

// operatorEmit returns fileconsumer's callback for a file input with
// operators: each line becomes a stanza entry (the line as a string body,
// the file's attributes and the input's `attributes`), goes through the
// operators synchronously into the pipeline's last operator, which collects
// the call's records; the callback appends them at once, as fileEmit
// appends its lines, before it returns. An append error is returned to the
// file reader as fileEmit returns it; an operator's own parse error is its
// `on_error` policy's business (stanza logs it, and `send` spools the entry
// unparsed) and is not returned, since no line was lost to the spool.
func (r *spoolReceiver) operatorEmit(fc *FileConfig, repair bool) (emit.Callback, error) {
	sink := &fileSink{r: r}
	pipe, first, err := buildPipeline(r.set.TelemetrySettings, fc.Operators, sink)
	if err != nil {
		return nil, fmt.Errorf("'operators': %w", err)
	}
	r.pipes = append(r.pipes, pipe) // stopped on Shutdown, even if Start fails
	if err := pipe.Start(nopPersister{}); err != nil {
		return nil, fmt.Errorf("start operators: %w", err)
	}
	static := make(map[string]any, len(fc.Attributes))
	for k, v := range fc.Attributes {
		static[k] = v
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
		now := time.Now()
		entries := make([]*entry.Entry, 0, len(tokens))
		for _, tok := range tokens {
			if len(tok) == 0 {
				continue // as stanza's file input: an empty line is no entry
			}
			if repair {
				tok = validUTF8(tok)
			}
			e := entry.New()
			e.ObservedTimestamp = now
			// A copy: operators may keep parts of the body in attributes,
			// and the reader reuses its buffer after this call.
			e.Body = string(tok)
			e.Attributes = make(map[string]any, len(attrs)+len(static))
			maps.Copy(e.Attributes, attrs)
			maps.Copy(e.Attributes, static)
			entries = append(entries, e)
		}
		res := &appendResult{s: scratchPool.Get().(*scratch)}
		defer res.s.release()
		res.s.reset()
		_ = first.ProcessBatch(context.WithValue(ctx, appendResultKey{}, res), entries)
		if len(res.s.sevs) == 0 {
			return nil // every line filtered out
		}
		// One append for the call's lines, as fileEmit, so that its ledger
		// entry precedes them (ledger.go).
		if err := r.appendLines(ctx, lg, res.s.records(), false, tokens, lastRecord, tokenOffsets); err != nil {
			r.store.Poison(err)
			return fmt.Errorf("append to spool: %w", err)
		}
		return nil
	}, nil
}

// errNoEmitCall is the sink's answer to entries that do not come from a
// file input's emit call (nothing else feeds its pipeline).
var errNoEmitCall = errors.New("spool output: entries outside a file input's emit call")

// appendResultKey carries one emit call's *appendResult through the
// operators to the sink.
type appendResultKey struct{}

// appendResult collects the records the operators hand the sink during one
// emit call, in order, encoded into s: the call appends them at once when
// the operators are done. (An append error is thus the call's, never mixed
// with the operators' own errors.)
type appendResult struct {
	s *scratch
}

// fileSink is the last operator of a file input's pipeline: it encodes
// entries into the records its emit call appends.
type fileSink struct {
	helper.OutputOperator
	r *spoolReceiver
}

// Process appends one entry.
func (s *fileSink) Process(ctx context.Context, e *entry.Entry) error {
	return s.ProcessBatch(ctx, []*entry.Entry{e})
}

// ProcessBatch encodes entries into the emit call's records (a router may
// call it several times in one call); the call appends them.
func (s *fileSink) ProcessBatch(ctx context.Context, entries []*entry.Entry) error {
	if len(entries) == 0 {
		return nil
	}
	if res, _ := ctx.Value(appendResultKey{}).(*appendResult); res != nil {
		res.s.add(entries)
		return nil
	}
	return errNoEmitCall
}

// nopPersister is what the operators start with: parsers and transformers
// keep no state, and the file input's checkpoints are the receiver's.
type nopPersister struct{}

func (nopPersister) Get(context.Context, string) ([]byte, error)        { return nil, nil }
func (nopPersister) Set(context.Context, string, []byte) error          { return nil }
func (nopPersister) Delete(context.Context, string) error               { return nil }
func (nopPersister) Batch(context.Context, ...*storage.Operation) error { return nil }
