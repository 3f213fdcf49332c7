package spoolreceiver

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.yaml.in/yaml/v3"

	"github.com/fleetlog/fleetlog/receivers/spoolreceiver/internal/checkpoint"
	"github.com/fleetlog/fleetlog/receivers/spoolreceiver/internal/spool"
)

// operatorConfig returns testConfig's file input on logDir with the
// operators of ops, a YAML list as a user writes it, decoded as the
// collector decodes the receiver's config.
func operatorConfig(t *testing.T, logDir, ops string) (*Config, error) {
	t.Helper()
	var list []any
	require.NoError(t, yaml.Unmarshal([]byte(ops), &list))
	raw := map[string]any{
		"files": map[string]any{
			"app": map[string]any{
				"include":       []any{filepath.Join(logDir, "*.log")},
				"poll_interval": "20ms",
				"operators":     list,
			},
		},
	}
	cfg := testConfig(t, "")
	if err := confmap.NewFromStringMap(raw).Unmarshal(cfg); err != nil {
		return nil, err
	}
	return cfg, cfg.Validate()
}

// TestOperatorsJSONWithSeverityFromContribDocs runs the json_parser example
// of stanza's parser docs (docs/types/parsers.md, embedded timestamp and
// severity) and a json_parser followed by a severity_parser with a mapping
// (docs/types/severity.md) through the spool.
func TestOperatorsJSONWithSeverityFromContribDocs(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		ops     string
		lines   string
		sev     []plog.SeverityNumber
		sevText []string
		ts      bool
	}{
		{
			name: "embedded timestamp and severity",
			ops: `
- type: json_parser
  timestamp:
    parse_from: attributes.ts
    layout_type: strptime
    layout: '%Y-%m-%d'
  severity:
    parse_from: attributes.sev
`,
			lines:   `{"ts":"2024-05-01","sev":"error","msg":"disk failed"}` + "\n" + `{"ts":"2024-05-02","sev":"debug","msg":"tick"}` + "\n",
			sev:     []plog.SeverityNumber{plog.SeverityNumberError, plog.SeverityNumberDebug},
			sevText: []string{"error", "debug"},
			ts:      true,
		},
		{
			name: "severity_parser with a mapping",
			ops: `
- type: json_parser
- type: severity_parser
  parse_from: attributes.sev
  mapping:
    error: oops
    warn:
      - hey!
      - YSK
`,
			lines:   `{"sev":"oops","msg":"disk failed"}` + "\n" + `{"sev":"YSK","msg":"tick"}` + "\n",
			sev:     []plog.SeverityNumber{plog.SeverityNumberError, plog.SeverityNumberWarn},
			sevText: []string{"oops", "YSK"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			logDir := t.TempDir()
			cfg, err := operatorConfig(t, logDir, tt.ops)
			require.NoError(t, err)
			next := &sink{}
			startReceiver(t, cfg, next)
			appendFile(t, filepath.Join(logDir, "app.log"), tt.lines)
			waitFor(t, "two records", func() bool { return len(next.records()) == 2 })
			for i, lr := range next.records() {
				assert.Equal(t, tt.sev[i], lr.SeverityNumber())
				assert.Equal(t, tt.sevText[i], lr.SeverityText())
				msg, ok := lr.Attributes().Get("msg")
				require.True(t, ok, "json_parser's attributes are spooled")
				assert.NotEmpty(t, msg.Str())
				_, ok = lr.Attributes().Get("log.file.name")
				assert.True(t, ok, "the file's attributes are kept")
				assert.NotZero(t, lr.ObservedTimestamp())
				if tt.ts {
					assert.Equal(t, 2024, lr.Timestamp().AsTime().Year())
				}
			}
		})
	}
}

// TestOperatorsRegexWithTimestampFromContribDocs is the contrib filelog
// receiver README's plaintext example, with its two example lines, and a
// regex cache (whose goroutine Validate and Shutdown must stop: goleak).
func TestOperatorsRegexWithTimestampFromContribDocs(t *testing.T) {
	t.Parallel()
	logDir := t.TempDir()
	cfg, err := operatorConfig(t, logDir, `
- type: regex_parser
  regex: '^(?P<time>\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}) (?P<sev>[A-Z]*) (?P<msg>.*)$'
  cache:
    size: 100
  timestamp:
    parse_from: attributes.time
    layout: '%Y-%m-%d %H:%M:%S'
  severity:
    parse_from: attributes.sev
`)
	require.NoError(t, err)
	cfg.Files["app"].Attributes = map[string]string{"service": "simple"}
	next := &sink{}
	startReceiver(t, cfg, next)
	appendFile(t, filepath.Join(logDir, "app.log"),
		"2023-06-19 05:20:50 ERROR This is a test error message\n\n2023-06-20 12:50:00 DEBUG This is a test debug message\n")
	waitFor(t, "two records", func() bool { return len(next.records()) == 2 })
	time.Sleep(100 * time.Millisecond)
	require.Len(t, next.records(), 2, "the empty line is no record")
	recs := next.records()
	assert.Equal(t, plog.SeverityNumberError, recs[0].SeverityNumber())
	assert.Equal(t, plog.SeverityNumberDebug, recs[1].SeverityNumber())
	assert.Equal(t, time.Date(2023, 6, 19, 5, 20, 50, 0, time.UTC), recs[0].Timestamp().AsTime())
	msg, _ := recs[0].Attributes().Get("msg")
	assert.Equal(t, "This is a test error message", msg.Str())
	svc, _ := recs[1].Attributes().Get("service")
	assert.Equal(t, "simple", svc.Str())
	assert.Equal(t, "2023-06-19 05:20:50 ERROR This is a test error message", recs[0].Body().Str())
}

// TestOperatorsInvalidNameTheKey: a bad operator fails at start naming the
// input, the operator's index and its type.
func TestOperatorsInvalidNameTheKey(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, ops string
		want      []string
		is        error
	}{
		{"unknown type", "- type: no_such_parser", []string{"files::app", "operators[0]", "no_such_parser"}, nil},
		{"missing type", "- regex: x", []string{"files::app", "operators[0]", "type"}, nil},
		{"bad field", "- type: json_parser\n- type: regex_parser\n  regex: '(?P<x>['", []string{"'files::app::operators[1]' (regex_parser)"}, nil},
		{"misspelt field", "- type: json_parser\n  parse_form: body.message", []string{"'files::app::operators[0]' (json_parser)", "parse_form"}, nil},
		{"bad on_error", "- type: json_parser\n  on_error: explode", []string{"'files::app::operators[0]' (json_parser)", "on_error"}, nil},
		{"recombine", "- type: recombine\n  combine_field: body\n  is_first_entry: 'true'", []string{"'files::app::operators[0]' (recombine)", "multiline"}, ErrOperatorAsync},
		{"container", "- type: container", []string{"'files::app::operators[0]' (container)"}, ErrOperatorAsync},
		{"output", "- type: stdout", []string{"'files::app::operators[0]' (stdout)"}, ErrOperatorRole},
		{"cycle", "- type: noop\n  id: a\n  output: b\n- type: noop\n  id: b\n  output: a", []string{"'files::app::operators'", "circular"}, nil},
		{"same id twice", "- type: noop\n  id: a\n- type: move\n  id: a\n  from: body\n  to: attributes.x", []string{"'files::app::operators'", "already exists"}, nil},
		{"unknown output", "- type: json_parser\n  output: nowhere", []string{"'files::app::operators'", "nowhere"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := operatorConfig(t, t.TempDir(), tt.ops)
			require.Error(t, err)
			for _, w := range tt.want {
				assert.Contains(t, err.Error(), w)
			}
			if tt.is != nil {
				assert.ErrorIs(t, err, tt.is)
			}
		})
	}
}

// TestOperatorsAppendErrorReachesTheReader: the pipeline is synchronous and
// ends in the spool, so a failed append is returned to the file reader and
// poisons the checkpoints, as on the raw path; an operator's parse error
// under on_error send spools the entry unparsed and is no error for the
// reader.
func TestOperatorsAppendErrorReachesTheReader(t *testing.T) {
	t.Parallel()
	cfg, err := operatorConfig(t, t.TempDir(), "- type: json_parser")
	require.NoError(t, err)
	next := &sink{}
	r := startReceiver(t, cfg, next)
	emit, err := r.operatorEmit(cfg.Files["app"], true)
	require.NoError(t, err)
	ctx := context.Background()
	attrs := map[string]any{"log.file.name": "app.log"}

	require.NoError(t, emit(ctx, [][]byte{[]byte("not json"), []byte(`{"a":"b"}`)}, attrs, 0, nil))
	waitFor(t, "both lines", func() bool { return len(next.records()) == 2 })
	assert.Equal(t, "not json", next.records()[0].Body().Str())

	require.NoError(t, r.sp.Close())
	err = emit(ctx, [][]byte{[]byte(`{"a":"c"}`)}, attrs, 0, nil)
	require.ErrorIs(t, err, spool.ErrClosed)
	assert.Contains(t, err.Error(), "append to spool")
	require.ErrorIs(t, r.store.Set(ctx, "probe", []byte("x")), checkpoint.ErrPoisoned,
		"no checkpoint is saved after a line failed to reach the spool")
}

// TestDetectSeverityOnRawLines: lines without operators carry the level
// they state; with detect_severity off they carry none.
func TestDetectSeverityOnRawLines(t *testing.T) {
	t.Parallel()
	for _, detect := range []bool{true, false} {
		logDir := t.TempDir()
		cfg := testConfig(t, logDir)
		cfg.Files["app"].DetectSeverity = detect
		next := &sink{}
		startReceiver(t, cfg, next)
		appendFile(t, filepath.Join(logDir, "app.log"), strings.Join([]string{
			"2026-11-24T09:00:04.900Z ERROR auth login failed",
			`{"level":"warn","msg":"slow"}`,
			"<7>kernel: probe",
			"plain line",
		}, "\n")+"\n")
		waitFor(t, "four records", func() bool { return len(next.records()) == 4 })
		var got []string
		for _, lr := range next.records() {
			got = append(got, lr.SeverityNumber().String()+"/"+lr.SeverityText())
		}
		want := []string{"Error/ERROR", "Warn/WARN", "Debug/DEBUG", "Unspecified/"}
		if !detect {
			want = []string{"Unspecified/", "Unspecified/", "Unspecified/", "Unspecified/"}
		}
		assert.Equal(t, want, got, "detect_severity %v", detect)
	}
}

// TestOperatorsRouterAndTransformers routes JSON lines to a json_parser and
// the rest to a regex_parser, then moves, adds and removes fields: both
// routes end in the spool, in the order of the lines within each route.
func TestOperatorsRouterAndTransformers(t *testing.T) {
	t.Parallel()
	logDir := t.TempDir()
	cfg, err := operatorConfig(t, logDir, `
- type: router
  routes:
    - output: json
      expr: 'body matches "^\\{"'
  default: text
- type: json_parser
  id: json
  output: tidy
- type: regex_parser
  id: text
  regex: '^(?P<level>\w+) (?P<message>.*)$'
  severity:
    parse_from: attributes.level
- type: move
  id: tidy
  from: attributes.message
  to: body
- type: add
  field: attributes.pipeline
  value: edge
- type: remove
  field: attributes.level
`)
	require.NoError(t, err)
	next := &sink{}
	startReceiver(t, cfg, next)
	appendFile(t, filepath.Join(logDir, "app.log"), `{"message":"from json","user":"ops"}`+"\nwarn from text\n")
	waitFor(t, "two records", func() bool { return len(next.records()) == 2 })
	byBody := map[string]plog.LogRecord{}
	for _, lr := range next.records() {
		byBody[lr.Body().AsString()] = lr
		p, _ := lr.Attributes().Get("pipeline")
		assert.Equal(t, "edge", p.Str())
		_, ok := lr.Attributes().Get("level")
		assert.False(t, ok, "removed")
	}
	require.Contains(t, byBody, "from json")
	require.Contains(t, byBody, "from text")
	assert.Equal(t, plog.SeverityNumberWarn, byBody["from text"].SeverityNumber())
	user, _ := byBody["from json"].Attributes().Get("user")
	assert.Equal(t, "ops", user.Str())
}

// TestUniqueIDsAsStanza: operators of one type without an id get stanza's
// IDs, so an output written for the contrib receiver names the same one.
func TestUniqueIDsAsStanza(t *testing.T) {
	t.Parallel()
	cfg, err := operatorConfig(t, t.TempDir(), `
- type: json_parser
- type: json_parser
  id: json_parser1
- type: json_parser
- type: json_parser
`)
	require.NoError(t, err)
	var ids []string
	for _, oc := range cfg.Files["app"].Operators {
		ids = append(ids, oc.ID())
	}
	assert.Equal(t, []string{"json_parser", "json_parser1", "json_parser2", "json_parser3"}, ids)
}

// TestOperatorsHeldBackByAFullSpool: lines through operators wait for room
// as raw lines do. A 1MiB spool under the block policy with the consumer
// down takes what fits; the reader then stops inside the operator pipeline,
// nothing is evicted or dropped, and once the consumer is back every line
// arrives, parsed.
func TestOperatorsHeldBackByAFullSpool(t *testing.T) {
	t.Parallel()
	logDir := t.TempDir()
	cfg, err := operatorConfig(t, logDir, `
- type: json_parser
  severity:
    parse_from: attributes.level
`)
	require.NoError(t, err)
	cfg.FullPolicy = FullBlock
	smallSpool(cfg)
	require.NoError(t, cfg.Validate())
	var up atomic.Bool
	next := &sink{fail: func(int64) error {
		if !up.Load() {
			return errors.New("gateway down")
		}
		return nil
	}}
	r := startReceiver(t, cfg, next)
	const lines = 3000 // ~3MB
	pad := strings.Repeat("x", 900)
	var b strings.Builder
	for i := range lines {
		fmt.Fprintf(&b, `{"level":"warn","n":"%05d","pad":"%s"}`+"\n", i, pad)
	}
	appendFile(t, filepath.Join(logDir, "app.log"), b.String())
	var never atomic.Int64
	require.True(t, stalled(t, r.sp, &never), "the spool fills and the reader stops")
	held := r.sp.Stats()
	t.Logf("held back after %d of %d lines", held.Appended, lines)
	require.Less(t, held.Appended, int64(lines), "the reader is held back")
	assert.Zero(t, held.Evicted)

	up.Store(true)
	waitFor(t, "every line", func() bool {
		seen := map[string]bool{}
		for _, lr := range next.records() {
			if n, ok := lr.Attributes().Get("n"); ok {
				seen[n.Str()] = true
			}
		}
		return len(seen) == lines
	})
	for _, lr := range next.records() {
		require.Equal(t, plog.SeverityNumberWarn, lr.SeverityNumber())
	}
	assert.Zero(t, r.sp.Stats().Evicted)
}
