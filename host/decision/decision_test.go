package decision

import (
	"errors"
	"math"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC)

// curve returns one point per minute from t0+startMin with the given yhat,
// and lower = yhat-1, upper = yhat+2.
func curve(startMin int, yhat ...float64) *Forecast {
	f := &Forecast{GeneratedAt: t0.Add(-time.Minute)}
	for i, y := range yhat {
		f.Points = append(f.Points, Point{T: t0.Add(time.Duration(startMin+i) * time.Minute).UnixMilli(), Yhat: y, Lower: y - 1, Upper: y + 2})
	}
	return f
}

// anchor turns anchoring on, with the given half-life.
func anchor(o Options, halfLife time.Duration) Options {
	o.Anchor, o.AnchorHalfLife = true, halfLife
	return o
}

func TestDecide(t *testing.T) {
	nan := math.NaN()
	noInterval := curve(0, 5, 7, 6)
	for i := range noInterval.Points {
		noInterval.Points[i].Lower, noInterval.Points[i].Upper = nan, nan
	}
	opts := func(agg Aggregation, b Bound, h time.Duration, floor bool) Options {
		return Options{Aggregation: agg, Bound: b, Horizon: h, ReactiveFloor: floor, MaxForecastAge: time.Hour}
	}
	tests := []struct {
		name       string
		opts       Options
		now        time.Time
		fc         *Forecast
		current    float64
		hasCurrent bool
		wantValue  float64
		wantArm    Arm
		wantPoints int
		wantErr    error
		wantFcErr  error
		wantMiss   bool
		// anchored: Residual must be wantResidual; otherwise NaN.
		anchored     bool
		wantResidual float64
		wantSkip     bool
	}{
		// Window [t0, t0+3m] holds the points 0..3 of the curve (4 points):
		// yhat 4, 9, 6, 5; point 4 (100) is past the horizon, point -1 (50) before now.
		{name: "max yhat", opts: opts(AggMax, BoundYhat, 3*time.Minute, false), fc: curve(-1, 50, 4, 9, 6, 5, 100), wantValue: 9, wantArm: ArmForecast, wantPoints: 4},
		{name: "mean yhat", opts: opts(AggMean, BoundYhat, 3*time.Minute, false), fc: curve(-1, 50, 4, 9, 6, 5, 100), wantValue: 6, wantArm: ArmForecast, wantPoints: 4},
		{name: "last yhat", opts: opts(AggLast, BoundYhat, 3*time.Minute, false), fc: curve(-1, 50, 4, 9, 6, 5, 100), wantValue: 5, wantArm: ArmForecast, wantPoints: 4},
		{name: "max upper", opts: opts(AggMax, BoundUpper, 3*time.Minute, false), fc: curve(-1, 50, 4, 9, 6, 5, 100), wantValue: 11, wantArm: ArmForecast, wantPoints: 4},
		{name: "mean lower", opts: opts(AggMean, BoundLower, 3*time.Minute, false), fc: curve(-1, 50, 4, 9, 6, 5, 100), wantValue: 5, wantArm: ArmForecast, wantPoints: 4},
		{name: "zero horizon takes the point at now", opts: opts(AggMax, BoundYhat, 0, false), fc: curve(-1, 50, 4, 9), wantValue: 4, wantArm: ArmForecast, wantPoints: 1},
		{name: "window between points rounds to the points inside", opts: opts(AggMax, BoundYhat, 90*time.Second, false), fc: curve(0, 1, 2, 30), wantValue: 2, wantArm: ArmForecast, wantPoints: 2},
		{name: "NaN points are skipped", opts: opts(AggMean, BoundYhat, 2*time.Minute, false), fc: curve(0, 2, nan, 4), wantValue: 3, wantArm: ArmForecast, wantPoints: 2},
		{name: "negative forecast is reported as zero", opts: opts(AggMax, BoundYhat, time.Minute, false), fc: curve(0, -3, -2), wantValue: 0, wantArm: ArmForecast, wantPoints: 2},
		{name: "floor below forecast", opts: opts(AggMax, BoundYhat, 2*time.Minute, true), fc: curve(0, 4, 8, 6), current: 7, hasCurrent: true, wantValue: 8, wantArm: ArmForecast, wantPoints: 3},
		{name: "floor above forecast", opts: opts(AggMax, BoundYhat, 2*time.Minute, true), fc: curve(0, 4, 8, 6), current: 12, hasCurrent: true, wantValue: 12, wantArm: ArmFloor, wantPoints: 3},
		{name: "floor equal to forecast: forecast wins", opts: opts(AggMax, BoundYhat, 2*time.Minute, true), fc: curve(0, 4, 8, 6), current: 8, hasCurrent: true, wantValue: 8, wantArm: ArmForecast, wantPoints: 3},
		{name: "current ignored without floor", opts: opts(AggMax, BoundYhat, 2*time.Minute, false), fc: curve(0, 4, 8, 6), current: 12, hasCurrent: true, wantValue: 8, wantArm: ArmForecast, wantPoints: 3},
		{name: "floor configured, current missing: forecast alone", opts: opts(AggMax, BoundYhat, 2*time.Minute, true), fc: curve(0, 4, 8, 6), wantValue: 8, wantArm: ArmForecast, wantPoints: 3, wantMiss: true},
		{name: "floor configured, current NaN: forecast alone", opts: opts(AggMax, BoundYhat, 2*time.Minute, true), fc: curve(0, 4, 8, 6), current: nan, hasCurrent: true, wantValue: 8, wantArm: ArmForecast, wantPoints: 3, wantMiss: true},
		// Errors without the floor.
		{name: "nil forecast", opts: opts(AggMax, BoundYhat, time.Minute, false), fc: nil, wantErr: ErrNoForecast},
		{name: "empty forecast", opts: opts(AggMax, BoundYhat, time.Minute, false), fc: &Forecast{}, wantErr: ErrNoForecast},
		{name: "forecast starts after the window", opts: opts(AggMax, BoundYhat, time.Minute, false), fc: curve(5, 1, 2), wantErr: ErrNoForecast},
		{name: "forecast ends before now", opts: opts(AggMax, BoundYhat, time.Minute, false), fc: curve(-5, 1, 2), wantErr: ErrStale},
		{name: "forecast too old", opts: opts(AggMax, BoundYhat, time.Minute, false), fc: &Forecast{GeneratedAt: t0.Add(-61 * time.Minute), Points: curve(0, 1, 2).Points}, wantErr: ErrStale},
		{name: "age limit is inclusive", opts: opts(AggMax, BoundYhat, time.Minute, false), fc: &Forecast{GeneratedAt: t0.Add(-60 * time.Minute), Points: curve(0, 1, 2).Points}, wantValue: 2, wantArm: ArmForecast, wantPoints: 2},
		{name: "unknown generation time is not checked", opts: opts(AggMax, BoundYhat, time.Minute, false), fc: &Forecast{Points: curve(0, 1, 2).Points}, wantValue: 2, wantArm: ArmForecast, wantPoints: 2},
		{name: "upper without interval", opts: opts(AggMax, BoundUpper, 2*time.Minute, false), fc: noInterval, wantErr: ErrNoInterval},
		{name: "yhat without interval is fine", opts: opts(AggMax, BoundYhat, 2*time.Minute, false), fc: noInterval, wantValue: 7, wantArm: ArmForecast, wantPoints: 3},
		{name: "all NaN", opts: opts(AggMax, BoundYhat, time.Minute, false), fc: curve(0, nan, nan), wantErr: ErrNoForecast},
		// Errors with the floor: the current value stands in.
		{name: "stale with floor", opts: opts(AggMax, BoundYhat, time.Minute, true), fc: curve(-5, 1, 2), current: 3, hasCurrent: true, wantValue: 3, wantArm: ArmFloor, wantFcErr: ErrStale},
		{name: "missing with floor", opts: opts(AggMax, BoundYhat, time.Minute, true), fc: nil, current: 3, hasCurrent: true, wantValue: 3, wantArm: ArmFloor, wantFcErr: ErrNoForecast},
		{name: "missing with floor and current zero", opts: opts(AggMax, BoundYhat, time.Minute, true), fc: nil, current: 0, hasCurrent: true, wantValue: 0, wantArm: ArmFloor, wantFcErr: ErrNoForecast},
		{name: "missing with floor, no current", opts: opts(AggMax, BoundYhat, time.Minute, true), fc: nil, wantErr: ErrNoCurrent},
		// Anchoring. yhat(now) = 4 at t0; current 7 gives r = +3, so the
		// window's yhat 4, 9, 6, 5 becomes 7, 12, 9, 8.
		{name: "anchor, max yhat", opts: anchor(opts(AggMax, BoundYhat, 3*time.Minute, false), 0), fc: curve(-1, 50, 4, 9, 6, 5, 100), current: 7, hasCurrent: true, wantValue: 12, wantArm: ArmForecast, wantPoints: 4, anchored: true, wantResidual: 3},
		// upper = yhat+2: 6, 11, 8, 7, shifted by the yhat residual 3: 9, 14, 11, 10.
		{name: "anchor, mean upper", opts: anchor(opts(AggMean, BoundUpper, 3*time.Minute, false), 0), fc: curve(-1, 50, 4, 9, 6, 5, 100), current: 7, hasCurrent: true, wantValue: 11, wantArm: ArmForecast, wantPoints: 4, anchored: true, wantResidual: 3},
		// lower = yhat-1: 3, 8, 5, 4, shifted by 3; last = 7.
		{name: "anchor, last lower", opts: anchor(opts(AggLast, BoundLower, 3*time.Minute, false), 0), fc: curve(-1, 50, 4, 9, 6, 5, 100), current: 7, hasCurrent: true, wantValue: 7, wantArm: ArmForecast, wantPoints: 4, anchored: true, wantResidual: 3},
		// current 1: r = −3; max 9−3 = 6.
		{name: "anchor, negative residual", opts: anchor(opts(AggMax, BoundYhat, 3*time.Minute, false), 0), fc: curve(-1, 50, 4, 9, 6, 5, 100), current: 1, hasCurrent: true, wantValue: 6, wantArm: ArmForecast, wantPoints: 4, anchored: true, wantResidual: -3},
		// current 0, yhat 10 then 4: r = −10 gives 0 and −6, reported as 0.
		{name: "anchor, shifted below zero is reported as zero", opts: anchor(opts(AggMax, BoundYhat, time.Minute, false), 0), fc: curve(0, 10, 4), current: 0, hasCurrent: true, wantValue: 0, wantArm: ArmForecast, wantPoints: 2, anchored: true, wantResidual: -10},
		// now = t0+30s lies between the points 4 (t0) and 10 (t0+1m):
		// yhat(now) = 7, current 9, r = +2. The window [t0+30s, t0+2m30s]
		// holds 10 and 6: max 12.
		{name: "anchor interpolates yhat between the points around now", opts: anchor(opts(AggMax, BoundYhat, 2*time.Minute, false), 0), now: t0.Add(30 * time.Second), fc: curve(0, 4, 10, 6, 8), current: 9, hasCurrent: true, wantValue: 12, wantArm: ArmForecast, wantPoints: 2, anchored: true, wantResidual: 2},
		// Half-life 1m: r = 12 − 4 = 8 adds 8, 4, 2, 1 to 4, 9, 6, 5:
		// 12, 13, 8, 6; max 13, mean 39/4.
		{name: "anchor half-life, max", opts: anchor(opts(AggMax, BoundYhat, 3*time.Minute, false), time.Minute), fc: curve(0, 4, 9, 6, 5), current: 12, hasCurrent: true, wantValue: 13, wantArm: ArmForecast, wantPoints: 4, anchored: true, wantResidual: 8},
		{name: "anchor half-life, mean", opts: anchor(opts(AggMean, BoundYhat, 3*time.Minute, false), time.Minute), fc: curve(0, 4, 9, 6, 5), current: 12, hasCurrent: true, wantValue: 9.75, wantArm: ArmForecast, wantPoints: 4, anchored: true, wantResidual: 8},
		// With the floor: 8, 6, 4, 2 and current 5 give r = −3; the last
		// point becomes −1, reported 0; the floor (5) wins.
		{name: "anchor with floor, floor wins", opts: anchor(opts(AggLast, BoundYhat, 3*time.Minute, true), 0), fc: curve(0, 8, 6, 4, 2), current: 5, hasCurrent: true, wantValue: 5, wantArm: ArmFloor, wantPoints: 4, anchored: true, wantResidual: -3},
		// 4, 9, 6, 5 and current 10: r = +6, last 11 beats the floor's 10.
		{name: "anchor with floor, forecast wins", opts: anchor(opts(AggLast, BoundYhat, 3*time.Minute, true), 0), fc: curve(0, 4, 9, 6, 5), current: 10, hasCurrent: true, wantValue: 11, wantArm: ArmForecast, wantPoints: 4, anchored: true, wantResidual: 6},
		{name: "anchor without current is skipped", opts: anchor(opts(AggMax, BoundYhat, 3*time.Minute, false), 0), fc: curve(0, 4, 9, 6, 5), wantValue: 9, wantArm: ArmForecast, wantPoints: 4, wantSkip: true},
		{name: "anchor with NaN current is skipped", opts: anchor(opts(AggMax, BoundYhat, 3*time.Minute, false), 0), fc: curve(0, 4, 9, 6, 5), current: nan, hasCurrent: true, wantValue: 9, wantArm: ArmForecast, wantPoints: 4, wantSkip: true},
		{name: "anchor with floor, no current: both skipped", opts: anchor(opts(AggMax, BoundYhat, 3*time.Minute, true), 0), fc: curve(0, 4, 9, 6, 5), wantValue: 9, wantArm: ArmForecast, wantPoints: 4, wantMiss: true, wantSkip: true},
		{name: "anchor, curve starts after now: skipped", opts: anchor(opts(AggMax, BoundYhat, 2*time.Minute, false), 0), fc: curve(1, 4, 9), current: 100, hasCurrent: true, wantValue: 9, wantArm: ArmForecast, wantPoints: 2, wantSkip: true},
		{name: "anchor, NaN yhat at now: skipped", opts: anchor(opts(AggMax, BoundYhat, 2*time.Minute, false), 0), fc: curve(0, nan, 9, 6), current: 100, hasCurrent: true, wantValue: 9, wantArm: ArmForecast, wantPoints: 2, wantSkip: true},
		{name: "anchor, NaN neighbour of now: skipped", opts: anchor(opts(AggMax, BoundYhat, 2*time.Minute, false), 0), now: t0.Add(30 * time.Second), fc: curve(0, 4, nan, 6), current: 100, hasCurrent: true, wantValue: 6, wantArm: ArmForecast, wantPoints: 1, wantSkip: true},
		{name: "anchor, stale forecast with floor: current, not anchored", opts: anchor(opts(AggMax, BoundYhat, time.Minute, true), 0), fc: curve(-5, 1, 2), current: 3, hasCurrent: true, wantValue: 3, wantArm: ArmFloor, wantFcErr: ErrStale},
		{name: "anchor, stale forecast without floor", opts: anchor(opts(AggMax, BoundYhat, time.Minute, false), 0), fc: curve(-5, 1, 2), current: 3, hasCurrent: true, wantErr: ErrStale},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.opts.Validate(); err != nil {
				t.Fatalf("Validate: %v", err)
			}
			now := tt.now
			if now.IsZero() {
				now = t0
			}
			d, err := tt.opts.Decide(Input{Now: now, Forecast: tt.fc, Current: tt.current, HasCurrent: tt.hasCurrent})
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Decide: %v", err)
			}
			if d.Value != tt.wantValue || d.Arm != tt.wantArm || d.Points != tt.wantPoints || d.CurrentMissing != tt.wantMiss {
				t.Errorf("got value %g arm %s points %d missing %v, want %g %s %d %v", d.Value, d.Arm, d.Points, d.CurrentMissing, tt.wantValue, tt.wantArm, tt.wantPoints, tt.wantMiss)
			}
			if !errors.Is(d.ForecastErr, tt.wantFcErr) || (tt.wantFcErr == nil) != (d.ForecastErr == nil) {
				t.Errorf("ForecastErr = %v, want %v", d.ForecastErr, tt.wantFcErr)
			}
			if tt.anchored && d.Residual != tt.wantResidual || !tt.anchored && !math.IsNaN(d.Residual) {
				t.Errorf("Residual = %g, want %g (anchored %v)", d.Residual, tt.wantResidual, tt.anchored)
			}
			if d.AnchorSkipped != tt.wantSkip {
				t.Errorf("AnchorSkipped = %v, want %v", d.AnchorSkipped, tt.wantSkip)
			}
			if d.Explain(tt.opts) == "" {
				t.Error("empty explanation")
			}
		})
	}
}

func TestErrorMessagesAndReasons(t *testing.T) {
	o := Options{Aggregation: AggMax, Bound: BoundUpper, Horizon: time.Minute}
	tests := []struct {
		fc         *Forecast
		wantReason string
		wantText   string
	}{
		{nil, "no_forecast", "empty"},
		{curve(-9, 1), "stale", "before now"},
		{curve(7, 1), "no_forecast", "no point in the window [2024-03-01T12:00:00Z, 2024-03-01T12:01:00Z]"},
		{&Forecast{Points: []Point{{T: t0.UnixMilli(), Yhat: 1, Lower: math.NaN(), Upper: math.NaN()}}}, "no_interval", "bound upper"},
	}
	for _, tt := range tests {
		_, err := o.Decide(Input{Now: t0, Forecast: tt.fc})
		if got := Reason(err); got != tt.wantReason {
			t.Errorf("Reason(%v) = %q, want %q", err, got, tt.wantReason)
		}
		if err == nil || !strings.Contains(err.Error(), tt.wantText) {
			t.Errorf("error %v does not mention %q", err, tt.wantText)
		}
	}
	if Reason(nil) != "" || Reason(errors.New("x")) != "other" {
		t.Error("Reason of nil or a foreign error")
	}
}

func TestParseAndValidate(t *testing.T) {
	for _, tt := range []struct {
		in      string
		want    Aggregation
		wantErr bool
	}{{"", AggMax, false}, {"MAX", AggMax, false}, {" mean", AggMean, false}, {"last", AggLast, false}, {"p95", "", true}} {
		got, err := ParseAggregation(tt.in)
		if got != tt.want || (err != nil) != tt.wantErr {
			t.Errorf("ParseAggregation(%q) = %q, %v", tt.in, got, err)
		}
	}
	for _, tt := range []struct {
		in      string
		want    Bound
		wantErr bool
	}{{"", BoundYhat, false}, {"Upper", BoundUpper, false}, {"lower", BoundLower, false}, {"median", "", true}} {
		got, err := ParseBound(tt.in)
		if got != tt.want || (err != nil) != tt.wantErr {
			t.Errorf("ParseBound(%q) = %q, %v", tt.in, got, err)
		}
	}
	good := DefaultOptions()
	if err := good.Validate(); err != nil {
		t.Fatalf("default options: %v", err)
	}
	for name, mut := range map[string]func(*Options){
		"aggregation": func(o *Options) { o.Aggregation = "" },
		"bound":       func(o *Options) { o.Bound = "x" },
		"horizon":     func(o *Options) { o.Horizon = -time.Second },
		"max":         func(o *Options) { o.MaxForecastAge = -time.Second },
		"half-life":   func(o *Options) { o.AnchorHalfLife = -time.Second },
	} {
		o := good
		mut(&o)
		if err := o.Validate(); err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("%s: Validate() = %v, want an error naming it", name, err)
		}
	}
}

func TestNewForecast(t *testing.T) {
	f, err := NewForecast(t0, []int64{1, 2}, []float64{3, 4}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !math.IsNaN(f.Points[1].Upper) || f.Points[1].Yhat != 4 {
		t.Errorf("points = %+v", f.Points)
	}
	f, err = NewForecast(t0, []int64{1, 2}, []float64{3, 4}, []float64{2, 3}, []float64{5, 6})
	if err != nil || f.Points[0].Lower != 2 || f.Points[1].Upper != 6 {
		t.Errorf("with interval: %+v, %v", f, err)
	}
	for _, bad := range []struct {
		ts       []int64
		y, lo, u []float64
	}{
		{[]int64{1}, []float64{1, 2}, nil, nil},
		{[]int64{1, 2}, []float64{1, 2}, []float64{1}, nil},
		{[]int64{2, 2}, []float64{1, 2}, nil, nil},
	} {
		if _, err := NewForecast(t0, bad.ts, bad.y, bad.lo, bad.u); err == nil {
			t.Errorf("NewForecast(%v, %v, %v, %v) accepted", bad.ts, bad.y, bad.lo, bad.u)
		}
	}
}

func TestAnchorShift(t *testing.T) {
	for _, tt := range []struct {
		halfLife, ahead time.Duration
		r, want         float64
	}{
		{0, 10 * time.Minute, 8, 8},
		{time.Minute, 0, 8, 8},
		{time.Minute, -time.Minute, 8, 8},
		{time.Minute, time.Minute, 8, 4},
		{time.Minute, 3 * time.Minute, -8, -1},
		{2 * time.Minute, time.Minute, 8, 8 / math.Sqrt2},
	} {
		o := Options{Anchor: true, AnchorHalfLife: tt.halfLife}
		if got := o.AnchorShift(tt.r, tt.ahead); math.Abs(got-tt.want) > 1e-12 {
			t.Errorf("half-life %s: AnchorShift(%g, %s) = %g, want %g", tt.halfLife, tt.r, tt.ahead, got, tt.want)
		}
	}
}

func TestExplainAnchor(t *testing.T) {
	o := anchor(Options{Aggregation: AggMax, Bound: BoundYhat, Horizon: 3 * time.Minute, ReactiveFloor: true}, 0)
	for _, tt := range []struct {
		o          Options
		fc         *Forecast
		current    float64
		hasCurrent bool
		want       string
	}{
		{o, curve(0, 4, 9, 6, 5), 7, true, "forecast 12 (max of yhat over 4 points), current 7; anchored: shifted by +3 (current 7 − yhat(now) 4)"},
		{anchor(o, time.Minute), curve(0, 4, 9, 6, 5), 12, true, "forecast 13 (max of yhat over 4 points), current 12; anchored: shifted by +8 (current 12 − yhat(now) 4) with half-life 1m0s"},
		{o, curve(0, 4, 9, 6, 5), 0, false, "forecast 9 (max of yhat over 4 points), reactive floor skipped: no current value; anchoring skipped: no current value"},
		{o, curve(1, 4, 9, 6, 5), 7, true, "forecast 9 (max of yhat over 3 points), current 7; anchoring skipped: the forecast has no yhat at now"},
		{o, nil, 7, true, "floor 7: forecast unusable (no forecast: the forecast is empty)"},
	} {
		d, err := tt.o.Decide(Input{Now: t0, Forecast: tt.fc, Current: tt.current, HasCurrent: tt.hasCurrent})
		if err != nil {
			t.Fatal(err)
		}
		if got := d.Explain(tt.o); got != tt.want {
			t.Errorf("Explain = %q\n          want %q", got, tt.want)
		}
	}
}
