package prophet

import (
	"encoding/json"
	"math"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"
)

func near(t *testing.T, what string, got, want, tol float64) {
	t.Helper()
	if math.Abs(got-want) > tol || math.IsNaN(got) {
		t.Errorf("%s = %.10g, want %.10g (tol %g)", what, got, want, tol)
	}
}

func nearSlice(t *testing.T, what string, got, want []float64, tol float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values, want %d", what, len(got), len(want))
	}
	for i := range got {
		near(t, what+"["+itoa(i)+"]", got[i], want[i], tol)
	}
}

func itoa(i int) string { return strconv.Itoa(i) }

// TestTrendFunctions: upstream's test_piecewise_linear,
// test_piecewise_logistic, test_flat_trend.
func TestTrendFunctions(t *testing.T) {
	ts := make([]float64, 11)
	for i := range ts {
		ts[i] = float64(i)
	}
	caps := make([]float64, 11)
	for i := range caps {
		caps[i] = 10
	}
	tests := []struct {
		name string
		got  []float64
		want []float64
	}{
		{"piecewise linear", piecewiseLinear(ts, []float64{0.5}, 1, 0, []float64{5}),
			[]float64{0, 1, 2, 3, 4, 5, 6.5, 8, 9.5, 11, 12.5}},
		{"piecewise logistic", piecewiseLogistic(ts, caps, []float64{0.5}, 1, 0, []float64{5}),
			[]float64{5.000000, 7.310586, 8.807971, 9.525741, 9.820138, 9.933071, 9.984988, 9.996646, 9.999252, 9.999833, 9.999963}},
		{"flat", flatTrend(ts, 0.5), []float64{0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			nearSlice(t, tc.name, tc.got, tc.want, 1e-6)
		})
	}
}

// TestFourierSeries: upstream's test_fourier_series_weekly/yearly (values
// from R's forecast package) on data.csv row 0.
func TestFourierSeries(t *testing.T) {
	ts, _ := readCSV(t, "testdata/data.csv")
	tests := []struct {
		name   string
		period float64
		want   []float64
	}{
		{"weekly", 7, []float64{0.7818315, 0.6234898, 0.9749279, -0.2225209, 0.4338837, -0.9009689}},
		{"yearly", 365.25, []float64{0.7006152, -0.7135393, -0.9998330, 0.01827656, 0.7262249, 0.6874572}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			X := make([]float64, 6)
			fourierInto(X, 6, 0, ts[:1], tc.period, 3)
			nearSlice(t, tc.name, X, tc.want, 1e-6)
		})
	}
}

// TestGrowthInit: upstream's test_growth_init and test_growth_init_minmax
// (first 468 rows of data.csv, cap = max y, logistic model).
func TestGrowthInit(t *testing.T) {
	ts, ys := readCSV(t, "testdata/data.csv")
	ts, ys = ts[:468], ys[:468]
	tests := []struct {
		scaling           string
		linK, linM        float64
		logK, logM, flatM float64
	}{
		{ScalingAbsMax, 0.3055671, 0.5307511, 1.507925, -0.08167497, 0.49335657},
		{ScalingMinMax, 0.4053406, 0.3775322, 1.782523, 0.280521, 0.32792770},
	}
	for _, tc := range tests {
		t.Run(tc.scaling, func(t *testing.T) {
			o := DefaultOptions()
			o.Growth = GrowthLogistic
			o.Scaling = tc.scaling
			c := slices.Max(ys)
			o.Cap = &c
			_, h, _, err := prepare(&o, Data{T: ts, Y: ys})
			if err != nil {
				t.Fatal(err)
			}
			k, m := linearGrowthInit(h.t, h.ys)
			near(t, "linear k", k, tc.linK, 1e-6)
			near(t, "linear m", m, tc.linM, 1e-6)
			k, m = logisticGrowthInit(h.t, h.ys, h.capS)
			near(t, "logistic k", k, tc.logK, 1e-6)
			near(t, "logistic m", m, tc.logM, 1e-6)
			k, m = flatGrowthInit(h.ys)
			near(t, "flat k", k, 0, 0)
			near(t, "flat m", m, tc.flatM, 1e-6)
		})
	}
}

// TestChangepoints: upstream's test_get_changepoints,
// test_set_changepoint_range, test_get_zero_changepoints,
// test_override_n_changepoints.
func TestChangepoints(t *testing.T) {
	ts, ys := readCSV(t, "testdata/data.csv")
	half := len(ts) - len(ts)/2
	tests := []struct {
		name   string
		rows   int
		n      int
		rng    float64
		wantN  int
		zeroCP bool
	}{
		{"default", half, 25, 0.8, 25, false},
		{"range 0.4", half, 25, 0.4, 25, false},
		{"zero", half, 0, 0.8, 1, true},
		{"override 15 on 20 rows", 20, 15, 0.8, 15, false},
		{"more than rows", 10, 25, 0.8, 7, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := DefaultOptions()
			o.NChangepoints = tc.n
			o.ChangepointRange = tc.rng
			m, h, _, err := prepare(&o, Data{T: ts[:tc.rows], Y: ys[:tc.rows]})
			if err != nil {
				t.Fatal(err)
			}
			cp := m.ChangepointsT
			if len(cp) != tc.wantN {
				t.Fatalf("%d changepoints, want %d", len(cp), tc.wantN)
			}
			if tc.zeroCP {
				if cp[0] != 0 {
					t.Errorf("dummy changepoint = %v, want 0", cp[0])
				}
				return
			}
			if cp[0] <= 0 {
				t.Errorf("first changepoint %v, want > 0", cp[0])
			}
			idx := int(math.Ceil(tc.rng * float64(len(h.t))))
			if cp[len(cp)-1] > h.t[idx] {
				t.Errorf("last changepoint %v beyond t[%d] = %v", cp[len(cp)-1], idx, h.t[idx])
			}
			if !slices.IsSorted(cp) {
				t.Errorf("changepoints not sorted: %v", cp)
			}
		})
	}
}

// TestAutoSeasonality: upstream's test_auto_{weekly,yearly,daily}_seasonality.
func TestAutoSeasonality(t *testing.T) {
	ts, ys := readCSV(t, "testdata/data.csv")
	ts2, ys2 := readCSV(t, "testdata/data2.csv")
	every7 := func() ([]int64, []float64) {
		var a []int64
		var b []float64
		for i := 0; i < len(ts); i += 7 {
			a = append(a, ts[i])
			b = append(b, ys[i])
		}
		return a, b
	}
	e7t, e7y := every7()
	tests := []struct {
		name  string
		t     []int64
		y     []float64
		set   func(*Options)
		check string // name of the seasonality
		want  *Seasonality
	}{
		{"weekly on 15 rows", ts[:15], ys[:15], nil, "weekly", &Seasonality{Name: "weekly", Period: 7, FourierOrder: 3, PriorScale: 10, Mode: ModeAdditive}},
		{"weekly off on 9 rows", ts[:9], ys[:9], nil, "weekly", nil},
		{"weekly forced on 9 rows", ts[:9], ys[:9], func(o *Options) { o.WeeklySeasonality = SeasonalityArg{Order: 3} }, "weekly", &Seasonality{Name: "weekly", Period: 7, FourierOrder: 3, PriorScale: 10, Mode: ModeAdditive}},
		{"weekly off at weekly spacing", e7t, e7y, nil, "weekly", nil},
		{"weekly order 2", ts, ys, func(o *Options) { o.WeeklySeasonality = SeasonalityArg{Order: 2}; o.SeasonalityPriorScale = 3 }, "weekly", &Seasonality{Name: "weekly", Period: 7, FourierOrder: 2, PriorScale: 3, Mode: ModeAdditive}},
		{"yearly on", ts, ys, nil, "yearly", &Seasonality{Name: "yearly", Period: 365.25, FourierOrder: 10, PriorScale: 10, Mode: ModeAdditive}},
		{"yearly off on 240 rows", ts[:240], ys[:240], nil, "yearly", nil},
		{"yearly forced on 240 rows", ts[:240], ys[:240], func(o *Options) { o.YearlySeasonality = SeasonalityArg{Order: 10} }, "yearly", &Seasonality{Name: "yearly", Period: 365.25, FourierOrder: 10, PriorScale: 10, Mode: ModeAdditive}},
		{"yearly order 7", ts, ys, func(o *Options) { o.YearlySeasonality = SeasonalityArg{Order: 7}; o.SeasonalityPriorScale = 3 }, "yearly", &Seasonality{Name: "yearly", Period: 365.25, FourierOrder: 7, PriorScale: 3, Mode: ModeAdditive}},
		{"daily on subdaily", ts2, ys2, nil, "daily", &Seasonality{Name: "daily", Period: 1, FourierOrder: 4, PriorScale: 10, Mode: ModeAdditive}},
		{"daily off on 430 rows", ts2[:430], ys2[:430], nil, "daily", nil},
		{"daily forced on 430 rows", ts2[:430], ys2[:430], func(o *Options) { o.DailySeasonality = SeasonalityArg{Order: 4} }, "daily", &Seasonality{Name: "daily", Period: 1, FourierOrder: 4, PriorScale: 10, Mode: ModeAdditive}},
		{"daily order 7", ts2, ys2, func(o *Options) { o.DailySeasonality = SeasonalityArg{Order: 7}; o.SeasonalityPriorScale = 3 }, "daily", &Seasonality{Name: "daily", Period: 1, FourierOrder: 7, PriorScale: 3, Mode: ModeAdditive}},
		{"daily off on daily data", ts, ys, nil, "daily", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := DefaultOptions()
			if tc.set != nil {
				tc.set(&o)
			}
			m, _, _, err := prepare(&o, Data{T: tc.t, Y: tc.y})
			if err != nil {
				t.Fatal(err)
			}
			var got *Seasonality
			for i, s := range m.Features.Seasonalities {
				if s.Name == tc.check {
					got = &m.Features.Seasonalities[i]
				}
			}
			switch {
			case tc.want == nil && got != nil:
				t.Errorf("%s seasonality %+v, want none", tc.check, *got)
			case tc.want != nil && got == nil:
				t.Errorf("no %s seasonality, want %+v", tc.check, *tc.want)
			case tc.want != nil && *got != *tc.want:
				t.Errorf("%s seasonality %+v, want %+v", tc.check, *got, *tc.want)
			}
		})
	}
}

// serializedModel is the part of upstream's model_to_json output the test
// needs.
type serializedModel struct {
	Growth        string                     `json:"growth"`
	YScale        float64                    `json:"y_scale"`
	Start         float64                    `json:"start"`
	TScale        float64                    `json:"t_scale"`
	ChangepointsT []float64                  `json:"changepoints_t"`
	Seasonalities []json.RawMessage          `json:"seasonalities"`
	HistoryDates  string                     `json:"history_dates"`
	Params        map[string]json.RawMessage `json:"params"`
}

// modelFromSerialized builds a Model from upstream's serialized JSON and its
// stored (not refitted) parameters.
func modelFromSerialized(t *testing.T, path string) (*Model, int64) {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		raw = []byte(s) // the file holds a JSON string of JSON
	}
	var sm serializedModel
	if err := json.Unmarshal(raw, &sm); err != nil {
		t.Fatal(err)
	}
	var seas map[string]struct {
		Period       float64 `json:"period"`
		FourierOrder int     `json:"fourier_order"`
		PriorScale   float64 `json:"prior_scale"`
		Mode         string  `json:"mode"`
	}
	var order []string
	if err := json.Unmarshal(sm.Seasonalities[0], &order); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(sm.Seasonalities[1], &seas); err != nil {
		t.Fatal(err)
	}
	m := &Model{
		Format: ModelFormat, Growth: sm.Growth, Scaling: ScalingAbsMax,
		StartMs: int64(sm.Start * 1000), TScaleNs: int64(sm.TScale * 1e9), YScale: sm.YScale,
		ChangepointsT: sm.ChangepointsT,
		Features:      featureSpec{HolidaysMode: ModeAdditive},
	}
	for _, name := range order {
		v := seas[name]
		m.Features.Seasonalities = append(m.Features.Seasonalities, Seasonality{Name: name, Period: v.Period, FourierOrder: v.FourierOrder, PriorScale: v.PriorScale, Mode: v.Mode})
	}
	scalar := func(name string) float64 {
		var v [][]float64
		if err := json.Unmarshal(sm.Params[name], &v); err != nil {
			t.Fatalf("params %s: %v", name, err)
		}
		return v[0][0]
	}
	vec := func(name string) []float64 {
		var v [][]float64
		if err := json.Unmarshal(sm.Params[name], &v); err != nil {
			t.Fatalf("params %s: %v", name, err)
		}
		return v[0]
	}
	m.Params = Params{K: scalar("k"), M: scalar("m"), SigmaObs: scalar("sigma_obs"), Delta: vec("delta"), Beta: vec("beta")}
	var hd struct {
		Data []string `json:"data"`
	}
	if err := json.Unmarshal([]byte(sm.HistoryDates), &hd); err != nil {
		t.Fatal(err)
	}
	last, err := time.Parse(time.RFC3339, hd.Data[len(hd.Data)-1])
	if err != nil {
		t.Fatal(err)
	}
	return m, last.UnixMilli()
}

// TestSerializedModels: upstream's test_backwards_compatibility: models
// serialized by older versions, 10 future days, last yhat.
func TestSerializedModels(t *testing.T) {
	tests := []struct {
		file string
		want float64
	}{
		{"testdata/serialized_model_v0.6.1.dev0.json", 29.3669923968994},
		{"testdata/serialized_model_v0.7.1.json", 29.282810844704414},
		{"testdata/serialized_model_v1.0.1.json", 29.282810844704414},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			m, last := modelFromSerialized(t, tc.file)
			m.UncertaintySamples = 0
			f, err := m.Predict(dailyAfter(last, 10), nil, 0)
			if err != nil {
				t.Fatal(err)
			}
			near(t, "last yhat", f.Yhat[9], tc.want, 1e-6)
		})
	}
}

// TestFlatGrowth: upstream's test_flat_growth.
func TestFlatGrowth(t *testing.T) {
	for _, scaling := range []string{ScalingAbsMax, ScalingMinMax} {
		t.Run(scaling, func(t *testing.T) {
			n := 56
			ts := make([]int64, n)
			ys := make([]float64, n)
			start := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC).UnixMilli()
			for i := range ts {
				ts[i] = start + int64(i)*msPerDay
				x := 2 * math.Pi * float64(i) / float64(n-1)
				ys[i] = 30 + math.Sin(x*8.0)
			}
			o := DefaultOptions()
			o.Growth = GrowthFlat
			o.Scaling = scaling
			m, err := Fit(o, Data{T: ts, Y: ys})
			if err != nil {
				t.Fatal(err)
			}
			if math.Abs(m.Params.K) > 1e-12 {
				t.Errorf("k = %v, want 0", m.Params.K)
			}
			level := m.Params.M*m.YScale + m.YMin
			if math.Round(level) != 30 {
				t.Errorf("m·y_scale + y_min = %v, want it to round to 30", level)
			}
			f, err := m.Predict(append(append([]int64(nil), ts...), dailyAfter(ts[n-1], 10)...), nil, 1)
			if err != nil {
				t.Fatal(err)
			}
			for i, v := range f.Trend {
				near(t, "trend["+itoa(i)+"]", v, level, 1e-9)
			}
		})
	}
}

// TestConstantHistory: upstream's test_fit_predict_constant_history.
func TestConstantHistory(t *testing.T) {
	ts, _ := readCSV(t, "testdata/data.csv")
	half := len(ts) / 2
	train := ts[:len(ts)-half]
	for _, c := range []float64{0, 20} {
		t.Run(strconv.Itoa(int(c)), func(t *testing.T) {
			ys := make([]float64, len(train))
			for i := range ys {
				ys[i] = c
			}
			m, err := Fit(DefaultOptions(), Data{T: train, Y: ys})
			if err != nil {
				t.Fatal(err)
			}
			f, err := m.Predict(ts[len(train):], nil, 3)
			if err != nil {
				t.Fatal(err)
			}
			if got := f.Yhat[len(f.Yhat)-1]; got != c {
				t.Errorf("last yhat = %v, want %v", got, c)
			}
		})
	}
}
