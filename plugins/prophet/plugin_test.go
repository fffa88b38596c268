package prophet

import (
	"encoding/json"
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/ppa-autoscaler/ppa/abi"
)

// synthetic returns n points every step ms of a level-100 series with a
// daily and a weekly cycle, a slow trend and seeded noise.
func synthetic(n int, stepMs int64, seed uint64) ([]int64, []float64) {
	r := rand.New(rand.NewPCG(seed, 1))
	start := int64(1_700_000_000_000) // 2023-11-14
	ts := make([]int64, n)
	ys := make([]float64, n)
	for i := range ts {
		ts[i] = start + int64(i)*stepMs
		d := float64(ts[i]-start) / float64(msPerDay)
		ys[i] = 100 + 0.5*d + 20*math.Sin(2*math.Pi*d) + 8*math.Cos(2*math.Pi*d/7) + 3*r.NormFloat64()
	}
	return ts, ys
}

func TestDescribe(t *testing.T) {
	d := NewPlugin().Describe()
	if err := d.Validate(); err != nil {
		t.Fatal(err)
	}
	want := []string{"growth", "changepoints", "n_changepoints", "changepoint_range", "yearly_seasonality",
		"weekly_seasonality", "daily_seasonality", "holidays", "seasonality_mode", "holidays_mode",
		"seasonality_prior_scale", "holidays_prior_scale", "changepoint_prior_scale", "interval_width",
		"uncertainty_samples", "scaling", "cap", "floor", "seasonalities", "regressors", "algorithm", "iter", "sig_figs"}
	for _, name := range want {
		if _, ok := d.Parameter(name); !ok {
			t.Errorf("parameter %q not described", name)
		}
	}
	if len(d.Parameters) != len(want) {
		t.Errorf("%d parameters described, want %d", len(d.Parameters), len(want))
	}
	defaults := map[string]any{"growth": "linear", "n_changepoints": 25, "changepoint_range": 0.8,
		"yearly_seasonality": "auto", "seasonality_prior_scale": 10.0, "changepoint_prior_scale": 0.05,
		"interval_width": 0.8, "uncertainty_samples": 1000, "scaling": "absmax", "algorithm": "auto", "iter": 10000}
	for name, def := range defaults {
		p, _ := d.Parameter(name)
		if p.Default != def {
			t.Errorf("parameter %q default %v (%T), want %v", name, p.Default, p.Default, def)
		}
	}
	if !d.Capabilities.Intervals || d.Capabilities.MinPoints != 2 {
		t.Errorf("capabilities %+v", d.Capabilities)
	}
}

// params decodes JSON as a host would send it.
func params(t *testing.T, s string) abi.Params {
	t.Helper()
	var p abi.Params
	if err := json.Unmarshal([]byte(s), &p); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestPluginTrainPredict(t *testing.T) {
	ts, ys := synthetic(24*60/5*21, 5*60*1000, 1) // 21 days at 5 minutes
	n := len(ts)
	promo := make([]float64, n)
	ysPromo := append([]float64(nil), ys...)
	for i := range promo {
		if (i/288)%5 == 0 {
			promo[i] = 1
			ysPromo[i] += 10
		}
	}
	capCol := make([]float64, n)
	for i := range capCol {
		capCol[i] = 300
	}
	future := make([]int64, 60)
	for i := range future {
		future[i] = ts[n-1] + int64(i+1)*5*60*1000
	}
	fpromo := make([]float64, 60)
	tests := []struct {
		name    string
		params  string
		cols    []abi.Column
		fcols   []abi.Column
		maxRMSE float64
		promo   bool
	}{
		{"defaults", `{}`, nil, nil, 6, false},
		{"multiplicative", `{"seasonality_mode":"multiplicative"}`, nil, nil, 6, false},
		{"minmax", `{"scaling":"minmax"}`, nil, nil, 6, false},
		{"logistic cap param", `{"growth":"logistic","cap":300}`, nil, nil, 6, false},
		{"logistic cap column and floor", `{"growth":"logistic","floor":10}`, []abi.Column{{Name: "cap", Values: capCol}}, []abi.Column{{Name: "cap", Values: capCol[:60]}}, 6, false},
		{"flat", `{"growth":"flat","n_changepoints":0}`, nil, nil, 20, false},
		{"regressor and holidays", `{"regressors":[{"name":"promo","prior_scale":5,"standardize":"auto"}],
			"holidays":[{"holiday":"launch","ds":["2023-11-20","2023-11-27"],"lower_window":0,"upper_window":1},
				{"name":"review","dates":"2023-11-23T00:00:00Z","prior_scale":2}],
			"seasonalities":[{"name":"hourly","period":0.041666666666666664,"fourier_order":2}],
			"weekly_seasonality":true,"daily_seasonality":6,"yearly_seasonality":false}`,
			[]abi.Column{{Name: "promo", Values: promo}}, []abi.Column{{Name: "promo", Values: fpromo}}, 6, true},
		{"changepoints given, newton", `{"changepoints":["2023-11-18","2023-11-25 12:00:00"],"algorithm":"newton","uncertainty_samples":200}`, nil, nil, 6, false},
	}
	p := NewPlugin()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			values := ys
			if tc.promo {
				values = ysPromo
			}
			resp, err := p.Train(&abi.TrainRequest{Params: params(t, tc.params), Seed: 1, Timestamps: ts, Values: values, Columns: tc.cols})
			if err != nil {
				t.Fatal(err)
			}
			if resp.Info["fit"] == nil {
				t.Errorf("info has no fit: %v", resp.Info)
			}
			if _, err := json.Marshal(resp.Info); err != nil {
				t.Errorf("info is not JSON: %v", err)
			}
			if tc.promo {
				feats, _ := resp.Info["features"].([]string)
				for _, want := range []string{"hourly_delim_1", "launch_delim_+0", "launch_delim_+1", "review_delim_+0", "promo"} {
					if !slices.Contains(feats, want) {
						t.Errorf("features %v lack %q", feats, want)
					}
				}
			}
			req := &abi.PredictRequest{Model: resp.Model, Seed: 42, Timestamps: future, Columns: tc.fcols}
			out, err := p.Predict(req)
			if err != nil {
				t.Fatal(err)
			}
			if len(out.Yhat) != 60 || len(out.Lower) != 60 || len(out.Upper) != 60 {
				t.Fatalf("lengths %d/%d/%d, want 60", len(out.Yhat), len(out.Lower), len(out.Upper))
			}
			// The truth without noise.
			want := make([]float64, 60)
			for i := range want {
				start := int64(1_700_000_000_000)
				d := float64(future[i]-start) / float64(msPerDay)
				want[i] = 100 + 0.5*d + 20*math.Sin(2*math.Pi*d) + 8*math.Cos(2*math.Pi*d/7)
			}
			if e := rmse(out.Yhat, want); !(e < tc.maxRMSE) {
				t.Errorf("rmse vs the noiseless truth = %v, want < %v", e, tc.maxRMSE)
			}
			for i := range out.Yhat {
				if !(out.Lower[i] <= out.Yhat[i] && out.Yhat[i] <= out.Upper[i]) {
					t.Errorf("row %d: %v not within [%v, %v]", i, out.Yhat[i], out.Lower[i], out.Upper[i])
				}
			}
			// Same seed, same answer; a different seed moves only the bounds.
			again, err := p.Predict(req)
			if err != nil {
				t.Fatal(err)
			}
			other, err := p.Predict(&abi.PredictRequest{Model: resp.Model, Seed: 43, Timestamps: future, Columns: tc.fcols})
			if err != nil {
				t.Fatal(err)
			}
			for i := range out.Yhat {
				if again.Yhat[i] != out.Yhat[i] || again.Lower[i] != out.Lower[i] || again.Upper[i] != out.Upper[i] {
					t.Fatalf("row %d differs between identical requests", i)
				}
				if other.Yhat[i] != out.Yhat[i] {
					t.Fatalf("row %d: yhat depends on the seed", i)
				}
			}
		})
	}
}

func TestPredictArbitraryOrder(t *testing.T) {
	ts, ys := synthetic(2000, 10*60*1000, 2)
	p := NewPlugin()
	resp, err := p.Train(&abi.TrainRequest{Params: params(t, `{"uncertainty_samples":0}`), Timestamps: ts, Values: ys})
	if err != nil {
		t.Fatal(err)
	}
	fwd := []int64{ts[10], ts[1999] + 3600_000, ts[500]}
	rev := []int64{ts[500], ts[1999] + 3600_000, ts[10]}
	a, err := p.Predict(&abi.PredictRequest{Model: resp.Model, Timestamps: fwd})
	if err != nil {
		t.Fatal(err)
	}
	b, err := p.Predict(&abi.PredictRequest{Model: resp.Model, Timestamps: rev})
	if err != nil {
		t.Fatal(err)
	}
	if a.Yhat[0] != b.Yhat[2] || a.Yhat[1] != b.Yhat[1] || a.Yhat[2] != b.Yhat[0] {
		t.Errorf("forecast depends on the order of timestamps: %v vs %v", a.Yhat, b.Yhat)
	}
	if a.Lower != nil || a.Upper != nil {
		t.Errorf("uncertainty_samples=0 gave bounds")
	}
}

func TestPluginErrors(t *testing.T) {
	ts, ys := synthetic(200, 3600_000, 3)
	nan := make([]float64, len(ys))
	for i := range nan {
		nan[i] = math.NaN()
	}
	p := NewPlugin()
	tests := []struct {
		name   string
		params string
		ts     []int64
		ys     []float64
		cols   []abi.Column
		status abi.Status
		want   string
	}{
		{"unknown parameter", `{"mcmc_samples":10}`, ts, ys, nil, abi.StatusInvalidArgument, `"mcmc_samples"`},
		{"wrong type", `{"n_changepoints":"many"}`, ts, ys, nil, abi.StatusInvalidArgument, `"n_changepoints"`},
		{"bad enum", `{"growth":"exponential"}`, ts, ys, nil, abi.StatusInvalidArgument, `"growth"`},
		{"bad seasonality arg", `{"weekly_seasonality":"often"}`, ts, ys, nil, abi.StatusInvalidArgument, `"weekly_seasonality"`},
		{"cap missing", `{"growth":"logistic"}`, ts, ys, nil, abi.StatusInvalidArgument, `"cap"`},
		{"cap below floor", `{"growth":"logistic","cap":1,"floor":5}`, ts, ys, nil, abi.StatusInvalidArgument, "cap"},
		{"changepoint range", `{"changepoint_range":1.5}`, ts, ys, nil, abi.StatusInvalidArgument, `"changepoint_range"`},
		{"changepoint outside", `{"changepoints":["1999-01-01"]}`, ts, ys, nil, abi.StatusInvalidArgument, `"changepoints"`},
		{"bad holiday", `{"holidays":[{"holiday":"x","ds":"yesterday"}]}`, ts, ys, nil, abi.StatusInvalidArgument, `"holidays"`},
		{"holiday name twice", `{"holidays":[{"holiday":"x","name":"y","ds":"2023-11-15"}]}`, ts, ys, nil, abi.StatusInvalidArgument, "not both"},
		{"holiday window", `{"holidays":[{"holiday":"x","ds":"2023-11-15","lower_window":1,"upper_window":1}]}`, ts, ys, nil, abi.StatusInvalidArgument, "lower_window"},
		{"regressor column missing", `{"regressors":[{"name":"temp"}]}`, ts, ys, nil, abi.StatusInvalidArgument, `"temp"`},
		{"regressor unknown field", `{"regressors":[{"name":"temp","scale":1}]}`, ts, ys, nil, abi.StatusInvalidArgument, `"regressors"`},
		{"seasonality order", `{"seasonalities":[{"name":"monthly","period":30.5,"fourier_order":0}]}`, ts, ys, nil, abi.StatusInvalidArgument, "fourier_order"},
		{"one point", `{}`, ts[:1], ys[:1], nil, abi.StatusInsufficientData, "non-missing"},
		{"all NaN", `{}`, ts, nan, nil, abi.StatusInsufficientData, "non-missing"},
		{"infinite value", `{}`, ts[:3], []float64{1, math.Inf(1), 2}, nil, abi.StatusInvalidArgument, "infinity"},
		{"column length", `{}`, ts, ys, []abi.Column{{Name: "cap", Values: []float64{1}}}, abi.StatusInvalidArgument, `"cap"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := p.Train(&abi.TrainRequest{Params: params(t, tc.params), Timestamps: tc.ts, Values: tc.ys, Columns: tc.cols})
			var ae *abi.Error
			if !errors.As(err, &ae) {
				t.Fatalf("error %v (%T), want *abi.Error", err, err)
			}
			if ae.Status != tc.status || !strings.Contains(ae.Message, tc.want) {
				t.Errorf("error %v, want status %v mentioning %s", ae, tc.status, tc.want)
			}
		})
	}
}

func TestPredictRejectsOtherModels(t *testing.T) {
	ts, ys := synthetic(200, 3600_000, 4)
	p := NewPlugin()
	resp, err := p.Train(&abi.TrainRequest{Params: abi.Params{}, Timestamps: ts, Values: ys})
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(resp.Model, &m); err != nil {
		t.Fatal(err)
	}
	m["format"] = ModelFormat + 1
	future, _ := json.Marshal(m)
	m["format"] = ModelFormat
	m["y_scale"] = -1
	broken, _ := json.Marshal(m)
	tests := []struct {
		name  string
		model []byte
		want  string
	}{
		{"not JSON", []byte("\x00\x01binary"), "not a prophet model"},
		{"no format", []byte(`{"growth":"linear"}`), "no format"},
		{"other format", future, "format"},
		{"broken", broken, "y_scale"},
		{"truncated", resp.Model[:len(resp.Model)/2], "model"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := p.Predict(&abi.PredictRequest{Model: tc.model, Timestamps: []int64{ts[0]}})
			var ae *abi.Error
			if !errors.As(err, &ae) || ae.Status != abi.StatusInvalidModel || !strings.Contains(ae.Message, tc.want) {
				t.Errorf("error %v, want INVALID_MODEL mentioning %q", err, tc.want)
			}
		})
	}
	// The intact model still works, including for logistic models missing
	// their cap at predict time.
	if _, err := p.Predict(&abi.PredictRequest{Model: resp.Model, Timestamps: []int64{ts[0]}}); err != nil {
		t.Fatal(err)
	}
}
