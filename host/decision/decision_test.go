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
