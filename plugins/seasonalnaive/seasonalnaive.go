// Package seasonalnaive is the baseline forecaster: the forecast for a time t
// is the value observed one season earlier.
//
// # Method
//
// For a requested time t the plugin looks at t − k·season for k = 1, 2, …
// and returns the first value that lands on observed history, starting at
// the smallest k whose time is not after the end of training. A missing
// value (NaN, or no row near that time) makes it walk back one more season.
// Times that are not on the training grid are matched to the nearest grid
// step, so predictions may be asked for at any time.
//
// The season is a duration such as "1d" or "7d" (declared as a string
// parameter, because it also accepts "auto"). "auto" (the default) picks 7 days when
// the observed history spans at least 14 days, 1 day when it spans at least
// one day, and otherwise one sampling step, which makes the method the plain
// naive (last value) forecast so that short series still get one. The step
// is the most common gap between consecutive timestamps.
//
// # Intervals
//
// Training collects the one-season errors e_t = y_t − y_{t−season} over the
// whole history and keeps their empirical quantiles at (1 − w)/2 and
// (1 + w)/2, w being interval_width. A forecast that reaches k seasons back
// adds k one-season errors, so (as is standard for seasonal naive, e.g.
// Hyndman & Athanasopoulos, "Forecasting: Principles and Practice", §5.5)
// its bounds are yhat + q·√k when widen_intervals is true, and yhat + q
// otherwise. The quantiles are clamped so that lower ≤ 0 ≤ upper: a
// forecast always lies inside its own interval.
//
// # Model
//
// The model holds only what predict needs: the season and step, the error
// quantiles and the last two seasons of history on the training grid; see
// model.go for the binary layout. Nothing is random, so the seed is
// ignored and results are identical natively and in WebAssembly.
package seasonalnaive

import (
	"math"
	"slices"
	"time"

	"github.com/ppa-autoscaler/ppa/abi"
	"github.com/ppa-autoscaler/ppa/plugins/internal/series"
)

// Name and Version identify the plugin in its Description.
const (
	Name    = "seasonal-naive"
	Version = "1.0.0"
)

// Parameter names.
const (
	ParamSeason         = "season"
	ParamIntervalWidth  = "interval_width"
	ParamMinSeasons     = "min_seasons"
	ParamWidenIntervals = "widen_intervals"
)

// Defaults of the parameters.
const (
	DefaultSeason        = "auto"
	DefaultIntervalWidth = 0.8
	DefaultMinSeasons    = 1
)

const (
	week = 7 * 24 * time.Hour
	day  = 24 * time.Hour
	// keptSeasons is how many seasons of history the model stores, so that
	// predict can walk back over a gap in the last season.
	keptSeasons = 2
	// maxSeasonSteps bounds the stored history (and so the model size).
	maxSeasonSteps = 1 << 20
)

// Plugin implements sdk.Plugin. The zero value is ready to use.
type Plugin struct{}

// New returns the seasonal-naive plugin.
func New() *Plugin { return &Plugin{} }

// Describe returns the plugin's self-description.
func (*Plugin) Describe() abi.Description {
	return abi.Description{
		Name:        Name,
		Version:     Version,
		Description: "Value one season earlier, walking back over gaps; intervals from the empirical distribution of past seasonal errors.",
		Parameters: []abi.Parameter{
			{Name: ParamSeason, Type: abi.ParamString, Default: DefaultSeason,
				Description: "season length as a duration, e.g. 1d or 7d, or auto; auto = 7d when the history spans at least 14d, 1d when it spans at least 1d, else one step (naive)"},
			{Name: ParamIntervalWidth, Type: abi.ParamFloat, Default: DefaultIntervalWidth,
				Description: "probability mass of the prediction interval, in (0, 1)"},
			{Name: ParamMinSeasons, Type: abi.ParamInt, Default: float64(DefaultMinSeasons),
				Description: "least number of whole seasons the observed history must span"},
			{Name: ParamWidenIntervals, Type: abi.ParamBool, Default: true,
				Description: "widen intervals by sqrt(k) for a forecast k seasons back"},
		},
		Capabilities: abi.Capabilities{Intervals: true, MinPoints: 2},
	}
}

// config holds the parsed parameters of one training.
type config struct {
	season     time.Duration // 0 means auto
	width      float64
	minSeasons int
	widen      bool
}

func parseConfig(d *abi.Description, ps abi.Params) (config, error) {
	if err := ps.Unknown(d); err != nil {
		return config{}, err
	}
	var c config
	raw, err := ps.String(ParamSeason, DefaultSeason)
	if err != nil {
		return c, err
	}
	if raw != DefaultSeason {
		if c.season, err = ps.Duration(ParamSeason, 0); err != nil {
			return c, err
		}
		if c.season <= 0 {
			return c, abi.Errorf(abi.StatusInvalidArgument, "parameter %q: %s is not positive", ParamSeason, raw)
		}
		if c.season%time.Millisecond != 0 {
			return c, abi.Errorf(abi.StatusInvalidArgument, "parameter %q: %s is not a whole number of milliseconds", ParamSeason, raw)
		}
	}
	if c.width, err = ps.Float(ParamIntervalWidth, DefaultIntervalWidth); err != nil {
		return c, err
	}
	if !(c.width > 0 && c.width < 1) {
		return c, abi.Errorf(abi.StatusInvalidArgument, "parameter %q: %v is not in (0, 1)", ParamIntervalWidth, c.width)
	}
	if c.minSeasons, err = ps.Int(ParamMinSeasons, DefaultMinSeasons); err != nil {
		return c, err
	}
	if c.minSeasons < 1 {
		return c, abi.Errorf(abi.StatusInvalidArgument, "parameter %q: %d is less than 1", ParamMinSeasons, c.minSeasons)
	}
	if c.widen, err = ps.Bool(ParamWidenIntervals, true); err != nil {
		return c, err
	}
	return c, nil
}

// Train fits the model: it picks the season, computes the quantiles of the
// one-season errors and keeps the last seasons of history.
func (p *Plugin) Train(req *abi.TrainRequest) (*abi.TrainResponse, error) {
	desc := p.Describe()
	cfg, err := parseConfig(&desc, req.Params)
	if err != nil {
		return nil, err
	}
	if len(req.Columns) > 0 {
		return nil, abi.Errorf(abi.StatusUnsupported, "column %q: %s uses no extra columns", req.Columns[0].Name, Name)
	}
	ts, ys := req.Timestamps, req.Values
	if _, err := series.Check(ts, ys); err != nil {
		return nil, err
	}
	// Only observed points count; missing rows carry no information.
	obsT := make([]int64, 0, len(ts))
	obsY := make([]float64, 0, len(ys))
	for i, y := range ys {
		if !math.IsNaN(y) {
			obsT = append(obsT, ts[i])
			obsY = append(obsY, y)
		}
	}
	if min := desc.Capabilities.MinPoints; len(obsT) < min {
		return nil, abi.Errorf(abi.StatusInsufficientData, "%d observed points, need at least %d", len(obsT), min)
	}
	step := series.MostCommonGap(ts)
	span := obsT[len(obsT)-1] - obsT[0]
	season := cfg.season.Milliseconds()
	if cfg.season == 0 {
		season = autoSeason(span, step)
	}
	if season < step {
		return nil, abi.Errorf(abi.StatusInvalidArgument, "parameter %q: %s is shorter than the sampling step %s", ParamSeason, series.FormatMillis(season), series.FormatMillis(step))
	}
	if season/step > maxSeasonSteps {
		return nil, abi.Errorf(abi.StatusInvalidArgument, "parameter %q: %s is %d steps of %s; at most %d steps are supported", ParamSeason, series.FormatMillis(season), season/step, series.FormatMillis(step), maxSeasonSteps)
	}
	if need := int64(cfg.minSeasons) * season; span < need-step/2 {
		return nil, abi.Errorf(abi.StatusInsufficientData, "observed history spans %s; season %s with %s=%d needs at least %s",
			series.FormatMillis(span), series.FormatMillis(season), ParamMinSeasons, cfg.minSeasons, series.FormatMillis(need))
	}

	errs := seasonalErrors(obsT, obsY, season, step)
	if len(errs) == 0 {
		return nil, abi.Errorf(abi.StatusInsufficientData, "no pair of observed points one season (%s) apart", series.FormatMillis(season))
	}
	slices.Sort(errs)
	qLo := min(series.Quantile(errs, (1-cfg.width)/2), 0)
	qHi := max(series.Quantile(errs, (1+cfg.width)/2), 0)

	m := &model{
		season: season,
		step:   step,
		end:    obsT[len(obsT)-1],
		qLo:    qLo,
		qHi:    qHi,
		widen:  cfg.widen,
		last:   obsY[len(obsY)-1],
		values: lastSeasons(obsT, obsY, season, step),
	}
	return &abi.TrainResponse{
		Model: m.marshal(),
		Info: map[string]any{
			"season":          series.FormatMillis(season),
			"step":            series.FormatMillis(step),
			"seasonal_errors": len(errs),
			"error_lower":     qLo,
			"error_upper":     qHi,
			"interval_width":  cfg.width,
			"observed_points": len(obsT),
		},
	}, nil
}

// Predict returns, for every requested time, the value one (or more)
// seasons earlier and its interval.
func (*Plugin) Predict(req *abi.PredictRequest) (*abi.PredictResponse, error) {
	m, err := unmarshalModel(req.Model)
	if err != nil {
		return nil, err
	}
	if len(req.Columns) > 0 {
		return nil, abi.Errorf(abi.StatusUnsupported, "column %q: %s uses no extra columns", req.Columns[0].Name, Name)
	}
	n := len(req.Timestamps)
	out := &abi.PredictResponse{
		Yhat:  make([]float64, n),
		Lower: make([]float64, n),
		Upper: make([]float64, n),
	}
	for i, t := range req.Timestamps {
		if t > series.MaxAbsTime || t < -series.MaxAbsTime {
			return nil, abi.Errorf(abi.StatusInvalidArgument, "timestamps[%d]: %d ms is out of range", i, t)
		}
		y, k := m.lookup(t)
		scale := 1.0
		if m.widen {
			scale = math.Sqrt(float64(k))
		}
		out.Yhat[i] = y
		out.Lower[i] = y + m.qLo*scale
		out.Upper[i] = y + m.qHi*scale
	}
	return out, nil
}

// autoSeason implements season=auto: a week when the history holds two of
// them, a day when it holds one, else one step; never less than one step.
func autoSeason(span, step int64) int64 {
	var s int64
	switch {
	case span >= 2*week.Milliseconds():
		s = week.Milliseconds()
	case span >= day.Milliseconds():
		s = day.Milliseconds()
	}
	return max(s, step)
}

// nearest returns the index of the timestamp in ts (ascending) within half
// a step of t, or -1. On a tie the earlier one wins.
func nearest(ts []int64, t, step int64) int {
	i, _ := slices.BinarySearch(ts, t)
	best, bestD := -1, int64(math.MaxInt64)
	for _, j := range []int{i - 1, i} {
		if j < 0 || j >= len(ts) {
			continue
		}
		d := ts[j] - t
		if d < 0 {
			d = -d
		}
		if d < bestD {
			best, bestD = j, d
		}
	}
	if best < 0 || 2*bestD > step {
		return -1
	}
	return best
}

// seasonalErrors returns y_t − y_{t−season} for every observed t whose
// predecessor one season earlier was observed (within half a step).
func seasonalErrors(ts []int64, ys []float64, season, step int64) []float64 {
	var out []float64
	for i, t := range ts {
		if t-season < ts[0]-step/2 {
			continue
		}
		if j := nearest(ts[:i], t-season, step); j >= 0 {
			out = append(out, ys[i]-ys[j])
		}
	}
	return out
}

// lastSeasons lays the last keptSeasons seasons of observed history onto
// the grid that ends at the last observation, NaN where nothing was
// observed. The result has at most ⌈keptSeasons·season/step⌉+1 values.
func lastSeasons(ts []int64, ys []float64, season, step int64) []float64 {
	end := ts[len(ts)-1]
	cells := (keptSeasons*season+step-1)/step + 1
	if first := series.RoundDiv(ts[0]-end, step); -first+1 < cells {
		cells = -first + 1
	}
	vals := make([]float64, cells)
	for i := range vals {
		vals[i] = math.NaN()
	}
	for i := len(ts) - 1; i >= 0; i-- {
		idx := cells - 1 + series.RoundDiv(ts[i]-end, step)
		if idx < 0 {
			break
		}
		// Walking backwards, the first point to claim a cell is the latest.
		if math.IsNaN(vals[idx]) {
			vals[idx] = ys[i]
		}
	}
	return vals
}
