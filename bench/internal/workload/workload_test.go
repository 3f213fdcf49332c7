package workload

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestWriteIsDeterministic(t *testing.T) {
	t.Parallel()
	var a, b, c bytes.Buffer
	_, err := Write(&a, 7, 2000)
	require.NoError(t, err)
	_, err = Write(&b, 7, 2000)
	require.NoError(t, err)
	_, err = Write(&c, 8, 2000)
	require.NoError(t, err)
	assert.Equal(t, a.Bytes(), b.Bytes(), "same seed, same workload")
	assert.NotEqual(t, a.Bytes(), c.Bytes(), "another seed, another workload")
}

func TestWorkloadShape(t *testing.T) {
	t.Parallel()
	const n = 100_000
	var buf bytes.Buffer
	st, err := Write(&buf, 1, n)
	require.NoError(t, err)
	assert.Equal(t, n, st.Lines)
	assert.Equal(t, int64(buf.Len()), st.Bytes)
	assert.Equal(t, n, bytes.Count(buf.Bytes(), []byte("\n")))

	share := float64(st.PII) / n
	assert.InDelta(t, 0.10, share, 0.01, "share of lines with PII or secrets")
	avg := float64(st.Bytes) / n
	assert.InDelta(t, 100, avg, 15, "average line length in bytes")
}

// Leaked must flag every secret line the generator writes and no benign
// one, or the leak count the benchmark reports means nothing.
func TestLeakedSeparatesSecretFromBenignLines(t *testing.T) {
	t.Parallel()
	g := New(3)
	var buf []byte
	for i := range 50_000 {
		line, pii := g.Next(buf[:0])
		require.Equalf(t, pii, Leaked(string(line)), "line %d: %s", i, line)
		buf = line
	}
}

func TestLeakedIgnoresMasks(t *testing.T) {
	t.Parallel()
	for _, s := range []string{
		"GET /healthz Authorization: Bearer [REDACTED:bearer_token]",
		"login retry user=ops password=[REDACTED:secret] attempt=2",
		"login retry user=ops **** attempt=2",
		"payment declined card=[REDACTED:credit_card] amount=1.00 EUR",
		"2026-01-01T00:00:00.000Z edge-0042 sshd[12345]: port 51234",
	} {
		assert.False(t, Leaked(s), s)
	}
}

func TestLuhnCheckDigit(t *testing.T) {
	t.Parallel()
	// 4111 1111 1111 1111 and 79927398713 are the textbook valid numbers.
	assert.Equal(t, 1, LuhnCheckDigit([]byte("411111111111111")))
	assert.Equal(t, 3, LuhnCheckDigit([]byte("7992739871")))
}
