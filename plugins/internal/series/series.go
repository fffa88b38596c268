// Package series holds the time-series checks and arithmetic that the
// built-in Go plugins share: validating a training request's series,
// finding its step, and the integer and quantile helpers their models
// use. It is guest code: it imports only abi.
package series

import (
	"fmt"
	"math"
	"time"

	"github.com/ppa-autoscaler/ppa/abi"
)

// MaxAbsTime bounds timestamps (±3000 years around 1970, in Unix
// milliseconds) so that time arithmetic cannot overflow.
const MaxAbsTime = 3000 * 366 * 24 * 3600 * 1000

// Check validates a request's series: as many values as timestamps,
// timestamps within MaxAbsTime and strictly ascending, no infinite value
// (NaN marks a missing one). It returns the number of observed values.
func Check(ts []int64, ys []float64) (int, error) {
	if len(ts) != len(ys) {
		return 0, abi.Errorf(abi.StatusInvalidArgument, "%d timestamps but %d values", len(ts), len(ys))
	}
	observed := 0
	for i, y := range ys {
		if ts[i] > MaxAbsTime || ts[i] < -MaxAbsTime {
			return 0, abi.Errorf(abi.StatusInvalidArgument, "timestamps[%d]: %d ms is out of range", i, ts[i])
		}
		if i > 0 && ts[i] <= ts[i-1] {
			return 0, abi.Errorf(abi.StatusInvalidArgument, "timestamps[%d]: %d is not after the previous %d (timestamps must be strictly ascending)", i, ts[i], ts[i-1])
		}
		if math.IsInf(y, 0) {
			return 0, abi.Errorf(abi.StatusInvalidArgument, "values[%d]: %v is infinite", i, y)
		}
		if !math.IsNaN(y) {
			observed++
		}
	}
	return observed, nil
}

// MostCommonGap returns the most common difference between consecutive
// timestamps, the smallest on a tie; ts has at least two entries.
func MostCommonGap(ts []int64) int64 {
	counts := map[int64]int{}
	for i := 1; i < len(ts); i++ {
		counts[ts[i]-ts[i-1]]++
	}
	best, bestN := int64(0), 0
	for d, n := range counts {
		if n > bestN || n == bestN && d < best {
			best, bestN = d, n
		}
	}
	return best
}

// RoundDiv divides and rounds to the nearest integer, halves away from
// zero.
func RoundDiv(a, b int64) int64 {
	if a >= 0 {
		return (a + b/2) / b
	}
	return -((-a + b/2) / b)
}

// FloorDiv divides and rounds towards negative infinity.
func FloorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

// FloorMod is a − FloorDiv(a, b)·b: in [0, b) for a positive b.
func FloorMod(a, b int64) int64 { return a - FloorDiv(a, b)*b }

// Quantile returns the q-quantile of sorted xs by linear interpolation
// between order statistics (Hyndman & Fan type 7, as numpy and R
// default); 0 for no data.
func Quantile(xs []float64, q float64) float64 {
	switch len(xs) {
	case 0:
		return 0
	case 1:
		return xs[0]
	}
	h := q * float64(len(xs)-1)
	lo := int(math.Floor(h))
	if lo >= len(xs)-1 {
		return xs[len(xs)-1]
	}
	return xs[lo] + (h-float64(lo))*(xs[lo+1]-xs[lo])
}

// FormatMillis renders a duration in milliseconds: whole days as "7d",
// anything else as Go does.
func FormatMillis(ms int64) string {
	const day = 24 * time.Hour
	d := time.Duration(ms) * time.Millisecond
	if d >= day && d%day == 0 {
		return fmt.Sprintf("%dd", d/day)
	}
	return d.String()
}
