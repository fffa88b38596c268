// Package backtest evaluates a forecaster by simulated historical forecasts:
// upstream Prophet's cross-validation (cutoffs, refit on the data up to each
// cutoff, forecast the horizon after it) and its performance metrics by
// horizon, plus MASE against the seasonal-naive forecast.
//
// The package knows nothing about plugins: it calls a FitPredict function,
// which trains on a series and forecasts the given times. ForecasterFunc
// builds one from anything with Train and Predict (a wasm plugin loaded by
// host/engine, or a native one).
//
// Differences from upstream Prophet's diagnostics, all deliberate:
//
//   - rows with a missing (NaN) y are no observations: they decide no cutoff
//     and are never forecast points. The training series passed to
//     FitPredict still contains them, so the forecaster sees the gaps.
//   - points with equal horizons are ordered by cutoff, then time (a stable
//     sort); upstream sorts with an unstable sort, which only matters for
//     which earlier points fill a partial MDAPE window.
//   - rolling windows below 0 (upstream's "no averaging") are not offered;
//     the overall metrics are those of rolling_window = 1.
package backtest

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/ppa-autoscaler/ppa/abi"
	"github.com/ppa-autoscaler/ppa/host/series"
)

// FitPredict trains a forecaster on train (which may contain NaN values
// for missing rows) and forecasts the times at (Unix milliseconds,
// ascending, all after the end of train). The response must hold one Yhat
// per time, and Lower and Upper either empty or one per time.
type FitPredict func(ctx context.Context, train *series.Series, at []int64) (*abi.PredictResponse, error)

// DefaultRollingWindow is the share of forecast points in each by-horizon
// window when Options.RollingWindow is 0 (upstream's default).
const DefaultRollingWindow = 0.1

// PerHorizon as Options.RollingWindow computes each horizon's metrics from
// its own points only (upstream's rolling_window=0).
const PerHorizon = -1.0

// Options configure Run. Durations are used at millisecond resolution.
type Options struct {
	// Horizon is how far after each cutoff to forecast. Required.
	Horizon time.Duration
	// Period is the spacing of cutoffs; 0 means Horizon/2.
	Period time.Duration
	// Initial is the least amount of history before the first cutoff; 0
	// means max(3·Horizon, SeasonalityPeriod).
	Initial time.Duration
	// SeasonalityPeriod is the longest seasonal period the forecaster
	// models (for example 7 days with weekly seasonality). It only sets the
	// default Initial, and a warning is logged when Initial is shorter.
	SeasonalityPeriod time.Duration
	// Cutoffs, when not empty, are used instead of generated ones (Unix
	// milliseconds). As upstream, each must be after the first observation
	// and at most the last observation − Horizon; Period and Initial are
	// then ignored.
	Cutoffs []int64
	// MaxCutoffs, when positive, keeps only the latest MaxCutoffs cutoffs.
	MaxCutoffs int
	// Season is the seasonal-naive lag for MASE (for example 7 days for
	// "same time last week"); 0 leaves MASE undefined.
	Season time.Duration
	// RollingWindow is the share of all forecast points in each by-horizon
	// window, in (0, 1], as upstream's rolling_window; 0 means
	// DefaultRollingWindow and PerHorizon computes each horizon alone.
	RollingWindow float64
	// Parallelism is how many folds run at once; 0 or 1 runs them one after
	// the other. Results do not depend on it.
	Parallelism int
	// Logger receives progress at debug level and warnings; nil logs
	// nothing.
	Logger *slog.Logger
}

// Result is the outcome of a cross-validation.
type Result struct {
	// Cutoffs is the number of folds (cutoffs).
	Cutoffs int `json:"cutoffs"`
	// Points is the number of forecast points with an actual value.
	Points int `json:"points"`
	// Metrics are computed over all points.
	Metrics Metrics `json:"metrics"`
	// ByHorizon holds the rolling-window metrics by horizon, ascending.
	ByHorizon []HorizonMetrics `json:"by_horizon"`
	// CutoffTimes are the cutoffs (Unix milliseconds), ascending.
	CutoffTimes []int64 `json:"-"`
	// Forecasts are all points, sorted by horizon, then cutoff, then time.
	Forecasts []Point `json:"-"`
}

// Run cross-validates the forecaster fp on s. For each cutoff (see
// GenerateCutoffs and Options) it calls fp with the rows of s at or before
// the cutoff and the observation times in (cutoff, cutoff + Horizon], then
// computes the metrics. Any error of fp fails the run, naming the cutoff.
func Run(ctx context.Context, s *series.Series, opts Options, fp FitPredict) (*Result, error) {
	if fp == nil {
		return nil, errors.New("backtest: no forecaster (nil FitPredict)")
	}
	if s == nil {
		return nil, errors.New("backtest: no series")
	}
	if err := s.Validate(); err != nil {
		return nil, fmt.Errorf("backtest: %w", err)
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if opts.Horizon.Milliseconds() <= 0 {
		return nil, fmt.Errorf("backtest: horizon %v must be at least 1ms", opts.Horizon)
	}
	obs := observed(s)
	if len(obs) < 2 {
		return nil, fmt.Errorf("backtest: %d observations, need at least 2", len(obs))
	}
	cutoffs, err := cutoffsFor(s, obs, opts, log)
	if err != nil {
		return nil, fmt.Errorf("backtest: %w", err)
	}
	if opts.MaxCutoffs > 0 && len(cutoffs) > opts.MaxCutoffs {
		log.Info("backtest: keeping the latest cutoffs", "generated", len(cutoffs), "kept", opts.MaxCutoffs)
		cutoffs = cutoffs[len(cutoffs)-opts.MaxCutoffs:]
	}
	w := opts.RollingWindow
	switch {
	case w == 0:
		w = DefaultRollingWindow
	case w == PerHorizon:
	case w < 0 || w > 1 || math.IsNaN(w):
		return nil, fmt.Errorf("backtest: rolling window %v must be in (0, 1], 0 (default %v) or PerHorizon", w, DefaultRollingWindow)
	}
	if opts.Season < 0 {
		return nil, fmt.Errorf("backtest: season %v must not be negative", opts.Season)
	}

	folds := make([][]Point, len(cutoffs))
	err = forEach(ctx, len(cutoffs), opts.Parallelism, func(ctx context.Context, i int) error {
		ps, err := fold(ctx, s, obs, cutoffs[i], opts.Horizon.Milliseconds(), opts.Season.Milliseconds(), fp)
		if err != nil {
			return fmt.Errorf("backtest: cutoff %s: %w", fmtTime(cutoffs[i]), err)
		}
		log.Debug("backtest: fold done", "cutoff", fmtTime(cutoffs[i]), "points", len(ps))
		folds[i] = ps
		return nil
	})
	if err != nil {
		return nil, err
	}
	var points []Point
	for _, ps := range folds {
		points = append(points, ps...)
	}
	// Folds are in cutoff order and each in time order, so a stable sort
	// by horizon orders ties by cutoff, then time.
	slices.SortStableFunc(points, func(a, b Point) int { return cmp.Compare(a.T-a.Cutoff, b.T-b.Cutoff) })
	win := 1
	if w > 0 {
		win = min(max(int(w*float64(len(points))), 1), len(points))
	}
	return &Result{
		Cutoffs:     len(cutoffs),
		Points:      len(points),
		Metrics:     overall(points),
		ByHorizon:   byHorizon(points, win),
		CutoffTimes: cutoffs,
		Forecasts:   points,
	}, nil
}

// HoldOut trains fp on all rows of s up to the last observation − holdout
// and returns the metrics of its forecast of the observations after that:
// a single-cutoff Run. season is the MASE lag (0: MASE undefined).
func HoldOut(ctx context.Context, s *series.Series, holdout, season time.Duration, fp FitPredict) (Metrics, error) {
	if s == nil {
		return undefined(), errors.New("hold-out: no series")
	}
	if err := s.Validate(); err != nil {
		return undefined(), fmt.Errorf("hold-out: %w", err)
	}
	obs := observed(s)
	if len(obs) < 2 {
		return undefined(), fmt.Errorf("hold-out: %d observations, need at least 2", len(obs))
	}
	if holdout.Milliseconds() <= 0 {
		return undefined(), fmt.Errorf("hold-out: window %v must be at least 1ms", holdout)
	}
	cutoff := s.T[obs[len(obs)-1]] - holdout.Milliseconds()
	if cutoff <= s.T[obs[0]] {
		return undefined(), fmt.Errorf("hold-out: window %v leaves no training data (the data span %v)",
			holdout, time.Duration(s.T[obs[len(obs)-1]]-s.T[obs[0]])*time.Millisecond)
	}
	res, err := Run(ctx, s, Options{Horizon: holdout, Cutoffs: []int64{cutoff}, Season: season, RollingWindow: 1}, fp)
	if err != nil {
		return undefined(), fmt.Errorf("hold-out: %w", err)
	}
	return res.Metrics, nil
}

// observed returns the indices of the rows of s that have a value.
func observed(s *series.Series) []int {
	var idx []int
	for i, y := range s.Y {
		if !math.IsNaN(y) {
			idx = append(idx, i)
		}
	}
	return idx
}

// cutoffsFor returns the cutoffs of a run: opts.Cutoffs checked as
// upstream checks them, or generated ones.
func cutoffsFor(s *series.Series, obs []int, opts Options, log *slog.Logger) ([]int64, error) {
	ts := make([]int64, len(obs))
	for k, i := range obs {
		ts[k] = s.T[i]
	}
	first, last := ts[0], ts[len(ts)-1]
	h := opts.Horizon.Milliseconds()
	if len(opts.Cutoffs) > 0 {
		cs := slices.Compact(slices.Sorted(slices.Values(opts.Cutoffs)))
		if cs[0] <= first {
			return nil, fmt.Errorf("cutoff %s is not after the first observation %s", fmtTime(cs[0]), fmtTime(first))
		}
		if c := cs[len(cs)-1]; c > last-h {
			return nil, fmt.Errorf("cutoff %s is after the last observation %s minus the horizon %v", fmtTime(c), fmtTime(last), opts.Horizon)
		}
		warnInitial(log, time.Duration(cs[0]-first)*time.Millisecond, opts.SeasonalityPeriod)
		return cs, nil
	}
	period := opts.Period
	if period == 0 {
		period = opts.Horizon / 2
	}
	initial := opts.Initial
	if initial == 0 {
		initial = max(3*opts.Horizon, opts.SeasonalityPeriod)
	}
	warnInitial(log, initial, opts.SeasonalityPeriod)
	return GenerateCutoffs(ts, opts.Horizon, initial, period)
}

func warnInitial(log *slog.Logger, initial, seasonality time.Duration) {
	if initial < seasonality {
		log.Warn("backtest: the initial window is shorter than the longest seasonal period; consider a longer initial window",
			"initial", initial, "seasonality_period", seasonality)
	}
}

// fold runs one cutoff: train on rows ≤ cutoff, forecast the observations
// in (cutoff, cutoff + h].
func fold(ctx context.Context, s *series.Series, obs []int, cutoff, h, season int64, fp FitPredict) ([]Point, error) {
	end := sort.Search(len(s.T), func(i int) bool { return s.T[i] > cutoff })
	train := &series.Series{T: s.T[:end:end], Y: s.Y[:end:end]}
	if n := train.Valid(); n < 2 {
		return nil, fmt.Errorf("%d observations at or before the cutoff, need at least 2: increase the initial window", n)
	}
	var at []int64
	var ys []float64
	for _, i := range obs {
		if t := s.T[i]; t > cutoff && t <= cutoff+h {
			at = append(at, t)
			ys = append(ys, s.Y[i])
		}
	}
	if len(at) == 0 {
		return nil, fmt.Errorf("no observation in (cutoff, cutoff + horizon]")
	}
	// Give the forecaster its own copies: it must not see or change the
	// rest of the series.
	resp, err := fp(ctx, &series.Series{T: slices.Clone(train.T), Y: slices.Clone(train.Y)}, slices.Clone(at))
	if err != nil {
		return nil, err
	}
	if resp == nil {
		return nil, errors.New("forecaster returned no response")
	}
	if len(resp.Yhat) != len(at) {
		return nil, fmt.Errorf("forecaster returned %d point forecasts for %d times", len(resp.Yhat), len(at))
	}
	intervals := len(resp.Lower) > 0 || len(resp.Upper) > 0
	if intervals && (len(resp.Lower) != len(at) || len(resp.Upper) != len(at)) {
		return nil, fmt.Errorf("forecaster returned %d lower and %d upper bounds for %d times", len(resp.Lower), len(resp.Upper), len(at))
	}
	scale := math.NaN()
	if season > 0 {
		scale = naiveScale(train, season)
	}
	ps := make([]Point, len(at))
	for i, t := range at {
		if v := resp.Yhat[i]; math.IsNaN(v) || math.IsInf(v, 0) {
			return nil, fmt.Errorf("forecast for %s is %v", fmtTime(t), v)
		}
		p := Point{Cutoff: cutoff, T: t, Y: ys[i], Yhat: resp.Yhat[i], Lower: math.NaN(), Upper: math.NaN(), Scale: scale}
		if intervals {
			p.Lower, p.Upper = resp.Lower[i], resp.Upper[i]
		}
		ps[i] = p
	}
	return ps, nil
}

// naiveScale is the in-sample mean absolute error of the seasonal-naive
// forecast y(t − season) over the rows of train, counting the rows t with a
// row at exactly t − season and both values present; NaN when there is no
// such pair, the error is 0 (a scale of 0 makes MASE meaningless) or the
// sum overflows (a scale of +Inf would make every MASE 0).
func naiveScale(train *series.Series, season int64) float64 {
	sum, n := 0.0, 0
	j := 0 // T is ascending, so t − season is too: walk j along with i.
	for i, t := range train.T {
		for j < i && train.T[j] < t-season {
			j++
		}
		if train.T[j] != t-season || math.IsNaN(train.Y[i]) || math.IsNaN(train.Y[j]) {
			continue
		}
		sum += math.Abs(train.Y[i] - train.Y[j])
		n++
	}
	if n == 0 || sum == 0 || math.IsInf(sum, 0) {
		return math.NaN()
	}
	return sum / float64(n)
}

// forEach calls f for 0..n-1 with at most par calls at once, stopping at
// the first error (further calls see a cancelled context and are not
// started).
func forEach(ctx context.Context, n, par int, f func(context.Context, int) error) error {
	if par < 1 {
		par = 1
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	sem := make(chan struct{}, par)
	var wg sync.WaitGroup
	var once sync.Once
	var first error
	for i := 0; i < n; i++ {
		if err := ctx.Err(); err != nil {
			break
		}
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if err := ctx.Err(); err != nil {
				return
			}
			if err := f(ctx, i); err != nil {
				once.Do(func() { first = err; cancel(err) })
			}
		}()
	}
	wg.Wait()
	if first != nil {
		return first
	}
	if err := context.Cause(ctx); err != nil {
		return fmt.Errorf("backtest: %w", err)
	}
	return nil
}

func fmtTime(ms int64) string { return time.UnixMilli(ms).UTC().Format(time.RFC3339) }
