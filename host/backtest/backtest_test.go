package backtest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ppa-autoscaler/ppa/abi"
	"github.com/ppa-autoscaler/ppa/host/series"
)

const day = 24 * time.Hour

var base = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC).UnixMilli()

// dayMS returns the Unix milliseconds of day d after base.
func dayMS(d int) int64 { return base + int64(d)*day.Milliseconds() }

// daily returns a series with one row per day from base, y = f(day).
func daily(n int, f func(d int) float64) *series.Series {
	s := &series.Series{}
	for d := 0; d < n; d++ {
		s.T = append(s.T, dayMS(d))
		s.Y = append(s.Y, f(d))
	}
	return s
}

// linear is y = 10 + day: every seasonal-naive error with a lag of L days
// is L.
func linear(n int) *series.Series { return daily(n, func(d int) float64 { return 10 + float64(d) }) }

// truth forecasters look the actual values up in the full series: they
// are "perfect" up to a chosen distortion.
func truth(s *series.Series, yhat func(t int64, y float64) (float64, float64, float64, bool)) FitPredict {
	vals := map[int64]float64{}
	for i, t := range s.T {
		vals[t] = s.Y[i]
	}
	return func(_ context.Context, train *series.Series, at []int64) (*abi.PredictResponse, error) {
		resp := &abi.PredictResponse{}
		for _, t := range at {
			if t <= train.T[len(train.T)-1] {
				return nil, fmt.Errorf("asked for %d, not after the training data", t)
			}
			v, lo, hi, withInterval := yhat(t, vals[t])
			resp.Yhat = append(resp.Yhat, v)
			if withInterval {
				resp.Lower = append(resp.Lower, lo)
				resp.Upper = append(resp.Upper, hi)
			}
		}
		return resp, nil
	}
}

func perfect(s *series.Series) FitPredict {
	return truth(s, func(_ int64, y float64) (float64, float64, float64, bool) { return y, y - 1, y + 1, true })
}

func offset(s *series.Series, c float64) FitPredict {
	return truth(s, func(_ int64, y float64) (float64, float64, float64, bool) { return y + c, 0, 0, false })
}

// seasonalNaive forecasts y(t − k·season) from the training data only,
// with the smallest k ≥ 1 that lands in the training window.
func seasonalNaive(season time.Duration) FitPredict {
	L := season.Milliseconds()
	return func(_ context.Context, train *series.Series, at []int64) (*abi.PredictResponse, error) {
		last := train.T[len(train.T)-1]
		resp := &abi.PredictResponse{}
		for _, t := range at {
			k := (t - last + L - 1) / L
			j, ok := slices.BinarySearch(train.T, t-k*L)
			if !ok {
				return nil, fmt.Errorf("no training row at %d", t-k*L)
			}
			resp.Yhat = append(resp.Yhat, train.Y[j])
		}
		return resp, nil
	}
}

func near(a, b float64) bool {
	if math.IsNaN(a) || math.IsNaN(b) {
		return math.IsNaN(a) && math.IsNaN(b)
	}
	return math.Abs(a-b) <= 1e-12*max(1, math.Abs(a), math.Abs(b))
}

func checkMetrics(t *testing.T, what string, got, want Metrics) {
	t.Helper()
	pairs := []struct {
		name      string
		got, want float64
	}{
		{"mse", got.MSE, want.MSE}, {"rmse", got.RMSE, want.RMSE}, {"mae", got.MAE, want.MAE},
		{"mape", got.MAPE, want.MAPE}, {"mdape", got.MDAPE, want.MDAPE}, {"smape", got.SMAPE, want.SMAPE},
		{"mase", got.MASE, want.MASE}, {"coverage", got.Coverage, want.Coverage},
	}
	for _, p := range pairs {
		if !near(p.got, p.want) {
			t.Errorf("%s: %s = %v, want %v", what, p.name, p.got, p.want)
		}
	}
}

var nan = math.NaN()

func TestGenerateCutoffs(t *testing.T) {
	days := func(ds ...int) []int64 {
		out := make([]int64, len(ds))
		for i, d := range ds {
			out[i] = dayMS(d)
		}
		return out
	}
	span := func(from, to int) []int { // from..to inclusive
		var out []int
		for d := from; d <= to; d++ {
			out = append(out, d)
		}
		return out
	}
	// Expected lists were worked out by hand from upstream's rules and
	// agree with prophet.diagnostics.generate_cutoffs 1.5.0.
	tests := []struct {
		name                     string
		ts                       []int
		horizon, initial, period time.Duration
		want                     []int
		wantErr                  error
	}{
		{"daily steps of 2", span(0, 19), 3 * day, 5 * day, 2 * day, []int{6, 8, 10, 12, 14, 16}, nil},
		{"stops before initial", span(0, 19), 4 * day, 12 * day, 2 * day, []int{13, 15}, nil},
		{"cutoff in a gap moves to last data minus horizon", append(span(0, 9), span(30, 39)...), 3 * day, 2 * day, 5 * day, []int{6, 31, 36}, nil},
		{"cutoff at the first row is kept and not moved", []int{0, 10, 11}, day, 0, 10 * day, []int{0, 10}, nil},
		{"single cutoff", span(0, 9), 3 * day, 6 * day, 3 * day, []int{6}, nil},
		{"less data than horizon", span(0, 5), 10 * day, 0, day, nil, ErrNoCutoffs},
		{"initial too long", span(0, 19), 3 * day, 17 * day, day, nil, ErrNoCutoffs},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := GenerateCutoffs(days(tt.ts...), tt.horizon, tt.initial, tt.period)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if want := days(tt.want...); !slices.Equal(got, want) {
				t.Fatalf("cutoffs = %v, want %v", toDays(got), tt.want)
			}
		})
	}
}

func TestGenerateCutoffsSubDaily(t *testing.T) {
	// 5-minute data over 6 hours; horizon 1h, period 30m, initial 3h.
	var ts []int64
	for m := 0; m <= 360; m += 5 {
		ts = append(ts, base+int64(m)*time.Minute.Milliseconds())
	}
	got, err := GenerateCutoffs(ts, time.Hour, 3*time.Hour, 30*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	// Last = 6h − 1h = 5h, then 4h30, 4h, 3h30, 3h; 2h30 < 3h is dropped.
	var want []int64
	for _, m := range []int{180, 210, 240, 270, 300} {
		want = append(want, base+int64(m)*time.Minute.Milliseconds())
	}
	if !slices.Equal(got, want) {
		t.Fatalf("cutoffs = %v, want %v", got, want)
	}
}

func TestGenerateCutoffsInvalid(t *testing.T) {
	ts := []int64{dayMS(0), dayMS(1), dayMS(2)}
	tests := []struct {
		name                     string
		horizon, initial, period time.Duration
		want                     string
	}{
		{"zero horizon", 0, 0, day, "horizon"},
		{"zero period", day, 0, 0, "period"},
		{"negative initial", day, -day, day, "initial"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := GenerateCutoffs(ts, tt.horizon, tt.initial, tt.period)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want one naming %q", err, tt.want)
			}
		})
	}
}

func toDays(ms []int64) []int64 {
	out := make([]int64, len(ms))
	for i, m := range ms {
		out[i] = (m - base) / day.Milliseconds()
	}
	return out
}

// The standard run below: 30 days, y = 10 + day, horizon 3 days, period 3
// days, initial 20 days, season 7 days. Cutoffs are days 20, 23 and 26;
// the 9 forecast points are days 21..29 (y = 31..39), 3 per horizon. The
// in-sample seasonal-naive error is 7 in every window.
var stdOpts = Options{Horizon: 3 * day, Period: 3 * day, Initial: 20 * day, Season: 7 * day}

func TestRunMetrics(t *testing.T) {
	s := linear(30)
	// mape, mdape and smape of the +2 forecaster: 2/y, median 2/35, and
	// 2/(y+1), over y = 31..39 (values from prophet.metrics 1.5.0,
	// rolling_window=1).
	const offMAPE, offMDAPE, offSMAPE = 0.05745686844799665, 2.0 / 35, 0.0558439652221902
	tests := []struct {
		name string
		fp   FitPredict
		want Metrics
	}{
		{"perfect forecaster has no error", perfect(s), Metrics{Coverage: 1}},
		{"constant offset", offset(s, 2), Metrics{MSE: 4, RMSE: 2, MAE: 2, MAPE: offMAPE, MDAPE: offMDAPE, SMAPE: offSMAPE, MASE: 2.0 / 7, Coverage: nan}},
		{"negative offset", offset(s, -2), Metrics{
			MSE: 4, RMSE: 2, MAE: 2, MAPE: offMAPE, MDAPE: offMDAPE,
			SMAPE: mean([]float64{2.0 / 30, 2.0 / 31, 2.0 / 32, 2.0 / 33, 2.0 / 34, 2.0 / 35, 2.0 / 36, 2.0 / 37, 2.0 / 38}),
			MASE:  2.0 / 7, Coverage: nan,
		}},
		// Forecasting one season back (horizon 3 < season 7) errs by 7
		// everywhere, exactly its in-sample error: MASE 1.
		{"seasonal naive itself", seasonalNaive(7 * day), Metrics{
			MSE: 49, RMSE: 7, MAE: 7,
			MAPE:  mean([]float64{7.0 / 31, 7.0 / 32, 7.0 / 33, 7.0 / 34, 7.0 / 35, 7.0 / 36, 7.0 / 37, 7.0 / 38, 7.0 / 39}),
			MDAPE: 7.0 / 35,
			SMAPE: mean([]float64{7.0 / 27.5, 7.0 / 28.5, 7.0 / 29.5, 7.0 / 30.5, 7.0 / 31.5, 7.0 / 32.5, 7.0 / 33.5, 7.0 / 34.5, 7.0 / 35.5}),
			MASE:  1, Coverage: nan,
		}},
		// Lagging by 14 days errs by 14: twice the seasonal naive.
		{"two seasons back", seasonalNaive(14 * day), Metrics{
			MSE: 196, RMSE: 14, MAE: 14,
			MAPE:  mean([]float64{14.0 / 31, 14.0 / 32, 14.0 / 33, 14.0 / 34, 14.0 / 35, 14.0 / 36, 14.0 / 37, 14.0 / 38, 14.0 / 39}),
			MDAPE: 14.0 / 35,
			SMAPE: mean([]float64{14.0 / 24, 14.0 / 25, 14.0 / 26, 14.0 / 27, 14.0 / 28, 14.0 / 29, 14.0 / 30, 14.0 / 31, 14.0 / 32}),
			MASE:  2, Coverage: nan,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := Run(context.Background(), s, stdOpts, tt.fp)
			if err != nil {
				t.Fatal(err)
			}
			if res.Cutoffs != 3 || res.Points != 9 {
				t.Fatalf("cutoffs, points = %d, %d; want 3, 9", res.Cutoffs, res.Points)
			}
			if want := []int64{dayMS(20), dayMS(23), dayMS(26)}; !slices.Equal(res.CutoffTimes, want) {
				t.Fatalf("cutoff times = %v, want days 20, 23, 26", toDays(res.CutoffTimes))
			}
			checkMetrics(t, "overall", res.Metrics, tt.want)
		})
	}
}

func TestRunCoverage(t *testing.T) {
	s := linear(30)
	tests := []struct {
		name string
		band func(d int, y float64) (lo, hi float64)
		want float64
	}{
		{"all inside", func(_ int, y float64) (float64, float64) { return y - 1, y + 1 }, 1},
		{"all outside", func(_ int, y float64) (float64, float64) { return y + 1, y + 2 }, 0},
		{"bounds are inclusive", func(_ int, y float64) (float64, float64) { return y, y }, 1},
		// Days 21..29 are forecast; the even ones (22, 24, 26, 28) are
		// covered.
		{"even days only", func(d int, y float64) (float64, float64) {
			if d%2 == 0 {
				return y - 1, y + 1
			}
			return y - 2, y - 1
		}, 4.0 / 9},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fp := truth(s, func(ts int64, y float64) (float64, float64, float64, bool) {
				lo, hi := tt.band(int((ts-base)/day.Milliseconds()), y)
				return y, lo, hi, true
			})
			res, err := Run(context.Background(), s, stdOpts, fp)
			if err != nil {
				t.Fatal(err)
			}
			if !near(res.Metrics.Coverage, tt.want) {
				t.Fatalf("coverage = %v, want %v", res.Metrics.Coverage, tt.want)
			}
		})
	}
}

func TestRunByHorizon(t *testing.T) {
	s := linear(30)
	// Expected values from prophet.metrics.performance_metrics 1.5.0 on
	// the same cross-validation frame (+2 forecaster).
	type row struct {
		h                  time.Duration
		mape, mdape, smape float64
	}
	tests := []struct {
		name   string
		window float64
		want   []row
	}{
		{"per horizon", PerHorizon, []row{
			{day, 0.05913123749935895, 0.05882352941176471, 0.05742481203007518},
			{2 * day, 0.05742481203007518, 0.05714285714285714, 0.05581455581455581},
			{3 * day, 0.05581455581455581, 0.05555555555555555, 0.05429252782193959},
		}},
		// 0.1 · 9 points rounds down to a window of 1: per horizon too.
		{"default window", 0, []row{
			{day, 0.05913123749935895, 0.05882352941176471, 0.05742481203007518},
			{2 * day, 0.05742481203007518, 0.05714285714285714, 0.05581455581455581},
			{3 * day, 0.05581455581455581, 0.05555555555555555, 0.05429252782193959},
		}},
		// A window of 4 points: the first horizon (3 points) cannot fill
		// one; the others borrow part of the horizon before.
		{"window of 4 points", 0.5, []row{
			{2 * day, 0.05785141839739612, 0.05559845559845560, 0.05621711986843565},
			{3 * day, 0.05621711986843565, 0.05409356725146199, 0.05467303482009364},
		}},
		{"everything", 1, []row{{3 * day, 0.05745686844799665, 2.0 / 35, 0.0558439652221902}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := stdOpts
			opts.RollingWindow = tt.window
			res, err := Run(context.Background(), s, opts, offset(s, 2))
			if err != nil {
				t.Fatal(err)
			}
			if len(res.ByHorizon) != len(tt.want) {
				t.Fatalf("%d horizons, want %d: %+v", len(res.ByHorizon), len(tt.want), res.ByHorizon)
			}
			for i, w := range tt.want {
				got := res.ByHorizon[i]
				if got.Horizon != w.h {
					t.Errorf("row %d: horizon %v, want %v", i, got.Horizon, w.h)
				}
				checkMetrics(t, got.Horizon.String(), got.Metrics, Metrics{
					MSE: 4, RMSE: 2, MAE: 2, MAPE: w.mape, MDAPE: w.mdape, SMAPE: w.smape, MASE: 2.0 / 7, Coverage: nan,
				})
			}
		})
	}
}

func TestRollingHandCase(t *testing.T) {
	// Errors 1, 3 (horizon 1), 5, 7 (horizon 2), 10 (horizon 3) of a
	// forecast of y = 100, worked by hand; prophet.metrics agrees.
	ps := []Point{}
	for i, c := range []struct {
		h int
		e float64
	}{{1, 1}, {1, 3}, {2, 5}, {2, 7}, {3, 10}} {
		ps = append(ps, Point{Cutoff: dayMS(0), T: dayMS(c.h) + int64(i), Y: 100, Yhat: 100 - c.e, Lower: nan, Upper: nan, Scale: 2})
	}
	// Horizons must be equal within a group: drop the offsets again.
	for i := range ps {
		ps[i].T -= int64(i)
	}
	tests := []struct {
		w                int
		h                []int
		mae, mdape, mse  []float64
		overallMAE, mase []float64
	}{
		// Window 3: horizon 3 = (10+7+5)/3; horizon 2 = (7+5+ one of
		// horizon 1 at its mean 2)/3; horizon 1 alone has only 2 points.
		{w: 3, h: []int{2, 3}, mae: []float64{14.0 / 3, 22.0 / 3}, mdape: []float64{0.05, 0.07}, mse: []float64{79.0 / 3, 58}},
		{w: 5, h: []int{3}, mae: []float64{5.2}, mdape: []float64{0.05}, mse: []float64{36.8}},
		{w: 1, h: []int{1, 2, 3}, mae: []float64{2, 6, 10}, mdape: []float64{0.02, 0.06, 0.10}, mse: []float64{5, 37, 100}},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("w=%d", tt.w), func(t *testing.T) {
			got := byHorizon(ps, tt.w)
			if len(got) != len(tt.h) {
				t.Fatalf("%d rows, want %d", len(got), len(tt.h))
			}
			for i, r := range got {
				if r.Horizon != time.Duration(tt.h[i])*day {
					t.Errorf("row %d: horizon %v, want %d days", i, r.Horizon, tt.h[i])
				}
				if !near(r.MAE, tt.mae[i]) || !near(r.MDAPE, tt.mdape[i]) || !near(r.MSE, tt.mse[i]) || !near(r.MASE, tt.mae[i]/2) {
					t.Errorf("row %d: mae %v mdape %v mse %v mase %v; want %v %v %v %v", i, r.MAE, r.MDAPE, r.MSE, r.MASE, tt.mae[i], tt.mdape[i], tt.mse[i], tt.mae[i]/2)
				}
				if !math.IsNaN(r.Coverage) {
					t.Errorf("row %d: coverage %v without intervals, want NaN", i, r.Coverage)
				}
			}
		})
	}
}

func TestRunMissingActuals(t *testing.T) {
	s := linear(30)
	for _, d := range []int{5, 22, 27} { // one in training, two in the test windows
		s.Y[d] = nan
	}
	var mu sync.Mutex
	var asked []int64
	var trainLens []int
	inner := offset(linear(30), 2)
	fp := func(ctx context.Context, train *series.Series, at []int64) (*abi.PredictResponse, error) {
		mu.Lock()
		asked = append(asked, at...)
		trainLens = append(trainLens, train.Len())
		mu.Unlock()
		if !math.IsNaN(train.Y[5]) {
			t.Errorf("training data lost the missing value of day 5: %v", train.Y[5])
		}
		return inner(ctx, train, at)
	}
	res, err := Run(context.Background(), s, stdOpts, fp)
	if err != nil {
		t.Fatal(err)
	}
	if res.Points != 7 {
		t.Fatalf("points = %d, want 7 (9 minus 2 missing)", res.Points)
	}
	for _, ts := range asked {
		if ts == dayMS(22) || ts == dayMS(27) {
			t.Errorf("forecast asked for day %d, whose actual is missing", toDays([]int64{ts})[0])
		}
	}
	// Training windows end at the cutoffs 20, 23, 26: 21, 24, 27 rows.
	if !slices.Equal(trainLens, []int{21, 24, 27}) {
		t.Errorf("training lengths = %v, want [21 24 27]", trainLens)
	}
	want := Metrics{MSE: 4, RMSE: 2, MAE: 2, MASE: 2.0 / 7, Coverage: nan,
		MAPE:  mean([]float64{2.0 / 31, 2.0 / 33, 2.0 / 34, 2.0 / 35, 2.0 / 36, 2.0 / 38, 2.0 / 39}),
		MDAPE: 2.0 / 35,
		SMAPE: mean([]float64{2.0 / 32, 2.0 / 34, 2.0 / 35, 2.0 / 36, 2.0 / 37, 2.0 / 39, 2.0 / 40}),
	}
	checkMetrics(t, "overall", res.Metrics, want)
}

func TestRunIgnoresMissingForCutoffs(t *testing.T) {
	// The last row has no value: the last cutoff is the last observation
	// (day 28) minus the horizon.
	s := linear(30)
	s.Y[29] = nan
	res, err := Run(context.Background(), s, stdOpts, offset(linear(30), 1))
	if err != nil {
		t.Fatal(err)
	}
	if want := []int64{dayMS(22), dayMS(25)}; !slices.Equal(res.CutoffTimes, want) {
		t.Fatalf("cutoffs = %v, want days 22, 25", toDays(res.CutoffTimes))
	}
}

func TestRunDefaults(t *testing.T) {
	s := linear(30)
	tests := []struct {
		name string
		opts Options
		want []int
	}{
		// Period defaults to 36h; initial to 3·horizon = 9 days: cutoffs
		// from day 26 back by 1.5 days while ≥ day 9.
		{"period and initial", Options{Horizon: 3 * day}, []int{}},
		// The longest seasonality (20 days) beats 3·horizon.
		{"initial from seasonality", Options{Horizon: 3 * day, Period: 3 * day, SeasonalityPeriod: 20 * day}, []int{20, 23, 26}},
		{"initial from horizon", Options{Horizon: 3 * day, Period: 3 * day}, []int{11, 14, 17, 20, 23, 26}},
		{"latest cutoffs only", Options{Horizon: 3 * day, Period: 3 * day, MaxCutoffs: 2}, []int{23, 26}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := Run(context.Background(), s, tt.opts, perfect(s))
			if err != nil {
				t.Fatal(err)
			}
			var want []int64
			if tt.name == "period and initial" {
				for c := dayMS(26); c >= dayMS(9); c -= 36 * time.Hour.Milliseconds() {
					want = append([]int64{c}, want...)
				}
			}
			for _, d := range tt.want {
				want = append(want, dayMS(d))
			}
			if !slices.Equal(res.CutoffTimes, want) {
				t.Fatalf("cutoffs = %v, want %v", res.CutoffTimes, want)
			}
		})
	}
}

func TestRunExplicitCutoffs(t *testing.T) {
	s := linear(30)
	tests := []struct {
		name    string
		cutoffs []int
		wantErr string
	}{
		{"valid, unsorted, duplicated", []int{23, 10, 23}, ""},
		{"at the first row", []int{0}, "not after the first observation"},
		{"too late for the horizon", []int{27}, "minus the horizon"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := Options{Horizon: 3 * day}
			for _, d := range tt.cutoffs {
				opts.Cutoffs = append(opts.Cutoffs, dayMS(d))
			}
			res, err := Run(context.Background(), s, opts, perfect(s))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if want := []int64{dayMS(10), dayMS(23)}; !slices.Equal(res.CutoffTimes, want) {
				t.Fatalf("cutoffs = %v, want days 10, 23", toDays(res.CutoffTimes))
			}
		})
	}
}

func TestRunMAPEDroppedNearZero(t *testing.T) {
	// y = day − 25 is 0 on day 25, a forecast point.
	s := daily(30, func(d int) float64 { return float64(d - 25) })
	res, err := Run(context.Background(), s, stdOpts, offset(s, 1))
	if err != nil {
		t.Fatal(err)
	}
	if !math.IsNaN(res.Metrics.MAPE) {
		t.Errorf("mape = %v, want NaN (dropped)", res.Metrics.MAPE)
	}
	for _, h := range res.ByHorizon {
		if !math.IsNaN(h.MAPE) {
			t.Errorf("%v: mape = %v, want NaN (dropped)", h.Horizon, h.MAPE)
		}
	}
	if !near(res.Metrics.MAE, 1) || !near(res.Metrics.MASE, 1.0/7) {
		t.Errorf("mae, mase = %v, %v; want 1, 1/7", res.Metrics.MAE, res.Metrics.MASE)
	}
	b, err := json.Marshal(res)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"mape":null`) {
		t.Errorf("JSON %s has no \"mape\":null", b)
	}
}

func TestRunMASEUndefined(t *testing.T) {
	tests := []struct {
		name   string
		s      *series.Series
		season time.Duration
	}{
		{"no season", linear(30), 0},
		{"constant history", daily(30, func(int) float64 { return 5 }), 7 * day},
		{"season longer than the training window", linear(30), 40 * day},
		// |1e308 − (−1e308)| overflows: a scale of +Inf would make every
		// MASE 0, a perfect score.
		{"seasonal-naive errors overflow", daily(30, func(d int) float64 {
			switch d {
			case 0:
				return 1e308
			case 1:
				return -1e308
			}
			return 10 + float64(d)
		}), day},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := stdOpts
			opts.Season = tt.season
			res, err := Run(context.Background(), tt.s, opts, offset(tt.s, 1))
			if err != nil {
				t.Fatal(err)
			}
			if !math.IsNaN(res.Metrics.MASE) {
				t.Errorf("mase = %v, want NaN", res.Metrics.MASE)
			}
			if res.Metrics.MAE != 1 {
				t.Errorf("mae = %v, want 1", res.Metrics.MAE)
			}
		})
	}
}

func TestResultJSON(t *testing.T) {
	s := linear(30)
	res, err := Run(context.Background(), s, stdOpts, offset(s, 2))
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(res)
	if err != nil {
		t.Fatal(err)
	}
	var generic map[string]any
	if err := json.Unmarshal(b, &generic); err != nil {
		t.Fatal(err)
	}
	if generic["cutoffs"] != 3.0 || generic["points"] != 9.0 {
		t.Errorf("cutoffs, points = %v, %v in %s", generic["cutoffs"], generic["points"], b)
	}
	metrics, _ := generic["metrics"].(map[string]any)
	for _, k := range []string{"rmse", "mae", "mape", "mdape", "smape", "mse", "mase", "coverage"} {
		if _, ok := metrics[k]; !ok {
			t.Errorf("metrics lack %q: %s", k, b)
		}
	}
	if metrics["coverage"] != nil || metrics["mae"] != 2.0 {
		t.Errorf("coverage, mae = %v, %v; want null, 2", metrics["coverage"], metrics["mae"])
	}
	rows, _ := generic["by_horizon"].([]any)
	if len(rows) != 3 {
		t.Fatalf("by_horizon has %d rows, want 3: %s", len(rows), b)
	}
	first, _ := rows[0].(map[string]any)
	if first["horizon"] != "24h0m0s" || first["horizon_seconds"] != 86400.0 || first["mae"] != 2.0 {
		t.Errorf("first row = %v", first)
	}

	var back Result
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	checkMetrics(t, "round trip", back.Metrics, res.Metrics)
	if len(back.ByHorizon) != 3 || back.ByHorizon[2].Horizon != 3*day {
		t.Fatalf("round trip by_horizon = %+v", back.ByHorizon)
	}
	checkMetrics(t, "round trip 72h", back.ByHorizon[2].Metrics, res.ByHorizon[2].Metrics)
}

func TestRunParallelSameResult(t *testing.T) {
	s := linear(60)
	opts := Options{Horizon: 3 * day, Period: day, Season: 7 * day}
	seq, err := Run(context.Background(), s, opts, seasonalNaive(7*day))
	if err != nil {
		t.Fatal(err)
	}
	opts.Parallelism = 4
	par, err := Run(context.Background(), s, opts, seasonalNaive(7*day))
	if err != nil {
		t.Fatal(err)
	}
	a, _ := json.Marshal(seq)
	b, _ := json.Marshal(par)
	if string(a) != string(b) || len(seq.Forecasts) != len(par.Forecasts) {
		t.Fatalf("parallel result differs:\n%s\n%s", a, b)
	}
	for i := range seq.Forecasts {
		p, q := seq.Forecasts[i], par.Forecasts[i]
		if p.Cutoff != q.Cutoff || p.T != q.T || p.Yhat != q.Yhat {
			t.Fatalf("point %d: %+v vs %+v", i, p, q)
		}
	}
	if seq.Cutoffs != 48 { // days 9 (3·horizon) to 56 (day 59 − horizon)
		t.Errorf("cutoffs = %d, want 48", seq.Cutoffs)
	}
}

func TestRunErrors(t *testing.T) {
	s := linear(30)
	boom := errors.New("boom")
	tests := []struct {
		name string
		s    *series.Series
		opts Options
		fp   FitPredict
		want string
		is   error
	}{
		{"forecaster error names the cutoff", s, stdOpts,
			func(context.Context, *series.Series, []int64) (*abi.PredictResponse, error) { return nil, boom },
			"cutoff 2024-01-21T00:00:00Z: boom", boom},
		{"short response", s, stdOpts,
			func(context.Context, *series.Series, []int64) (*abi.PredictResponse, error) {
				return &abi.PredictResponse{Yhat: []float64{1}}, nil
			}, "1 point forecasts for 3 times", nil},
		{"nil response", s, stdOpts,
			func(context.Context, *series.Series, []int64) (*abi.PredictResponse, error) { return nil, nil },
			"no response", nil},
		{"lopsided interval", s, stdOpts,
			func(_ context.Context, _ *series.Series, at []int64) (*abi.PredictResponse, error) {
				return &abi.PredictResponse{Yhat: make([]float64, len(at)), Lower: make([]float64, len(at))}, nil
			}, "3 lower and 0 upper", nil},
		{"NaN forecast", s, stdOpts,
			func(_ context.Context, _ *series.Series, at []int64) (*abi.PredictResponse, error) {
				return &abi.PredictResponse{Yhat: []float64{1, nan, 1}}, nil
			}, "is NaN", nil},
		{"nil forecaster", s, stdOpts, nil, "nil FitPredict", nil},
		{"nil series", nil, stdOpts, perfect(s), "no series", nil},
		{"no horizon", s, Options{}, perfect(s), "horizon", nil},
		{"bad rolling window", s, Options{Horizon: day, RollingWindow: 2}, perfect(s), "rolling window", nil},
		{"negative season", s, Options{Horizon: day, Season: -day}, perfect(s), "season", nil},
		{"too short", linear(2), Options{Horizon: 3 * day}, perfect(s), "less than the horizon", ErrNoCutoffs},
		{"one observation before an explicit cutoff", s, Options{Horizon: day, Cutoffs: []int64{dayMS(0) + 1}}, perfect(s),
			"1 observations at or before the cutoff", nil},
		{"unsorted series", &series.Series{T: []int64{2, 1}, Y: []float64{1, 1}}, stdOpts, perfect(s), "sorted", nil},
		{"all missing", daily(10, func(int) float64 { return nan }), stdOpts, perfect(s), "0 observations", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Run(context.Background(), tt.s, tt.opts, tt.fp)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want one containing %q", err, tt.want)
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Fatalf("err = %v, want it to wrap %v", err, tt.is)
			}
		})
	}
}

func TestRunCancelled(t *testing.T) {
	s := linear(60)
	ctx, cancel := context.WithCancel(context.Background())
	calls := 0
	fp := func(ctx context.Context, train *series.Series, at []int64) (*abi.PredictResponse, error) {
		calls++
		if calls == 2 {
			cancel()
		}
		return perfect(s)(ctx, train, at)
	}
	_, err := Run(ctx, s, Options{Horizon: 3 * day, Period: day}, fp)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if calls != 2 {
		t.Errorf("forecaster called %d times after cancellation at the 2nd, want 2", calls)
	}
}

func TestHoldOut(t *testing.T) {
	s := linear(30)
	tests := []struct {
		name    string
		fp      FitPredict
		holdout time.Duration
		season  time.Duration
		want    Metrics
	}{
		// Cutoff day 26, points 27..29 (y 37..39), scale 7.
		{"offset", offset(s, 2), 3 * day, 7 * day, Metrics{
			MSE: 4, RMSE: 2, MAE: 2, MASE: 2.0 / 7, Coverage: nan,
			MAPE: mean([]float64{2.0 / 37, 2.0 / 38, 2.0 / 39}), MDAPE: 2.0 / 38,
			SMAPE: mean([]float64{2.0 / 38, 2.0 / 39, 2.0 / 40}),
		}},
		{"seasonal naive", seasonalNaive(7 * day), 3 * day, 7 * day, Metrics{
			MSE: 49, RMSE: 7, MAE: 7, MASE: 1, Coverage: nan,
			MAPE: mean([]float64{7.0 / 37, 7.0 / 38, 7.0 / 39}), MDAPE: 7.0 / 38,
			SMAPE: mean([]float64{7.0 / 33.5, 7.0 / 34.5, 7.0 / 35.5}),
		}},
		{"perfect, no season", perfect(s), 5 * day, 0, Metrics{MASE: nan, Coverage: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := HoldOut(context.Background(), s, tt.holdout, tt.season, tt.fp)
			if err != nil {
				t.Fatal(err)
			}
			checkMetrics(t, "hold-out", got, tt.want)
		})
	}
}

func TestHoldOutErrors(t *testing.T) {
	s := linear(10)
	tests := []struct {
		name    string
		holdout time.Duration
		want    string
	}{
		{"whole span", 9 * day, "leaves no training data"},
		{"zero", 0, "at least 1ms"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := HoldOut(context.Background(), s, tt.holdout, day, perfect(s))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want one containing %q", err, tt.want)
			}
			if !math.IsNaN(m.MAE) {
				t.Errorf("metrics on error = %+v, want undefined", m)
			}
		})
	}
}

// fakeForecaster records the requests and forecasts the training mean.
type fakeForecaster struct {
	train   []*abi.TrainRequest
	predict []*abi.PredictRequest
}

func (f *fakeForecaster) Train(_ context.Context, req *abi.TrainRequest) (*abi.TrainResponse, error) {
	f.train = append(f.train, req)
	sum := 0.0
	for _, v := range req.Values {
		sum += v
	}
	return &abi.TrainResponse{Model: []byte(fmt.Sprint(sum / float64(len(req.Values))))}, nil
}

func (f *fakeForecaster) Predict(_ context.Context, req *abi.PredictRequest) (*abi.PredictResponse, error) {
	f.predict = append(f.predict, req)
	var m float64
	if _, err := fmt.Sscan(string(req.Model), &m); err != nil {
		return nil, abi.Errorf(abi.StatusInvalidModel, "model %q: %v", req.Model, err)
	}
	resp := &abi.PredictResponse{}
	for range req.Timestamps {
		resp.Yhat = append(resp.Yhat, m)
	}
	return resp, nil
}

func TestForecasterFunc(t *testing.T) {
	f := &fakeForecaster{}
	params := abi.Params{"season": "7d"}
	fp := ForecasterFunc(f, params, 42)
	train := linear(4) // mean 11.5
	at := []int64{dayMS(4), dayMS(5)}
	resp, err := fp(context.Background(), train, at)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(resp.Yhat, []float64{11.5, 11.5}) {
		t.Errorf("yhat = %v, want the training mean twice", resp.Yhat)
	}
	if len(f.train) != 1 || f.train[0].Seed != 42 || f.train[0].Params["season"] != "7d" ||
		!slices.Equal(f.train[0].Timestamps, train.T) || !slices.Equal(f.train[0].Values, train.Y) {
		t.Errorf("train request = %+v", f.train)
	}
	if len(f.predict) != 1 || f.predict[0].Seed != 42 || string(f.predict[0].Model) != "11.5" || !slices.Equal(f.predict[0].Timestamps, at) {
		t.Errorf("predict request = %+v", f.predict)
	}

	// A plugin error keeps its status through the wrapping.
	_, err = ForecasterFunc(&brokenForecaster{}, nil, 0)(context.Background(), train, at)
	var ae *abi.Error
	if !errors.As(err, &ae) || ae.Status != abi.StatusInsufficientData || !strings.Contains(err.Error(), "train on 4 rows") {
		t.Fatalf("err = %v, want a wrapped INSUFFICIENT_DATA", err)
	}
}

type brokenForecaster struct{ fakeForecaster }

func (*brokenForecaster) Train(context.Context, *abi.TrainRequest) (*abi.TrainResponse, error) {
	return nil, abi.Errorf(abi.StatusInsufficientData, "need more data")
}
