package simulate

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/ppa-autoscaler/ppa/abi"
	"github.com/ppa-autoscaler/ppa/host/decision"
	"github.com/ppa-autoscaler/ppa/host/series"
)

var t0 = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

// trace builds a series with one value per step from t0.
func trace(step time.Duration, y ...float64) *series.Series {
	s := &series.Series{}
	for i, v := range y {
		s.T = append(s.T, t0.Add(time.Duration(i)*step).UnixMilli())
		s.Y = append(s.Y, v)
	}
	return s
}

// repeat returns v n times.
func repeat(v float64, n int) []float64 {
	out := make([]float64, n)
	for i := range out {
		out[i] = v
	}
	return out
}

func concat(parts ...[]float64) []float64 {
	var out []float64
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

// options: capacity 10 per replica at 100 % target (target value 10), lead
// 3m, stabilisation 5m, tolerance 0.1, min 1, 10 minutes of warm-up.
func options(s *series.Series, f Forecaster) Options {
	o := DefaultOptions()
	o.Series, o.Forecaster = s, f
	o.CapacityPerReplica = 10
	o.TargetUtilization = 1
	o.Lead = 3 * time.Minute
	o.Train = 10 * time.Minute
	o.Retrain = time.Hour
	return o
}

func run(t *testing.T, o Options) *Result {
	t.Helper()
	res, err := Run(context.Background(), o)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	return res
}

func near(a, b float64) bool { return math.Abs(a-b) <= 1e-9*math.Max(1, math.Abs(b)) }

func checkMetrics(t *testing.T, arm string, got, want ArmMetrics) {
	t.Helper()
	if got.UnderprovisionedMinutes != want.UnderprovisionedMinutes || got.ScaleEvents != want.ScaleEvents ||
		got.ScaleUps != want.ScaleUps || got.ScaleDowns != want.ScaleDowns || got.PeakReplicas != want.PeakReplicas ||
		!near(got.UnservedDemandShare, want.UnservedDemandShare) || !near(got.ReplicaHours, want.ReplicaHours) ||
		!near(got.OverprovisioningShare, want.OverprovisioningShare) || !near(got.MeanReplicas, want.MeanReplicas) {
		t.Errorf("%s:\n got %+v\nwant %+v", arm, got, want)
	}
}

// TestStepChange: demand 20 for 20 minutes, 50 for 15, 20 for 15; 1-minute
// steps, lead 3m, stabilisation 5m; trained at minute 10 on minutes 0..9,
// scored from minute 15 (10 + max(3, 5)).
//
// Reactive sees 50 at minute 20 and orders 5 replicas, ready at 23: minutes
// 20, 21, 22 are short by 30 each. Demand falls at 35; the proposals of 5
// made at 30..34 hold the count until 40. Over the scored minutes 15..49:
// replica-minutes 5×2 + 20×5 + 10×2 = 130; demand 5×20 + 15×50 + 15×20 =
// 1150; ready capacity 5×20 + 3×20 + 12×50 + 5×50 + 10×20 = 1210 of which
// 5×30 idle (minutes 35..39).
//
// The oracle sees the 50 of minute 20 in its window at minute 17 and has 5
// ready at 20: never short. Replica-minutes 4×2 + 23×5 + 10×2 = 139; ready
// capacity 5×20 + 20×50 + 10×20 = 1300, 150 idle.
//
// The predictive arm with a perfect forecaster and max aggregation is the
// oracle.
func TestStepChange(t *testing.T) {
	y := concat(repeat(20, 20), repeat(50, 15), repeat(20, 15))
	s := trace(time.Minute, y...)
	f := newPerfect(s.T, s.Y, 0)
	res := run(t, options(s, f))

	checkMetrics(t, "reactive", res.Reactive, ArmMetrics{
		UnderprovisionedMinutes: 3, UnservedDemandShare: 90.0 / 1150, ReplicaHours: 130.0 / 60,
		OverprovisioningShare: 150.0 / 1210, ScaleEvents: 2, ScaleUps: 1, ScaleDowns: 1,
		MeanReplicas: 130.0 / 35, PeakReplicas: 5,
	})
	checkMetrics(t, "oracle", res.Oracle, ArmMetrics{
		UnderprovisionedMinutes: 0, UnservedDemandShare: 0, ReplicaHours: 139.0 / 60,
		OverprovisioningShare: 150.0 / 1300, ScaleEvents: 2, ScaleUps: 1, ScaleDowns: 1,
		MeanReplicas: 139.0 / 35, PeakReplicas: 5,
	})
	checkMetrics(t, "predictive", res.Predictive, res.Oracle)

	tl := res.Timeline
	wantReady := map[string]map[int]int32{
		"reactive": {19: 2, 20: 2, 22: 2, 23: 5, 39: 5, 40: 2},
		"oracle":   {16: 2, 17: 2, 19: 2, 20: 5, 39: 5, 40: 2},
	}
	for arm, ready := range map[string][]int32{"reactive": tl.Reactive, "oracle": tl.Oracle} {
		for i, want := range wantReady[arm] {
			if ready[i] != want {
				t.Errorf("%s ready at minute %d = %d, want %d", arm, i, ready[i], want)
			}
		}
	}
	if !reflect.DeepEqual(tl.Predictive, tl.Oracle) {
		t.Errorf("predictive ready %v\n!= oracle ready %v", tl.Predictive, tl.Oracle)
	}
	if res.Trace.ScoredMinutes != 35 || res.Trace.GapMinutes != 0 || res.Trace.WarmupMinutes != 15 || !res.Trace.ScoredFrom.Equal(t0.Add(15*time.Minute)) {
		t.Errorf("trace info %+v", res.Trace)
	}
	if res.Forecast.Trainings != 1 || res.Forecast.ForecastMinutes != 35 || res.Forecast.FloorMinutes != 0 || res.Forecast.MAE != 0 {
		t.Errorf("forecast stats %+v", res.Forecast)
	}
	// One training on the 10 minutes before minute 10; one prediction of
	// minutes 10..49 plus the 3-minute lead.
	if len(f.trains) != 1 || len(f.trains[0].Timestamps) != 10 || f.trains[0].Timestamps[0] != s.T[0] || f.trains[0].Timestamps[9] != s.T[9] {
		t.Fatalf("train requests %+v", f.trains)
	}
	if len(f.predicts) != 1 || len(f.predicts[0].Timestamps) != 43 || f.predicts[0].Timestamps[0] != s.T[10] {
		t.Fatalf("predict requests: %d, first has %d points", len(f.predicts), len(f.predicts[0].Timestamps))
	}
}

// TestRetrainSchedule: with retrain 10m and train 10m over 40 minutes the
// forecaster is trained at minutes 10, 20 and 30 on the 10 minutes before
// each, and every prediction starts at the training time and covers the
// period plus the lead.
func TestRetrainSchedule(t *testing.T) {
	s := trace(time.Minute, repeat(20, 40)...)
	f := newPerfect(s.T, s.Y, 0)
	o := options(s, f)
	o.Retrain = 10 * time.Minute
	o.Seed = 42
	res := run(t, o)
	if res.Forecast.Trainings != 3 || len(f.trains) != 3 || len(f.predicts) != 3 {
		t.Fatalf("trainings %d, train calls %d, predict calls %d, want 3", res.Forecast.Trainings, len(f.trains), len(f.predicts))
	}
	for k, tr := range f.trains {
		at := 10 * (k + 1)
		if len(tr.Timestamps) != 10 || tr.Timestamps[0] != s.T[at-10] || tr.Timestamps[9] != s.T[at-1] || tr.Seed != 42 {
			t.Errorf("training %d: %d points from %d, seed %d", k, len(tr.Timestamps), tr.Timestamps[0], tr.Seed)
		}
		p := f.predicts[k]
		if len(p.Timestamps) != 13 || p.Timestamps[0] != s.T[at] || p.Seed != 42 {
			t.Errorf("prediction %d: %d points from %d", k, len(p.Timestamps), p.Timestamps[0])
		}
	}
}

func TestStabilizationWindow(t *testing.T) {
	// Demand 50 (5 replicas), then a dip to 20 (2 replicas) of d minutes,
	// then 50 again. The proposals of 5 made before the dip stay in the
	// 5-minute window through the dip's fifth minute, so a dip of 5 minutes
	// does not scale down; a dip of 6 scales down in its sixth minute, and
	// the return to 50 is then short for the 3-minute lead.
	for _, tt := range []struct {
		dip       int
		wantSpec  []int32 // from the dip's first minute
		wantUnder float64
	}{
		{dip: 4, wantSpec: []int32{5, 5, 5, 5, 5, 5}, wantUnder: 0},
		{dip: 5, wantSpec: []int32{5, 5, 5, 5, 5, 5, 5}, wantUnder: 0},
		{dip: 6, wantSpec: []int32{5, 5, 5, 5, 5, 2, 5, 5, 5}, wantUnder: 3},
	} {
		y := concat(repeat(50, 20), repeat(20, tt.dip), repeat(50, 10))
		s := trace(time.Minute, y...)
		model := replicaModel{hpa: decision.HPA{TargetValue: 10, MinReplicas: 1, Tolerance: 0.1}, lead: 3, stab: 5, initial: 5}
		tr := model.run(s.Y)
		if got := tr.spec[20 : 20+len(tt.wantSpec)]; !reflect.DeepEqual(got, tt.wantSpec) {
			t.Errorf("dip of %d minutes: replicas %v, want %v", tt.dip, got, tt.wantSpec)
		}
		res := run(t, options(s, newPerfect(s.T, s.Y, 0)))
		if res.Reactive.UnderprovisionedMinutes != tt.wantUnder {
			t.Errorf("dip of %d minutes: reactive under-provisioned %g minutes, want %g", tt.dip, res.Reactive.UnderprovisionedMinutes, tt.wantUnder)
		}
		if res.Oracle.UnderprovisionedMinutes != 0 {
			t.Errorf("dip of %d minutes: oracle under-provisioned %g minutes", tt.dip, res.Oracle.UnderprovisionedMinutes)
		}
	}
}

func TestStartupLag(t *testing.T) {
	// One replica ready at the start, demand 40 from the first minute: the
	// 3 new replicas are ready lead steps later; with lead 0 at once.
	for _, tt := range []struct {
		lead      int
		wantReady []int32
	}{
		{0, []int32{4, 4, 4, 4, 4, 4}},
		{1, []int32{1, 4, 4, 4, 4, 4}},
		{4, []int32{1, 1, 1, 1, 4, 4}},
	} {
		model := replicaModel{hpa: decision.HPA{TargetValue: 10, MinReplicas: 1, Tolerance: 0.1}, lead: tt.lead, stab: 5, initial: 1}
		tr := model.run(repeat(40, 6))
		if !reflect.DeepEqual(tr.ready, tt.wantReady) || !reflect.DeepEqual(tr.spec, []int32{4, 4, 4, 4, 4, 4}) {
			t.Errorf("lead %d: ready %v spec %v, want ready %v", tt.lead, tr.ready, tr.spec, tt.wantReady)
		}
	}
	// Through Run: initial replicas 1, a lead of 150 s on 1-minute steps is
	// 3 steps (rounded up), and the warm-up hides the start: nothing is
	// short in the scored period.
	s := trace(time.Minute, repeat(40, 20)...)
	o := options(s, newPerfect(s.T, s.Y, 0))
	o.InitialReplicas = 1
	o.Lead = 150 * time.Second
	res := run(t, o)
	if res.Settings.LeadSeconds != 180 {
		t.Errorf("effective lead %gs, want 180", res.Settings.LeadSeconds)
	}
	if got := res.Timeline.Reactive[:5]; !reflect.DeepEqual(got, []int32{1, 1, 1, 4, 4}) {
		t.Errorf("reactive ready %v", got)
	}
	if res.Reactive.UnderprovisionedMinutes != 0 || res.Reactive.ReplicaHours != 5*4.0/60 {
		t.Errorf("reactive %+v", res.Reactive)
	}
	// A scale-down removes starting replicas first: 1 ready, 9 ordered, and
	// the demand falls to 30 before they are ready: 3 remain, 1 ready and 2
	// starting.
	model := replicaModel{hpa: decision.HPA{TargetValue: 10, MinReplicas: 1, Tolerance: 0.1}, lead: 3, stab: 0, initial: 1}
	tr := model.run([]float64{90, 30, 30, 30, 30})
	if !reflect.DeepEqual(tr.spec, []int32{9, 3, 3, 3, 3}) || !reflect.DeepEqual(tr.ready, []int32{1, 1, 1, 3, 3}) {
		t.Errorf("scale down while starting: spec %v ready %v", tr.spec, tr.ready)
	}
}

// TestDailySine: hourly steps of y = 100 + 100 sin(2πh/24) over six days,
// lead 1h, capacity 10 at 100 %, no tolerance, one day of warm-up. The
// stabilisation window of 5 minutes spans S = 1 step, so with p(i) the
// proposal ceil(m(i)/10) (at least 1) the count is max(p(i−1), p(i)), and a
// replica created at step i is ready at i+1. Reactive (m = y) is therefore
// short at hour i exactly when y(i) > 10 × count(i−1) while rising; the
// oracle (m(i) = max(y(i), y(i+1))) is never short.
func TestDailySine(t *testing.T) {
	const days = 6
	n := 24 * days
	y := make([]float64, n)
	for i := range y {
		y[i] = 100 + 100*math.Sin(2*math.Pi*float64(i)/24)
	}
	s := trace(time.Hour, y...)
	f := newPerfect(s.T, s.Y, 5)
	o := options(s, f)
	o.Lead, o.Train, o.Retrain, o.Tolerance = time.Hour, 24*time.Hour, 24*time.Hour, 0

	p := func(m float64) int32 { return int32(max(1, math.Ceil(m/10))) }
	count := func(m []float64) (spec, ready []int32) {
		spec, ready = make([]int32, n), make([]int32, n)
		prev := p(m[0]) // the initial count: the HPA's choice for y(0)
		for i := range m {
			spec[i] = p(m[i])
			if i > 0 {
				spec[i] = max(spec[i], p(m[i-1]))
			}
			ready[i] = spec[i]
			if spec[i] > prev {
				ready[i] = prev
			}
			prev = spec[i]
		}
		return spec, ready
	}
	oracleM := make([]float64, n)
	for i := range y {
		oracleM[i] = y[i]
		if i+1 < n {
			oracleM[i] = max(y[i], y[i+1])
		}
	}
	expect := func(m []float64) (under, hours float64) {
		spec, ready := count(m)
		for i := 24 + 1; i < n; i++ { // warm-up: Train + max(lead, stabilisation) = 25 steps
			if y[i] > 10*float64(ready[i]) {
				under += 60
			}
			hours += float64(spec[i])
		}
		return under, hours
	}
	wantRU, wantRH := expect(y)
	wantOU, wantOH := expect(oracleM)
	if wantRU == 0 || wantOU != 0 {
		t.Fatalf("test premise: reactive short %g min, oracle %g", wantRU, wantOU)
	}

	res := run(t, o)
	if res.Reactive.UnderprovisionedMinutes != wantRU || !near(res.Reactive.ReplicaHours, wantRH) {
		t.Errorf("reactive: %g under-provisioned minutes, %g replica-hours; want %g, %g", res.Reactive.UnderprovisionedMinutes, res.Reactive.ReplicaHours, wantRU, wantRH)
	}
	if res.Oracle.UnderprovisionedMinutes != 0 || !near(res.Oracle.ReplicaHours, wantOH) {
		t.Errorf("oracle: %g under-provisioned minutes, %g replica-hours; want 0, %g", res.Oracle.UnderprovisionedMinutes, res.Oracle.ReplicaHours, wantOH)
	}
	checkMetrics(t, "predictive (perfect)", res.Predictive, res.Oracle)

	// The upper bound (+5) adds capacity: never short, at least as many
	// replica-hours as the oracle.
	o.Decision.Bound = decision.BoundUpper
	up := run(t, o)
	if up.Predictive.UnderprovisionedMinutes != 0 || up.Predictive.ReplicaHours < res.Oracle.ReplicaHours {
		t.Errorf("upper bound: %+v", up.Predictive)
	}
	// A lead of 2h with the oracle still looking 1 step ahead would be
	// late; the oracle always looks as far as the lead, so it stays exact.
	o.Decision.Bound = decision.BoundYhat
	o.Lead = 2 * time.Hour
	two := run(t, o)
	if two.Oracle.UnderprovisionedMinutes != 0 || two.Reactive.UnderprovisionedMinutes <= res.Reactive.UnderprovisionedMinutes {
		t.Errorf("lead 2h: oracle %g, reactive %g (lead 1h: %g)", two.Oracle.UnderprovisionedMinutes, two.Reactive.UnderprovisionedMinutes, res.Reactive.UnderprovisionedMinutes)
	}
	checkMetrics(t, "predictive (perfect, lead 2h)", two.Predictive, two.Oracle)
}

func TestGaps(t *testing.T) {
	// Demand 50 with a 10-minute gap in the scored period. Read as zero
	// demand, the gap would scale every arm down to 1 and leave it short
	// after the gap; as unknown, every arm holds 5 replicas.
	nan := math.NaN()
	y := concat(repeat(50, 20), repeat(nan, 10), repeat(50, 15))
	s := trace(time.Minute, y...)
	// A missing row is a gap too: drop minute 40 from the series.
	s.T = append(s.T[:40:40], s.T[41:]...)
	s.Y = append(s.Y[:40:40], s.Y[41:]...)
	res := run(t, options(s, newPerfect(s.T, s.Y, 0)))
	if res.Trace.GapMinutes != 11 || res.Trace.ScoredMinutes != 19 || res.Trace.Steps != 45 {
		t.Errorf("trace: %+v", res.Trace)
	}
	want := ArmMetrics{ReplicaHours: 19 * 5.0 / 60, MeanReplicas: 5, PeakReplicas: 5}
	checkMetrics(t, "reactive", res.Reactive, want)
	checkMetrics(t, "predictive", res.Predictive, want)
	checkMetrics(t, "oracle", res.Oracle, want)
	for i, r := range res.Timeline.Reactive {
		if r != 5 {
			t.Fatalf("reactive ready at minute %d = %d, want 5 throughout", i, r)
		}
	}
	if res.Forecast.ForecastMinutes+res.Forecast.FloorMinutes+res.Forecast.UnavailableMinutes != 19 {
		t.Errorf("forecast minutes do not add up to the scored minutes: %+v", res.Forecast)
	}

	// Demand that differs across the gap: the arms act on the first known
	// value after it.
	y = concat(repeat(20, 20), repeat(nan, 10), repeat(50, 15))
	s = trace(time.Minute, y...)
	res = run(t, options(s, newPerfect(s.T, s.Y, 0)))
	if res.Reactive.UnderprovisionedMinutes != 3 || res.Oracle.UnderprovisionedMinutes != 3 {
		t.Errorf("after a gap: reactive short %g min, oracle %g, want 3 each (nobody acts in a gap)", res.Reactive.UnderprovisionedMinutes, res.Oracle.UnderprovisionedMinutes)
	}
	// The warm-up window of a gap-only training is skipped.
	y = concat(repeat(nan, 10), repeat(20, 10))
	s = trace(time.Minute, y...)
	res = run(t, options(s, newPerfect(s.T, s.Y, 0)))
	if res.Forecast.SkippedTrainings != 1 || res.Forecast.Trainings != 0 || res.Forecast.UnavailableMinutes != 5 {
		t.Errorf("all-gap training window: %+v", res.Forecast)
	}
}

func TestFloorAndFallback(t *testing.T) {
	y := concat(repeat(20, 15), repeat(50, 15), repeat(20, 15))
	s := trace(time.Minute, y...)

	// A forecast of 0 with the reactive floor is exactly reactive.
	o := options(s, constant{0})
	o.Decision.ReactiveFloor = true
	res := run(t, o)
	checkMetrics(t, "predictive (zero forecast, floor)", res.Predictive, res.Reactive)
	// Demand is never 0, so the floor wins every scored minute.
	if res.Forecast.FloorMinutes != 30 || res.Forecast.ForecastMinutes != 0 {
		t.Errorf("forecast stats %+v, want 30 floor minutes", res.Forecast)
	}

	// No forecast ever and no floor: the arm holds its initial 2 replicas.
	o = options(s, insufficient{})
	res = run(t, o)
	if res.Predictive.ScaleEvents != 0 || res.Predictive.PeakReplicas != 2 || res.Forecast.UnavailableMinutes != 30 || res.Forecast.SkippedTrainings != 1 {
		t.Errorf("no forecast, no floor: %+v %+v", res.Predictive, res.Forecast)
	}
	// ... with the floor, it is reactive.
	o.Decision.ReactiveFloor = true
	res = run(t, o)
	checkMetrics(t, "predictive (no forecast, floor)", res.Predictive, res.Reactive)

	// Bound upper without intervals is unusable: with the floor, reactive.
	o = options(s, constant{100})
	o.Decision.Bound, o.Decision.ReactiveFloor = decision.BoundUpper, true
	res = run(t, o)
	checkMetrics(t, "predictive (no interval, floor)", res.Predictive, res.Reactive)

	// A forecast of 100 everywhere: 10 replicas, never short.
	o = options(s, constant{100})
	res = run(t, o)
	if res.Predictive.UnderprovisionedMinutes != 0 || res.Predictive.PeakReplicas != 10 || res.Predictive.ReplicaHours != 30*10.0/60 {
		t.Errorf("constant 100: %+v", res.Predictive)
	}
}

func TestForecasterError(t *testing.T) {
	s := trace(time.Minute, repeat(20, 30)...)
	o := options(s, failing{})
	_, err := Run(context.Background(), o)
	if err == nil || !strings.Contains(err.Error(), "train at 2024-01-01T00:10:00Z") || !strings.Contains(err.Error(), "boom") {
		t.Fatalf("err = %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Run(ctx, options(s, constant{1})); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled: err = %v", err)
	}
}

type failing struct{ constant }

func (failing) Train(context.Context, *abi.TrainRequest) (*abi.TrainResponse, error) {
	return nil, errors.New("boom")
}

func TestValidate(t *testing.T) {
	s := trace(time.Minute, repeat(20, 30)...)
	for _, tt := range []struct {
		name string
		mut  func(*Options)
		want string
	}{
		{"capacity", func(o *Options) { o.CapacityPerReplica = 0 }, "capacity per replica"},
		{"utilization", func(o *Options) { o.TargetUtilization = 1.2 }, "target utilization"},
		{"sweep list", func(o *Options) { o.Sweep, o.Utilizations = true, []float64{0.5, 0} }, "utilizations"},
		{"lead", func(o *Options) { o.Lead = -time.Second }, "lead"},
		{"train", func(o *Options) { o.Train = 0 }, "train"},
		{"retrain", func(o *Options) { o.Retrain = 0 }, "retrain"},
		{"forecaster", func(o *Options) { o.Forecaster = nil }, "forecaster"},
		{"max", func(o *Options) { o.MinReplicas, o.MaxReplicas = 3, 2 }, "max replicas"},
		{"aggregation", func(o *Options) { o.Decision.Aggregation = "p99" }, "aggregation"},
		{"series", func(o *Options) { o.Series = &series.Series{} }, "series"},
		{"too short", func(o *Options) { o.Train = time.Hour }, "not more than the warm-up"},
		{"off grid", func(o *Options) {
			o.Series = &series.Series{T: []int64{0, 60000, 120000, 150000}, Y: []float64{1, 2, 3, 4}}
		}, "row 4"},
	} {
		o := options(s, constant{1})
		tt.mut(&o)
		if _, err := Run(context.Background(), o); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: err = %v, want one mentioning %q", tt.name, err, tt.want)
		}
	}
}

// TestSweep checks the sweep's curves against single runs and its
// determinism, with a seasonal-naive forecaster on a noisy daily pattern.
func TestSweep(t *testing.T) {
	n := 24 * 12 * 4 // four days of 5-minute steps
	if testing.Short() {
		n = 24 * 12 * 3
	}
	y := make([]float64, n)
	state := uint64(7)
	for i := range y {
		state = state*6364136223846793005 + 1442695040888963407
		noise := float64(state>>40)/float64(1<<24) - 0.5
		y[i] = 200 + 150*math.Sin(2*math.Pi*float64(i)/288) + 40*noise
	}
	s := trace(5*time.Minute, y...)
	o := options(s, seasonalNaive{period: 288})
	o.Lead, o.Train, o.Retrain = 10*time.Minute, 48*time.Hour, 12*time.Hour
	o.TargetUtilization = 0.75
	o.Sweep, o.Utilizations = true, []float64{0.5, 0.6, 0.7, 0.8, 0.9, 1.0}
	o.Decision.ReactiveFloor = true
	res := run(t, o)
	if len(res.Curves.Reactive) != 7 || res.Curves.Reactive[3].TargetUtilization != 0.75 {
		t.Fatalf("curves: %+v", res.Curves.Reactive)
	}
	if res.AtEqualReplicaHours == nil || len(res.AtEqualReplicaHours.ByUtilization) != 7 || res.AtEqualReplicaHours.ByUtilization[3].TargetUtilization != 0.75 {
		t.Fatalf("at equal replica-hours: %+v", res.AtEqualReplicaHours)
	}
	// Each curve point equals a single run at that utilisation.
	for _, k := range []int{0, 6} {
		single := o
		single.Sweep = false
		single.TargetUtilization = o.Utilizations[min(k, 5)]
		r := run(t, single)
		for arm, pair := range map[string][2]any{
			"reactive":   {res.Curves.Reactive[k], point(r.Reactive, single.TargetUtilization)},
			"predictive": {res.Curves.Predictive[k], point(r.Predictive, single.TargetUtilization)},
			"oracle":     {res.Curves.Oracle[k], point(r.Oracle, single.TargetUtilization)},
		} {
			if pair[0] != pair[1] {
				t.Errorf("%s at %g: sweep %+v, single run %+v", arm, single.TargetUtilization, pair[0], pair[1])
			}
		}
	}
	// More headroom costs more: replica-hours fall as utilisation rises.
	for _, c := range [][]CurvePoint{res.Curves.Reactive, res.Curves.Predictive, res.Curves.Oracle} {
		for i := 1; i < len(c); i++ {
			if c[i].ReplicaHours > c[i-1].ReplicaHours {
				t.Errorf("replica-hours rise from u=%g to u=%g: %g > %g", c[i-1].TargetUtilization, c[i].TargetUtilization, c[i].ReplicaHours, c[i-1].ReplicaHours)
			}
		}
	}
	// Deterministic: the same options give the same JSON.
	a, _ := json.Marshal(res)
	b, _ := json.Marshal(run(t, o))
	if string(a) != string(b) {
		t.Error("two runs differ")
	}
	var decoded map[string]any
	if err := json.Unmarshal(a, &decoded); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"reactive", "predictive", "oracle", "curves", "at_equal_replica_hours"} {
		if _, ok := decoded[k]; !ok {
			t.Errorf("JSON lacks %q: %s", k, a)
		}
	}
	if _, ok := decoded["reactive"].(map[string]any)["underprovisioned_minutes"]; !ok {
		t.Errorf("JSON reactive lacks underprovisioned_minutes")
	}
}

func point(m ArmMetrics, u float64) CurvePoint {
	return CurvePoint{TargetUtilization: u, UnderprovisionedMinutes: m.UnderprovisionedMinutes, ReplicaHours: m.ReplicaHours, ScaleEvents: m.ScaleEvents}
}

// TestOracleIgnoresTolerance: 10 replicas at 100 % target carry 100; the
// demand rises to 105, a ratio of 1.05, inside the HPA's tolerance. Reactive
// and a perfect predictive arm (both through the HPA) keep 10 replicas and
// are short for the 15 minutes; the oracle, the limit, has 11 ready in time.
func TestOracleIgnoresTolerance(t *testing.T) {
	y := concat(repeat(100, 20), repeat(105, 15))
	s := trace(time.Minute, y...)
	res := run(t, options(s, newPerfect(s.T, s.Y, 0)))
	if res.Reactive.UnderprovisionedMinutes != 15 || res.Predictive.UnderprovisionedMinutes != 15 || res.Oracle.UnderprovisionedMinutes != 0 || res.Oracle.PeakReplicas != 11 {
		t.Errorf("under-provisioned minutes: reactive %g, predictive %g, oracle %g (peak %d); want 15, 15, 0 (11)",
			res.Reactive.UnderprovisionedMinutes, res.Predictive.UnderprovisionedMinutes, res.Oracle.UnderprovisionedMinutes, res.Oracle.PeakReplicas)
	}
}

func TestOracleTolerance(t *testing.T) {
	// The oracle keeps a count that is at most 10 % too large, and never
	// one that is too small: 10 replicas of target 10; 95 keeps 10 (ratio
	// 0.95), 85 goes to 9, 101 goes to 11 (the HPA would keep 10).
	model := replicaModel{hpa: decision.HPA{TargetValue: 10, MinReplicas: 1, Tolerance: 0.1}, lead: 0, stab: 0, initial: 10, downOnly: true}
	tr := model.run([]float64{95, 85, 101})
	if !reflect.DeepEqual(tr.spec, []int32{10, 9, 11}) {
		t.Errorf("oracle counts %v, want [10 9 11]", tr.spec)
	}
}

// TestAnchor: anchoring shifts the forecast by current − yhat(now), the
// current value being the step's demand.
func TestAnchor(t *testing.T) {
	y := concat(repeat(20, 20), repeat(50, 15), repeat(20, 15))
	s := trace(time.Minute, y...)
	// |y[i] − y[i−3]| over the scored minutes 15..49: 30 at 20, 21, 22 and
	// at 35, 36, 37.
	const persistence = 6 * 30.0 / 35

	// A perfect forecast 7 too high, anchored: r = −7 everywhere, so the
	// arm reads the truth and is the oracle (TestStepChange).
	biased := make([]float64, len(y))
	for i, v := range y {
		biased[i] = v + 7
	}
	o := options(s, newPerfect(s.T, biased, 0))
	o.Decision.Anchor = true
	res := run(t, o)
	checkMetrics(t, "predictive (biased, anchored)", res.Predictive, res.Oracle)
	if res.Forecast.MAE != 7 || res.Forecast.LeadMAE != 0 || !near(res.Forecast.PersistenceMAE, persistence) || res.Forecast.AnchoredMinutes != 35 {
		t.Errorf("forecast stats %+v, want MAE 7, lead MAE 0, persistence %g, 35 anchored minutes", res.Forecast, persistence)
	}
	if !res.Settings.Anchor {
		t.Error("settings do not echo the anchor")
	}
	// Not anchored, the bias costs replicas: 27 → 3, 57 → 6 replicas.
	o.Decision.Anchor = false
	res = run(t, o)
	if res.Predictive.ReplicaHours <= res.Oracle.ReplicaHours || res.Forecast.LeadMAE != 7 || res.Forecast.AnchoredMinutes != 0 {
		t.Errorf("biased, not anchored: %+v %+v", res.Predictive, res.Forecast)
	}

	// A constant forecast of 0, anchored, is the current demand over the
	// whole window: the arm is reactive, and its forecast at the lead is
	// persistence.
	o = options(s, constant{0})
	o.Decision.Anchor = true
	res = run(t, o)
	checkMetrics(t, "predictive (zero, anchored)", res.Predictive, res.Reactive)
	if !near(res.Forecast.LeadMAE, persistence) || !near(res.Forecast.PersistenceMAE, persistence) {
		t.Errorf("lead MAE %g, persistence %g, want both %g", res.Forecast.LeadMAE, res.Forecast.PersistenceMAE, persistence)
	}
	// With a half-life of the lead, the shift at the lead is halved: the
	// forecast at the lead is y[i−3]/2. Max aggregation still reads the
	// full shift at now: reactive.
	o.Decision.AnchorHalfLife = o.Lead
	res = run(t, o)
	checkMetrics(t, "predictive (zero, anchored, half-life)", res.Predictive, res.Reactive)
	var want float64
	for i := 15; i < len(y); i++ {
		want += math.Abs(y[i-3]/2 - y[i])
	}
	want /= 35
	if !near(res.Forecast.LeadMAE, want) || res.Settings.AnchorHalfLifeSeconds != 180 {
		t.Errorf("lead MAE %g, want %g; settings %+v", res.Forecast.LeadMAE, want, res.Settings)
	}
	// Last aggregation reads the halved shift: 20 → 10, 1 replica instead of 2.
	o.Decision.Aggregation = decision.AggLast
	res = run(t, o)
	if res.Predictive.ReplicaHours >= res.Reactive.ReplicaHours {
		t.Errorf("half-life with last aggregation: predictive %+v, reactive %+v", res.Predictive, res.Reactive)
	}

	// Validation goes through the decision options.
	o.Decision.AnchorHalfLife = -time.Second
	if _, err := Run(context.Background(), o); err == nil || !strings.Contains(err.Error(), "anchor half-life") {
		t.Errorf("negative half-life: %v", err)
	}
}
