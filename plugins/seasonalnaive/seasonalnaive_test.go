package seasonalnaive

import (
	"bytes"
	"errors"
	"math"
	"testing"
	"time"

	"github.com/ppa-autoscaler/ppa/abi"
)

const (
	minute = int64(time.Minute / time.Millisecond)
	hour   = int64(time.Hour / time.Millisecond)
	dayMs  = 24 * hour
	t0     = int64(1_700_000_000_000) // 2023-11-14T22:13:20Z
)

// grid returns n timestamps from t0 every step and values f(i).
func grid(n int, step int64, f func(i int) float64) ([]int64, []float64) {
	ts := make([]int64, n)
	ys := make([]float64, n)
	for i := range ts {
		ts[i] = t0 + int64(i)*step
		ys[i] = f(i)
	}
	return ts, ys
}

// daily is a value that depends only on the hour of day, plus a level per
// day so that seasonal errors are not all zero.
func daily(i int) float64 { return float64(i%24)*10 + float64(i/24) }

func train(t *testing.T, ps abi.Params, ts []int64, ys []float64) []byte {
	t.Helper()
	resp, err := New().Train(&abi.TrainRequest{Params: ps, Timestamps: ts, Values: ys})
	if err != nil {
		t.Fatalf("train: %v", err)
	}
	return resp.Model
}

func predict(t *testing.T, model []byte, ts ...int64) *abi.PredictResponse {
	t.Helper()
	resp, err := New().Predict(&abi.PredictRequest{Model: model, Timestamps: ts})
	if err != nil {
		t.Fatalf("predict: %v", err)
	}
	if len(resp.Yhat) != len(ts) || len(resp.Lower) != len(ts) || len(resp.Upper) != len(ts) {
		t.Fatalf("predict: %d/%d/%d values for %d timestamps", len(resp.Yhat), len(resp.Lower), len(resp.Upper), len(ts))
	}
	return resp
}

func TestDescribeIsValid(t *testing.T) {
	d := New().Describe()
	if err := d.Validate(); err != nil {
		t.Fatal(err)
	}
	if d.Name != Name || !d.Capabilities.Intervals || d.Capabilities.MinPoints != 2 {
		t.Fatalf("unexpected description %+v", d)
	}
	// Every default must be accepted by the description's own checks.
	defaults := abi.Params{}
	for _, p := range d.Parameters {
		defaults[p.Name] = p.Default
	}
	if err := d.CheckParams(defaults); err != nil {
		t.Fatalf("defaults do not check: %v", err)
	}
	if _, err := New().Train(&abi.TrainRequest{Params: defaults, Timestamps: []int64{0, 1000, 2000}, Values: []float64{1, 2, 3}}); err != nil {
		t.Fatalf("train with explicit defaults: %v", err)
	}
}

func TestPointForecasts(t *testing.T) {
	ts3d, ys3d := grid(72, hour, daily) // 3 days hourly, ends at i=71
	end := ts3d[71]
	tests := []struct {
		name   string
		params abi.Params
		ts     []int64
		ys     []float64
		at     []int64
		want   []float64
	}{
		{
			name: "next day repeats the last day",
			ts:   ts3d, ys: ys3d,
			at:   []int64{end + hour, end + 2*hour, end + 24*hour},
			want: []float64{daily(48), daily(49), daily(71)},
		},
		{
			name: "several seasons ahead reuses the last season",
			ts:   ts3d, ys: ys3d,
			at:   []int64{end + 3*dayMs + 5*hour},
			want: []float64{daily(52)},
		},
		{
			name: "off-grid times take the nearest step",
			ts:   ts3d, ys: ys3d,
			at:   []int64{end + hour + 20*minute, end + hour + 40*minute, end + 2*hour - 29*minute},
			want: []float64{daily(48), daily(49), daily(49)},
		},
		{
			name: "a missing value in the last season walks back one more season",
			ts:   ts3d, ys: withNaN(ys3d, 50),
			at:   []int64{end + 3*hour},
			want: []float64{daily(26)},
		},
		{
			name: "a missing value in both kept seasons falls back to the last value",
			ts:   ts3d, ys: withNaN(ys3d, 50, 26),
			at:   []int64{end + 3*hour},
			want: []float64{daily(71)},
		},
		{
			name: "times inside the kept history are predicted from one season earlier",
			ts:   ts3d, ys: ys3d,
			at:   []int64{end - 2*hour},
			want: []float64{daily(45)},
		},
		{
			name:   "explicit season",
			params: abi.Params{ParamSeason: "12h"},
			ts:     ts3d, ys: ys3d,
			at:   []int64{end + hour},
			want: []float64{daily(60)},
		},
		{
			name: "short history is naive",
			ts:   []int64{t0, t0 + minute, t0 + 2*minute}, ys: []float64{3, 5, 4},
			at:   []int64{t0 + 3*minute, t0 + 10*minute},
			want: []float64{4, 4},
		},
		{
			name: "missing rows do not count as history",
			ts:   []int64{t0, t0 + minute, t0 + 2*minute, t0 + 3*minute}, ys: []float64{3, 5, 4, math.NaN()},
			at:   []int64{t0 + 4*minute},
			want: []float64{4},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := predict(t, train(t, tc.params, tc.ts, tc.ys), tc.at...)
			for i := range tc.want {
				if got.Yhat[i] != tc.want[i] {
					t.Errorf("yhat[%d] at %s = %v, want %v", i, time.UnixMilli(tc.at[i]).UTC().Format(time.RFC3339), got.Yhat[i], tc.want[i])
				}
				if !(got.Lower[i] <= got.Yhat[i] && got.Yhat[i] <= got.Upper[i]) {
					t.Errorf("point %d: %v not in [%v, %v]", i, got.Yhat[i], got.Lower[i], got.Upper[i])
				}
			}
		})
	}
}

func withNaN(ys []float64, idx ...int) []float64 {
	out := append([]float64(nil), ys...)
	for _, i := range idx {
		out[i] = math.NaN()
	}
	return out
}

func TestAutoSeason(t *testing.T) {
	tests := []struct {
		name string
		n    int
		step int64
		want string
	}{
		{"two weeks hourly", 14*24 + 1, hour, "7d"},
		{"just under two weeks", 14 * 24, hour, "1d"},
		{"one day at 5m", 289, 5 * minute, "1d"},
		{"just under a day", 288, 5 * minute, "5m0s"},
		{"daily data for a year", 366, dayMs, "7d"},
		{"weekly data", 30, 7 * dayMs, "7d"},
		{"monthly-ish data", 30, 30 * dayMs, "30d"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ts, ys := grid(tc.n, tc.step, func(i int) float64 { return float64(i % 7) })
			resp, err := New().Train(&abi.TrainRequest{Timestamps: ts, Values: ys})
			if err != nil {
				t.Fatal(err)
			}
			if got := resp.Info["season"]; got != tc.want {
				t.Fatalf("season = %v, want %s", got, tc.want)
			}
		})
	}
}

func TestIntervals(t *testing.T) {
	// A straight line with slope 1 per minute: every one-step error is 1,
	// so with season = step the error quantiles are both 1, clamped to
	// [0, 1].
	ts, ys := grid(11, minute, func(i int) float64 { return float64(i) })
	end := ts[10]
	tests := []struct {
		name             string
		params           abi.Params
		at               int64
		yhat, lower, upp float64
	}{
		{"one step ahead", nil, end + minute, 10, 10, 11},
		{"four steps ahead widens by 2", nil, end + 4*minute, 10, 10, 12},
		{"no widening", abi.Params{ParamWidenIntervals: false}, end + 4*minute, 10, 10, 11},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := predict(t, train(t, tc.params, ts, ys), tc.at)
			if got.Yhat[0] != tc.yhat || got.Lower[0] != tc.lower || got.Upper[0] != tc.upp {
				t.Fatalf("got %v [%v, %v], want %v [%v, %v]", got.Yhat[0], got.Lower[0], got.Upper[0], tc.yhat, tc.lower, tc.upp)
			}
		})
	}
}

func TestIntervalQuantiles(t *testing.T) {
	// Errors one step apart are the differences of ys: -4 … 5 (ten values);
	// type-7 quantiles at 0.1 and 0.9 are -3.1 and 4.1.
	ys := []float64{0, -4, -7, -9, -10, -10, -9, -7, -4, 0, 5}
	ts, _ := grid(len(ys), minute, func(int) float64 { return 0 })
	got := predict(t, train(t, nil, ts, ys), ts[10]+minute)
	if got.Yhat[0] != 5 || math.Abs(got.Lower[0]-(5-3.1)) > 1e-12 || math.Abs(got.Upper[0]-(5+4.1)) > 1e-12 {
		t.Fatalf("got %v [%v, %v], want 5 [1.9, 9.1]", got.Yhat[0], got.Lower[0], got.Upper[0])
	}
	wider := predict(t, train(t, abi.Params{ParamIntervalWidth: 0.98}, ts, ys), ts[10]+minute)
	if !(wider.Lower[0] < got.Lower[0] && wider.Upper[0] > got.Upper[0]) {
		t.Fatalf("width 0.98 interval [%v, %v] is not wider than width 0.8's [%v, %v]", wider.Lower[0], wider.Upper[0], got.Lower[0], got.Upper[0])
	}
}

func TestTrainErrors(t *testing.T) {
	ts, ys := grid(72, hour, daily)
	tests := []struct {
		name   string
		req    abi.TrainRequest
		status abi.Status
		want   string
	}{
		{"unknown parameter", abi.TrainRequest{Params: abi.Params{"seasonality": "1d"}, Timestamps: ts, Values: ys}, abi.StatusInvalidArgument, `parameter "seasonality"`},
		{"season not a duration", abi.TrainRequest{Params: abi.Params{ParamSeason: "daily"}, Timestamps: ts, Values: ys}, abi.StatusInvalidArgument, `parameter "season"`},
		{"season of wrong type", abi.TrainRequest{Params: abi.Params{ParamSeason: 12.0}, Timestamps: ts, Values: ys}, abi.StatusInvalidArgument, `parameter "season"`},
		{"season zero", abi.TrainRequest{Params: abi.Params{ParamSeason: "0s"}, Timestamps: ts, Values: ys}, abi.StatusInvalidArgument, `parameter "season"`},
		{"season shorter than step", abi.TrainRequest{Params: abi.Params{ParamSeason: "10m"}, Timestamps: ts, Values: ys}, abi.StatusInvalidArgument, "shorter than the sampling step"},
		{"interval width 1", abi.TrainRequest{Params: abi.Params{ParamIntervalWidth: 1.0}, Timestamps: ts, Values: ys}, abi.StatusInvalidArgument, `parameter "interval_width"`},
		{"interval width negative", abi.TrainRequest{Params: abi.Params{ParamIntervalWidth: -0.5}, Timestamps: ts, Values: ys}, abi.StatusInvalidArgument, `parameter "interval_width"`},
		{"min seasons zero", abi.TrainRequest{Params: abi.Params{ParamMinSeasons: 0.0}, Timestamps: ts, Values: ys}, abi.StatusInvalidArgument, `parameter "min_seasons"`},
		{"min seasons fraction", abi.TrainRequest{Params: abi.Params{ParamMinSeasons: 1.5}, Timestamps: ts, Values: ys}, abi.StatusInvalidArgument, `parameter "min_seasons"`},
		{"history shorter than min seasons", abi.TrainRequest{Params: abi.Params{ParamSeason: "1d", ParamMinSeasons: 3.0}, Timestamps: ts, Values: ys}, abi.StatusInsufficientData, "min_seasons=3"},
		{"history shorter than explicit season", abi.TrainRequest{Params: abi.Params{ParamSeason: "7d"}, Timestamps: ts, Values: ys}, abi.StatusInsufficientData, "season 7d"},
		{"no points", abi.TrainRequest{}, abi.StatusInsufficientData, "0 observed points"},
		{"one point", abi.TrainRequest{Timestamps: ts[:1], Values: ys[:1]}, abi.StatusInsufficientData, "1 observed points"},
		{"all missing", abi.TrainRequest{Timestamps: ts[:5], Values: withNaN(ys[:5], 0, 1, 2, 3, 4)}, abi.StatusInsufficientData, "0 observed points"},
		{"unsorted", abi.TrainRequest{Timestamps: []int64{0, 2000, 1000}, Values: []float64{1, 2, 3}}, abi.StatusInvalidArgument, "timestamps[2]"},
		{"duplicate", abi.TrainRequest{Timestamps: []int64{0, 1000, 1000}, Values: []float64{1, 2, 3}}, abi.StatusInvalidArgument, "timestamps[2]"},
		{"infinite value", abi.TrainRequest{Timestamps: []int64{0, 1000, 2000}, Values: []float64{1, math.Inf(1), 3}}, abi.StatusInvalidArgument, "values[1]"},
		{"timestamp out of range", abi.TrainRequest{Timestamps: []int64{0, math.MaxInt64}, Values: []float64{1, 2}}, abi.StatusInvalidArgument, "timestamps[1]"},
		{"length mismatch", abi.TrainRequest{Timestamps: []int64{0, 1000}, Values: []float64{1}}, abi.StatusInvalidArgument, "2 timestamps but 1 values"},
		{"extra column", abi.TrainRequest{Timestamps: ts, Values: ys, Columns: []abi.Column{{Name: "cap", Values: ys}}}, abi.StatusUnsupported, `column "cap"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New().Train(&tc.req)
			checkStatus(t, err, tc.status, tc.want)
		})
	}
}

func checkStatus(t *testing.T, err error, status abi.Status, want string) {
	t.Helper()
	var ae *abi.Error
	if !errors.As(err, &ae) {
		t.Fatalf("error %v is not an *abi.Error", err)
	}
	if ae.Status != status {
		t.Fatalf("status %s, want %s (%s)", ae.Status, status, ae.Message)
	}
	if !bytes.Contains([]byte(ae.Message), []byte(want)) {
		t.Fatalf("message %q does not mention %q", ae.Message, want)
	}
}

func TestPredictErrors(t *testing.T) {
	ts, ys := grid(72, hour, daily)
	good := train(t, nil, ts, ys)
	patch := func(off int, b ...byte) []byte {
		m := append([]byte(nil), good...)
		copy(m[off:], b)
		return m
	}
	tests := []struct {
		name   string
		req    abi.PredictRequest
		status abi.Status
		want   string
	}{
		{"empty model", abi.PredictRequest{Timestamps: ts[:1]}, abi.StatusInvalidModel, "shorter than"},
		{"garbage", abi.PredictRequest{Model: bytes.Repeat([]byte{0xa5}, 200), Timestamps: ts[:1]}, abi.StatusInvalidModel, "bad magic"},
		{"truncated", abi.PredictRequest{Model: good[:len(good)-3], Timestamps: ts[:1]}, abi.StatusInvalidModel, "bytes of values"},
		{"trailing bytes", abi.PredictRequest{Model: append(append([]byte(nil), good...), 0), Timestamps: ts[:1]}, abi.StatusInvalidModel, "bytes of values"},
		{"future format", abi.PredictRequest{Model: patch(8, 2, 0), Timestamps: ts[:1]}, abi.StatusInvalidModel, "format version 2"},
		{"unknown flag", abi.PredictRequest{Model: patch(10, 0x80), Timestamps: ts[:1]}, abi.StatusInvalidModel, "flags"},
		{"zero step", abi.PredictRequest{Model: patch(19, 0, 0, 0, 0, 0, 0, 0, 0), Timestamps: ts[:1]}, abi.StatusInvalidModel, "inconsistent"},
		{"timestamp out of range", abi.PredictRequest{Model: good, Timestamps: []int64{math.MinInt64}}, abi.StatusInvalidArgument, "timestamps[0]"},
		{"extra column", abi.PredictRequest{Model: good, Timestamps: ts[:1], Columns: []abi.Column{{Name: "x", Values: []float64{1}}}}, abi.StatusUnsupported, `column "x"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New().Predict(&tc.req)
			checkStatus(t, err, tc.status, tc.want)
		})
	}
}

func TestModelIsCompactAndDeterministic(t *testing.T) {
	// Four weeks at 5 minutes: the model keeps two weekly seasons.
	n := 28 * 288
	ts, ys := grid(n, 5*minute, func(i int) float64 { return math.Sin(float64(i) / 288 * 2 * math.Pi) })
	a := train(t, nil, ts, ys)
	b := train(t, nil, ts, ys)
	if !bytes.Equal(a, b) {
		t.Fatal("two trainings on the same data differ")
	}
	wantCells := 2*7*288 + 1
	if want := headerSize + 8*wantCells; len(a) != want {
		t.Fatalf("model is %d bytes, want %d (two weeks of 5-minute values)", len(a), want)
	}
	m, err := unmarshalModel(a)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(m.marshal(), a) {
		t.Fatal("model does not survive a round trip")
	}
}

func TestPredictEmpty(t *testing.T) {
	ts, ys := grid(72, hour, daily)
	got := predict(t, train(t, nil, ts, ys))
	if len(got.Yhat) != 0 {
		t.Fatalf("got %d forecasts for no timestamps", len(got.Yhat))
	}
}

func FuzzPredictModel(f *testing.F) {
	ts, ys := grid(72, hour, daily)
	resp, err := New().Train(&abi.TrainRequest{Timestamps: ts, Values: ys})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(resp.Model, ts[71]+hour)
	f.Add([]byte("ppasnaiv"), int64(0))
	f.Fuzz(func(t *testing.T, model []byte, at int64) {
		out, err := New().Predict(&abi.PredictRequest{Model: model, Timestamps: []int64{at}})
		if err != nil {
			var ae *abi.Error
			if !errors.As(err, &ae) {
				t.Fatalf("error %v is not an *abi.Error", err)
			}
			return
		}
		if !(out.Lower[0] <= out.Yhat[0] && out.Yhat[0] <= out.Upper[0]) {
			t.Fatalf("%v not in [%v, %v]", out.Yhat[0], out.Lower[0], out.Upper[0])
		}
	})
}

func BenchmarkTrain(b *testing.B) {
	ts, ys := grid(28*288, 5*minute, func(i int) float64 { return math.Sin(float64(i) / 288 * 2 * math.Pi) })
	p := New()
	b.ResetTimer()
	for b.Loop() {
		if _, err := p.Train(&abi.TrainRequest{Timestamps: ts, Values: ys}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkPredictDay(b *testing.B) {
	ts, ys := grid(28*288, 5*minute, func(i int) float64 { return math.Sin(float64(i) / 288 * 2 * math.Pi) })
	p := New()
	tr, err := p.Train(&abi.TrainRequest{Timestamps: ts, Values: ys})
	if err != nil {
		b.Fatal(err)
	}
	q := make([]int64, 288)
	for i := range q {
		q[i] = ts[len(ts)-1] + int64(i+1)*5*minute
	}
	b.ResetTimer()
	for b.Loop() {
		if _, err := p.Predict(&abi.PredictRequest{Model: tr.Model, Timestamps: q}); err != nil {
			b.Fatal(err)
		}
	}
}
