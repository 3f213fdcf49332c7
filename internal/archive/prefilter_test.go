package archive

import (
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
)

// bodiesArchive holds records whose bodies are of every kind, some
// without a timestamp, over two devices.
func bodiesArchive(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	_, key := newKey(t)
	w, _ := openWriter(t, dir, key, &fakeClock{now: testEpoch})
	for d, dev := range []string{"dev-a", "dev-b"} {
		ld := plog.NewLogs()
		rl := ld.ResourceLogs().AppendEmpty()
		rl.Resource().Attributes().PutStr(DeviceAttribute, dev)
		sl := rl.ScopeLogs().AppendEmpty()
		sl.Scope().SetName("scope-" + dev)
		bodies := []func(pcommon.Value){
			func(v pcommon.Value) { v.SetStr("door opened, code 12345") },
			func(v pcommon.Value) { v.SetStr("nothing here") },
			func(v pcommon.Value) { v.SetInt(912345) },
			func(v pcommon.Value) { v.SetDouble(1.5) },
			func(v pcommon.Value) { v.SetBool(true) },
			func(v pcommon.Value) { v.SetEmptyMap().PutStr("door", "12345") },
			func(v pcommon.Value) { v.SetEmptySlice().AppendEmpty().SetStr("door") },
			func(v pcommon.Value) { v.SetEmptyBytes().FromRaw([]byte("door 12345")) },
			func(pcommon.Value) {}, // empty
		}
		for i, set := range bodies {
			lr := sl.LogRecords().AppendEmpty()
			ts := testEpoch.Add(time.Duration(d*100+i) * time.Second)
			if i%4 == 3 {
				lr.SetObservedTimestamp(pcommon.NewTimestampFromTime(ts)) // no timestamp
			} else {
				lr.SetTimestamp(pcommon.NewTimestampFromTime(ts))
			}
			lr.SetSeverityNumber(severities[i%len(severities)])
			lr.Attributes().PutStr("app", []string{"vault", "pos"}[i%2])
			set(lr.Body())
		}
		appendLogs(t, w, ld)
		require.NoError(t, w.Seal())
	}
	require.NoError(t, w.Close())
	return dir
}

func TestPrefilterMatchesFullScan(t *testing.T) {
	dir := bodiesArchive(t)
	needles := []string{"12345", "door", "234", "rue", "1.5", `"door":"12`, "ZG9v", "nothing", "absent", "o"}
	filters := []Filter{
		{},
		{Since: testEpoch.Add(3 * time.Second)},
		{Until: testEpoch.Add(103 * time.Second)},
		{MinSeverity: plog.SeverityNumberWarn},
		{Device: "dev-b"},
		{Attrs: map[string]string{"app": "pos"}},
	}
	for _, needle := range needles {
		for _, base := range filters {
			f := base
			f.Contains = needle
			want := fullScan(t, dir, f)
			var got []string
			st, err := QueryWithOptions(dir, f, QueryOptions{Workers: 2}, func(r *Record) error {
				got = append(got, recordLine(t, r))
				return nil
			})
			require.NoError(t, err)
			assert.Equal(t, want, got, "%+v", f)
			if f.Device == "" {
				assert.Equal(t, uint64(18), st.Records, "every record is counted as read: %+v", f)
			}
		}
	}
}

// Bytes the prefilter cannot walk are decoded whole, which reports them.
func TestPrefilterMalformed(t *testing.T) {
	p := &prefilter{m: &matcher{f: &Filter{Contains: "x"}}, needle: []byte("x")}
	for _, raw := range [][]byte{{0x0a}, {0x0a, 0x05, 0x01}, {0xff, 0xff, 0xff}} {
		_, _, _, err := p.reduce(raw)
		assert.ErrorIs(t, err, errPrefilter, raw)
	}
}

func TestPrefilterKeepsWhatMayMatch(t *testing.T) {
	dir := bodiesArchive(t)
	entries, err := scan(dir)
	require.NoError(t, err)
	c, err := newCodec()
	require.NoError(t, err)
	defer c.close()
	data, err := os.ReadFile(joinRel(dir, entries[0].segment))
	require.NoError(t, err)
	frames, _, err := ParseFrames(data)
	require.NoError(t, err)
	raw, err := c.decompress(frames[0].Payload)
	require.NoError(t, err)

	f := Filter{Contains: "nothing"}
	m := f.matcher()
	p := &prefilter{m: &m, needle: []byte(f.Contains)}
	reduced, n, all, err := p.reduce(raw)
	require.NoError(t, err)
	assert.Equal(t, uint64(9), n)
	assert.False(t, all)
	ld, err := c.unmarshal(reduced)
	require.NoError(t, err)
	// The matching string, and the six bodies that are not plain strings.
	assert.Equal(t, 7, ld.LogRecordCount())
	assert.Equal(t, "scope-dev-a", ld.ResourceLogs().At(0).ScopeLogs().At(0).Scope().Name())
	v, _ := ld.ResourceLogs().At(0).Resource().Attributes().Get(DeviceAttribute)
	assert.Equal(t, "dev-a", v.Str())

	f = Filter{Contains: "o"}
	m = f.matcher()
	p = &prefilter{m: &m, needle: []byte(f.Contains)}
	_, _, all, err = p.reduce(raw)
	require.NoError(t, err)
	assert.False(t, all, "the empty body cannot hold it")
}
