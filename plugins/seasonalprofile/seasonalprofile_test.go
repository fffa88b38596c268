package seasonalprofile

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/ppa-autoscaler/ppa/abi"
)

// sample makes days of five-minute data: a daily wave, plus weekend when
// set (+30 on Saturdays and Sundays), plus Gaussian noise of sd noise.
func sample(days int, weekend, noise float64) ([]int64, []float64) {
	r := rand.New(rand.NewPCG(1, 2))
	t0 := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC) // a Monday
	n := days * 288
	ts, ys := make([]int64, n), make([]float64, n)
	for i := range n {
		t := t0.Add(time.Duration(i) * 5 * time.Minute)
		ts[i] = t.UnixMilli()
		ys[i] = truth(t, weekend) + noise*r.NormFloat64()
	}
	return ts, ys
}

func truth(t time.Time, weekend float64) float64 {
	phase := float64(t.Hour()*60+t.Minute()) / 1440
	y := 100 + 50*math.Sin(2*math.Pi*phase)
	if wd := t.Weekday(); wd == time.Saturday || wd == time.Sunday {
		y += weekend
	}
	return y
}

func TestTrainPredict(t *testing.T) {
	for _, tc := range []struct {
		name           string
		days           int
		weekend, noise float64
		params         abi.Params
		tol            float64 // largest allowed |yhat − truth|
		smooth         bool    // want a smoothing width above 1
	}{
		{"clean daily shape", 3, 0, 0, nil, 1e-9, false},
		{"noisy shape is smoothed", 14, 0, 10, nil, 6, true},
		{"weekday levels", 14, 30, 1, nil, 2.5, false},
		{"weekly off", 14, 30, 1, abi.Params{ParamWeekly: "false"}, 40, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ts, ys := sample(tc.days, tc.weekend, tc.noise)
			p := New()
			tr, err := p.Train(&abi.TrainRequest{Timestamps: ts, Values: ys, Params: tc.params})
			if err != nil {
				t.Fatal(err)
			}
			if w := tr.Info["smoothing_steps"].(int); tc.smooth && w <= 1 {
				t.Errorf("smoothing %d steps on noisy data, want > 1", w)
			}
			// Predict the next two days, on and off the grid.
			last := time.UnixMilli(ts[len(ts)-1]).UTC()
			var when []int64
			for i := 1; i <= 576; i++ {
				when = append(when, last.Add(time.Duration(i)*5*time.Minute).UnixMilli())
			}
			pr, err := p.Predict(&abi.PredictRequest{Model: tr.Model, Timestamps: when})
			if err != nil {
				t.Fatal(err)
			}
			worst := 0.0
			for i, ms := range when {
				worst = max(worst, math.Abs(pr.Yhat[i]-truth(time.UnixMilli(ms).UTC(), tc.weekend)))
				if !(pr.Lower[i] <= pr.Yhat[i] && pr.Yhat[i] <= pr.Upper[i]) {
					t.Fatalf("point %d: interval [%g, %g] does not hold yhat %g", i, pr.Lower[i], pr.Upper[i], pr.Yhat[i])
				}
			}
			if worst > tc.tol {
				t.Errorf("largest error %g, want at most %g", worst, tc.tol)
			}
		})
	}
}

func TestErrors(t *testing.T) {
	ts, ys := sample(2, 0, 0)
	for _, tc := range []struct {
		name   string
		req    abi.TrainRequest
		status abi.Status
		want   string
	}{
		{"season not a multiple of the step", abi.TrainRequest{Timestamps: ts, Values: ys, Params: abi.Params{ParamSeason: "7m"}}, abi.StatusInvalidArgument, "does not divide"},
		{"bad weekly", abi.TrainRequest{Timestamps: ts, Values: ys, Params: abi.Params{ParamWeekly: "maybe"}}, abi.StatusInvalidArgument, "true, false or auto"},
		{"even smoothing", abi.TrainRequest{Timestamps: ts, Values: ys, Params: abi.Params{ParamSmoothing: "4"}}, abi.StatusInvalidArgument, "odd"},
		{"one point", abi.TrainRequest{Timestamps: ts[:1], Values: ys[:1]}, abi.StatusInsufficientData, "need at least"},
		{"descending", abi.TrainRequest{Timestamps: []int64{2, 1}, Values: []float64{1, 2}}, abi.StatusInvalidArgument, "ascending"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New().Train(&tc.req)
			var ae *abi.Error
			if !asABI(err, &ae) || ae.Status != tc.status || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want %s mentioning %q", err, tc.status, tc.want)
			}
		})
	}
	if _, err := New().Predict(&abi.PredictRequest{Model: []byte("ppasprof-not-a-model"), Timestamps: ts[:1]}); err == nil || !strings.Contains(err.Error(), "model") {
		t.Errorf("garbage model: err = %v", err)
	}
}

func asABI(err error, target **abi.Error) bool {
	ae, ok := err.(*abi.Error)
	if ok {
		*target = ae
	}
	return ok
}
