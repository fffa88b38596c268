package backtest

import (
	"context"
	"encoding/json"
	"math"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/ppa-autoscaler/ppa/abi"
	"github.com/ppa-autoscaler/ppa/host/series"
)

// upstreamCV is testdata/upstream_cv.json, written by
// plugins/prophet/golden/cv_golden.py from upstream Prophet's
// generate_cutoffs and performance_metrics.
type upstreamCV struct {
	Series string `json:"series"`
	Cases  []struct {
		Name               string                          `json:"name"`
		HorizonSeconds     float64                         `json:"horizon_seconds"`
		PeriodSeconds      float64                         `json:"period_seconds"`
		InitialSeconds     float64                         `json:"initial_seconds"`
		Cutoffs            []string                        `json:"cutoffs"`
		Points             int                             `json:"points"`
		PerformanceMetrics map[string]map[string][]float64 `json:"performance_metrics"`
	} `json:"cases"`
}

// trainingMean forecasts the mean of the training values, with an
// interval of ±5: the forecaster cv_golden.py uses.
func trainingMean(_ context.Context, train *series.Series, at []int64) (*abi.PredictResponse, error) {
	mu, n := 0.0, 0
	for _, y := range train.Y {
		if !math.IsNaN(y) {
			mu += y
			n++
		}
	}
	mu /= float64(n)
	resp := &abi.PredictResponse{}
	for range at {
		resp.Yhat = append(resp.Yhat, mu)
		resp.Lower = append(resp.Lower, mu-5)
		resp.Upper = append(resp.Upper, mu+5)
	}
	return resp, nil
}

func TestMatchesUpstream(t *testing.T) {
	b, err := os.ReadFile("testdata/upstream_cv.json")
	if err != nil {
		t.Fatal(err)
	}
	var ref upstreamCV
	if err := json.Unmarshal(b, &ref); err != nil {
		t.Fatalf("upstream_cv.json: %v", err)
	}
	s, err := series.ReadFile("testdata/" + ref.Series)
	if err != nil {
		t.Fatal(err)
	}
	if len(ref.Cases) == 0 {
		t.Fatal("upstream_cv.json has no cases")
	}
	sec := func(v float64) time.Duration { return time.Duration(v * float64(time.Second)) }
	for _, c := range ref.Cases {
		for rwName, want := range c.PerformanceMetrics {
			t.Run(c.Name+"/rolling_window="+rwName, func(t *testing.T) {
				rw, err := strconv.ParseFloat(rwName, 64)
				if err != nil {
					t.Fatal(err)
				}
				if rw == 0 {
					rw = PerHorizon
				}
				opts := Options{Horizon: sec(c.HorizonSeconds), Period: sec(c.PeriodSeconds), Initial: sec(c.InitialSeconds), RollingWindow: rw}
				res, err := Run(context.Background(), s, opts, trainingMean)
				if err != nil {
					t.Fatal(err)
				}
				var cutoffs []string
				for _, ms := range res.CutoffTimes {
					cutoffs = append(cutoffs, fmtTime(ms))
				}
				if !slices.Equal(cutoffs, c.Cutoffs) {
					t.Fatalf("cutoffs differ from upstream:\n got %v\nwant %v", cutoffs, c.Cutoffs)
				}
				if res.Points != c.Points {
					t.Fatalf("points = %d, upstream %d", res.Points, c.Points)
				}
				if len(res.ByHorizon) != len(want["horizon_seconds"]) {
					t.Fatalf("%d horizons, upstream %d", len(res.ByHorizon), len(want["horizon_seconds"]))
				}
				for i, h := range res.ByHorizon {
					if h.Horizon != sec(want["horizon_seconds"][i]) {
						t.Errorf("row %d: horizon %v, upstream %v", i, h.Horizon, sec(want["horizon_seconds"][i]))
					}
					got := map[string]float64{"mse": h.MSE, "rmse": h.RMSE, "mae": h.MAE, "mape": h.MAPE, "mdape": h.MDAPE, "smape": h.SMAPE, "coverage": h.Coverage}
					for name, g := range got {
						w, ok := want[name]
						if !ok {
							t.Fatalf("upstream has no %s", name)
						}
						if math.Abs(g-w[i]) > 1e-9*max(1, math.Abs(w[i])) {
							t.Errorf("%v: %s = %.17g, upstream %.17g", h.Horizon, name, g, w[i])
						}
					}
				}
			})
		}
	}
}
