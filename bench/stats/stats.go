// Package stats summarizes benchmark samples: percentiles of latencies
// (nearest-rank, RFC-free and exact on the samples given) and the median
// with min–max of repeated runs.
package stats

import (
	"math"
	"slices"
	"time"
)

// Percentile returns the nearest-rank p-th percentile (0 < p <= 100) of
// sorted, which must be sorted ascending. It returns 0 for no samples.
// Nearest rank: the smallest sample such that at least p% of the samples
// are less than or equal to it.
func Percentile(sorted []time.Duration, p float64) time.Duration {
	n := len(sorted)
	if n == 0 {
		return 0
	}
	rank := int(math.Ceil(p / 100 * float64(n)))
	rank = min(max(rank, 1), n)
	return sorted[rank-1]
}

// Latencies are the latency percentiles of one run.
type Latencies struct {
	N        int
	P50, P99 time.Duration
	Max      time.Duration
}

// Summarize sorts samples in place and returns their percentiles.
func Summarize(samples []time.Duration) Latencies {
	slices.Sort(samples)
	if len(samples) == 0 {
		return Latencies{}
	}
	return Latencies{
		N:   len(samples),
		P50: Percentile(samples, 50),
		P99: Percentile(samples, 99),
		Max: samples[len(samples)-1],
	}
}

// Spread is the median and range of a value measured in repeated runs.
type Spread struct {
	Median, Min, Max float64
	N                int // runs that produced a value
}

// Of returns the median, minimum and maximum of vs (NaN values are
// ignored: a run that could not measure the value). The median of an even
// count is the mean of the two middle values.
func Of(vs []float64) Spread {
	xs := make([]float64, 0, len(vs))
	for _, v := range vs {
		if !math.IsNaN(v) {
			xs = append(xs, v)
		}
	}
	if len(xs) == 0 {
		return Spread{Median: math.NaN(), Min: math.NaN(), Max: math.NaN()}
	}
	slices.Sort(xs)
	n := len(xs)
	med := xs[n/2]
	if n%2 == 0 {
		med = (xs[n/2-1] + xs[n/2]) / 2
	}
	return Spread{Median: med, Min: xs[0], Max: xs[n-1], N: n}
}

// Valid reports whether s holds at least one measurement.
func (s Spread) Valid() bool { return s.N > 0 }
