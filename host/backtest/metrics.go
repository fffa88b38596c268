package backtest

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"time"
)

// Metrics are accuracy measures over a set of forecast points. A metric
// that is not defined for the points is NaN, and null in JSON:
//
//   - MAPE when some actual has |y| < 1e-8 (as upstream, which drops it);
//   - Coverage when the forecaster gave no intervals;
//   - MASE when no season was given, or some cutoff's training window has
//     no usable seasonal-naive pair or a zero in-sample seasonal-naive error.
//
// Definitions, with e = y − ŷ over the n points (NaN actuals never count):
//
//	MSE      mean(e²)                 RMSE  √MSE
//	MAE      mean(|e|)                MAPE  mean(|e / y|)
//	MDAPE    median(|e / y|)          SMAPE mean(|e| / ((|y| + |ŷ|) / 2)), 0/0 = 0
//	Coverage share of points with lower ≤ y ≤ upper
//	MASE     mean(|e| / scale(cutoff))
//
// MAPE, MDAPE and SMAPE are fractions (0.1 is 10 %), as upstream reports
// them. scale(cutoff) is the in-sample mean absolute error of the seasonal
// naive forecast ŷ(t) = y(t − season) over the training window of that
// point's cutoff: the mean of |y(t) − y(t − season)| over the training rows
// t for which a row at exactly t − season exists, both values present.
// Scaling each error by its own cutoff's scale and then averaging is
// Hyndman & Koehler's mean of scaled errors; MASE < 1 means the forecaster
// beats the one-season-ago forecast as it did in sample.
type Metrics struct {
	MSE      float64
	RMSE     float64
	MAE      float64
	MAPE     float64
	MDAPE    float64
	SMAPE    float64
	MASE     float64
	Coverage float64
}

// metricsJSON is the wire form of Metrics: NaN becomes null.
type metricsJSON struct {
	RMSE     *float64 `json:"rmse"`
	MAE      *float64 `json:"mae"`
	MAPE     *float64 `json:"mape"`
	MDAPE    *float64 `json:"mdape"`
	SMAPE    *float64 `json:"smape"`
	MSE      *float64 `json:"mse"`
	MASE     *float64 `json:"mase"`
	Coverage *float64 `json:"coverage"`
}

func nullable(v float64) *float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return nil
	}
	return &v
}

func orNaN(p *float64) float64 {
	if p == nil {
		return math.NaN()
	}
	return *p
}

func (m Metrics) wire() metricsJSON {
	return metricsJSON{
		RMSE: nullable(m.RMSE), MAE: nullable(m.MAE), MAPE: nullable(m.MAPE), MDAPE: nullable(m.MDAPE),
		SMAPE: nullable(m.SMAPE), MSE: nullable(m.MSE), MASE: nullable(m.MASE), Coverage: nullable(m.Coverage),
	}
}

func (w metricsJSON) metrics() Metrics {
	return Metrics{
		MSE: orNaN(w.MSE), RMSE: orNaN(w.RMSE), MAE: orNaN(w.MAE), MAPE: orNaN(w.MAPE),
		MDAPE: orNaN(w.MDAPE), SMAPE: orNaN(w.SMAPE), MASE: orNaN(w.MASE), Coverage: orNaN(w.Coverage),
	}
}

// MarshalJSON writes snake_case keys, with null for an undefined (NaN)
// metric.
func (m Metrics) MarshalJSON() ([]byte, error) { return json.Marshal(m.wire()) }

// UnmarshalJSON reads what MarshalJSON writes; null becomes NaN.
func (m *Metrics) UnmarshalJSON(b []byte) error {
	var w metricsJSON
	if err := json.Unmarshal(b, &w); err != nil {
		return fmt.Errorf("metrics: %w", err)
	}
	*m = w.metrics()
	return nil
}

// HorizonMetrics are the metrics of the points up to one horizon, over a
// rolling window (see Options.RollingWindow).
type HorizonMetrics struct {
	// Horizon is the time from the cutoff to the forecast point.
	Horizon time.Duration
	Metrics
}

type horizonJSON struct {
	Horizon        string  `json:"horizon"`
	HorizonSeconds float64 `json:"horizon_seconds"`
	metricsJSON
}

// MarshalJSON writes {"horizon":"1h0m0s","horizon_seconds":3600, and the
// keys of Metrics}.
func (h HorizonMetrics) MarshalJSON() ([]byte, error) {
	return json.Marshal(horizonJSON{Horizon: h.Horizon.String(), HorizonSeconds: h.Horizon.Seconds(), metricsJSON: h.wire()})
}

// UnmarshalJSON reads what MarshalJSON writes.
func (h *HorizonMetrics) UnmarshalJSON(b []byte) error {
	var w horizonJSON
	if err := json.Unmarshal(b, &w); err != nil {
		return fmt.Errorf("horizon metrics: %w", err)
	}
	d, err := time.ParseDuration(w.Horizon)
	if err != nil {
		return fmt.Errorf("horizon metrics: horizon: %w", err)
	}
	*h = HorizonMetrics{Horizon: d, Metrics: w.metricsJSON.metrics()}
	return nil
}

// Point is one forecast point of a cross-validation.
type Point struct {
	// Cutoff is the end of the training window (Unix milliseconds).
	Cutoff int64
	// T is the forecast time (Unix milliseconds), Cutoff < T ≤ Cutoff+horizon.
	T int64
	// Y is the actual value (never NaN: missing actuals are not points).
	Y float64
	// Yhat, Lower and Upper are the forecast; Lower and Upper are NaN when
	// the forecaster gave no interval.
	Yhat, Lower, Upper float64
	// Scale is the MASE scale of the cutoff's training window, NaN when
	// not defined.
	Scale float64
}

// Horizon returns T − Cutoff.
func (p Point) Horizon() time.Duration { return time.Duration(p.T-p.Cutoff) * time.Millisecond }

// pointErrors holds one value per point for each metric.
type pointErrors struct {
	se, ae, ape, sape, ase, covered []float64
	// mapeOK, maseOK, coverageOK say whether the metric is defined.
	mapeOK, maseOK, coverageOK bool
}

func computeErrors(ps []Point) pointErrors {
	n := len(ps)
	pe := pointErrors{
		se: make([]float64, n), ae: make([]float64, n), ape: make([]float64, n),
		sape: make([]float64, n), ase: make([]float64, n), covered: make([]float64, n),
		mapeOK: n > 0, maseOK: n > 0, coverageOK: n > 0,
	}
	for i, p := range ps {
		e := p.Y - p.Yhat
		pe.se[i] = e * e
		pe.ae[i] = math.Abs(e)
		pe.ape[i] = math.Abs(e / p.Y)
		// y = ŷ = 0 gives 0/0, which counts as 0 (upstream's fillna(0)).
		if d := (math.Abs(p.Y) + math.Abs(p.Yhat)) / 2; d != 0 {
			pe.sape[i] = math.Abs(e) / d
		}
		if math.Abs(p.Y) < 1e-8 {
			pe.mapeOK = false
		}
		if math.IsNaN(p.Scale) || math.IsInf(p.Scale, 0) || p.Scale == 0 {
			pe.maseOK = false
		} else {
			pe.ase[i] = math.Abs(e) / p.Scale
		}
		if math.IsNaN(p.Lower) || math.IsNaN(p.Upper) {
			pe.coverageOK = false
		} else if p.Y >= p.Lower && p.Y <= p.Upper {
			pe.covered[i] = 1
		}
	}
	return pe
}

// overall computes the metrics over all points (upstream's
// performance_metrics with rolling_window=1).
func overall(ps []Point) Metrics {
	pe := computeErrors(ps)
	if len(ps) == 0 {
		return undefined()
	}
	m := Metrics{
		MSE:      mean(pe.se),
		MAE:      mean(pe.ae),
		MAPE:     mean(pe.ape),
		MDAPE:    median(pe.ape),
		SMAPE:    mean(pe.sape),
		MASE:     mean(pe.ase),
		Coverage: mean(pe.covered),
	}
	m.RMSE = math.Sqrt(m.MSE)
	pe.mask(&m)
	return m
}

func (pe pointErrors) mask(m *Metrics) {
	if !pe.mapeOK {
		m.MAPE = math.NaN()
	}
	if !pe.maseOK {
		m.MASE = math.NaN()
	}
	if !pe.coverageOK {
		m.Coverage = math.NaN()
	}
}

func undefined() Metrics {
	nan := math.NaN()
	return Metrics{nan, nan, nan, nan, nan, nan, nan, nan}
}

// byHorizon computes the metrics by horizon over rolling windows of w
// points, right-aligned, as upstream's performance_metrics does. ps must be
// sorted by horizon (stably, so that ties keep their cutoff order).
func byHorizon(ps []Point, w int) []HorizonMetrics {
	if len(ps) == 0 {
		return nil
	}
	pe := computeErrors(ps)
	hs := make([]int64, len(ps))
	for i, p := range ps {
		hs[i] = p.T - p.Cutoff
	}
	groups := groupByHorizon(hs)
	mse := rollingMean(pe.se, groups, w)
	mae := rollingMean(pe.ae, groups, w)
	mape := rollingMean(pe.ape, groups, w)
	mdape := rollingMedian(pe.ape, groups, w)
	smape := rollingMean(pe.sape, groups, w)
	mase := rollingMean(pe.ase, groups, w)
	cov := rollingMean(pe.covered, groups, w)
	// Both rolling functions report the horizons whose cumulative count of
	// points reaches w, so the lists are aligned on their right ends.
	out := make([]HorizonMetrics, len(mse))
	off := len(groups) - len(mse)
	for i := range out {
		m := Metrics{
			MSE: mse[i], RMSE: math.Sqrt(mse[i]), MAE: mae[i], MAPE: mape[i],
			MDAPE: mdape[i], SMAPE: smape[i], MASE: mase[i], Coverage: cov[i],
		}
		pe.mask(&m)
		out[i] = HorizonMetrics{Horizon: time.Duration(groups[off+i].h) * time.Millisecond, Metrics: m}
	}
	return out
}

// group is a run of points with one horizon in the sorted point list.
type group struct {
	h          int64 // milliseconds
	start, end int   // points [start, end)
}

func groupByHorizon(hs []int64) []group {
	var gs []group
	for i, h := range hs {
		if len(gs) == 0 || gs[len(gs)-1].h != h {
			gs = append(gs, group{h: h, start: i, end: i})
		}
		gs[len(gs)-1].end = i + 1
	}
	return gs
}

// rollingMean returns, for each horizon from the first whose window can be
// filled to the last, the mean of w values: all values of that horizon and
// of the horizons before it back to the one that fills the window, whose
// values count only by the fraction needed (weighted by that horizon's
// mean). This is upstream's rolling_mean_by_h.
func rollingMean(x []float64, gs []group, w int) []float64 {
	sums := make([]float64, len(gs))
	for i, g := range gs {
		for _, v := range x[g.start:g.end] {
			sums[i] += v
		}
	}
	res := make([]float64, len(gs))
	trailing := len(gs) - 1
	sum, n := 0.0, 0
	for i := len(gs) - 1; i >= 0; i-- {
		cnt := gs[i].end - gs[i].start
		sum += sums[i]
		n += cnt
		for n >= w {
			excess := float64(n-w) * sums[i] / float64(cnt)
			res[trailing] = (sum - excess) / float64(w)
			sum -= sums[trailing]
			n -= gs[trailing].end - gs[trailing].start
			trailing--
		}
	}
	return res[trailing+1:]
}

// rollingMedian is the median counterpart of rollingMean (upstream's
// rolling_median_by_h): for each horizon, the median of its values plus,
// when they are fewer than w, the values just before it in the sorted
// point list until there are w. Horizons that cannot reach w are left out.
func rollingMedian(x []float64, gs []group, w int) []float64 {
	var res []float64
	for i := len(gs) - 1; i >= 0; i-- {
		g := gs[i]
		xs := slices.Clone(x[g.start:g.end])
		for j := g.start - 1; len(xs) < w && j >= 0; j-- {
			xs = append(xs, x[j])
		}
		if len(xs) < w {
			break
		}
		res = append(res, median(xs))
	}
	slices.Reverse(res)
	return res
}

func mean(xs []float64) float64 {
	s := 0.0
	for _, x := range xs {
		s += x
	}
	return s / float64(len(xs))
}

// median returns the median of xs (the mean of the two middle values for
// an even count), without modifying xs.
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	s := slices.Clone(xs)
	slices.SortFunc(s, func(a, b float64) int {
		// NaN sorts last, as numpy does; a NaN median is NaN.
		switch {
		case math.IsNaN(a):
			if math.IsNaN(b) {
				return 0
			}
			return 1
		case math.IsNaN(b):
			return -1
		}
		return cmpFloat(a, b)
	})
	n := len(s)
	if math.IsNaN(s[n-1]) {
		return math.NaN()
	}
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
