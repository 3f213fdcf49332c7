package spoolstamp

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
)

// TestNames pins the attribute names: agents and archives of different
// versions must agree on them, so changing one is a format change.
func TestNames(t *testing.T) {
	assert.Equal(t, "fleetlog.spool.id", IDAttribute)
	assert.Equal(t, "fleetlog.spool.seq", SeqAttribute)
	assert.Equal(t, 32, IDLen)
}

func TestNewID(t *testing.T) {
	a, err := NewID()
	require.NoError(t, err)
	b, err := NewID()
	require.NoError(t, err)
	assert.True(t, ValidID(a), a)
	assert.NotEqual(t, a, b)
}

const testID = "0123456789abcdef0123456789abcdef"

// TestCompactForm pins the compact form: the identity on the scope, the
// sequence number alone on the record.
func TestCompactForm(t *testing.T) {
	scope, rec := pcommon.NewMap(), pcommon.NewMap()
	rec.PutStr("other", "x")
	rec.PutStr(IDAttribute, "ffffffffffffffffffffffffffffffff") // the line's own
	StampScope(scope, testID)
	StampSeq(rec, 42)
	assert.Equal(t, map[string]any{IDAttribute: testID}, scope.AsRaw())
	assert.Equal(t, map[string]any{"other": "x", SeqAttribute: int64(42)}, rec.AsRaw())
	got, seq, ok := Read(scope, rec)
	require.True(t, ok)
	assert.Equal(t, testID, got)
	assert.Equal(t, uint64(42), seq)
}

// TestPerRecordForm pins the previous version's form, which archives and
// older agents still hold: both attributes on the record. It wins over a
// scope's identity.
func TestPerRecordForm(t *testing.T) {
	rec := pcommon.NewMap()
	rec.PutStr("other", "x")
	StampRecord(rec, testID, 42)
	assert.Equal(t, map[string]any{"other": "x", IDAttribute: testID, SeqAttribute: int64(42)}, rec.AsRaw())
	for name, scope := range map[string]pcommon.Map{"no scope identity": pcommon.NewMap(), "another scope identity": scopeWith(IDAttribute, "ffffffffffffffffffffffffffffffff")} {
		t.Run(name, func(t *testing.T) {
			got, seq, ok := Read(scope, rec)
			require.True(t, ok)
			assert.Equal(t, testID, got)
			assert.Equal(t, uint64(42), seq)
		})
	}
}

func scopeWith(k, v string) pcommon.Map {
	m := pcommon.NewMap()
	m.PutStr(k, v)
	return m
}

func TestReadRejects(t *testing.T) {
	tests := []struct {
		name  string
		scope func(m pcommon.Map)
		set   func(m pcommon.Map)
	}{
		{"none", nil, func(pcommon.Map) {}},
		{"no seq", nil, func(m pcommon.Map) { m.PutStr(IDAttribute, testID) }},
		{"no seq, scope identity", func(m pcommon.Map) { m.PutStr(IDAttribute, testID) }, func(pcommon.Map) {}},
		{"no id", nil, func(m pcommon.Map) { m.PutInt(SeqAttribute, 1) }},
		{"seq as string", nil, func(m pcommon.Map) { m.PutStr(IDAttribute, testID); m.PutStr(SeqAttribute, "1") }},
		{"seq zero", nil, func(m pcommon.Map) { m.PutStr(IDAttribute, testID); m.PutInt(SeqAttribute, 0) }},
		{"seq negative", nil, func(m pcommon.Map) { m.PutStr(IDAttribute, testID); m.PutInt(SeqAttribute, -5) }},
		{"id upper case", nil, func(m pcommon.Map) {
			m.PutStr(IDAttribute, "0123456789ABCDEF0123456789ABCDEF")
			m.PutInt(SeqAttribute, 1)
		}},
		{"id short", nil, func(m pcommon.Map) { m.PutStr(IDAttribute, "abc"); m.PutInt(SeqAttribute, 1) }},
		{"id not a string", nil, func(m pcommon.Map) { m.PutInt(IDAttribute, 7); m.PutInt(SeqAttribute, 1) }},
		{"scope id short", func(m pcommon.Map) { m.PutStr(IDAttribute, "abc") }, func(m pcommon.Map) { m.PutInt(SeqAttribute, 1) }},
		{"scope id not a string", func(m pcommon.Map) { m.PutInt(IDAttribute, 7) }, func(m pcommon.Map) { m.PutInt(SeqAttribute, 1) }},
		{"record id malformed, scope id good", func(m pcommon.Map) { m.PutStr(IDAttribute, testID) }, func(m pcommon.Map) {
			m.PutStr(IDAttribute, "abc")
			m.PutInt(SeqAttribute, 1)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			scope, m := pcommon.NewMap(), pcommon.NewMap()
			if tt.scope != nil {
				tt.scope(scope)
			}
			tt.set(m)
			_, _, ok := Read(scope, m)
			assert.False(t, ok)
		})
	}
}
