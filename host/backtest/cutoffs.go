package backtest

import (
	"errors"
	"fmt"
	"slices"
	"time"
)

// ErrNoCutoffs is returned (wrapped) when the history is too short for the
// horizon and initial window: no cutoff leaves enough training data.
var ErrNoCutoffs = errors.New("no cutoffs")

// GenerateCutoffs returns the cutoffs, ascending, of a cross-validation over
// the observation times ts (Unix milliseconds, ascending, the rows that
// have a value), with upstream Prophet's rules (generate_cutoffs in
// prophet/diagnostics.py):
//
//   - the last cutoff is max(ts) − horizon;
//   - earlier cutoffs step back by period while the previous cutoff is at
//     or after min(ts) + initial;
//   - a cutoff with no observation in (cutoff, cutoff + horizon] moves to
//     (the last observation at or before it) − horizon, unless it is at or
//     before min(ts);
//   - the first cutoff that falls before min(ts) + initial is dropped.
//
// Every returned cutoff c satisfies c ≥ min(ts) + initial. It is an error
// (wrapping ErrNoCutoffs) when max(ts) − horizon < min(ts) or when no cutoff
// remains.
func GenerateCutoffs(ts []int64, horizon, initial, period time.Duration) ([]int64, error) {
	h, ini, p := horizon.Milliseconds(), initial.Milliseconds(), period.Milliseconds()
	switch {
	case len(ts) == 0:
		return nil, fmt.Errorf("generate cutoffs: %w: no observations", ErrNoCutoffs)
	case h <= 0:
		return nil, fmt.Errorf("generate cutoffs: horizon %v must be at least 1ms", horizon)
	case p <= 0:
		return nil, fmt.Errorf("generate cutoffs: period %v must be at least 1ms", period)
	case ini < 0:
		return nil, fmt.Errorf("generate cutoffs: initial %v must not be negative", initial)
	}
	first, last := ts[0], ts[len(ts)-1]
	cutoff := last - h
	if cutoff < first {
		return nil, fmt.Errorf("generate cutoffs: %w: the data span %v, less than the horizon %v",
			ErrNoCutoffs, time.Duration(last-first)*time.Millisecond, horizon)
	}
	var out []int64 // descending
	for cutoff >= first+ini {
		out = append(out, cutoff)
		cutoff -= p
		if !anyIn(ts, cutoff, cutoff+h) && cutoff > first {
			// Move to the last observation at or before the cutoff, minus
			// the horizon, so that the window has data.
			cutoff = ts[lastAtOrBefore(ts, cutoff)] - h
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("generate cutoffs: %w: the data span %v, less than initial %v + horizon %v; make horizon or initial shorter",
			ErrNoCutoffs, time.Duration(last-first)*time.Millisecond, initial, horizon)
	}
	slices.Reverse(out)
	return out, nil
}

// anyIn reports whether some t in ts has lo < t <= hi.
func anyIn(ts []int64, lo, hi int64) bool {
	i := firstAfter(ts, lo)
	return i < len(ts) && ts[i] <= hi
}

// firstAfter returns the index of the first t > x, or len(ts).
func firstAfter(ts []int64, x int64) int {
	i, found := slices.BinarySearch(ts, x)
	if found {
		i++
	}
	return i
}

// lastAtOrBefore returns the index of the last t <= x, or -1.
func lastAtOrBefore(ts []int64, x int64) int {
	return firstAfter(ts, x) - 1
}
