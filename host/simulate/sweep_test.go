package simulate

import (
	"math"
	"strings"
	"testing"
)

// Hand-made curves. Reactive: (200 h, 10 min), (150 h, 40 min), (100 h,
// 100 min). Oracle: (190 h, 0 min), (95 h, 20 min).
var (
	reactiveCurve = []CurvePoint{
		{TargetUtilization: 0.5, ReplicaHours: 200, UnderprovisionedMinutes: 10},
		{TargetUtilization: 1.0, ReplicaHours: 100, UnderprovisionedMinutes: 100},
		{TargetUtilization: 0.75, ReplicaHours: 150, UnderprovisionedMinutes: 40},
	}
	oracleCurve = []CurvePoint{
		{TargetUtilization: 0.5, ReplicaHours: 190, UnderprovisionedMinutes: 0},
		{TargetUtilization: 1.0, ReplicaHours: 95, UnderprovisionedMinutes: 20},
	}
)

func TestInterpolate(t *testing.T) {
	for _, tt := range []struct {
		curve   []CurvePoint
		h       float64
		want    float64
		wantFit Fit
	}{
		// Between (100, 100) and (150, 40): 100 − 60 × 25/50.
		{reactiveCurve, 125, 70, FitInterpolated},
		{reactiveCurve, 150, 40, FitInterpolated},
		{reactiveCurve, 100, 100, FitInterpolated},
		{reactiveCurve, 200, 10, FitInterpolated},
		// Below the range: the (100,100)–(150,40) segment extended,
		// slope −1.2 per replica-hour: 100 + 1.2 × 20.
		{reactiveCurve, 80, 124, FitExtrapolatedBelow},
		// Above: (150,40)–(200,10) extended, slope −0.6: 10 − 0.6 × 60 < 0 → 0.
		{reactiveCurve, 260, 0, FitExtrapolatedAbove},
		{reactiveCurve, 210, 4, FitExtrapolatedAbove},
		// Between (95, 20) and (190, 0): 20 − 20 × 30/95.
		{oracleCurve, 125, 20 - 20*30.0/95, FitInterpolated},
		// Equal replica-hours are merged into their mean.
		{[]CurvePoint{{ReplicaHours: 10, UnderprovisionedMinutes: 4}, {ReplicaHours: 10, UnderprovisionedMinutes: 8}, {ReplicaHours: 20, UnderprovisionedMinutes: 0}}, 10, 6, FitInterpolated},
		{[]CurvePoint{{ReplicaHours: 10, UnderprovisionedMinutes: 4}}, 10, 4, FitInterpolated},
		{[]CurvePoint{{ReplicaHours: 10, UnderprovisionedMinutes: 4}}, 12, 4, FitExtrapolatedAbove},
	} {
		got, fit := Interpolate(tt.curve, tt.h)
		if !near(got, tt.want) || fit != tt.wantFit {
			t.Errorf("Interpolate(%v, %g) = %g, %s; want %g, %s", tt.curve, tt.h, got, fit, tt.want, tt.wantFit)
		}
	}
	if v, _ := Interpolate(nil, 1); !math.IsNaN(v) {
		t.Errorf("empty curve: %g", v)
	}
}

func TestCompareAt(t *testing.T) {
	// Predictive at 125 replica-hours with 30 under-provisioned minutes:
	// R(125) = 70, O(125) = 1300/95; ratio 30/70; gap closed
	// (70 − 30)/(70 − 1300/95) = 3800/5350.
	e := CompareAt(CurvePoint{TargetUtilization: 0.8, ReplicaHours: 125, UnderprovisionedMinutes: 30}, reactiveCurve, oracleCurve)
	if e.UnderprovisionedRatio == nil || !near(*e.UnderprovisionedRatio, 30.0/70) {
		t.Errorf("ratio %v, want %g", e.UnderprovisionedRatio, 30.0/70)
	}
	if e.GapClosed == nil || !near(*e.GapClosed, 3800.0/5350) {
		t.Errorf("gap closed %v, want %g", e.GapClosed, 3800.0/5350)
	}
	if !near(e.ReactiveUnderprovisionedMinutes, 70) || !near(e.OracleUnderprovisionedMinutes, 1300.0/95) || e.ReactiveFit != FitInterpolated || e.OracleFit != FitInterpolated || e.Note != "" {
		t.Errorf("comparison %+v", e)
	}

	// Outside the reactive range, below: extrapolated and said so.
	e = CompareAt(CurvePoint{ReplicaHours: 80, UnderprovisionedMinutes: 62}, reactiveCurve, oracleCurve)
	if e.ReactiveFit != FitExtrapolatedBelow || !near(*e.UnderprovisionedRatio, 0.5) || !strings.Contains(e.Note, "reactive curve extrapolated below") || !strings.Contains(e.Note, "oracle curve extrapolated below") {
		t.Errorf("below the range: %+v", e)
	}
	// Above: reactive reads 0, so the ratio and the gap are undefined.
	e = CompareAt(CurvePoint{ReplicaHours: 260, UnderprovisionedMinutes: 0}, reactiveCurve, oracleCurve)
	if e.ReactiveFit != FitExtrapolatedAbove || e.UnderprovisionedRatio != nil || e.GapClosed != nil || !strings.Contains(e.Note, "ratio undefined") || !strings.Contains(e.Note, "gap undefined") {
		t.Errorf("above the range: %+v", e)
	}
	// Worse than reactive: a negative share of the gap.
	e = CompareAt(CurvePoint{ReplicaHours: 150, UnderprovisionedMinutes: 60}, reactiveCurve, oracleCurve)
	o := 20 - 20*55.0/95
	if e.GapClosed == nil || !near(*e.GapClosed, (40-60)/(40-o)) || *e.GapClosed >= 0 {
		t.Errorf("worse than reactive: %+v", e)
	}
}

// TestSummarize pools the predictive points inside reactive's range:
// (190 h, 5 min) and (140 h, 30 min); (95 h, 80 min) lies below it and is
// left out. R(190) = 40 − 30 × 40/50 = 16, R(140) = 100 − 60 × 40/50 = 52,
// O(190) = 0, O(140) = 20 − 20 × 45/95 = 1000/95. Ratio 35/68; gap closed
// (68 − 35)/(68 − 1000/95) = 3135/5460.
func TestSummarize(t *testing.T) {
	c := &Curves{
		Reactive: reactiveCurve,
		Oracle:   oracleCurve,
		Predictive: []CurvePoint{
			{TargetUtilization: 0.5, ReplicaHours: 190, UnderprovisionedMinutes: 5},
			{TargetUtilization: 0.75, ReplicaHours: 140, UnderprovisionedMinutes: 30},
			{TargetUtilization: 1, ReplicaHours: 95, UnderprovisionedMinutes: 80},
		},
	}
	h := Summarize(c, 0.75)
	if h.TargetUtilization != 0.75 || h.ReplicaHours != 140 || !near(h.ReactiveUnderprovisionedMinutes, 52) || !near(*h.UnderprovisionedRatio, 30.0/52) {
		t.Errorf("headline at 0.75: %+v", h.Comparison)
	}
	e := h.Pooled
	if e.UnderprovisionedRatio == nil || !near(*e.UnderprovisionedRatio, 35.0/68) {
		t.Errorf("ratio %v, want %g", e.UnderprovisionedRatio, 35.0/68)
	}
	if e.GapClosed == nil || !near(*e.GapClosed, 3135.0/5460) {
		t.Errorf("gap closed %v, want %g", e.GapClosed, 3135.0/5460)
	}
	if e.Extrapolated || len(e.Utilizations) != 2 || e.Utilizations[1] != 0.75 || len(h.ByUtilization) != 3 || !strings.Contains(e.Note, "left out") || !strings.Contains(e.Note, "u=1") {
		t.Errorf("summary %+v", e)
	}
	if !near(e.ReactiveUnderprovisionedMinutes, 68) || !near(e.OracleUnderprovisionedMinutes, 1000.0/95) || e.PredictiveUnderprovisionedMinutes != 35 {
		t.Errorf("sums %+v", e)
	}

	// Every point outside: all are used, extrapolated, and said so.
	c.Predictive = []CurvePoint{{TargetUtilization: 1, ReplicaHours: 80, UnderprovisionedMinutes: 62}}
	e = Summarize(c, 1).Pooled
	if !e.Extrapolated || e.UnderprovisionedRatio == nil || !near(*e.UnderprovisionedRatio, 0.5) || !strings.Contains(e.Note, "extrapolated") {
		t.Errorf("extrapolated summary %+v", e)
	}

	// Nobody short: undefined, with the reason.
	zero := []CurvePoint{{ReplicaHours: 10}, {ReplicaHours: 20}}
	e = Summarize(&Curves{Reactive: zero, Oracle: zero, Predictive: []CurvePoint{{ReplicaHours: 15}}}, 0).Pooled
	if e.UnderprovisionedRatio != nil || e.GapClosed != nil || !strings.Contains(e.Note, "ratio undefined") {
		t.Errorf("all-zero summary %+v", e)
	}
}

func TestDefaultUtilizations(t *testing.T) {
	u := DefaultUtilizations()
	if len(u) != 21 || u[0] != 0.5 || u[1] != 0.525 || u[16] != 0.9 || u[20] != 1 {
		t.Fatalf("DefaultUtilizations() = %v", u)
	}
	if d := DefaultOptions().Utilizations; len(d) != len(u) {
		t.Fatalf("DefaultOptions().Utilizations = %v", d)
	}
}
