package piiprocessor

import (
	"context"
	"testing"
	"time"

	"github.com/open-telemetry/opentelemetry-collector-contrib/processor/redactionprocessor"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/processor"
	"go.opentelemetry.io/collector/processor/processortest"

	"github.com/fleetlog/fleetlog/internal/pii/piitest"
	"github.com/fleetlog/fleetlog/processors/piiprocessor/internal/metadata"
)

// typicalRegexes is what users write by hand for the contrib redaction
// processor: the agent's configuration before the pii processor, plus SSNs.
var typicalRegexes = []string{
	`\b[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}\b`,
	`\b(?:\d[ -]?){13,19}\b`,
	`\b\d{3}-\d{2}-\d{4}\b`,
	`(?i)bearer\s+[A-Za-z0-9\-._~+/]+=*`,
	`(?i)(?:password|passwd|secret|token|api_key)\s*[=:]\s*\S+`,
}

// equivalentRegexes approximate every default pii detector with one RE2
// pattern each, without the validators regexes cannot express.
var equivalentRegexes = []string{
	`[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}`,
	`\b(?:\d{4}[ -]?){3}\d{1,4}\b|\b\d{4}[ -]?\d{6}[ -]?\d{5}\b`,
	`\b(?:00[1-9]|0[1-9]\d|[1-578]\d{2}|6[0-57-9]\d|66[0-57-9])-\d{2}-\d{4}\b`,
	`\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,4})?\b`,
	`\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*`,
	`(?i)\b(?:bearer|basic)\s+[A-Za-z0-9\-._~+/]+=*`,
	`\b(?:AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16}\b`,
	`(?i)aws_?secret_?access_?key["']?\s*[:=]\s*["']?[A-Za-z0-9/+]{40}`,
	`\b(?:gh[pousr]_[A-Za-z0-9]{36,}|github_pat_\w{22,})`,
	`\bgl(?:pat|ptt|dt|rt)-[A-Za-z0-9_-]{20,}`,
	`\bxox[baprs]-[A-Za-z0-9-]{10,}`,
	`\b[sr]k_(?:live|test)_[A-Za-z0-9]{16,}`,
	`\bAIza[A-Za-z0-9_-]{35}`,
	`-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?-----END [A-Z ]*PRIVATE KEY-----`,
	`://[^/\s:@]*:[^/\s@]+@`,
	`(?i)(?:password|passwd|pwd|secret|token|api_?key|access_?key|client_?secret)["']?\s*[:=]\s*["']?[^\s"',;&]+`,
}

func newContrib(tb testing.TB, regexes []string, next *consumertest.LogsSink) processor.Logs {
	tb.Helper()
	f := redactionprocessor.NewFactory()
	cfg := f.CreateDefaultConfig().(*redactionprocessor.Config)
	cfg.AllowAllKeys = true
	cfg.BlockedValues = regexes
	cfg.Summary = "silent"
	p, err := f.CreateLogs(context.Background(), processortest.NewNopSettings(f.Type()), cfg, next)
	require.NoError(tb, err)
	require.NoError(tb, p.Start(context.Background(), componenttest.NewNopHost()))
	tb.Cleanup(func() { require.NoError(tb, p.Shutdown(context.Background())) })
	return p
}

func newPII(tb testing.TB, next *consumertest.LogsSink) processor.Logs {
	tb.Helper()
	p, err := NewFactory().CreateLogs(context.Background(), processortest.NewNopSettings(metadata.Type), createDefaultConfig(), next)
	require.NoError(tb, err)
	require.NoError(tb, p.Start(context.Background(), componenttest.NewNopHost()))
	tb.Cleanup(func() { require.NoError(tb, p.Shutdown(context.Background())) })
	return p
}

// corpusLogs puts every corpus line in the body of its own record.
func corpusLogs(lines []string) plog.Logs {
	ld := plog.NewLogs()
	lrs := ld.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords()
	for _, l := range lines {
		lrs.AppendEmpty().Body().SetStr(l)
	}
	return ld
}

// redactThrough runs lines through p and returns the bodies that come out.
func redactThrough(tb testing.TB, p processor.Logs, sink *consumertest.LogsSink, lines []string) []string {
	tb.Helper()
	sink.Reset()
	require.NoError(tb, p.ConsumeLogs(context.Background(), corpusLogs(lines)))
	lrs := sink.AllLogs()[0].ResourceLogs().At(0).ScopeLogs().At(0).LogRecords()
	out := make([]string, lrs.Len())
	for i := range out {
		out[i] = lrs.At(i).Body().Str()
	}
	return out
}

func scoreProcessor(tb testing.TB, p processor.Logs, sink *consumertest.LogsSink, entries []piitest.CorpusEntry) piitest.CorpusScore {
	out := redactThrough(tb, p, sink, piitest.Lines(entries))
	byLine := make(map[string]string, len(entries))
	for i, e := range entries {
		byLine[e.Line] = out[i]
	}
	return piitest.Score(entries, func(line string) string { return byLine[line] })
}

// TestCorpusAgainstContrib scores the pii processor and the contrib
// redaction processor on the same labelled corpus.
func TestCorpusAgainstContrib(t *testing.T) {
	entries := piitest.LoadCorpus(t)
	sink := &consumertest.LogsSink{}
	ours := scoreProcessor(t, newPII(t, sink), sink, entries)
	typical := scoreProcessor(t, newContrib(t, typicalRegexes, sink), sink, entries)
	equivalent := scoreProcessor(t, newContrib(t, equivalentRegexes, sink), sink, entries)
	t.Logf("pii:                              %s", ours)
	t.Logf("redaction, typical 5 regexes:     %s", typical)
	t.Logf("redaction, %d equivalent regexes: %s", len(equivalentRegexes), equivalent)

	assert.Equal(t, 1.0, ours.Recall(), "pii must remove every secret")
	assert.Equal(t, 1.0, ours.KeepRate(), "pii must keep every benign token")
	assert.Greater(t, ours.Recall(), typical.Recall())
	assert.Greater(t, ours.KeepRate(), equivalent.KeepRate())
}

// BenchmarkCorpus runs the pii processor and the contrib redaction
// processor (with the equivalent regexes, and with the typical five) over
// the corpus, one record per line. The contrib runs report how many times
// faster pii is (pii-speedup).
func BenchmarkCorpus(b *testing.B) {
	entries := piitest.LoadCorpus(b)
	lines := piitest.Lines(entries)
	var size int64
	for _, l := range lines {
		size += int64(len(l))
	}
	in := corpusLogs(lines)
	sink := &consumertest.LogsSink{}

	run := func(b *testing.B, p processor.Logs) time.Duration {
		b.SetBytes(size)
		b.ReportAllocs()
		var elapsed time.Duration
		for b.Loop() {
			b.StopTimer()
			ld := plog.NewLogs()
			in.CopyTo(ld)
			sink.Reset()
			b.StartTimer()
			start := time.Now()
			if err := p.ConsumeLogs(context.Background(), ld); err != nil {
				b.Fatal(err)
			}
			elapsed += time.Since(start)
		}
		perOp := elapsed / time.Duration(b.N)
		b.ReportMetric(float64(len(lines))/perOp.Seconds(), "records/s")
		return perOp
	}

	var piiPerOp time.Duration
	b.Run("pii", func(b *testing.B) { piiPerOp = run(b, newPII(b, sink)) })
	b.Run("redaction_equivalent", func(b *testing.B) {
		perOp := run(b, newContrib(b, equivalentRegexes, sink))
		b.ReportMetric(float64(perOp)/float64(piiPerOp), "pii-speedup")
	})
	b.Run("redaction_typical5", func(b *testing.B) {
		perOp := run(b, newContrib(b, typicalRegexes, sink))
		b.ReportMetric(float64(perOp)/float64(piiPerOp), "pii-speedup")
	})
}
