package spoolreceiver

import (
	"bufio"
	"bytes"
	"context"
	"testing"

	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/stanza/entry"
	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/stanza/operator"
	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/stanza/operator/helper"
	syslogin "github.com/open-telemetry/opentelemetry-collector-contrib/pkg/stanza/operator/input/syslog"
	syslogparser "github.com/open-telemetry/opentelemetry-collector-contrib/pkg/stanza/operator/parser/syslog"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"

	"github.com/fleetlog/fleetlog/receivers/spoolreceiver/internal/record"
)

// captureOp is a terminal stanza operator that keeps what reaches it.
type captureOp struct {
	helper.OutputOperator
	entries []*entry.Entry
}

func (c *captureOp) Process(_ context.Context, e *entry.Entry) error {
	c.entries = append(c.entries, e)
	return nil
}

func (c *captureOp) ProcessBatch(ctx context.Context, es []*entry.Entry) error {
	for _, e := range es {
		_ = c.Process(ctx, e)
	}
	return nil
}

func newSyslogParser(t testing.TB, protocol string) (operator.Operator, *captureOp) {
	set := componenttest.NewNopTelemetrySettings()
	cfg := syslogparser.NewConfig()
	cfg.Protocol = protocol
	cfg.Location = "UTC"
	cfg.OnError = helper.SendOnErrorQuiet
	p, err := cfg.Build(set)
	require.NoError(t, err)
	base, err := helper.NewOutputConfig("capture", "capture").Build(set)
	require.NoError(t, err)
	out := &captureOp{OutputOperator: base}
	p.SetOutputIDs([]string{out.ID()})
	require.NoError(t, p.SetOutputs([]operator.Operator{out}))
	return p, out
}

// FuzzSyslogPath feeds arbitrary bytes through the TCP input's octet-counting
// framing, stanza's RFC 5424 and RFC 3164 parsers and the spool's record
// codec: nothing may panic, and whatever the parser yields must round-trip.
func FuzzSyslogPath(f *testing.F) {
	f.Add([]byte(`<34>1 2026-11-24T22:14:15.003Z mymachine su - ID47 [a@1 k="v"] 'su root' failed`), false)
	f.Add([]byte("<13>Nov 24 22:14:15 edge-1 app[42]: hello"), true)
	f.Add([]byte("5 <13>x10 <34>1 - - - - - -"), false)
	f.Add([]byte{}, true)
	parsers := map[bool]struct {
		op  operator.Operator
		out *captureOp
	}{}
	for _, rfc3164 := range []bool{false, true} {
		proto := syslogparser.RFC5424
		if rfc3164 {
			proto = syslogparser.RFC3164
		}
		op, out := newSyslogParser(f, proto)
		parsers[rfc3164] = struct {
			op  operator.Operator
			out *captureOp
		}{op, out}
	}
	split, err := syslogin.OctetSplitFuncBuilder(nil)
	require.NoError(f, err)

	f.Fuzz(func(t *testing.T, data []byte, rfc3164 bool) {
		p := parsers[rfc3164]
		p.out.entries = p.out.entries[:0]
		sc := bufio.NewScanner(bytes.NewReader(data))
		sc.Buffer(make([]byte, 0, 4096), 64<<10)
		sc.Split(split)
		frames := [][]byte{data}
		for sc.Scan() {
			frames = append(frames, append([]byte(nil), sc.Bytes()...))
		}
		for _, frame := range frames {
			e := entry.New()
			e.Body = string(frame)
			_ = p.op.Process(context.Background(), e)
		}
		for _, e := range p.out.entries {
			dec := record.NewDecoder()
			re := entryToRecord(e)
			in := record.Spooled{Shared: record.AppendShared(nil, re), Payload: record.AppendRecord(nil, re), Observed: re.Observed, Severity: re.Severity}
			require.NoError(t, dec.Decode(in))
			require.Equal(t, 1, dec.Logs().LogRecordCount())
		}
	})
}
