package purem

import (
	"math"
	"math/rand/v2"
	"testing"
)

// ulps returns the distance between a and b in units in the last place.
func ulps(a, b float64) uint64 {
	ia, ib := int64(math.Float64bits(a)), int64(math.Float64bits(b))
	if ia < 0 {
		ia = math.MinInt64 - ia
	}
	if ib < 0 {
		ib = math.MinInt64 - ib
	}
	if ia > ib {
		return uint64(ia - ib)
	}
	return uint64(ib - ia)
}

// TestExpLogAgainstMath checks accuracy against package math, which uses
// assembly on amd64 (within 2 ulps of the portable algorithm).
func TestExpLogAgainstMath(t *testing.T) {
	checkAgainstMath(t, 2)
}

func checkAgainstMath(t *testing.T, maxULPs uint64) {
	t.Helper()
	r := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 200000; i++ {
		x := (r.Float64() - 0.5) * 1400
		if d := ulps(Exp(x), math.Exp(x)); d > maxULPs {
			t.Fatalf("Exp(%v) = %v, math.Exp = %v (%d ulps)", x, Exp(x), math.Exp(x), d)
		}
		y := math.Exp((r.Float64() - 0.5) * 1400)
		if d := ulps(Log(y), math.Log(y)); d > maxULPs {
			t.Fatalf("Log(%v) = %v, math.Log = %v (%d ulps)", y, Log(y), math.Log(y), d)
		}
	}
}

func TestSpecialValues(t *testing.T) {
	tests := []struct {
		name string
		got  float64
		want float64
	}{
		{"exp(0)", Exp(0), 1},
		{"exp(1)", Exp(1), math.E},
		{"exp(-inf)", Exp(math.Inf(-1)), 0},
		{"exp(+inf)", Exp(math.Inf(1)), math.Inf(1)},
		{"exp(1000)", Exp(1000), math.Inf(1)},
		{"exp(-1000)", Exp(-1000), 0},
		{"log(1)", Log(1), 0},
		{"log(e)", Log(math.E), 1},
		{"log(0)", Log(0), math.Inf(-1)},
		{"log(+inf)", Log(math.Inf(1)), math.Inf(1)},
		{"invlogit(0)", InvLogit(0), 0.5},
	}
	for _, tc := range tests {
		if tc.got != tc.want {
			t.Errorf("%s = %v, want %v", tc.name, tc.got, tc.want)
		}
	}
	if !math.IsNaN(Log(-1)) || !math.IsNaN(Exp(math.NaN())) || !math.IsNaN(Log(math.NaN())) {
		t.Errorf("NaN handling wrong: Log(-1)=%v Exp(NaN)=%v Log(NaN)=%v", Log(-1), Exp(math.NaN()), Log(math.NaN()))
	}
}
