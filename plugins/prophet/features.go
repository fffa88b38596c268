package prophet

import (
	"fmt"
	"math"
	"sort"
	"strings"

	"github.com/ppa-autoscaler/ppa/plugins/prophet/purem"
)

const (
	nsPerMs  = int64(1_000_000)
	msPerDay = int64(86_400_000)
)

// scaledTime maps Unix milliseconds to prophet's t: the ratio of
// nanosecond durations (ds − start) / t_scale, as pandas computes it.
func scaledTime(ts []int64, startMs, tScaleNs int64) []float64 {
	out := make([]float64, len(ts))
	for i, v := range ts {
		out[i] = float64((v-startMs)*nsPerMs) / float64(tScaleNs)
	}
	return out
}

// epochDays returns days since 1970-01-01 as pandas computes them:
// total_seconds() (nanoseconds / 1e9) / 86400.
func epochDays(ms int64) float64 {
	return float64(ms*nsPerMs) / 1e9 / (24 * 60 * 60)
}

// fourierInto writes 2·order Fourier columns of period days into X
// (row-major, K columns) starting at column col, for the timestamps ts.
// Columns are sin, cos interleaved, c = (i/period)·(2π·t).
func fourierInto(X []float64, K, col int, ts []int64, period float64, order int) {
	for r, v := range ts {
		xT := math.Pi * 2 * epochDays(v)
		row := X[r*K:]
		for i := 0; i < order; i++ {
			c := float64(i+1) / period * xT
			row[col+2*i] = purem.Sin(c)
			row[col+2*i+1] = purem.Cos(c)
		}
	}
}

// Seasonality is one Fourier-series seasonal component.
type Seasonality struct {
	// Name identifies the component ("yearly", "weekly", "daily" or custom).
	Name string `json:"name"`
	// Period is the period in days.
	Period float64 `json:"period"`
	// FourierOrder is the number of sine/cosine pairs.
	FourierOrder int `json:"fourier_order"`
	// PriorScale is the scale of the normal prior on the coefficients.
	PriorScale float64 `json:"prior_scale"`
	// Mode is "additive" or "multiplicative".
	Mode string `json:"mode"`
	// ConditionName optionally names a 0/1 column; rows where it is 0 get
	// no contribution from this seasonality.
	ConditionName string `json:"condition_name,omitempty"`
}

// Holiday is one row of upstream's holidays data frame: a named event on
// some dates with a window of days around each.
type Holiday struct {
	// Name is the holiday's name (upstream's "holiday" column).
	Name string `json:"holiday"`
	// Days are the event dates as days since 1970-01-01 (UTC).
	Days []int64 `json:"days"`
	// LowerWindow (<= 0) and UpperWindow (>= 0) extend each date.
	LowerWindow int `json:"lower_window"`
	UpperWindow int `json:"upper_window"`
	// PriorScale is the prior scale; 0 means holidays_prior_scale.
	PriorScale float64 `json:"prior_scale,omitempty"`
}

// Regressor is an extra regressor read from a request column of the same
// name.
type Regressor struct {
	Name       string  `json:"name"`
	PriorScale float64 `json:"prior_scale"`
	// Standardize is "auto", "true" or "false".
	Standardize string  `json:"standardize"`
	Mode        string  `json:"mode"`
	Mu          float64 `json:"mu"`
	Std         float64 `json:"std"`
}

// holidayColumn is one holiday feature column, e.g. "xmas_delim_+1".
type holidayColumn struct {
	Key        string  `json:"key"`
	Name       string  `json:"name"`
	Offset     int     `json:"offset"`
	PriorScale float64 `json:"prior_scale"`
	// Days lists the (date + offset) days on which the column is 1.
	Days []int64 `json:"days"`
}

// holidayColumns expands holidays into feature columns sorted by key, and
// returns the holiday names in order of first appearance.
func holidayColumns(hs []Holiday, defaultPrior float64) ([]holidayColumn, []string, error) {
	byKey := map[string]*holidayColumn{}
	priors := map[string]float64{}
	var names []string
	for i, h := range hs {
		ps := h.PriorScale
		if ps == 0 || math.IsNaN(ps) {
			ps = defaultPrior
		}
		if old, ok := priors[h.Name]; ok && old != ps {
			return nil, nil, fmt.Errorf("holidays[%d]: holiday %q does not have a consistent prior scale", i, h.Name)
		}
		if ps <= 0 {
			return nil, nil, fmt.Errorf("holidays[%d]: prior_scale must be > 0", i)
		}
		if _, ok := priors[h.Name]; !ok {
			names = append(names, h.Name)
		}
		priors[h.Name] = ps
		for _, d := range h.Days {
			for off := h.LowerWindow; off <= h.UpperWindow; off++ {
				sign := "+"
				if off < 0 {
					sign = "-"
				}
				key := fmt.Sprintf("%s_delim_%s%d", h.Name, sign, absInt(off))
				c, ok := byKey[key]
				if !ok {
					c = &holidayColumn{Key: key, Name: h.Name, Offset: off}
					byKey[key] = c
				}
				c.Days = append(c.Days, d+int64(off))
			}
		}
	}
	keys := make([]string, 0, len(byKey))
	for k := range byKey {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	cols := make([]holidayColumn, len(keys))
	for i, k := range keys {
		c := byKey[k]
		c.PriorScale = priors[c.Name]
		sort.Slice(c.Days, func(a, b int) bool { return c.Days[a] < c.Days[b] })
		cols[i] = *c
	}
	return cols, names, nil
}

func absInt(v int) int {
	if v < 0 {
		return -v
	}
	return v
}

// floorDiv returns floor(a / b) for b > 0.
func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && a < 0 {
		q--
	}
	return q
}

// featureSpec describes the columns of the feature matrix X.
type featureSpec struct {
	Seasonalities []Seasonality   `json:"seasonalities"`
	Holidays      []holidayColumn `json:"holiday_columns,omitempty"`
	HolidayNames  []string        `json:"holiday_names,omitempty"`
	HolidaysMode  string          `json:"holidays_mode"`
	Regressors    []Regressor     `json:"regressors,omitempty"`
}

// columns returns the number of feature columns (at least 1: a zero dummy).
func (f *featureSpec) columns() int {
	k := 0
	for _, s := range f.Seasonalities {
		k += 2 * s.FourierOrder
	}
	k += len(f.Holidays) + len(f.Regressors)
	if k == 0 {
		return 1
	}
	return k
}

// priors returns the prior scale, additive flag and multiplicative flag of
// every column.
func (f *featureSpec) priors() (sigmas []float64, sa, sm []bool) {
	add := func(ps float64, mode string, n int) {
		for i := 0; i < n; i++ {
			sigmas = append(sigmas, ps)
			sa = append(sa, mode == ModeAdditive)
			sm = append(sm, mode == ModeMultiplicative)
		}
	}
	for _, s := range f.Seasonalities {
		add(s.PriorScale, s.Mode, 2*s.FourierOrder)
	}
	for _, h := range f.Holidays {
		add(h.PriorScale, f.HolidaysMode, 1)
	}
	for _, r := range f.Regressors {
		add(r.PriorScale, r.Mode, 1)
	}
	if len(sigmas) == 0 {
		add(1, "", 1)
	}
	return sigmas, sa, sm
}

// columnNames returns upstream's names of the feature columns.
func (f *featureSpec) columnNames() []string {
	var names []string
	for _, s := range f.Seasonalities {
		for i := 0; i < 2*s.FourierOrder; i++ {
			names = append(names, fmt.Sprintf("%s_delim_%d", s.Name, i+1))
		}
	}
	for _, h := range f.Holidays {
		names = append(names, h.Key)
	}
	for _, r := range f.Regressors {
		names = append(names, r.Name)
	}
	if len(names) == 0 {
		names = append(names, "zeros")
	}
	return names
}

// matrix builds the row-major feature matrix for the timestamps ts. cols
// holds the regressor and condition columns by name.
func (f *featureSpec) matrix(ts []int64, cols map[string][]float64) ([]float64, error) {
	K := f.columns()
	n := len(ts)
	X := make([]float64, n*K)
	col := 0
	for _, s := range f.Seasonalities {
		fourierInto(X, K, col, ts, s.Period, s.FourierOrder)
		if s.ConditionName != "" {
			cond, ok := cols[s.ConditionName]
			if !ok {
				return nil, fmt.Errorf("seasonality %q: condition column %q is missing", s.Name, s.ConditionName)
			}
			for r := 0; r < n; r++ {
				switch cond[r] {
				case 0:
					for j := 0; j < 2*s.FourierOrder; j++ {
						X[r*K+col+j] = 0
					}
				case 1:
				default:
					return nil, fmt.Errorf("seasonality %q: condition column %q: row %d: %v is not 0 or 1", s.Name, s.ConditionName, r, cond[r])
				}
			}
		}
		col += 2 * s.FourierOrder
	}
	if len(f.Holidays) > 0 {
		days := make([]int64, n)
		for r, v := range ts {
			days[r] = floorDiv(v, msPerDay)
		}
		for _, h := range f.Holidays {
			set := make(map[int64]bool, len(h.Days))
			for _, d := range h.Days {
				set[d] = true
			}
			for r := 0; r < n; r++ {
				if set[days[r]] {
					X[r*K+col] = 1
				}
			}
			col++
		}
	}
	for _, reg := range f.Regressors {
		v, ok := cols[reg.Name]
		if !ok {
			return nil, fmt.Errorf("regressor %q: column is missing", reg.Name)
		}
		for r := 0; r < n; r++ {
			if math.IsNaN(v[r]) || math.IsInf(v[r], 0) {
				return nil, fmt.Errorf("regressor %q: row %d: value %v is not finite", reg.Name, r, v[r])
			}
			X[r*K+col] = (v[r] - reg.Mu) / reg.Std
		}
		col++
	}
	return X, nil
}

// validName reports problems with a user-chosen component name.
func validName(name string) error {
	if name == "" {
		return fmt.Errorf("name is empty")
	}
	if strings.Contains(name, "_delim_") {
		return fmt.Errorf("name %q cannot contain \"_delim_\"", name)
	}
	// Upstream's reserved names.
	base := []string{"trend", "additive_terms", "daily", "weekly", "yearly", "holidays", "zeros",
		"extra_regressors_additive", "yhat", "extra_regressors_multiplicative", "multiplicative_terms"}
	reserved := map[string]bool{"ds": true, "y": true, "cap": true, "floor": true, "y_scaled": true, "cap_scaled": true}
	for _, b := range base {
		reserved[b], reserved[b+"_lower"], reserved[b+"_upper"] = true, true, true
	}
	if reserved[name] {
		return fmt.Errorf("name %q is reserved", name)
	}
	return nil
}
