package prophet

import (
	"errors"
	"math"
	"testing"
)

func TestLBFGS(t *testing.T) {
	rosenbrock := func(x, g []float64) (float64, bool) {
		a, b := x[0], x[1]
		g[0] = -2*(1-a) - 400*a*(b-a*a)
		g[1] = 200 * (b - a*a)
		return (1-a)*(1-a) + 100*(b-a*a)*(b-a*a), true
	}
	onlyStart := func(x, g []float64) (float64, bool) {
		if x[0] == 3 && x[1] == 4 {
			g[0], g[1] = 1, 1
			return 1, true
		}
		return math.NaN(), false
	}
	tests := []struct {
		name    string
		fn      objective
		x0      []float64
		want    []float64
		wantErr error
	}{
		{"rosenbrock", rosenbrock, []float64{-1.2, 1}, []float64{1, 1}, nil},
		{"line search fails", onlyStart, []float64{3, 4}, nil, errLineSearch},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res, err := minimizeLBFGS(tc.fn, tc.x0, defaultLBFGSOptions(10000))
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("error %v, want %v", err, tc.wantErr)
			}
			if tc.want == nil {
				return
			}
			for i := range tc.want {
				if math.Abs(res.x[i]-tc.want[i]) > 1e-4 {
					t.Errorf("x = %v, want %v (code %d after %d iterations)", res.x, tc.want, res.code, res.iterations)
				}
			}
		})
	}
}

func TestCubicInterp(t *testing.T) {
	// f(x) = x³ − x through (0, 0) with slope −1 and (1, 0) with slope 2:
	// the minimum on [0, 1] is at 1/√3; on [0, 0.5] at the bound 0.5.
	tests := []struct{ hi, want float64 }{{1, 1 / math.Sqrt(3)}, {0.5, 0.5}}
	for _, tc := range tests {
		if got := cubicInterp(-1, 1, 0, 2, 0, tc.hi); math.Abs(got-tc.want) > 1e-12 {
			t.Errorf("cubicInterp on [0, %v] = %v, want %v", tc.hi, got, tc.want)
		}
	}
}
