package prophet

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/ppa-autoscaler/ppa/abi"
)

// PluginVersion is the version the plugin reports in its description.
const PluginVersion = "1.0.0"

// Plugin adapts the package to the forecaster plugin interface (sdk.Plugin).
type Plugin struct {
	desc abi.Description
}

// NewPlugin returns the prophet forecaster plugin.
func NewPlugin() *Plugin {
	return &Plugin{desc: description()}
}

func description() abi.Description {
	d := DefaultOptions()
	return abi.Description{
		Name:    "prophet",
		Version: PluginVersion,
		Description: "Pure-Go port of Facebook Prophet: piecewise linear, logistic or flat trend, " +
			"Fourier seasonalities, holidays and extra regressors, MAP fit with Stan's L-BFGS/Newton. " +
			"Reads columns cap and floor, plus one column per regressor and seasonality condition named in the parameters.",
		Parameters: []abi.Parameter{
			{Name: "growth", Type: abi.ParamString, Default: d.Growth, Enum: []string{GrowthLinear, GrowthLogistic, GrowthFlat},
				Description: "trend model"},
			{Name: "changepoints", Type: abi.ParamJSON,
				Description: "list of changepoint dates (\"2006-01-02\", RFC 3339, or Unix ms); replaces automatic placement"},
			{Name: "n_changepoints", Type: abi.ParamInt, Default: d.NChangepoints,
				Description: "number of automatic potential changepoints"},
			{Name: "changepoint_range", Type: abi.ParamFloat, Default: d.ChangepointRange,
				Description: "share of the history in which automatic changepoints are placed"},
			{Name: "yearly_seasonality", Type: abi.ParamJSON, Default: "auto",
				Description: "\"auto\", true, false, or a Fourier order"},
			{Name: "weekly_seasonality", Type: abi.ParamJSON, Default: "auto",
				Description: "\"auto\", true, false, or a Fourier order"},
			{Name: "daily_seasonality", Type: abi.ParamJSON, Default: "auto",
				Description: "\"auto\", true, false, or a Fourier order"},
			{Name: "holidays", Type: abi.ParamJSON,
				Description: "list of {holiday (or name), ds (or dates: a date or a list of dates), lower_window, upper_window, prior_scale}"},
			{Name: "seasonality_mode", Type: abi.ParamString, Default: d.SeasonalityMode, Enum: []string{ModeAdditive, ModeMultiplicative}},
			{Name: "holidays_mode", Type: abi.ParamString, Enum: []string{ModeAdditive, ModeMultiplicative},
				Description: "defaults to seasonality_mode"},
			{Name: "seasonality_prior_scale", Type: abi.ParamFloat, Default: d.SeasonalityPriorScale},
			{Name: "holidays_prior_scale", Type: abi.ParamFloat, Default: d.HolidaysPriorScale},
			{Name: "changepoint_prior_scale", Type: abi.ParamFloat, Default: d.ChangepointPriorScale},
			{Name: "interval_width", Type: abi.ParamFloat, Default: d.IntervalWidth,
				Description: "probability mass of the prediction interval"},
			{Name: "uncertainty_samples", Type: abi.ParamInt, Default: d.UncertaintySamples,
				Description: "simulated paths for the interval; 0 disables intervals"},
			{Name: "scaling", Type: abi.ParamString, Default: d.Scaling, Enum: []string{ScalingAbsMax, ScalingMinMax}},
			{Name: "cap", Type: abi.ParamFloat,
				Description: "constant capacity for logistic growth (alternatively a \"cap\" column)"},
			{Name: "floor", Type: abi.ParamFloat,
				Description: "constant floor for logistic growth (alternatively a \"floor\" column)"},
			{Name: "seasonalities", Type: abi.ParamJSON,
				Description: "custom seasonalities: list of {name, period (days), fourier_order, prior_scale, mode, condition_name}"},
			{Name: "regressors", Type: abi.ParamJSON,
				Description: "extra regressors read from request columns: list of {name, prior_scale, standardize (\"auto\"/true/false), mode}"},
			{Name: "algorithm", Type: abi.ParamString, Default: d.Algorithm, Enum: []string{AlgorithmAuto, AlgorithmLBFGS, AlgorithmNewton},
				Description: "optimiser; auto = Newton below 100 rows, else L-BFGS with Newton fallback"},
			{Name: "iter", Type: abi.ParamInt, Default: d.Iter, Description: "optimiser iteration limit"},
			{Name: "sig_figs", Type: abi.ParamInt, Default: d.SigFigs,
				Description: "significant figures the fitted parameters are rounded to, as CmdStan's output does (0 = none)"},
		},
		Capabilities: abi.Capabilities{
			Intervals: true,
			MinPoints: 2,
			// Regressor and seasonality condition columns are read under the
			// names the regressors and seasonalities parameters give.
			Columns: []string{"cap", "floor"},
		},
	}
}

// Describe implements sdk.Plugin.
func (p *Plugin) Describe() abi.Description { return p.desc }

// Train implements sdk.Plugin: it fits a model and returns it as JSON.
func (p *Plugin) Train(req *abi.TrainRequest) (*abi.TrainResponse, error) {
	o, err := p.options(req.Params)
	if err != nil {
		return nil, err
	}
	cols, err := columnMap(req.Columns, len(req.Timestamps))
	if err != nil {
		return nil, err
	}
	m, err := Fit(o, Data{T: req.Timestamps, Y: req.Values, Columns: cols})
	if err != nil {
		return nil, err
	}
	b, err := json.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("encode model: %w", err)
	}
	names := make([]string, len(m.Features.Seasonalities))
	for i, s := range m.Features.Seasonalities {
		names[i] = s.Name
	}
	info := map[string]any{
		"model_format":  ModelFormat,
		"rows":          m.HistoryRows,
		"fit":           m.Fit,
		"params":        m.Params,
		"y_scale":       m.YScale,
		"changepoints":  len(m.Params.Delta),
		"seasonalities": names,
		"features":      m.Features.columnNames(),
		"rng":           "math/rand/v2 PCG(seed, 0x70726f70686574)",
	}
	return &abi.TrainResponse{Model: b, Info: info}, nil
}

// Predict implements sdk.Plugin.
func (p *Plugin) Predict(req *abi.PredictRequest) (*abi.PredictResponse, error) {
	m, err := DecodeModel(req.Model)
	if err != nil {
		return nil, err
	}
	cols, err := columnMap(req.Columns, len(req.Timestamps))
	if err != nil {
		return nil, err
	}
	f, err := m.Predict(req.Timestamps, cols, req.Seed)
	if err != nil {
		return nil, err
	}
	return &abi.PredictResponse{Yhat: f.Yhat, Lower: f.Lower, Upper: f.Upper}, nil
}

// DecodeModel parses model bytes made by Train; a model of another format
// or a damaged one is an INVALID_MODEL error.
func DecodeModel(b []byte) (*Model, error) {
	var head struct {
		Format *int `json:"format"`
	}
	if err := json.Unmarshal(b, &head); err != nil {
		return nil, abi.Errorf(abi.StatusInvalidModel, "model: not a prophet model: %v", err)
	}
	if head.Format == nil {
		return nil, abi.Errorf(abi.StatusInvalidModel, "model: not a prophet model: no format number")
	}
	if *head.Format != ModelFormat {
		return nil, abi.Errorf(abi.StatusInvalidModel, "model: format %d, this plugin reads format %d", *head.Format, ModelFormat)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var m Model
	if err := dec.Decode(&m); err != nil {
		return nil, abi.Errorf(abi.StatusInvalidModel, "model: %v", err)
	}
	if err := m.check(); err != nil {
		return nil, abi.Errorf(abi.StatusInvalidModel, "model: %v", err)
	}
	return &m, nil
}

// check verifies the invariants Predict relies on.
func (m *Model) check() error {
	switch m.Growth {
	case GrowthLinear, GrowthLogistic, GrowthFlat:
	default:
		return fmt.Errorf("growth %q unknown", m.Growth)
	}
	if m.TScaleNs <= 0 {
		return fmt.Errorf("t_scale_ns %d is not positive", m.TScaleNs)
	}
	if !(m.YScale > 0) || math.IsInf(m.YScale, 0) {
		return fmt.Errorf("y_scale %v is not positive", m.YScale)
	}
	if len(m.ChangepointsT) == 0 || len(m.Params.Delta) != len(m.ChangepointsT) {
		return fmt.Errorf("%d deltas for %d changepoints", len(m.Params.Delta), len(m.ChangepointsT))
	}
	if len(m.Params.Beta) != m.Features.columns() {
		return fmt.Errorf("%d coefficients for %d feature columns", len(m.Params.Beta), m.Features.columns())
	}
	for _, s := range m.Features.Seasonalities {
		if !(s.Period > 0) || s.FourierOrder <= 0 {
			return fmt.Errorf("seasonality %q: bad period or order", s.Name)
		}
	}
	for _, r := range m.Features.Regressors {
		if r.Std == 0 {
			return fmt.Errorf("regressor %q: zero std", r.Name)
		}
	}
	if m.UncertaintySamples < 0 || !(m.IntervalWidth > 0 && m.IntervalWidth < 1) {
		return fmt.Errorf("bad interval settings")
	}
	return nil
}

func columnMap(cols []abi.Column, n int) (map[string][]float64, error) {
	out := make(map[string][]float64, len(cols))
	for _, c := range cols {
		if _, dup := out[c.Name]; dup {
			return nil, invalid("column %q: given twice", c.Name)
		}
		if len(c.Values) != n {
			return nil, invalid("column %q: %d values for %d timestamps", c.Name, len(c.Values), n)
		}
		out[c.Name] = c.Values
	}
	return out, nil
}

// options turns request parameters into Options.
func (p *Plugin) options(ps abi.Params) (Options, error) {
	o := DefaultOptions()
	if err := ps.Unknown(&p.desc); err != nil {
		return o, err
	}
	if err := p.desc.CheckParams(ps); err != nil {
		return o, abi.Errorf(abi.StatusInvalidArgument, "%v", err)
	}
	var err error
	str := func(name string, dst *string) {
		if err == nil {
			*dst, err = ps.String(name, *dst)
		}
	}
	flt := func(name string, dst *float64) {
		if err == nil {
			*dst, err = ps.Float(name, *dst)
		}
	}
	integer := func(name string, dst *int) {
		if err == nil {
			*dst, err = ps.Int(name, *dst)
		}
	}
	str("growth", &o.Growth)
	integer("n_changepoints", &o.NChangepoints)
	flt("changepoint_range", &o.ChangepointRange)
	str("seasonality_mode", &o.SeasonalityMode)
	str("holidays_mode", &o.HolidaysMode)
	flt("seasonality_prior_scale", &o.SeasonalityPriorScale)
	flt("holidays_prior_scale", &o.HolidaysPriorScale)
	flt("changepoint_prior_scale", &o.ChangepointPriorScale)
	flt("interval_width", &o.IntervalWidth)
	integer("uncertainty_samples", &o.UncertaintySamples)
	str("scaling", &o.Scaling)
	str("algorithm", &o.Algorithm)
	integer("iter", &o.Iter)
	integer("sig_figs", &o.SigFigs)
	if err != nil {
		return o, err
	}
	for _, name := range []string{"cap", "floor"} {
		if v, ok := ps[name]; ok && v != nil {
			f, err := ps.Float(name, 0)
			if err != nil {
				return o, err
			}
			if math.IsNaN(f) || math.IsInf(f, 0) {
				return o, invalid("parameter %q: %v is not finite", name, f)
			}
			if name == "cap" {
				o.Cap = &f
			} else {
				o.Floor = &f
			}
		}
	}
	for _, s := range []struct {
		name string
		dst  *SeasonalityArg
		def  int
	}{{"yearly_seasonality", &o.YearlySeasonality, 10}, {"weekly_seasonality", &o.WeeklySeasonality, 3}, {"daily_seasonality", &o.DailySeasonality, 4}} {
		a, err := seasonalityArg(s.name, ps[s.name], s.def)
		if err != nil {
			return o, err
		}
		*s.dst = a
	}
	if v, ok := ps["changepoints"]; ok && v != nil {
		list, ok := v.([]any)
		if !ok {
			return o, invalid("parameter %q: want a list of dates, got %v", "changepoints", v)
		}
		o.Changepoints = make([]int64, 0, len(list))
		for i, e := range list {
			ms, err := parseDate(e)
			if err != nil {
				return o, invalid("parameter %q: [%d]: %v", "changepoints", i, err)
			}
			o.Changepoints = append(o.Changepoints, ms)
		}
	}
	if o.Holidays, err = parseHolidays(ps["holidays"]); err != nil {
		return o, err
	}
	if o.Seasonalities, err = parseSeasonalities(ps["seasonalities"]); err != nil {
		return o, err
	}
	if o.Regressors, err = parseRegressors(ps["regressors"]); err != nil {
		return o, err
	}
	return o, nil
}

// seasonalityArg reads "auto", true, false or an integer order.
func seasonalityArg(name string, v any, def int) (SeasonalityArg, error) {
	switch x := v.(type) {
	case nil:
		return AutoSeasonality(), nil
	case string:
		if x == "auto" {
			return AutoSeasonality(), nil
		}
	case bool:
		if x {
			return SeasonalityArg{Order: def}, nil
		}
		return SeasonalityArg{}, nil
	case float64:
		if x == math.Trunc(x) && x >= 0 && x <= 1000 {
			return SeasonalityArg{Order: int(x)}, nil
		}
	}
	return SeasonalityArg{}, invalid("parameter %q: want \"auto\", true, false or a non-negative integer, got %v", name, v)
}

// parseDate reads a date string ("2006-01-02", "2006-01-02 15:04:05",
// RFC 3339; UTC unless a zone is given) or a number of Unix milliseconds.
func parseDate(v any) (int64, error) {
	switch x := v.(type) {
	case float64:
		if x != math.Trunc(x) {
			return 0, fmt.Errorf("%v is not whole milliseconds", x)
		}
		return int64(x), nil
	case string:
		s := strings.TrimSpace(x)
		for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02 15:04:05", "2006-01-02T15:04", "2006-01-02 15:04", "2006-01-02"} {
			if t, err := time.Parse(layout, s); err == nil {
				return t.UnixMilli(), nil
			}
		}
		return 0, fmt.Errorf("%q is not a date (use 2006-01-02, 2006-01-02 15:04:05 or RFC 3339)", x)
	}
	return 0, fmt.Errorf("%v is not a date", v)
}

// decodeList re-encodes a JSON parameter and decodes it strictly into dst.
func decodeList(name string, v any, dst any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return invalid("parameter %q: %v", name, err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		return invalid("parameter %q: %v", name, err)
	}
	return nil
}

func parseHolidays(v any) ([]Holiday, error) {
	if v == nil {
		return nil, nil
	}
	var rows []struct {
		Holiday     string   `json:"holiday"`
		Name        string   `json:"name"`
		DS          any      `json:"ds"`
		Dates       any      `json:"dates"`
		LowerWindow *float64 `json:"lower_window"`
		UpperWindow *float64 `json:"upper_window"`
		PriorScale  *float64 `json:"prior_scale"`
	}
	if err := decodeList("holidays", v, &rows); err != nil {
		return nil, err
	}
	var out []Holiday
	for i, r := range rows {
		// "name" and "dates" are accepted as aliases of upstream's column
		// names "holiday" and "ds".
		if r.Holiday == "" {
			r.Holiday = r.Name
		} else if r.Name != "" {
			return nil, invalid("parameter %q: [%d]: give holiday or name, not both", "holidays", i)
		}
		if r.DS == nil {
			r.DS = r.Dates
		} else if r.Dates != nil {
			return nil, invalid("parameter %q: [%d]: give ds or dates, not both", "holidays", i)
		}
		if r.Holiday == "" {
			return nil, invalid("parameter %q: [%d]: holiday name is empty", "holidays", i)
		}
		if (r.LowerWindow == nil) != (r.UpperWindow == nil) {
			return nil, invalid("parameter %q: [%d] %q: give both lower_window and upper_window, or neither", "holidays", i, r.Holiday)
		}
		h := Holiday{Name: r.Holiday}
		if r.LowerWindow != nil {
			if *r.LowerWindow != math.Trunc(*r.LowerWindow) || *r.UpperWindow != math.Trunc(*r.UpperWindow) {
				return nil, invalid("parameter %q: [%d] %q: windows must be integers", "holidays", i, r.Holiday)
			}
			h.LowerWindow, h.UpperWindow = int(*r.LowerWindow), int(*r.UpperWindow)
		}
		if r.PriorScale != nil {
			if !(*r.PriorScale > 0) {
				return nil, invalid("parameter %q: [%d] %q: prior_scale must be > 0", "holidays", i, r.Holiday)
			}
			h.PriorScale = *r.PriorScale
		}
		dates, ok := r.DS.([]any)
		if !ok {
			dates = []any{r.DS}
		}
		if len(dates) == 0 || r.DS == nil {
			return nil, invalid("parameter %q: [%d] %q: ds is missing", "holidays", i, r.Holiday)
		}
		for j, d := range dates {
			ms, err := parseDate(d)
			if err != nil {
				return nil, invalid("parameter %q: [%d] %q: ds[%d]: %v", "holidays", i, r.Holiday, j, err)
			}
			h.Days = append(h.Days, floorDiv(ms, msPerDay))
		}
		out = append(out, h)
	}
	return out, nil
}

func parseSeasonalities(v any) ([]Seasonality, error) {
	if v == nil {
		return nil, nil
	}
	var rows []struct {
		Name          string  `json:"name"`
		Period        float64 `json:"period"`
		FourierOrder  float64 `json:"fourier_order"`
		PriorScale    float64 `json:"prior_scale"`
		Mode          string  `json:"mode"`
		ConditionName string  `json:"condition_name"`
	}
	if err := decodeList("seasonalities", v, &rows); err != nil {
		return nil, err
	}
	out := make([]Seasonality, len(rows))
	for i, r := range rows {
		if r.FourierOrder != math.Trunc(r.FourierOrder) {
			return nil, invalid("parameter %q: [%d] %q: fourier_order must be an integer", "seasonalities", i, r.Name)
		}
		if r.PriorScale < 0 {
			return nil, invalid("parameter %q: [%d] %q: prior_scale must be > 0", "seasonalities", i, r.Name)
		}
		out[i] = Seasonality{Name: r.Name, Period: r.Period, FourierOrder: int(r.FourierOrder), PriorScale: r.PriorScale, Mode: r.Mode, ConditionName: r.ConditionName}
	}
	return out, nil
}

func parseRegressors(v any) ([]Regressor, error) {
	if v == nil {
		return nil, nil
	}
	var rows []struct {
		Name        string  `json:"name"`
		PriorScale  float64 `json:"prior_scale"`
		Standardize any     `json:"standardize"`
		Mode        string  `json:"mode"`
	}
	if err := decodeList("regressors", v, &rows); err != nil {
		return nil, err
	}
	out := make([]Regressor, len(rows))
	for i, r := range rows {
		std := "auto"
		switch s := r.Standardize.(type) {
		case nil:
		case bool:
			std = fmt.Sprint(s)
		case string:
			if s != "auto" {
				return nil, invalid("parameter %q: [%d] %q: standardize must be \"auto\", true or false", "regressors", i, r.Name)
			}
		default:
			return nil, invalid("parameter %q: [%d] %q: standardize must be \"auto\", true or false", "regressors", i, r.Name)
		}
		if r.PriorScale < 0 {
			return nil, invalid("parameter %q: [%d] %q: prior_scale must be > 0", "regressors", i, r.Name)
		}
		out[i] = Regressor{Name: r.Name, PriorScale: r.PriorScale, Standardize: std, Mode: r.Mode}
	}
	return out, nil
}
