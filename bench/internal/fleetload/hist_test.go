package fleetload

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

func TestHistogramQuantiles(t *testing.T) {
	t.Parallel()
	var h Histogram
	assert.Zero(t, h.Quantile(0.5))
	for i := 1; i <= 1000; i++ {
		h.Record(time.Duration(i) * time.Millisecond)
	}
	assert.Equal(t, uint64(1000), h.Count())
	within := func(want, got time.Duration) {
		t.Helper()
		assert.InDelta(t, float64(want), float64(got), 0.03*float64(want), "want %s got %s", want, got)
	}
	within(500*time.Millisecond, h.Quantile(0.5))
	within(990*time.Millisecond, h.Quantile(0.99))
	within(time.Millisecond, h.Quantile(0))
	h.Record(time.Hour) // past the last bucket: counted there
	assert.Greater(t, h.Quantile(1), 100*time.Second)
	h.Record(0)
	assert.Equal(t, uint64(1002), h.Count())
}
