package bench

import (
	"math"
	"slices"
)

// Dist summarises a sample distribution. Percentiles are nearest-rank on
// the sorted samples, so every reported value is one that was measured.
type Dist struct {
	Min  float64 `json:"min"`
	Mean float64 `json:"mean"`
	P50  float64 `json:"p50"`
	P90  float64 `json:"p90"`
	P99  float64 `json:"p99"`
	Max  float64 `json:"max"`
}

// summarize returns the distribution of xs (which it does not modify).
func summarize(xs []float64) Dist {
	if len(xs) == 0 {
		return Dist{}
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	sum := 0.0
	for _, x := range s {
		sum += x
	}
	return Dist{
		Min:  s[0],
		Mean: sum / float64(len(s)),
		P50:  rank(s, 0.50),
		P90:  rank(s, 0.90),
		P99:  rank(s, 0.99),
		Max:  s[len(s)-1],
	}
}

// rank is the nearest-rank percentile p (0..1] of sorted s.
func rank(s []float64, p float64) float64 {
	i := int(math.Ceil(p*float64(len(s)))) - 1
	return s[max(0, min(i, len(s)-1))]
}

// median of xs (which it does not modify); 0 for none.
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
