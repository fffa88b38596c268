// Package seasonalprofile is a forecaster built for the short lead an
// autoscaler needs: the workload's average daily shape, with a level per
// day of the week, smoothed by an amount learned from the history.
//
// # Method
//
// The history is laid on its grid (the most common step, which must divide
// the season). For every phase p of the season (by default one day:
// 1,440 phases at one minute) the profile is the mean of the observed
// values at p over all seasons of the history. When the history spans at
// least a week (weekly=auto) every day of the week also gets an additive
// offset: the mean, over that weekday's observations, of the value minus
// the profile. The forecast for a time t is
//
//	yhat(t) = smooth_w(profile)(phase(t)) + offset(weekday(t))
//
// where smooth_w is a centred moving average of w phases (circular). The
// width w is not a constant: it is chosen among 1, 3, 5, 9, 15, 31, 61 and
// 121 phases (at most a quarter of the season) by leave-one-season-out
// cross-validation on the history itself: each season is predicted by the
// profile of the other seasons, and the width with the least squared error
// wins. Noisy workloads thus get a smooth shape, regular ones a sharp one.
//
// Phases are taken on the UTC clock (t modulo the season since the Unix
// epoch), so a model predicts any time, before or after its training. A
// phase the history never observed (it is shorter than a season, or has a
// gap at the same time every season) takes the mean of the observed values.
//
// What this plugin does not model is the short-term deviation from the
// shape (today busier than usual): that is the job of the host's anchoring,
// whose gain and half-life the policy search fits to the residuals of this
// forecast (host/policy).
//
// # Intervals
//
// lower and upper are yhat plus the empirical (1 − w)/2 and (1 + w)/2
// quantiles of the in-sample residuals, w being interval_width; they are
// clamped so that the interval contains yhat.
//
// Nothing is random: the seed is ignored, and native and WebAssembly
// results are identical.
package seasonalprofile

import (
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/ppa-autoscaler/ppa/abi"
	"github.com/ppa-autoscaler/ppa/plugins/internal/series"
)

// Name and Version identify the plugin in its Description.
const (
	Name    = "seasonal-profile"
	Version = "1.0.0"
)

// Parameter names.
const (
	ParamSeason        = "season"
	ParamWeekly        = "weekly"
	ParamSmoothing     = "smoothing"
	ParamIntervalWidth = "interval_width"
)

// Defaults of the parameters.
const (
	DefaultSeason        = 24 * time.Hour
	DefaultWeekly        = "auto"
	DefaultSmoothing     = "auto"
	DefaultIntervalWidth = 0.8
)

const (
	day  = 24 * time.Hour
	week = 7 * day
	// maxPhases bounds the season in steps (and so the model size).
	maxPhases = 1 << 20
	// maxGrid bounds the history laid on the grid.
	maxGrid = 1 << 24
)

// widths are the smoothing widths cross-validation chooses from, in phases.
var widths = []int{1, 3, 5, 9, 15, 31, 61, 121}

// Plugin implements sdk.Plugin. The zero value is ready to use.
type Plugin struct{}

// New returns the seasonal-profile plugin.
func New() *Plugin { return &Plugin{} }

// Describe returns the plugin's self-description.
func (*Plugin) Describe() abi.Description {
	return abi.Description{
		Name:    Name,
		Version: Version,
		Description: "Mean daily shape with a level per weekday, smoothed by a width chosen by leave-one-day-out cross-validation; " +
			"intervals from in-sample residual quantiles. Built for short leads, with the host's learned anchoring.",
		Parameters: []abi.Parameter{
			{Name: ParamSeason, Type: abi.ParamDuration, Default: "1d",
				Description: "season of the profile; the sampling step must divide it"},
			{Name: ParamWeekly, Type: abi.ParamString, Default: DefaultWeekly,
				Description: "add a level per day of the week: true, false, or auto (when the history spans a week)"},
			{Name: ParamSmoothing, Type: abi.ParamString, Default: DefaultSmoothing,
				Description: "moving-average width in steps (odd), or auto (leave-one-season-out cross-validation)"},
			{Name: ParamIntervalWidth, Type: abi.ParamFloat, Default: DefaultIntervalWidth,
				Description: "probability mass of the prediction interval, in (0, 1)"},
		},
		Capabilities: abi.Capabilities{Intervals: true, MinPoints: 2},
	}
}

type config struct {
	season time.Duration
	weekly string // "auto", "true", "false"
	width  int    // 0 = auto
	iw     float64
}

func parseConfig(d *abi.Description, ps abi.Params) (config, error) {
	var c config
	if err := ps.Unknown(d); err != nil {
		return c, err
	}
	var err error
	if c.season, err = ps.Duration(ParamSeason, DefaultSeason); err != nil {
		return c, err
	}
	if c.season <= 0 || c.season%time.Millisecond != 0 {
		return c, abi.Errorf(abi.StatusInvalidArgument, "parameter %q: %s is not a positive whole number of milliseconds", ParamSeason, c.season)
	}
	if c.weekly, err = ps.String(ParamWeekly, DefaultWeekly); err != nil {
		return c, err
	}
	switch c.weekly {
	case "auto", "true", "false":
	default:
		return c, abi.Errorf(abi.StatusInvalidArgument, "parameter %q: %q is not true, false or auto", ParamWeekly, c.weekly)
	}
	raw, err := ps.String(ParamSmoothing, DefaultSmoothing)
	if err != nil {
		return c, err
	}
	if raw != "auto" {
		if _, err := fmt.Sscanf(raw, "%d", &c.width); err != nil || fmt.Sprint(c.width) != raw || c.width < 1 || c.width%2 == 0 {
			return c, abi.Errorf(abi.StatusInvalidArgument, "parameter %q: %q is not auto or an odd number of steps ≥ 1", ParamSmoothing, raw)
		}
	}
	if c.iw, err = ps.Float(ParamIntervalWidth, DefaultIntervalWidth); err != nil {
		return c, err
	}
	if !(c.iw > 0 && c.iw < 1) {
		return c, abi.Errorf(abi.StatusInvalidArgument, "parameter %q: %v is not in (0, 1)", ParamIntervalWidth, c.iw)
	}
	return c, nil
}

// Train fits the profile, the weekday offsets, the smoothing width and the
// residual quantiles.
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
	observed, err := series.Check(ts, ys)
	if err != nil {
		return nil, err
	}
	if observed < desc.Capabilities.MinPoints {
		return nil, abi.Errorf(abi.StatusInsufficientData, "%d observed points, need at least %d", observed, desc.Capabilities.MinPoints)
	}
	step := series.MostCommonGap(ts)
	season := cfg.season.Milliseconds()
	if step <= 0 || season%step != 0 {
		return nil, abi.Errorf(abi.StatusInvalidArgument, "parameter %q: the sampling step %s does not divide the season %s", ParamSeason, series.FormatMillis(step), series.FormatMillis(season))
	}
	phases := season / step
	if phases > maxPhases {
		return nil, abi.Errorf(abi.StatusInvalidArgument, "parameter %q: %s is %d steps of %s; at most %d steps are supported", ParamSeason, series.FormatMillis(season), phases, series.FormatMillis(step), maxPhases)
	}
	// Lay the history on the grid aligned with the epoch.
	first := series.FloorDiv(ts[0], step) * step
	span := (ts[len(ts)-1]-first)/step + 1
	if span > maxGrid {
		return nil, abi.Errorf(abi.StatusInvalidArgument, "the history spans %d steps of %s, more than %d", span, series.FormatMillis(step), maxGrid)
	}
	g := make([]float64, span)
	for i := range g {
		g[i] = math.NaN()
	}
	for i, t := range ts {
		if !math.IsNaN(ys[i]) {
			g[series.RoundDiv(t-first, step)] = ys[i]
		}
	}
	// Whole seasons observed: the profile needs every phase seen once.
	h := history{g: g, first: first, step: step, phases: int(phases)}
	sum, cnt := h.sums()
	// A phase never observed (a history shorter than a season, or a gap at
	// the same time every day) takes the mean of the observed values.
	var total float64
	var n, unseen int
	for ph := range cnt {
		total += sum[ph]
		n += cnt[ph]
	}
	for ph, c := range cnt {
		if c == 0 {
			sum[ph], cnt[ph] = total/float64(n), 1
			unseen++
		}
	}
	weekly := cfg.weekly == "true" || cfg.weekly == "auto" && (ts[len(ts)-1]-ts[0]) >= week.Milliseconds()-step && week.Milliseconds()%season == 0
	width := cfg.width
	cvErr := math.NaN()
	if width == 0 {
		width, cvErr = h.chooseWidth(sum, cnt)
	}
	width = min(width, 2*(int(phases)/2)+1)
	profile := smooth(meanProfile(sum, cnt), width)
	var offsets [7]float64
	if weekly {
		offsets = h.weekdayOffsets(profile)
	}
	m := &model{step: step, season: season, weekly: weekly, offsets: offsets, profile: profile}
	var res []float64
	for i, y := range g {
		if !math.IsNaN(y) {
			res = append(res, y-m.at(first+int64(i)*step))
		}
	}
	slices.Sort(res)
	m.qLo = min(series.Quantile(res, (1-cfg.iw)/2), 0)
	m.qHi = max(series.Quantile(res, (1+cfg.iw)/2), 0)
	info := map[string]any{
		"season":          series.FormatMillis(season),
		"step":            series.FormatMillis(step),
		"smoothing_steps": width,
		"weekly":          weekly,
		"error_lower":     m.qLo,
		"error_upper":     m.qHi,
		"observed_points": observed,
	}
	if !math.IsNaN(cvErr) {
		info["cv_rmse"] = cvErr
	}
	if unseen > 0 {
		info["unobserved_phases"] = unseen
	}
	if weekly {
		info["weekday_offsets"] = offsets[:]
	}
	return &abi.TrainResponse{Model: m.marshal(), Info: info}, nil
}

// Predict evaluates the profile at every requested time.
func (*Plugin) Predict(req *abi.PredictRequest) (*abi.PredictResponse, error) {
	m, err := unmarshalModel(req.Model)
	if err != nil {
		return nil, err
	}
	if len(req.Columns) > 0 {
		return nil, abi.Errorf(abi.StatusUnsupported, "column %q: %s uses no extra columns", req.Columns[0].Name, Name)
	}
	n := len(req.Timestamps)
	out := &abi.PredictResponse{Yhat: make([]float64, n), Lower: make([]float64, n), Upper: make([]float64, n)}
	for i, t := range req.Timestamps {
		if t > series.MaxAbsTime || t < -series.MaxAbsTime {
			return nil, abi.Errorf(abi.StatusInvalidArgument, "timestamps[%d]: %d ms is out of range", i, t)
		}
		y := m.at(t)
		out.Yhat[i], out.Lower[i], out.Upper[i] = y, y+m.qLo, y+m.qHi
	}
	return out, nil
}

// history is the training series on its epoch-aligned grid.
type history struct {
	g      []float64
	first  int64 // time of g[0], Unix ms, a multiple of step
	step   int64
	phases int
}

func (h *history) phase(i int) int {
	return int(series.FloorMod(h.first/h.step+int64(i), int64(h.phases)))
}

// sums returns the per-phase sum and count of the observed values.
func (h *history) sums() ([]float64, []int) {
	sum, cnt := make([]float64, h.phases), make([]int, h.phases)
	for i, y := range h.g {
		if !math.IsNaN(y) {
			p := h.phase(i)
			sum[p] += y
			cnt[p]++
		}
	}
	return sum, cnt
}

// chooseWidth returns the smoothing width with the least leave-one-season-
// out squared error, and that error as an RMSE. Each season (run of phases
// from phase 0) is predicted by the smoothed mean profile of the others; a
// phase seen only in the season left out is skipped.
func (h *history) chooseWidth(sum []float64, cnt []int) (int, float64) {
	best, bestErr := 1, math.Inf(1)
	start := -h.phase(0) // index of the first season's phase 0 (may be < 0)
	loo := make([]float64, h.phases)
	type season struct{ from, to int }
	var seasons []season
	for s := start; s < len(h.g); s += h.phases {
		seasons = append(seasons, season{max(s, 0), min(s+h.phases, len(h.g))})
	}
	if len(seasons) < 2 {
		return 1, math.NaN()
	}
	for _, w := range widths {
		if w > h.phases/4 && w > 1 {
			break
		}
		var sse float64
		var n int
		for _, s := range seasons {
			ok := true
			copy(loo, sum)
			c := slices.Clone(cnt)
			for i := s.from; i < s.to; i++ {
				if y := h.g[i]; !math.IsNaN(y) {
					p := h.phase(i)
					loo[p] -= y
					c[p]--
				}
			}
			for p := range loo {
				if c[p] == 0 {
					ok = false
					break
				}
				loo[p] /= float64(c[p])
			}
			if !ok {
				continue
			}
			sm := smooth(loo, w)
			for i := s.from; i < s.to; i++ {
				if y := h.g[i]; !math.IsNaN(y) {
					d := y - sm[h.phase(i)]
					sse += d * d
					n++
				}
			}
		}
		if n == 0 {
			continue
		}
		if e := sse / float64(n); e < bestErr {
			best, bestErr = w, e
		}
	}
	if math.IsInf(bestErr, 1) {
		return 1, math.NaN()
	}
	return best, math.Sqrt(bestErr)
}

// weekdayOffsets returns the mean residual from profile per UTC weekday
// (0 = Thursday 1970-01-01 … as counted from the epoch; see model.at).
func (h *history) weekdayOffsets(profile []float64) [7]float64 {
	var sum [7]float64
	var cnt [7]int
	for i, y := range h.g {
		if math.IsNaN(y) {
			continue
		}
		t := h.first + int64(i)*h.step
		d := weekday(t)
		sum[d] += y - profile[h.phase(i)]
		cnt[d]++
	}
	var out [7]float64
	for d := range out {
		if cnt[d] > 0 {
			out[d] = sum[d] / float64(cnt[d])
		}
	}
	return out
}

func meanProfile(sum []float64, cnt []int) []float64 {
	out := make([]float64, len(sum))
	for p := range out {
		out[p] = sum[p] / float64(cnt[p])
	}
	return out
}

// smooth returns the centred circular moving average of x over w values (w
// odd; at most len(x)).
func smooth(x []float64, w int) []float64 {
	n := len(x)
	if w <= 1 || n == 0 {
		return slices.Clone(x)
	}
	w = min(w, n-(1-n%2))
	half := w / 2
	out := make([]float64, n)
	var acc float64
	for k := -half; k <= half; k++ {
		acc += x[((k%n)+n)%n]
	}
	for p := range n {
		out[p] = acc / float64(w)
		acc += x[(p+half+1)%n] - x[((p-half)%n+n)%n]
	}
	return out
}

// weekday returns the UTC day of the week of t (Unix ms), 0 = Sunday.
func weekday(t int64) int {
	days := series.FloorDiv(t, day.Milliseconds())
	return int(series.FloorMod(days+4, 7)) // 1970-01-01 was a Thursday
}
