package fleetload

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"

	"github.com/fleetlog/fleetlog/bench/internal/workload"
	"github.com/fleetlog/fleetlog/internal/spoolstamp"
)

func TestBuildDecodesAsTheAgentsRequest(t *testing.T) {
	t.Parallel()
	p := NewPool(1, 100)
	require.Equal(t, 100, p.Len())
	id := strings.Repeat("ab", spoolstamp.IDLen/2)
	const seq0 = 1<<62 + 5 // needs the padded varint's full width
	b, err := p.Build(nil, NewResource("dev-1", "sim", "site-3"), 10, 50, id, seq0, 1_700_000_000_000_000_000)
	require.NoError(t, err)

	req := plogotlp.NewExportRequest()
	require.NoError(t, req.UnmarshalProto(b))
	ld := req.Logs()
	require.Equal(t, 1, ld.ResourceLogs().Len())
	rl := ld.ResourceLogs().At(0)
	dev, _ := rl.Resource().Attributes().Get("device.id")
	assert.Equal(t, "dev-1", dev.Str())
	site, _ := rl.Resource().Attributes().Get("fleet.site")
	assert.Equal(t, "site-3", site.Str())
	sl := rl.ScopeLogs().At(0)
	assert.Equal(t, "github.com/fleetlog/fleetlog/receivers/spoolreceiver", sl.Scope().Name())
	require.Equal(t, 50, sl.LogRecords().Len())

	// Bodies are the workload's lines 10 to 59, stamped in order.
	g := workload.New(1)
	var line []byte
	for range 10 {
		line, _ = g.Next(line[:0])
	}
	for i := range 50 {
		lr := sl.LogRecords().At(i)
		line, _ = g.Next(line[:0])
		assert.Equal(t, string(line), lr.Body().Str())
		gotID, gotSeq, ok := spoolstamp.Read(sl.Scope().Attributes(), lr.Attributes())
		require.True(t, ok)
		assert.Equal(t, id, gotID)
		assert.Equal(t, uint64(seq0+i), gotSeq)
		assert.Equal(t, uint64(1_700_000_000_000_000_000), uint64(lr.ObservedTimestamp()))
		// The compact form, as the agent sends it: the identity is the
		// scope's alone.
		_, onRecord := lr.Attributes().Get(spoolstamp.IDAttribute)
		assert.False(t, onRecord)
		name, _ := lr.Attributes().Get("log.file.name")
		assert.Equal(t, FileName, name.Str())
		assert.Equal(t, "INFO", lr.SeverityText())
	}

	// The pool is untouched: a second build from it stamps afresh.
	b2, err := p.Build(nil, NewResource("dev-2", "sim", "site-3"), 10, 1, strings.Repeat("0f", 16), 7, 1)
	require.NoError(t, err)
	req2 := plogotlp.NewExportRequest()
	require.NoError(t, req2.UnmarshalProto(b2))
	sl2 := req2.Logs().ResourceLogs().At(0).ScopeLogs().At(0)
	id2, seq, ok := spoolstamp.Read(sl2.Scope().Attributes(), sl2.LogRecords().At(0).Attributes())
	require.True(t, ok)
	assert.Equal(t, strings.Repeat("0f", 16), id2)
	assert.Equal(t, uint64(7), seq)
}

func TestBuildRefusesOutOfRange(t *testing.T) {
	t.Parallel()
	p := NewPool(1, 10)
	id := strings.Repeat("a", spoolstamp.IDLen)
	_, err := p.Build(nil, nil, 5, 6, id, 1, 0)
	assert.Error(t, err)
	_, err = p.Build(nil, nil, 0, 0, id, 1, 0)
	assert.Error(t, err)
	_, err = p.Build(nil, nil, 0, 1, "short", 1, 0)
	assert.Error(t, err)
}
