package analytics

import (
	"math"
	"time"
)

// NumBuckets is the number of latency buckets of one route's histogram.
const NumBuckets = 4*21 + 1

// minLatency is the upper bound of the first bucket; each next bound is
// 2^(1/4) times the previous, the last bucket holding everything above
// minLatency × 2^21 (about 105s).
const minLatency = 50 * time.Microsecond

type histogram struct {
	counts [NumBuckets]uint64
	total  uint64
}

func bucketOf(d time.Duration) int {
	if d <= minLatency {
		return 0
	}
	i := int(math.Ceil(4 * math.Log2(float64(d)/float64(minLatency))))
	return min(i, NumBuckets-1)
}

// upperBound is bucket i's upper bound.
func upperBound(i int) time.Duration {
	return time.Duration(float64(minLatency) * math.Exp2(float64(i)/4))
}

func (h *histogram) observe(d time.Duration) {
	h.counts[bucketOf(d)]++
	h.total++
}

func (h *histogram) merge(o *histogram) {
	for i, c := range o.counts {
		h.counts[i] += c
	}
	h.total += o.total
}

// quantile returns the upper bound of the bucket holding quantile q
// (0 < q ≤ 1), or 0 for an empty histogram.
func (h *histogram) quantile(q float64) time.Duration {
	if h.total == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(h.total)))
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			return upperBound(i)
		}
	}
	return upperBound(NumBuckets - 1)
}
