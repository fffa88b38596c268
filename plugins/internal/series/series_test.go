package series

import (
	"math"
	"strings"
	"testing"

	"github.com/ppa-autoscaler/ppa/abi"
)

func TestCheck(t *testing.T) {
	for _, tc := range []struct {
		name     string
		ts       []int64
		ys       []float64
		observed int
		err      string
	}{
		{"ok with a gap", []int64{1, 2, 3}, []float64{1, math.NaN(), 3}, 2, ""},
		{"lengths", []int64{1, 2}, []float64{1}, 0, "2 timestamps but 1 values"},
		{"descending", []int64{2, 1}, []float64{1, 1}, 0, "timestamps[1]: 1 is not after the previous 2"},
		{"out of range", []int64{MaxAbsTime + 1}, []float64{1}, 0, "timestamps[0]"},
		{"infinite", []int64{1, 2}, []float64{1, math.Inf(-1)}, 0, "values[1]: -Inf is infinite"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n, err := Check(tc.ts, tc.ys)
			if tc.err == "" {
				if err != nil || n != tc.observed {
					t.Fatalf("Check = %d, %v; want %d, nil", n, err, tc.observed)
				}
				return
			}
			ae, ok := err.(*abi.Error)
			if !ok || ae.Status != abi.StatusInvalidArgument || !strings.Contains(err.Error(), tc.err) {
				t.Fatalf("err = %v, want INVALID_ARGUMENT containing %q", err, tc.err)
			}
		})
	}
}

func TestArithmetic(t *testing.T) {
	for _, tc := range []struct {
		got, want int64
	}{
		{MostCommonGap([]int64{0, 60, 120, 150, 210}), 60},
		{MostCommonGap([]int64{0, 30, 90}), 30}, // a tie: the smaller
		{RoundDiv(7, 2), 4}, {RoundDiv(-7, 2), -4}, {RoundDiv(5, 3), 2},
		{FloorDiv(-1, 60), -1}, {FloorDiv(59, 60), 0}, {FloorMod(-1, 60), 59}, {FloorMod(120, 60), 0},
	} {
		if tc.got != tc.want {
			t.Errorf("got %d, want %d", tc.got, tc.want)
		}
	}
	xs := []float64{1, 2, 3, 4}
	for q, want := range map[float64]float64{0: 1, 0.5: 2.5, 1: 4, 0.25: 1.75} {
		if got := Quantile(xs, q); got != want {
			t.Errorf("Quantile(%v) = %v, want %v", q, got, want)
		}
	}
	if Quantile(nil, 0.5) != 0 || Quantile([]float64{7}, 0.9) != 7 {
		t.Error("Quantile of no or one value")
	}
	for ms, want := range map[int64]string{86_400_000: "1d", 7 * 86_400_000: "7d", 90_000: "1m30s", 86_400_000 + 1000: "24h0m1s"} {
		if got := FormatMillis(ms); got != want {
			t.Errorf("FormatMillis(%d) = %q, want %q", ms, got, want)
		}
	}
}
