package fleetload

import (
	"math"
	"sync/atomic"
	"time"
)

// Histogram buckets durations on a log scale with 2% resolution from 10 µs
// to about 2 minutes. It is safe for concurrent use without locks.
type Histogram struct {
	buckets [histBuckets]atomic.Uint64
	count   atomic.Uint64
}

const (
	histMin     = 10 * time.Microsecond
	histGrowth  = 1.02
	histBuckets = 850
)

var logGrowth = math.Log(histGrowth)

// Record adds one duration.
func (h *Histogram) Record(d time.Duration) {
	i := 0
	if d > histMin {
		i = int(math.Log(float64(d)/float64(histMin)) / logGrowth)
	}
	h.buckets[min(i, histBuckets-1)].Add(1)
	h.count.Add(1)
}

// Count is the number of durations recorded.
func (h *Histogram) Count() uint64 { return h.count.Load() }

// Quantile returns the upper bound of the bucket holding quantile q (0..1),
// 0 when empty.
func (h *Histogram) Quantile(q float64) time.Duration {
	n := h.count.Load()
	if n == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(n)))
	rank = max(rank, 1)
	var seen uint64
	for i := range h.buckets {
		seen += h.buckets[i].Load()
		if seen >= rank {
			return time.Duration(float64(histMin) * math.Pow(histGrowth, float64(i+1)))
		}
	}
	return time.Duration(float64(histMin) * math.Pow(histGrowth, histBuckets))
}
