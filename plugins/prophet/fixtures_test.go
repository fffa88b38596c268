package prophet

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// goldenFixture is the part of a plugins/prophet/testdata/golden/*.json
// file (format ppa-prophet-golden/1, see the README there) the test uses.
type goldenFixture struct {
	Format string `json:"format"`
	Case   string `json:"case"`
	Input  struct {
		TrainFile string   `json:"train_file"`
		Cap       *float64 `json:"cap"`
		Floor     *float64 `json:"floor"`
	} `json:"input"`
	Config struct {
		Growth                string  `json:"growth"`
		NChangepoints         int     `json:"n_changepoints"`
		ChangepointRange      float64 `json:"changepoint_range"`
		YearlySeasonality     any     `json:"yearly_seasonality"`
		WeeklySeasonality     any     `json:"weekly_seasonality"`
		DailySeasonality      any     `json:"daily_seasonality"`
		SeasonalityMode       string  `json:"seasonality_mode"`
		SeasonalityPriorScale float64 `json:"seasonality_prior_scale"`
		HolidaysPriorScale    float64 `json:"holidays_prior_scale"`
		ChangepointPriorScale float64 `json:"changepoint_prior_scale"`
		IntervalWidth         float64 `json:"interval_width"`
		UncertaintySamples    int     `json:"uncertainty_samples"`
		Scaling               string  `json:"scaling"`
	} `json:"config"`
	FitKwargs struct {
		Algorithm string `json:"algorithm"`
		SigFigs   *int   `json:"sig_figs"`
	} `json:"fit_kwargs"`
	PredictSeed uint64 `json:"predict_seed"`
	Model       struct {
		FeatureNames []string `json:"feature_names"`
		YScale       float64  `json:"y_scale"`
	} `json:"model"`
	Forecast struct {
		DS    []string  `json:"ds"`
		Yhat  []float64 `json:"yhat"`
		Lower []float64 `json:"yhat_lower"`
		Upper []float64 `json:"yhat_upper"`
		Trend []float64 `json:"trend"`
	} `json:"forecast"`
	Fitted struct {
		DS   []string  `json:"ds"`
		Yhat []float64 `json:"yhat"`
	} `json:"fitted"`
}

func (g *goldenFixture) options(t *testing.T) Options {
	t.Helper()
	o := DefaultOptions()
	c := g.Config
	o.Growth = c.Growth
	o.NChangepoints = c.NChangepoints
	o.ChangepointRange = c.ChangepointRange
	var err error
	for _, s := range []struct {
		name string
		v    any
		dst  *SeasonalityArg
		def  int
	}{{"yearly", c.YearlySeasonality, &o.YearlySeasonality, 10}, {"weekly", c.WeeklySeasonality, &o.WeeklySeasonality, 3}, {"daily", c.DailySeasonality, &o.DailySeasonality, 4}} {
		if *s.dst, err = seasonalityArg(s.name, s.v, s.def); err != nil {
			t.Fatal(err)
		}
	}
	o.SeasonalityMode = c.SeasonalityMode
	o.SeasonalityPriorScale = c.SeasonalityPriorScale
	o.HolidaysPriorScale = c.HolidaysPriorScale
	o.ChangepointPriorScale = c.ChangepointPriorScale
	o.IntervalWidth = c.IntervalWidth
	o.UncertaintySamples = c.UncertaintySamples
	o.Scaling = c.Scaling
	o.Cap, o.Floor = g.Input.Cap, g.Input.Floor
	switch g.FitKwargs.Algorithm {
	case "Newton":
		o.Algorithm = AlgorithmNewton
	case "LBFGS":
		o.Algorithm = AlgorithmLBFGS
	}
	if g.FitKwargs.SigFigs != nil {
		o.SigFigs = *g.FitKwargs.SigFigs
	}
	return o
}

func parseRFC3339(t *testing.T, ss []string) []int64 {
	t.Helper()
	out := make([]int64, len(ss))
	for i, s := range ss {
		tm, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		out[i] = tm.UnixMilli()
	}
	return out
}

// chaoticCases are L-BFGS fits whose end point moves visibly with the last
// bits of the arithmetic (upstream's too). Refitting with the last history
// value changed by k·1e-15 (k = 0..9) moved the worst point forecast by up
// to 4.3 % of the range (fitted values 4.5 %) on data2_subdaily and 1.4 %
// (2.1 %) on yosemite_temps, while every other case stayed within 0.9 %
// (1.3 %); upstream's end point is one draw from that spread. data2's
// point tolerance is 5 % of the range, and its bounds get the same extra
// 4 %. yosemite_temps, one of the shared examples the 1 % promise is about,
// lands within 0.4 % and is held to 1 %.
var chaoticCases = map[string]bool{"data2_subdaily": true}

// TestGoldenFixtures compares against real upstream Prophet runs: point
// forecasts, trend and the in-sample fit within 1 % of the training
// series' range at every row (5 % for chaoticCases). Interval bounds come from a different random
// stream (numpy's vs PCG), so they are compared statistically: at every row
// within 3 % of the range plus 10 % of upstream's interval width (the Monte
// Carlo error of a 10th/90th percentile of 1000 heavy-tailed samples), and
// on average over the horizon within half of that.
func TestGoldenFixtures(t *testing.T) {
	files, err := filepath.Glob("testdata/golden/*.json")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no golden fixtures in testdata/golden")
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			raw, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			var g goldenFixture
			if err := json.Unmarshal(raw, &g); err != nil {
				t.Fatal(err)
			}
			if g.Format != "ppa-prophet-golden/1" {
				t.Fatalf("format %q", g.Format)
			}
			ts, ys := readCSV(t, filepath.Join("testdata/golden", g.Input.TrainFile))
			o := g.options(t)
			m, err := Fit(o, Data{T: ts, Y: ys})
			if err != nil {
				t.Fatal(err)
			}
			if got := m.Features.columnNames(); !slices.Equal(got, g.Model.FeatureNames) {
				t.Fatalf("features %v, want %v", got, g.Model.FeatureNames)
			}
			near(t, "y_scale", m.YScale, g.Model.YScale, 1e-12*g.Model.YScale)
			var lo, hi = math.Inf(1), math.Inf(-1)
			for _, v := range ys {
				if !math.IsNaN(v) {
					lo, hi = math.Min(lo, v), math.Max(hi, v)
				}
			}
			span := hi - lo
			f, err := m.Predict(parseRFC3339(t, g.Forecast.DS), nil, g.PredictSeed)
			if err != nil {
				t.Fatal(err)
			}
			worst := func(got, want []float64) (float64, int) {
				w, at := 0.0, 0
				for i := range got {
					if d := math.Abs(got[i] - want[i]); d > w || math.IsNaN(d) {
						w, at = d, i
					}
				}
				return w / span, at
			}
			check := func(what string, got, want []float64, tol float64) {
				if len(got) != len(want) {
					t.Fatalf("%s: %d values, want %d", what, len(got), len(want))
				}
				w, at := worst(got, want)
				t.Logf("%s: worst |diff| = %.3g%% of range at %d", what, 100*w, at)
				if !(w <= tol) {
					t.Errorf("%s[%d] = %v, want %v (diff %.3g%% of range %v, tolerance %.0f%%)", what, at, got[at], want[at], 100*w, span, 100*tol)
				}
			}
			tol := 0.01
			if chaoticCases[g.Case] {
				tol = 0.05
			}
			check("yhat", f.Yhat, g.Forecast.Yhat, tol)
			check("trend", f.Trend, g.Forecast.Trend, tol)
			checkBounds := func(what string, got, want []float64) {
				if len(got) != len(want) {
					t.Fatalf("%s: %d values, want %d", what, len(got), len(want))
				}
				mean, worst, at := 0.0, 0.0, 0
				for i := range got {
					width := g.Forecast.Upper[i] - g.Forecast.Lower[i]
					r := math.Abs(got[i]-want[i]) / ((0.03+tol-0.01)*span + 0.1*width)
					mean += r
					if r > worst || math.IsNaN(r) {
						worst, at = r, i
					}
				}
				mean /= float64(len(got))
				t.Logf("%s: |diff| / allowance: mean %.3g, worst %.3g at %d", what, mean, worst, at)
				if !(mean <= 0.5) {
					t.Errorf("%s: mean |diff| is %.3g of the allowance (%.0f%% of range %v + 10%% of interval width), want <= 0.5", what, mean, 100*(0.02+tol), span)
				}
				if !(worst <= 1) {
					t.Errorf("%s[%d] = %v, want %v: beyond %.0f%% of range %v + 10%% of interval width", what, at, got[at], want[at], 100*(0.02+tol), span)
				}
			}
			checkBounds("yhat_lower", f.Lower, g.Forecast.Lower)
			checkBounds("yhat_upper", f.Upper, g.Forecast.Upper)
			fit, err := m.Predict(parseRFC3339(t, g.Fitted.DS), nil, 0)
			if err != nil {
				t.Fatal(err)
			}
			check("fitted", fit.Yhat, g.Fitted.Yhat, tol)
		})
	}
}
