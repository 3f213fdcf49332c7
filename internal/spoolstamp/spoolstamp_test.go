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

func TestStampRead(t *testing.T) {
	const id = "0123456789abcdef0123456789abcdef"
	m := pcommon.NewMap()
	m.PutStr("other", "x")
	Stamp(m, id, 42)
	got, seq, ok := Read(m)
	require.True(t, ok)
	assert.Equal(t, id, got)
	assert.Equal(t, uint64(42), seq)
	assert.Equal(t, 3, m.Len())
}

func TestReadRejects(t *testing.T) {
	const id = "0123456789abcdef0123456789abcdef"
	tests := []struct {
		name string
		set  func(m pcommon.Map)
	}{
		{"none", func(pcommon.Map) {}},
		{"no seq", func(m pcommon.Map) { m.PutStr(IDAttribute, id) }},
		{"no id", func(m pcommon.Map) { m.PutInt(SeqAttribute, 1) }},
		{"seq as string", func(m pcommon.Map) { m.PutStr(IDAttribute, id); m.PutStr(SeqAttribute, "1") }},
		{"seq zero", func(m pcommon.Map) { m.PutStr(IDAttribute, id); m.PutInt(SeqAttribute, 0) }},
		{"seq negative", func(m pcommon.Map) { m.PutStr(IDAttribute, id); m.PutInt(SeqAttribute, -5) }},
		{"id upper case", func(m pcommon.Map) {
			m.PutStr(IDAttribute, "0123456789ABCDEF0123456789ABCDEF")
			m.PutInt(SeqAttribute, 1)
		}},
		{"id short", func(m pcommon.Map) { m.PutStr(IDAttribute, "abc"); m.PutInt(SeqAttribute, 1) }},
		{"id not a string", func(m pcommon.Map) { m.PutInt(IDAttribute, 7); m.PutInt(SeqAttribute, 1) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := pcommon.NewMap()
			tt.set(m)
			_, _, ok := Read(m)
			assert.False(t, ok)
		})
	}
}
