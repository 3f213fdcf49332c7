package fleetload

import (
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestRatesAreHeavyTailedAndAddUp(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(1, 2))
	rates := Rates(rng, 10_000, 200_000, 1.2, 2_000)
	sum := 0.0
	for _, r := range rates {
		sum += r
		assert.LessOrEqual(t, r, 2_000.0)
		assert.Positive(t, r)
	}
	assert.InDelta(t, 200_000, sum, 1)
	s := slices.Clone(rates)
	slices.Sort(s)
	top := 0.0
	for _, r := range s[len(s)*4/5:] {
		top += r
	}
	assert.Greater(t, top/sum, 0.5, "the top fifth of the devices send most records")
	assert.Less(t, s[len(s)/2], 20.0, "the median device sends less than the mean")
}
