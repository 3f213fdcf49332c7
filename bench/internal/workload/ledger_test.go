package workload

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestIDOfEveryLine(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	_, err := Write(&buf, 3, 5000)
	require.NoError(t, err)
	for n, line := range bytes.Split(bytes.TrimSuffix(buf.Bytes(), []byte("\n")), []byte("\n")) {
		id, ok := ID(line)
		require.True(t, ok, "%q", line)
		require.Equal(t, int64(n), id)
	}
}

func TestIDBehindASyslogHeader(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		msg  string
		id   int64
		ok   bool
	}{
		{"bare line", "2026-01-01T00:00:01.234Z edge-0017 sshd[42]: hello", 1234, true},
		{"RFC 5424 header", "<13>1 2026-12-01T14:00:00.123456+00:00 bench-device fleetlog-bench - - - 2026-01-01T00:16:40.000Z edge-0017 ota[9]: x", 1_000_000, true},
		{"RFC 3164 header", "<13>Dec  1 14:00:00 bench-device bench: 2026-01-01T00:00:00.007Z kiosk-112 cron[1]: y", 7, true},
		{"no id", "<13>1 2026-12-01T14:00:00+00:00 host app - - - hello world", 0, false},
		{"before the workload", "2025-12-31T23:59:59.999Z host app: z", 0, false},
		{"timestamp glued to text", "2026-01-01T00:00:00.001Zx", 0, false},
		{"empty", "", 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			id, ok := ID([]byte(tt.msg))
			assert.Equal(t, tt.ok, ok)
			assert.Equal(t, tt.id, id)
		})
	}
}

func TestLedgerCountsLostAndDuplicated(t *testing.T) {
	t.Parallel()
	g := New(1)
	lines := make([][]byte, 10)
	for i := range lines {
		lines[i], _ = g.Next(nil)
	}
	l := NewLedger(10)
	for i, line := range lines {
		if i == 3 || i == 7 {
			continue // lost
		}
		assert.True(t, l.Add(line))
	}
	assert.False(t, l.Add(lines[0]), "a copy is not new")
	assert.False(t, l.Add(lines[0]))
	assert.False(t, l.Add(lines[5]))
	assert.False(t, l.Add([]byte("no id here")))
	g.n = 10 // a line past the workload's end is not one of its lines
	past, _ := g.Next(nil)
	assert.False(t, l.Add(past))
	assert.Equal(t, Tally{Records: 13, Unique: 8, Duplicated: 3, Lost: 2, Foreign: 2}, l.Tally())
}
