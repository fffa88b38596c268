// Package prophet is a pure-Go port of Facebook Prophet (the Python
// package and its Stan model prophet.stan): piecewise linear, logistic or
// flat trend with changepoints, Fourier seasonalities, holidays and extra
// regressors, fitted by maximum a posteriori with ports of Stan's L-BFGS
// and Newton optimisers, and prediction intervals by simulating future
// trend changes and observation noise.
//
// The aim is the same numbers as upstream for the same inputs; see
// /work/shared/docs/prophet-reference.md (in this repository's shared
// docs) for the facts that decide them. All transcendental functions of
// the numeric core come from package purem so that native and WebAssembly
// builds give bit-identical results.
//
// Differences from upstream worth knowing:
//
//   - Prediction intervals are simulated with math/rand/v2's PCG seeded by
//     the request seed (second word 0x70726f70686574, "prophet"), normals by
//     Box–Muller and Laplace draws by inverse CDF, so bounds are
//     reproducible for a seed but are not numpy's stream.
//   - Fitted parameters are rounded to SigFigs significant figures (default
//     8, what CmdStan 2.37 bundled with prophet 1.5 writes; upstream's
//     large-number test passes sig_figs=6) before predicting, as upstream
//     reads them back from CmdStan's CSV output.
//   - mcmc_samples (full Bayesian sampling) and country holidays are not
//     supported.
//
// NewPlugin wraps the package as a forecaster plugin (package sdk).
package prophet

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strconv"

	"github.com/ppa-autoscaler/ppa/abi"
	"github.com/ppa-autoscaler/ppa/plugins/prophet/purem"
)

// Growth, mode, scaling and algorithm names, as upstream spells them.
const (
	GrowthLinear   = "linear"
	GrowthLogistic = "logistic"
	GrowthFlat     = "flat"

	ModeAdditive       = "additive"
	ModeMultiplicative = "multiplicative"

	ScalingAbsMax = "absmax"
	ScalingMinMax = "minmax"

	AlgorithmAuto   = "auto"
	AlgorithmLBFGS  = "lbfgs"
	AlgorithmNewton = "newton"
)

// ModelFormat is the version of the serialized model; Predict rejects
// models of any other format.
const ModelFormat = 1

// newtonRowLimit: upstream uses Newton below this many rows.
const newtonRowLimit = 100

// SeasonalityArg is a yearly/weekly/daily_seasonality setting: "auto", or
// an explicit Fourier order (0 = off).
type SeasonalityArg struct {
	Auto  bool
	Order int
}

// AutoSeasonality is the default "auto" setting.
func AutoSeasonality() SeasonalityArg { return SeasonalityArg{Auto: true} }

// Options are Prophet's constructor arguments plus the fit options.
type Options struct {
	Growth string
	// Changepoints, when not nil, are user-given changepoint times (Unix
	// ms); they replace automatic placement.
	Changepoints          []int64
	NChangepoints         int
	ChangepointRange      float64
	YearlySeasonality     SeasonalityArg
	WeeklySeasonality     SeasonalityArg
	DailySeasonality      SeasonalityArg
	Holidays              []Holiday
	SeasonalityMode       string
	HolidaysMode          string // "" = SeasonalityMode
	SeasonalityPriorScale float64
	HolidaysPriorScale    float64
	ChangepointPriorScale float64
	IntervalWidth         float64
	UncertaintySamples    int
	Scaling               string
	// Seasonalities are custom seasonalities (upstream's add_seasonality),
	// added before the built-in ones. Zero PriorScale or empty Mode take
	// the model-wide defaults.
	Seasonalities []Seasonality
	// Regressors are extra regressors (upstream's add_regressor). Zero
	// PriorScale takes HolidaysPriorScale, empty Mode SeasonalityMode,
	// empty Standardize "auto".
	Regressors []Regressor
	// Cap and Floor are constant capacities for logistic growth, used when
	// the data has no "cap"/"floor" column.
	Cap, Floor *float64
	// Algorithm is "auto" (Newton below 100 rows, else L-BFGS), "lbfgs" or
	// "newton".
	Algorithm string
	// Iter is the optimiser's iteration limit.
	Iter int
	// SigFigs is the number of significant figures the fitted parameters
	// are rounded to before predicting, as CmdStan's CSV output rounds
	// them upstream (CmdStan 2.37, bundled with prophet 1.5, writes 8 by
	// default; upstream's large-number test passes sig_figs=6). 0 or
	// negative keeps full precision.
	SigFigs int
}

// DefaultOptions returns upstream's defaults.
func DefaultOptions() Options {
	return Options{
		Growth:                GrowthLinear,
		NChangepoints:         25,
		ChangepointRange:      0.8,
		YearlySeasonality:     AutoSeasonality(),
		WeeklySeasonality:     AutoSeasonality(),
		DailySeasonality:      AutoSeasonality(),
		SeasonalityMode:       ModeAdditive,
		SeasonalityPriorScale: 10,
		HolidaysPriorScale:    10,
		ChangepointPriorScale: 0.05,
		IntervalWidth:         0.8,
		UncertaintySamples:    1000,
		Scaling:               ScalingAbsMax,
		Algorithm:             AlgorithmAuto,
		Iter:                  10000,
		SigFigs:               8,
	}
}

// Data is a training series: timestamps (Unix ms), values (NaN =
// missing) and extra columns aligned with them ("cap", "floor",
// regressors, seasonality conditions).
type Data struct {
	T       []int64
	Y       []float64
	Columns map[string][]float64
}

// Params are the fitted model parameters (on the scaled data).
type Params struct {
	K        float64   `json:"k"`
	M        float64   `json:"m"`
	Delta    []float64 `json:"delta"`
	SigmaObs float64   `json:"sigma_obs"`
	Beta     []float64 `json:"beta"`
}

// FitInfo describes how the optimisation went.
type FitInfo struct {
	Algorithm   string `json:"algorithm"`
	Iterations  int    `json:"iterations"`
	Termination string `json:"termination"`
	// Fallback is true when L-BFGS failed and Newton took over.
	Fallback bool `json:"fallback,omitempty"`
	// LogProb is the final log density (propto) before rounding.
	LogProb float64 `json:"log_prob"`
}

// Model is a fitted Prophet model. It serializes to JSON.
type Model struct {
	Format             int         `json:"format"`
	Growth             string      `json:"growth"`
	StartMs            int64       `json:"start_ms"`
	TScaleNs           int64       `json:"t_scale_ns"`
	YScale             float64     `json:"y_scale"`
	YMin               float64     `json:"y_min"`
	Scaling            string      `json:"scaling"`
	LogisticFloor      bool        `json:"logistic_floor,omitempty"`
	Cap                *float64    `json:"cap,omitempty"`
	Floor              *float64    `json:"floor,omitempty"`
	ChangepointsT      []float64   `json:"changepoints_t"`
	Features           featureSpec `json:"features"`
	Params             Params      `json:"params"`
	IntervalWidth      float64     `json:"interval_width"`
	UncertaintySamples int         `json:"uncertainty_samples"`
	// HistoryMeanDiff is the mean step of the history's t, used for the
	// trend simulation when fewer than two future rows are predicted.
	HistoryMeanDiff float64 `json:"history_mean_diff"`
	HistoryRows     int     `json:"history_rows"`
	Fit             FitInfo `json:"fit"`
}

func invalid(format string, args ...any) error {
	return abi.Errorf(abi.StatusInvalidArgument, format, args...)
}

func (o *Options) validate() error {
	switch o.Growth {
	case GrowthLinear, GrowthLogistic, GrowthFlat:
	default:
		return invalid("parameter %q: %q is not one of linear, logistic, flat", "growth", o.Growth)
	}
	if o.ChangepointRange < 0 || o.ChangepointRange > 1 || math.IsNaN(o.ChangepointRange) {
		return invalid("parameter %q: %v is not in [0, 1]", "changepoint_range", o.ChangepointRange)
	}
	if o.NChangepoints < 0 {
		return invalid("parameter %q: %d is negative", "n_changepoints", o.NChangepoints)
	}
	for _, m := range []struct{ name, v string }{{"seasonality_mode", o.SeasonalityMode}, {"holidays_mode", o.holidaysMode()}} {
		if m.v != ModeAdditive && m.v != ModeMultiplicative {
			return invalid("parameter %q: %q is not one of additive, multiplicative", m.name, m.v)
		}
	}
	for _, p := range []struct {
		name string
		v    float64
	}{{"seasonality_prior_scale", o.SeasonalityPriorScale}, {"holidays_prior_scale", o.HolidaysPriorScale}, {"changepoint_prior_scale", o.ChangepointPriorScale}} {
		if !(p.v > 0) || math.IsInf(p.v, 0) {
			return invalid("parameter %q: %v must be a positive number", p.name, p.v)
		}
	}
	if !(o.IntervalWidth > 0 && o.IntervalWidth < 1) {
		return invalid("parameter %q: %v is not in (0, 1)", "interval_width", o.IntervalWidth)
	}
	if o.UncertaintySamples < 0 {
		return invalid("parameter %q: %d is negative", "uncertainty_samples", o.UncertaintySamples)
	}
	if o.Scaling != ScalingAbsMax && o.Scaling != ScalingMinMax {
		return invalid("parameter %q: %q is not one of absmax, minmax", "scaling", o.Scaling)
	}
	switch o.Algorithm {
	case AlgorithmAuto, AlgorithmLBFGS, AlgorithmNewton:
	default:
		return invalid("parameter %q: %q is not one of auto, lbfgs, newton", "algorithm", o.Algorithm)
	}
	if o.Iter < 1 {
		return invalid("parameter %q: %d must be at least 1", "iter", o.Iter)
	}
	for _, s := range []struct {
		name string
		a    SeasonalityArg
	}{{"yearly_seasonality", o.YearlySeasonality}, {"weekly_seasonality", o.WeeklySeasonality}, {"daily_seasonality", o.DailySeasonality}} {
		if !s.a.Auto && s.a.Order < 0 {
			return invalid("parameter %q: order %d is negative", s.name, s.a.Order)
		}
	}
	return nil
}

func (o *Options) holidaysMode() string {
	if o.HolidaysMode == "" {
		return o.SeasonalityMode
	}
	return o.HolidaysMode
}

// history is the prepared training data.
type history struct {
	ts          []int64
	y, ys, t    []float64
	capS, floor []float64
	cols        map[string][]float64
}

// roundSig reads a value back as CmdStan writes it: sig significant
// figures (%.<sig>g); sig <= 0 keeps v.
func roundSig(v float64, sig int) float64 {
	if sig <= 0 {
		return v
	}
	r, err := strconv.ParseFloat(strconv.FormatFloat(v, 'g', sig, 64), 64)
	if err != nil {
		return v
	}
	return r
}

// column returns the named column of d restricted to keep, or nil.
func column(d Data, name string, keep []int) []float64 {
	c, ok := d.Columns[name]
	if !ok {
		return nil
	}
	out := make([]float64, len(keep))
	for i, k := range keep {
		out[i] = c[k]
	}
	return out
}

// Fit fits a model to d with the options o.
func Fit(o Options, d Data) (*Model, error) {
	m, h, X, err := prepare(&o, d)
	if err != nil {
		return nil, err
	}
	if err := m.optimize(&o, h, X); err != nil {
		return nil, err
	}
	return m, nil
}

// prepare validates the inputs and does everything upstream's preprocess
// does: drop missing rows, sort, scale, choose seasonalities, holidays,
// regressors and changepoints, and build the feature matrix.
func prepare(o *Options, d Data) (m *Model, h *history, X []float64, err error) {
	if err := o.validate(); err != nil {
		return nil, nil, nil, err
	}
	if len(d.Y) != len(d.T) {
		return nil, nil, nil, invalid("values: %d values for %d timestamps", len(d.Y), len(d.T))
	}
	for name, c := range d.Columns {
		if len(c) != len(d.T) {
			return nil, nil, nil, invalid("column %q: %d values for %d timestamps", name, len(c), len(d.T))
		}
	}
	// Drop missing values; sort stably by time.
	var keep []int
	for i, v := range d.Y {
		if math.IsInf(v, 0) {
			return nil, nil, nil, invalid("values: row %d: found infinity", i)
		}
		if !math.IsNaN(v) {
			keep = append(keep, i)
		}
	}
	if len(keep) < 2 {
		return nil, nil, nil, abi.Errorf(abi.StatusInsufficientData, "values: %d non-missing rows, need at least 2", len(keep))
	}
	slices.SortStableFunc(keep, func(a, b int) int { return cmp.Compare(d.T[a], d.T[b]) })
	n := len(keep)
	h = &history{ts: make([]int64, n), y: make([]float64, n), cols: map[string][]float64{}}
	for i, k := range keep {
		h.ts[i] = d.T[k]
		h.y[i] = d.Y[k]
	}
	for name := range d.Columns {
		h.cols[name] = column(d, name, keep)
	}
	if h.ts[n-1] == h.ts[0] {
		return nil, nil, nil, abi.Errorf(abi.StatusInsufficientData, "timestamps: all rows have the same time")
	}

	m = &Model{
		Format:             ModelFormat,
		Growth:             o.Growth,
		Scaling:            o.Scaling,
		IntervalWidth:      o.IntervalWidth,
		UncertaintySamples: o.UncertaintySamples,
		HistoryRows:        n,
	}
	if o.Cap != nil {
		v := *o.Cap
		m.Cap = &v
	}
	if o.Floor != nil {
		v := *o.Floor
		m.Floor = &v
	}
	capCol, err := m.capColumn(h.cols, n)
	if err != nil {
		return nil, nil, nil, err
	}
	floorCol, hasFloor, err := m.floorColumn(h.cols, n)
	if err != nil {
		return nil, nil, nil, err
	}
	m.initializeScales(h.y, capCol, floorCol, hasFloor)
	m.StartMs = h.ts[0]
	m.TScaleNs = (h.ts[n-1] - h.ts[0]) * nsPerMs
	h.floor = m.floors(floorCol, n)
	if o.Growth == GrowthLogistic {
		h.capS = make([]float64, n)
		for i := range capCol {
			if capCol[i] <= h.floor[i] {
				return nil, nil, nil, invalid("cap: row %d: cap %v must be greater than floor %v", i, capCol[i], h.floor[i])
			}
			h.capS[i] = (capCol[i] - h.floor[i]) / m.YScale
		}
	}
	h.t = scaledTime(h.ts, m.StartMs, m.TScaleNs)
	h.ys = make([]float64, n)
	for i := range h.y {
		h.ys[i] = (h.y[i] - h.floor[i]) / m.YScale
	}
	diffSum := 0.0
	for i := 1; i < n; i++ {
		diffSum += h.t[i] - h.t[i-1]
	}
	m.HistoryMeanDiff = diffSum / float64(n-1)

	if err := m.setFeatures(o, h); err != nil {
		return nil, nil, nil, err
	}
	X, err = m.Features.matrix(h.ts, h.cols)
	if err != nil {
		return nil, nil, nil, invalid("%v", err)
	}
	if err := m.setChangepoints(o, h); err != nil {
		return nil, nil, nil, err
	}
	return m, h, X, nil
}

func (m *Model) capColumn(cols map[string][]float64, n int) ([]float64, error) {
	if m.Growth != GrowthLogistic {
		return nil, nil
	}
	if c, ok := cols["cap"]; ok {
		for i, v := range c {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return nil, invalid("cap: row %d: %v is not a finite number", i, v)
			}
		}
		return c, nil
	}
	if m.Cap == nil {
		return nil, invalid("parameter %q: logistic growth needs a capacity (parameter cap or column \"cap\")", "cap")
	}
	c := make([]float64, n)
	for i := range c {
		c[i] = *m.Cap
	}
	return c, nil
}

// floorColumn returns the user floor for logistic growth, if any.
func (m *Model) floorColumn(cols map[string][]float64, n int) ([]float64, bool, error) {
	if m.Growth != GrowthLogistic {
		return nil, false, nil
	}
	if c, ok := cols["floor"]; ok {
		for i, v := range c {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return nil, false, invalid("floor: row %d: %v is not a finite number", i, v)
			}
		}
		return c, true, nil
	}
	if m.Floor == nil {
		return nil, false, nil
	}
	c := make([]float64, n)
	for i := range c {
		c[i] = *m.Floor
	}
	return c, true, nil
}

// initializeScales is upstream's initialize_scales.
func (m *Model) initializeScales(y, capCol, floorCol []float64, hasFloor bool) {
	if hasFloor {
		m.LogisticFloor = true
		switch m.Scaling {
		case ScalingAbsMax:
			mn, mx := math.Inf(1), 0.0
			for i := range y {
				a := math.Abs(y[i] - floorCol[i])
				mn = math.Min(mn, a)
				mx = math.Max(mx, a)
			}
			m.YMin, m.YScale = mn, mx
		case ScalingMinMax:
			m.YMin = slices.Min(floorCol)
			m.YScale = slices.Max(capCol) - m.YMin
		}
	} else {
		switch m.Scaling {
		case ScalingAbsMax:
			mx := 0.0
			for _, v := range y {
				mx = math.Max(mx, math.Abs(v))
			}
			m.YMin, m.YScale = 0, mx
		case ScalingMinMax:
			m.YMin = slices.Min(y)
			m.YScale = slices.Max(y) - m.YMin
		}
	}
	if m.YScale == 0 {
		m.YScale = 1
	}
}

// floors returns the floor of each row.
func (m *Model) floors(floorCol []float64, n int) []float64 {
	if m.LogisticFloor {
		return floorCol
	}
	f := make([]float64, n)
	if m.Scaling == ScalingMinMax {
		for i := range f {
			f[i] = m.YMin
		}
	}
	return f
}

// setFeatures decides the seasonalities (custom, then automatic yearly,
// weekly, daily), the holiday columns and the regressors.
func (m *Model) setFeatures(o *Options, h *history) error {
	var seas []Seasonality
	for i, s := range o.Seasonalities {
		if s.Name != "yearly" && s.Name != "weekly" && s.Name != "daily" {
			if err := validName(s.Name); err != nil {
				return invalid("parameter %q: [%d]: %v", "seasonalities", i, err)
			}
		}
		if !(s.Period > 0) || math.IsInf(s.Period, 0) {
			return invalid("parameter %q: [%d] %q: period must be > 0", "seasonalities", i, s.Name)
		}
		if s.FourierOrder <= 0 {
			return invalid("parameter %q: [%d] %q: fourier_order must be > 0", "seasonalities", i, s.Name)
		}
		if s.PriorScale == 0 {
			s.PriorScale = o.SeasonalityPriorScale
		}
		if !(s.PriorScale > 0) {
			return invalid("parameter %q: [%d] %q: prior_scale must be > 0", "seasonalities", i, s.Name)
		}
		if s.Mode == "" {
			s.Mode = o.SeasonalityMode
		}
		if s.Mode != ModeAdditive && s.Mode != ModeMultiplicative {
			return invalid("parameter %q: [%d] %q: mode %q is not additive or multiplicative", "seasonalities", i, s.Name, s.Mode)
		}
		if s.ConditionName != "" {
			if _, ok := h.cols[s.ConditionName]; !ok {
				return invalid("parameter %q: [%d] %q: condition column %q is missing", "seasonalities", i, s.Name, s.ConditionName)
			}
		}
		replaced := false
		for j := range seas {
			if seas[j].Name == s.Name {
				seas[j] = s
				replaced = true
			}
		}
		if !replaced {
			seas = append(seas, s)
		}
	}
	n := len(h.ts)
	span := h.ts[n-1] - h.ts[0]
	minDT := int64(math.MaxInt64)
	for i := 1; i < n; i++ {
		if d := h.ts[i] - h.ts[i-1]; d != 0 && d < minDT {
			minDT = d
		}
	}
	builtin := []struct {
		name    string
		arg     SeasonalityArg
		disable bool
		order   int
		period  float64
	}{
		{"yearly", o.YearlySeasonality, span < 730*msPerDay, 10, 365.25},
		{"weekly", o.WeeklySeasonality, span < 14*msPerDay || minDT >= 7*msPerDay, 3, 7},
		{"daily", o.DailySeasonality, span < 2*msPerDay || minDT >= msPerDay, 4, 1},
	}
	for _, b := range builtin {
		order := b.arg.Order
		if b.arg.Auto {
			order = 0
			exists := slices.ContainsFunc(seas, func(s Seasonality) bool { return s.Name == b.name })
			if !exists && !b.disable {
				order = b.order
			}
		}
		if order <= 0 {
			continue
		}
		s := Seasonality{Name: b.name, Period: b.period, FourierOrder: order, PriorScale: o.SeasonalityPriorScale, Mode: o.SeasonalityMode}
		if i := slices.IndexFunc(seas, func(x Seasonality) bool { return x.Name == b.name }); i >= 0 {
			seas[i] = s
		} else {
			seas = append(seas, s)
		}
	}
	m.Features.Seasonalities = seas
	m.Features.HolidaysMode = o.holidaysMode()

	for i, hd := range o.Holidays {
		if err := validName(hd.Name); err != nil {
			return invalid("parameter %q: [%d]: %v", "holidays", i, err)
		}
		if hd.LowerWindow > 0 {
			return invalid("parameter %q: [%d] %q: lower_window must be <= 0", "holidays", i, hd.Name)
		}
		if hd.UpperWindow < 0 {
			return invalid("parameter %q: [%d] %q: upper_window must be >= 0", "holidays", i, hd.Name)
		}
	}
	if len(o.Holidays) > 0 {
		cols, names, err := holidayColumns(o.Holidays, o.HolidaysPriorScale)
		if err != nil {
			return invalid("parameter %q: %v", "holidays", err)
		}
		m.Features.Holidays = cols
		m.Features.HolidayNames = names
	}

	seen := map[string]bool{}
	for i, r := range o.Regressors {
		if err := validName(r.Name); err != nil {
			return invalid("parameter %q: [%d]: %v", "regressors", i, err)
		}
		if seen[r.Name] || slices.ContainsFunc(seas, func(s Seasonality) bool { return s.Name == r.Name }) {
			return invalid("parameter %q: [%d]: name %q is already used", "regressors", i, r.Name)
		}
		seen[r.Name] = true
		if r.PriorScale == 0 {
			r.PriorScale = o.HolidaysPriorScale
		}
		if !(r.PriorScale > 0) {
			return invalid("parameter %q: [%d] %q: prior_scale must be > 0", "regressors", i, r.Name)
		}
		if r.Mode == "" {
			r.Mode = o.SeasonalityMode
		}
		if r.Mode != ModeAdditive && r.Mode != ModeMultiplicative {
			return invalid("parameter %q: [%d] %q: mode %q is not additive or multiplicative", "regressors", i, r.Name, r.Mode)
		}
		if r.Standardize == "" {
			r.Standardize = "auto"
		}
		vals, ok := h.cols[r.Name]
		if !ok {
			return invalid("parameter %q: [%d] %q: column %q is missing", "regressors", i, r.Name, r.Name)
		}
		for j, v := range vals {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return invalid("column %q: row %d: %v is not a finite number", r.Name, j, v)
			}
		}
		r.Mu, r.Std = 0, 1
		standardize, err := wantStandardize(r.Standardize, vals)
		if err != nil {
			return invalid("parameter %q: [%d] %q: %v", "regressors", i, r.Name, err)
		}
		if standardize {
			mu := 0.0
			for _, v := range vals {
				mu += v
			}
			mu /= float64(len(vals))
			ss := 0.0
			for _, v := range vals {
				ss += (v - mu) * (v - mu)
			}
			r.Mu = mu
			r.Std = math.Sqrt(ss / float64(len(vals)-1))
		}
		m.Features.Regressors = append(m.Features.Regressors, r)
	}
	return nil
}

// wantStandardize applies upstream's rule: never for fewer than two
// distinct values; "auto" standardizes unless the values are exactly {0, 1}.
func wantStandardize(setting string, vals []float64) (bool, error) {
	distinct := map[float64]bool{}
	for _, v := range vals {
		distinct[v] = true
	}
	var want bool
	switch setting {
	case "auto":
		want = !(len(distinct) == 2 && distinct[0] && distinct[1])
	case "true":
		want = true
	case "false":
		want = false
	default:
		return false, fmt.Errorf("standardize %q is not auto, true or false", setting)
	}
	if len(distinct) < 2 {
		want = false
	}
	return want, nil
}

// setChangepoints is upstream's set_changepoints.
func (m *Model) setChangepoints(o *Options, h *history) error {
	n := len(h.ts)
	var cps []int64
	if o.Changepoints != nil {
		for i, c := range o.Changepoints {
			if c < h.ts[0] || c > h.ts[n-1] {
				return invalid("parameter %q: [%d]: changepoints must fall within training data", "changepoints", i)
			}
		}
		cps = o.Changepoints
	} else {
		hist := int(math.Floor(float64(n) * o.ChangepointRange))
		nc := o.NChangepoints
		if nc+1 > hist {
			nc = hist - 1
		}
		if nc > 0 {
			step := float64(hist-1) / float64(nc)
			for i := 1; i <= nc; i++ {
				idx := int(math.RoundToEven(float64(i) * step))
				if i == nc {
					idx = hist - 1
				}
				cps = append(cps, h.ts[idx])
			}
		}
	}
	if len(cps) == 0 {
		m.ChangepointsT = []float64{0}
		return nil
	}
	m.ChangepointsT = scaledTime(cps, m.StartMs, m.TScaleNs)
	slices.Sort(m.ChangepointsT)
	return nil
}

// initialParams are upstream's growth inits with delta = beta = 0 and
// sigma_obs = 1.
func (m *Model) initialParams(h *history, K int) (Params, error) {
	n := len(h.t)
	p := Params{Delta: make([]float64, len(m.ChangepointsT)), Beta: make([]float64, K), SigmaObs: 1}
	switch m.Growth {
	case GrowthLinear:
		p.K, p.M = linearGrowthInit(h.t, h.ys)
	case GrowthFlat:
		p.K, p.M = flatGrowthInit(h.ys)
	case GrowthLogistic:
		p.K, p.M = logisticGrowthInit(h.t, h.ys, h.capS)
	}
	if math.IsNaN(p.K) || math.IsNaN(p.M) || math.IsInf(p.K, 0) || math.IsInf(p.M, 0) {
		return p, invalid("values: cannot initialise %s growth from rows 0 and %d", m.Growth, n-1)
	}
	return p, nil
}

func linearGrowthInit(t, ys []float64) (k, m float64) {
	n := len(t)
	T := t[n-1] - t[0]
	k = (ys[n-1] - ys[0]) / T
	m = ys[0] - k*t[0]
	return k, m
}

func flatGrowthInit(ys []float64) (k, m float64) {
	s := 0.0
	for _, v := range ys {
		s += v
	}
	return 0, s / float64(len(ys))
}

func logisticGrowthInit(t, ys, capS []float64) (k, m float64) {
	n := len(t)
	T := t[n-1] - t[0]
	c0, c1 := capS[0], capS[n-1]
	y0 := math.Max(0.01*c0, math.Min(0.99*c0, ys[0]))
	y1 := math.Max(0.01*c1, math.Min(0.99*c1, ys[n-1]))
	r0 := c0 / y0
	r1 := c1 / y1
	if math.Abs(r0-r1) <= 0.01 {
		r0 = 1.05 * r0
	}
	l0 := purem.Log(r0 - 1)
	l1 := purem.Log(r1 - 1)
	m = l0 * T / (l0 - l1)
	k = (l0 - l1) / T
	return k, m
}

// optimize runs the MAP fit and stores the parameters as CmdStan reports
// them (6 significant figures).
func (m *Model) optimize(o *Options, h *history, X []float64) error {
	K := m.Features.columns()
	init, err := m.initialParams(h, K)
	if err != nil {
		return err
	}
	yMin, yMax := slices.Min(h.y), slices.Max(h.y)
	if yMin == yMax && m.Growth != GrowthLogistic {
		// Upstream skips Stan for a constant history.
		init.SigmaObs = 1e-9
		m.Params = init
		m.Fit = FitInfo{Algorithm: "none", Termination: "constant history"}
		m.foldDummyChangepoint(o)
		return nil
	}
	sigmas, sa, sm := m.Features.priors()
	trend := trendLinear
	switch m.Growth {
	case GrowthLogistic:
		trend = trendLogistic
	case GrowthFlat:
		trend = trendFlat
	}
	capS := h.capS
	if capS == nil {
		capS = make([]float64, len(h.t))
	}
	prob := newProblem(h.t, h.ys, capS, m.ChangepointsT, X, K, sa, sm, sigmas, o.ChangepointPriorScale, trend)
	S := len(m.ChangepointsT)
	x0 := make([]float64, prob.dim())
	x0[0], x0[1] = init.K, init.M
	copy(x0[2:2+S], init.Delta)
	x0[2+S] = purem.Log(init.SigmaObs)
	copy(x0[3+S:], init.Beta)

	alg := o.Algorithm
	if alg == AlgorithmAuto {
		alg = AlgorithmLBFGS
		if len(h.t) < newtonRowLimit {
			alg = AlgorithmNewton
		}
	}
	var res optResult
	info := FitInfo{Algorithm: alg}
	if alg == AlgorithmLBFGS {
		fn := func(x, g []float64) (float64, bool) {
			lp := prob.logProb(x, g)
			for i := range g {
				g[i] = -g[i]
				if math.IsNaN(g[i]) || math.IsInf(g[i], 0) {
					return -lp, false
				}
			}
			return -lp, !math.IsNaN(lp) && !math.IsInf(lp, 0)
		}
		res, err = minimizeLBFGS(fn, x0, defaultLBFGSOptions(o.Iter))
		if err != nil {
			// Upstream falls back to Newton from the initial point.
			alg = AlgorithmNewton
			info = FitInfo{Algorithm: alg, Fallback: true}
		} else {
			info.Termination = terminationString(res.code)
		}
	}
	if alg == AlgorithmNewton {
		res = maximizeNewton(prob, x0, o.Iter)
		info.Termination = "newton: converged or iteration limit"
		res.f = -res.f
	} else {
		res.f = -res.f
	}
	info.Iterations = res.iterations
	info.LogProb = res.f
	for _, v := range res.x {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return abi.Errorf(abi.StatusInternal, "fit: optimisation produced a non-finite parameter")
		}
	}
	x := res.x
	p := Params{
		K:        roundSig(x[0], o.SigFigs),
		M:        roundSig(x[1], o.SigFigs),
		Delta:    make([]float64, S),
		SigmaObs: roundSig(purem.Exp(x[2+S]), o.SigFigs),
		Beta:     make([]float64, K),
	}
	for j := 0; j < S; j++ {
		p.Delta[j] = roundSig(x[2+j], o.SigFigs)
	}
	for j := 0; j < K; j++ {
		p.Beta[j] = roundSig(x[3+S+j], o.SigFigs)
	}
	m.Params = p
	m.Fit = info
	m.foldDummyChangepoint(o)
	return nil
}

// foldDummyChangepoint folds delta into k when there are no changepoints.
func (m *Model) foldDummyChangepoint(o *Options) {
	if len(m.ChangepointsT) == 1 && m.ChangepointsT[0] == 0 && m.noChangepoints(o) {
		m.Params.K += m.Params.Delta[0]
		m.Params.Delta[0] = 0
	}
}

func (m *Model) noChangepoints(o *Options) bool {
	if o.Changepoints != nil {
		return len(o.Changepoints) == 0
	}
	n := m.HistoryRows
	hist := int(math.Floor(float64(n) * o.ChangepointRange))
	nc := o.NChangepoints
	if nc+1 > hist {
		nc = hist - 1
	}
	return nc <= 0
}

func terminationString(code int) string {
	switch code {
	case termAbsF:
		return "absolute change in objective function below tolerance"
	case termRelF:
		return "relative change in objective function below tolerance"
	case termAbsGrad:
		return "gradient norm below tolerance"
	case termRelGrad:
		return "relative gradient magnitude below tolerance"
	case termAbsX:
		return "absolute parameter change below tolerance"
	case termMaxIt:
		return "maximum number of iterations hit"
	}
	return fmt.Sprintf("code %d", code)
}
