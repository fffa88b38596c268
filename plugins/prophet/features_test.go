package prophet

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

func day(t *testing.T, s string) int64 {
	t.Helper()
	tm, err := time.Parse("2006-01-02", s)
	if err != nil {
		t.Fatal(err)
	}
	return tm.UnixMilli() / msPerDay
}

// TestHolidayFeatures: upstream's test_holidays_lower_window,
// test_holidays_upper_window, test_holidays_priors,
// test_holidays_bad_priors.
func TestHolidayFeatures(t *testing.T) {
	var dates []int64 // 2016-12-20 .. 2016-12-31
	for d := day(t, "2016-12-20"); d <= day(t, "2016-12-31"); d++ {
		dates = append(dates, d*msPerDay)
	}
	xmas := func(lw, uw int, ps float64, ds ...string) Holiday {
		h := Holiday{Name: "xmas", LowerWindow: lw, UpperWindow: uw, PriorScale: ps}
		for _, d := range ds {
			h.Days = append(h.Days, day(t, d))
		}
		return h
	}
	tests := []struct {
		name       string
		holidays   []Holiday
		defPrior   float64
		wantCols   int
		wantSums   []float64
		wantPriors []float64
		wantNames  []string
		wantErr    bool
	}{
		{"lower window", []Holiday{xmas(-1, 0, 0, "2016-12-25")}, 10, 2, []float64{1, 1}, []float64{10, 10}, []string{"xmas"}, false},
		{"upper window", []Holiday{xmas(-1, 10, 0, "2016-12-25")}, 10, 12, nil, slices.Repeat([]float64{10}, 12), []string{"xmas"}, false},
		{"priors", []Holiday{xmas(-1, 0, 5, "2016-12-25", "2017-12-25")}, 10, 2, nil, []float64{5, 5}, []string{"xmas"}, false},
		{"two holidays", []Holiday{xmas(-1, 0, 5, "2016-12-25"),
			{Name: "seans-bday", Days: []int64{day(t, "2012-06-06"), day(t, "2013-06-06")}, UpperWindow: 1}}, 4, 4, nil,
			[]float64{4, 4, 5, 5}, []string{"xmas", "seans-bday"}, false},
		{"inconsistent priors", []Holiday{xmas(-1, 0, 5, "2016-12-25"), xmas(-1, 0, 6, "2016-12-27")}, 10, 0, nil, nil, nil, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cols, names, err := holidayColumns(tc.holidays, tc.defPrior)
			if tc.wantErr {
				if err == nil {
					t.Fatal("want an error")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			f := featureSpec{Holidays: cols, HolidayNames: names, HolidaysMode: ModeAdditive}
			X, err := f.matrix(dates, nil)
			if err != nil {
				t.Fatal(err)
			}
			if len(cols) != tc.wantCols {
				t.Fatalf("%d columns, want %d", len(cols), tc.wantCols)
			}
			if tc.wantSums != nil {
				for j := range cols {
					s := 0.0
					for i := range dates {
						s += X[i*len(cols)+j]
					}
					if s != tc.wantSums[j] {
						t.Errorf("column %s sums to %v, want %v", cols[j].Key, s, tc.wantSums[j])
					}
				}
			}
			priors, _, _ := f.priors()
			if !slices.Equal(priors, tc.wantPriors) {
				t.Errorf("priors %v, want %v", priors, tc.wantPriors)
			}
			if !slices.Equal(names, tc.wantNames) {
				t.Errorf("names %v, want %v", names, tc.wantNames)
			}
			if !slices.IsSortedFunc(cols, func(a, b holidayColumn) int {
				if a.Key < b.Key {
					return -1
				}
				return 1
			}) {
				t.Errorf("columns not sorted by name")
			}
		})
	}
}

// TestRegressors: upstream's test_added_regressors and
// test_constant_regressor.
func TestRegressors(t *testing.T) {
	ts, ys := readCSV(t, "testdata/data.csv")
	n := len(ts)
	bin := make([]float64, n)
	num := make([]float64, n)
	bin2 := make([]float64, n)
	zero := make([]float64, n)
	for i := range ts {
		if i >= 255 {
			bin[i] = 1
		}
		num[i] = float64(i)
		if i < 100 {
			bin2[i] = 1
		}
	}
	o := DefaultOptions()
	o.Regressors = []Regressor{
		{Name: "binary_feature", PriorScale: 0.2},
		{Name: "numeric_feature", PriorScale: 0.5},
		{Name: "numeric_feature2", PriorScale: 0.5, Mode: ModeMultiplicative},
		{Name: "binary_feature2", Standardize: "true"},
		{Name: "constant_feature"},
	}
	cols := map[string][]float64{"binary_feature": bin, "numeric_feature": num, "numeric_feature2": num, "binary_feature2": bin2, "constant_feature": zero}
	m, _, X, err := prepare(&o, Data{T: ts, Y: ys, Columns: cols})
	if err != nil {
		t.Fatal(err)
	}
	r := m.Features.Regressors
	want := []struct {
		mu, std, prior float64
		mode           string
	}{{0, 1, 0.2, ModeAdditive}, {254.5, 147.368585, 0.5, ModeAdditive}, {254.5, 147.368585, 0.5, ModeMultiplicative}, {0.1960784, 0.3974183, 10, ModeAdditive}, {0, 1, 10, ModeAdditive}}
	for i, w := range want {
		near(t, r[i].Name+" mu", r[i].Mu, w.mu, 1e-5)
		near(t, r[i].Name+" std", r[i].Std, w.std, 1e-5)
		near(t, r[i].Name+" prior", r[i].PriorScale, w.prior, 0)
		if r[i].Mode != w.mode {
			t.Errorf("%s mode %q, want %q", r[i].Name, r[i].Mode, w.mode)
		}
	}
	K := m.Features.columns()
	if K != 31 { // yearly 20 + weekly 6 + 5 regressors (upstream's 30 without the constant one)
		t.Fatalf("%d feature columns, want 31", K)
	}
	near(t, "binary_feature[0]", X[26], 0, 0)
	near(t, "numeric_feature[0]", X[27], -1.726962, 1e-4)
	near(t, "binary_feature2[0]", X[29], 2.022859, 1e-4)

	// Predict needs every regressor column.
	m, err = Fit(o, Data{T: ts, Y: ys, Columns: cols})
	if err != nil {
		t.Fatal(err)
	}
	future := []int64{parseTime(t, "2014-06-01")}
	fcols := map[string][]float64{"binary_feature": {0}, "numeric_feature": {10}, "numeric_feature2": {10}, "constant_feature": {0}}
	if _, err := m.Predict(future, fcols, 1); err == nil {
		t.Fatal("predict without binary_feature2: want an error")
	}
	fcols["binary_feature2"] = []float64{0}
	f, err := m.Predict(future, fcols, 1)
	if err != nil {
		t.Fatal(err)
	}
	near(t, "yhat", f.Yhat[0], f.Trend[0]*(1+f.Multiplicative[0])+f.Additive[0], 1e-9)
	if f.Multiplicative[0] == 0 {
		t.Errorf("multiplicative terms are 0, want numeric_feature2's effect")
	}
}

// TestObjectiveGradient checks the analytic gradient of lp against central
// differences for every growth and both modes, on both code paths.
func TestObjectiveGradient(t *testing.T) {
	ts, ys := readCSV(t, "testdata/data.csv")
	ts, ys = ts[:120], ys[:120]
	tests := []struct {
		growth, mode string
	}{
		{GrowthLinear, ModeAdditive}, {GrowthLinear, ModeMultiplicative},
		{GrowthLogistic, ModeAdditive}, {GrowthLogistic, ModeMultiplicative},
		{GrowthFlat, ModeAdditive}, {GrowthFlat, ModeMultiplicative},
	}
	for _, tc := range tests {
		t.Run(tc.growth+" "+tc.mode, func(t *testing.T) {
			o := DefaultOptions()
			o.Growth = tc.growth
			o.SeasonalityMode = tc.mode
			o.NChangepoints = 6
			c := 80.0
			o.Cap = &c
			m, h, X, err := prepare(&o, Data{T: ts, Y: ys})
			if err != nil {
				t.Fatal(err)
			}
			K := m.Features.columns()
			sigmas, sa, sm := m.Features.priors()
			trend := map[string]int{GrowthLinear: trendLinear, GrowthLogistic: trendLogistic, GrowthFlat: trendFlat}[tc.growth]
			capS := h.capS
			if capS == nil {
				capS = make([]float64, len(h.t))
			}
			p := newProblem(h.t, h.ys, capS, m.ChangepointsT, X, K, sa, sm, sigmas, 0.05, trend)
			r := rand.New(rand.NewPCG(7, 8))
			x := make([]float64, p.dim())
			for i := range x {
				x[i] = 0.3 * (r.Float64() - 0.5)
			}
			for _, fast := range []bool{true, false} {
				if !fast {
					p.fast = nil
				}
				g := make([]float64, len(x))
				p.logProb(x, g)
				for i := range x {
					h := 1e-6
					xp := append([]float64(nil), x...)
					xm := append([]float64(nil), x...)
					xp[i] += h
					xm[i] -= h
					num := (p.logProb(xp, nil) - p.logProb(xm, nil)) / (2 * h)
					if math.Abs(num-g[i]) > 1e-4*math.Max(1, math.Abs(num)) {
						t.Errorf("fast=%v: d lp/d x[%d] = %v, finite difference %v", fast, i, g[i], num)
					}
				}
			}
		})
	}
}

// TestSymEigen checks the Jacobi eigensolver by reconstruction.
func TestSymEigen(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for _, n := range []int{1, 2, 5, 30} {
		a := make([]float64, n*n)
		for i := 0; i < n; i++ {
			for j := 0; j <= i; j++ {
				v := r.NormFloat64()
				a[i*n+j], a[j*n+i] = v, v
			}
		}
		vals, V := symEigen(a, n)
		if !slices.IsSorted(vals) {
			t.Errorf("n=%d: eigenvalues not ascending", n)
		}
		for i := 0; i < n; i++ {
			for j := 0; j < n; j++ {
				s := 0.0
				for k := 0; k < n; k++ {
					s += V[i*n+k] * vals[k] * V[j*n+k]
				}
				if math.Abs(s-a[i*n+j]) > 1e-10 {
					t.Fatalf("n=%d: V·Λ·Vᵀ[%d,%d] = %v, want %v", n, i, j, s, a[i*n+j])
				}
			}
		}
	}
}

// TestCustomSeasonalities: upstream's test_conditional_custom_seasonality
// and test_custom_fourier_order, plus a custom "weekly" replacing the
// built-in one.
func TestCustomSeasonalities(t *testing.T) {
	ts, ys := readCSV(t, "testdata/data.csv")
	n := len(ts)
	cond := make([]float64, n)
	bad := make([]float64, n)
	for i := 255; i < n; i++ {
		cond[i] = 1
		bad[i] = 2
	}
	o := DefaultOptions()
	o.WeeklySeasonality = SeasonalityArg{}
	o.YearlySeasonality = SeasonalityArg{}
	o.Seasonalities = []Seasonality{
		{Name: "conditional_weekly", Period: 7, FourierOrder: 3, PriorScale: 2, ConditionName: "is_conditional_week"},
		{Name: "normal_monthly", Period: 30.5, FourierOrder: 5, PriorScale: 2},
	}
	if _, err := Fit(o, Data{T: ts, Y: ys, Columns: map[string][]float64{"is_conditional_week": bad}}); err == nil {
		t.Fatal("condition values of 2: want an error")
	}
	m, _, X, err := prepare(&o, Data{T: ts, Y: ys, Columns: map[string][]float64{"is_conditional_week": cond}})
	if err != nil {
		t.Fatal(err)
	}
	K := m.Features.columns()
	if K != 16 {
		t.Fatalf("%d columns, want 16", K)
	}
	for i := 0; i < n; i++ {
		for j := 0; j < 6; j++ {
			if (X[i*K+j] == 0) != (i < 255) {
				t.Fatalf("row %d column %d = %v: conditional seasonality wrong", i, j, X[i*K+j])
			}
		}
	}
	priors, _, _ := m.Features.priors()
	if !slices.Equal(priors, slices.Repeat([]float64{2}, 16)) {
		t.Errorf("priors %v", priors)
	}
	fit, err := Fit(o, Data{T: ts, Y: ys, Columns: map[string][]float64{"is_conditional_week": cond}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fit.Predict(ts[:3], nil, 1); err == nil {
		t.Error("predict without the condition column: want an error")
	}

	// A custom "weekly" keeps its place and settings when weekly is auto.
	o = DefaultOptions()
	o.Seasonalities = []Seasonality{{Name: "weekly", Period: 7, FourierOrder: 5, PriorScale: 1}}
	m, _, _, err = prepare(&o, Data{T: ts, Y: ys})
	if err != nil {
		t.Fatal(err)
	}
	got := m.Features.Seasonalities
	if len(got) != 2 || got[0].Name != "weekly" || got[0].FourierOrder != 5 || got[1].Name != "yearly" {
		t.Errorf("seasonalities %+v, want custom weekly then yearly", got)
	}
}

// designRow writes row i of D (coefficients of θ = (k, m, δ, β) in the
// mean) into d.
func (p *problem) designRow(i int, d []float64) {
	for j := range d {
		d[j] = 0
	}
	ti := p.t[i]
	if p.trend == trendLinear {
		d[0] = ti
		for j := 0; j < p.s; j++ {
			if i >= p.cpStart[j] {
				d[2+j] = ti - p.tc[j]
			}
		}
	}
	d[1] = 1
	row := p.X[i*p.k : (i+1)*p.k]
	for j, v := range row {
		if p.sa[j] {
			d[2+p.s+j] = v
		}
	}
}

// TestSuffStats compares the structured DᵀD, Dᵀy with a direct
// accumulation over design rows.
func TestSuffStats(t *testing.T) {
	ts, ys := readCSV(t, "testdata/data.csv")
	for _, growth := range []string{GrowthLinear, GrowthFlat} {
		t.Run(growth, func(t *testing.T) {
			o := DefaultOptions()
			o.Growth = growth
			m, h, X, err := prepare(&o, Data{T: ts, Y: ys})
			if err != nil {
				t.Fatal(err)
			}
			K := m.Features.columns()
			sigmas, sa, sm := m.Features.priors()
			trend := trendLinear
			if growth == GrowthFlat {
				trend = trendFlat
			}
			p := newProblem(h.t, h.ys, make([]float64, len(h.t)), m.ChangepointsT, X, K, sa, sm, sigmas, 0.05, trend)
			st := p.fast
			np := st.p
			G := make([]float64, np*np)
			b := make([]float64, np)
			d := make([]float64, np)
			for i := 0; i < p.n; i++ {
				p.designRow(i, d)
				for a := 0; a < np; a++ {
					b[a] += d[a] * p.y[i]
					for c := 0; c < np; c++ {
						G[a*np+c] += d[a] * d[c]
					}
				}
			}
			for a := 0; a < np; a++ {
				near(t, "b", st.b[a], b[a], 1e-10*math.Max(1, math.Abs(b[a])))
				for c := 0; c < np; c++ {
					near(t, "G", st.G[a*np+c], G[a*np+c], 1e-10*math.Max(1, math.Abs(G[a*np+c])))
				}
			}
		})
	}
}
