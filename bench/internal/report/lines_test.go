package report

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestLines(t *testing.T) {
	t.Parallel()
	var b strings.Builder
	require.NoError(t, Lines(&b, "a <run>", 2, []Series{
		{Title: "records/s", X: []float64{0, 2, 4}, Y: []float64{0, 100, 50}, Format: "%.0f"},
		{Title: "empty", Format: "%.0f"},
	}))
	svg := b.String()
	assert.True(t, strings.HasPrefix(svg, "<svg"))
	assert.Contains(t, svg, "a &lt;run&gt;")
	assert.Equal(t, 2, strings.Count(svg, "<polyline"))
	assert.Contains(t, svg, ">100</text>")
	assert.Contains(t, svg, "stroke-dasharray")
	// The largest value is at the top of its panel, 0 on its axis.
	assert.Contains(t, svg, "points=\"70.0,170.0 385.0,60.0 700.0,115.0\"")
}
