package prophet

import (
	"cmp"
	"math"
	"math/rand/v2"
	"slices"

	"github.com/ppa-autoscaler/ppa/abi"
	"github.com/ppa-autoscaler/ppa/plugins/prophet/purem"
)

// Forecast holds a prediction, one value per requested timestamp.
type Forecast struct {
	Yhat  []float64
	Trend []float64
	// Additive and Multiplicative are upstream's additive_terms (in data
	// units) and multiplicative_terms (a factor on the trend).
	Additive       []float64
	Multiplicative []float64
	// Lower and Upper are the yhat interval bounds; nil when the model has
	// uncertainty_samples = 0.
	Lower, Upper []float64
}

// Predict forecasts the timestamps ts (Unix ms, any order). cols holds
// "cap"/"floor" (when not constant), regressors and condition columns
// aligned with ts. seed seeds the interval simulation.
func (m *Model) Predict(ts []int64, cols map[string][]float64, seed uint64) (*Forecast, error) {
	n := len(ts)
	if n == 0 {
		return &Forecast{}, nil
	}
	for name, c := range cols {
		if len(c) != n {
			return nil, invalid("column %q: %d values for %d timestamps", name, len(c), n)
		}
	}
	// Work on time-sorted rows; map back at the end.
	order := make([]int, n)
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return cmp.Compare(ts[a], ts[b]) })
	sts := make([]int64, n)
	scols := make(map[string][]float64, len(cols))
	for i, o := range order {
		sts[i] = ts[o]
	}
	for name, c := range cols {
		sc := make([]float64, n)
		for i, o := range order {
			sc[i] = c[o]
		}
		scols[name] = sc
	}

	floor, err := m.predictFloor(scols, n)
	if err != nil {
		return nil, err
	}
	var capS []float64
	if m.Growth == GrowthLogistic {
		capCol, err := m.capColumn(scols, n)
		if err != nil {
			return nil, err
		}
		capS = make([]float64, n)
		for i := range capS {
			capS[i] = (capCol[i] - floor[i]) / m.YScale
		}
	}
	t := scaledTime(sts, m.StartMs, m.TScaleNs)
	expected := m.trendScaled(t, capS)
	trend := make([]float64, n)
	for i := range trend {
		trend[i] = expected[i]*m.YScale + floor[i]
	}
	X, err := m.Features.matrix(sts, scols)
	if err != nil {
		return nil, invalid("%v", err)
	}
	K := m.Features.columns()
	if len(m.Params.Beta) != K {
		return nil, abi.Errorf(abi.StatusInvalidModel, "model: %d coefficients for %d feature columns", len(m.Params.Beta), K)
	}
	_, sa, sm := m.Features.priors()
	add := make([]float64, n)
	mult := make([]float64, n)
	for i := 0; i < n; i++ {
		row := X[i*K : (i+1)*K]
		a, mu := 0.0, 0.0
		for j, v := range row {
			if sa[j] {
				a += v * m.Params.Beta[j]
			}
			if sm[j] {
				mu += v * m.Params.Beta[j]
			}
		}
		add[i] = a * m.YScale
		mult[i] = mu
	}
	yhat := make([]float64, n)
	for i := range yhat {
		yhat[i] = trend[i]*(1+mult[i]) + add[i]
	}
	f := &Forecast{Yhat: yhat, Trend: trend, Additive: add, Multiplicative: mult}
	if m.UncertaintySamples > 0 {
		f.Lower, f.Upper = m.intervals(t, expected, capS, floor, add, mult, seed)
	}
	// Back to the caller's order.
	unsort := func(v []float64) []float64 {
		if v == nil {
			return nil
		}
		out := make([]float64, n)
		for i, o := range order {
			out[o] = v[i]
		}
		return out
	}
	f.Yhat, f.Trend, f.Additive, f.Multiplicative = unsort(f.Yhat), unsort(f.Trend), unsort(f.Additive), unsort(f.Multiplicative)
	f.Lower, f.Upper = unsort(f.Lower), unsort(f.Upper)
	return f, nil
}

func (m *Model) predictFloor(cols map[string][]float64, n int) ([]float64, error) {
	if m.LogisticFloor {
		c, ok, err := m.floorColumn(cols, n)
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, invalid("floor: the model was trained with a floor; give parameter floor or column \"floor\"")
		}
		return c, nil
	}
	return m.floors(nil, n), nil
}

// trendScaled evaluates the fitted trend on scaled time (before y_scale).
func (m *Model) trendScaled(t, capS []float64) []float64 {
	p := m.Params
	switch m.Growth {
	case GrowthLogistic:
		return piecewiseLogistic(t, capS, p.Delta, p.K, p.M, m.ChangepointsT)
	case GrowthFlat:
		return flatTrend(t, p.M)
	}
	return piecewiseLinear(t, p.Delta, p.K, p.M, m.ChangepointsT)
}

// pcgStream is the second PCG seed word; the first is the request seed.
const pcgStream = 0x70726f70686574 // "prophet"

// sampler draws the random numbers of the interval simulation from
// math/rand/v2's PCG, using purem for the transcendental functions so
// that the draws are the same on every platform.
type sampler struct {
	r        *rand.Rand
	spare    float64
	hasSpare bool
}

func newSampler(seed uint64) *sampler {
	return &sampler{r: rand.New(rand.NewPCG(seed, pcgStream))}
}

func (s *sampler) uniform() float64 { return s.r.Float64() }

// normal returns a standard normal draw (Box–Muller, both values used).
func (s *sampler) normal() float64 {
	if s.hasSpare {
		s.hasSpare = false
		return s.spare
	}
	u1 := 1 - s.r.Float64() // (0, 1]
	u2 := s.r.Float64()
	r := purem.Sqrt(-2 * purem.Log(u1))
	a := 2 * math.Pi * u2
	s.spare = r * purem.Sin(a)
	s.hasSpare = true
	return r * purem.Cos(a)
}

// laplace returns a Laplace(0, scale) draw by inverting the CDF as numpy
// does.
func (s *sampler) laplace(scale float64) float64 {
	u := s.r.Float64()
	for u == 0 {
		u = s.r.Float64()
	}
	if u >= 0.5 {
		return -scale * purem.Log(2.0-u-u)
	}
	return scale * purem.Log(u+u)
}

// percentile is numpy's percentile with linear interpolation of sorted a.
func percentile(sorted []float64, q float64) float64 {
	n := float64(len(sorted))
	quant := q / 100
	vi := n*quant + (1 + quant*-1) - 1
	prev := math.Floor(vi)
	gamma := vi - prev
	lo := int(prev)
	if lo < 0 {
		lo, gamma = 0, 0
	}
	hi := lo + 1
	if hi > len(sorted)-1 {
		hi = len(sorted) - 1
	}
	if lo > len(sorted)-1 {
		lo = len(sorted) - 1
	}
	a, b := sorted[lo], sorted[hi]
	d := b - a
	if gamma >= 0.5 {
		return b - d*(1-gamma)
	}
	return a + d*gamma
}

// intervals simulates uncertainty_samples future paths as upstream's
// vectorized sampler does: random trend changes on rows with t > 1 (rate
// S·Δt, Laplace sizes with the mean |delta| as scale, smoothed over two
// steps) plus Normal(0, sigma_obs) observation noise on every row, and
// returns the percentiles of yhat. Rows are processed in time order, one
// row for all samples at a time, so memory stays O(samples).
//
// Random draws (PCG seeded by seed): for each future row in time order,
// for each sample, one uniform, then a Laplace draw only when a change
// happens; then, for each row, one normal per sample.
func (m *Model) intervals(t, expected, capS, floor, add, mult []float64, seed uint64) (lower, upper []float64) {
	n := len(t)
	ns := m.UncertaintySamples
	rng := newSampler(seed)
	lowerP := 100 * (1.0 - m.IntervalWidth) / 2
	upperP := 100 * (1.0 + m.IntervalWidth) / 2
	lower = make([]float64, n)
	upper = make([]float64, n)

	firstFuture := n
	for i, v := range t {
		if v > 1 {
			firstFuture = i
			break
		}
	}
	nFuture := n - firstFuture
	singleDiff := m.HistoryMeanDiff
	if nFuture > 1 {
		s := 0.0
		for i := firstFuture + 1; i < n; i++ {
			s += t[i] - t[i-1]
		}
		singleDiff = s / float64(nFuture-1)
	}
	likelihood := float64(len(m.ChangepointsT)) * singleDiff
	meanDelta := 0.0
	for _, d := range m.Params.Delta {
		meanDelta += math.Abs(d)
	}
	meanDelta = meanDelta/float64(len(m.Params.Delta)) + 1e-8

	// Per-sample state of the trend simulation.
	prevShift := make([]float64, ns) // raw shift of the previous row
	c1 := make([]float64, ns)        // cumulative (smoothed) rate change
	c2 := make([]float64, ns)        // cumulative sum of c1
	var lg *logisticSim
	if m.Growth == GrowthLogistic && nFuture > 0 {
		lg = m.newLogisticSim(ns, singleDiff)
	}
	unc := make([]float64, ns)
	vals := make([]float64, ns)
	sigma := m.Params.SigmaObs
	for i := 0; i < n; i++ {
		for s := range unc {
			unc[s] = 0
		}
		if i >= firstFuture && m.Growth != GrowthFlat {
			for s := 0; s < ns; s++ {
				raw := 0.0
				if rng.uniform() < likelihood {
					raw = rng.laplace(meanDelta)
				}
				shift := (prevShift[s] + raw) / 2
				prevShift[s] = raw
				if lg != nil {
					lg.step(s, shift, t[i])
				} else {
					c1[s] += shift
					c2[s] += c1[s]
					unc[s] = c2[s] * singleDiff
				}
			}
			if lg != nil {
				lg.trends(unc, t[i], capS[i])
			}
		}
		for s := 0; s < ns; s++ {
			tr := (expected[i]+unc[s])*m.YScale + floor[i]
			noise := rng.normal() * sigma * m.YScale
			vals[s] = tr*(1+mult[i]) + add[i] + noise
		}
		slices.Sort(vals)
		lower[i] = percentile(vals, lowerP)
		upper[i] = percentile(vals, upperP)
	}
	return lower, upper
}

// logisticSim replays upstream's _logistic_uncertainty row by row: the
// historical rate changes on a grid of step single_diff over [0, 1], then
// each sample's simulated changes, tracking the cumulative rate, the
// forward-filled rate and the continuity offsets gamma.
type logisticSim struct {
	k, m float64
	// Per sample: Σ mat, last non-zero cumulative rate, Σ gamma.
	cum, kb, gsum []float64
	// Current row's k_t and m_t per sample.
	kt, mt []float64
}

func (m *Model) newLogisticSim(ns int, singleDiff float64) *logisticSim {
	p := m.Params
	// Historical grid: np.arange(0, 1 + sd, sd).
	L := int(math.Ceil((1 + singleDiff) / singleDiff))
	if L < 1 {
		L = 1
	}
	hist := make([]float64, L)
	for j, c := range m.ChangepointsT {
		for i := 0; i < L; i++ {
			if float64(i)*singleDiff > c {
				hist[i] = p.Delta[j]
				break
			}
		}
	}
	var cum, gsum float64
	kb := p.K
	for i := 0; i < L; i++ {
		v := hist[i]
		cum += v
		next := kb
		if v != 0 {
			if kc := cum + p.K; kc != 0 {
				next = kc
			}
		}
		g := (float64(i)*singleDiff - p.M - gsum) * (1 - kb/next)
		gsum += g
		kb = next
	}
	sim := &logisticSim{k: p.K, m: p.M,
		cum: make([]float64, ns), kb: make([]float64, ns), gsum: make([]float64, ns),
		kt: make([]float64, ns), mt: make([]float64, ns)}
	for s := 0; s < ns; s++ {
		sim.cum[s], sim.kb[s], sim.gsum[s] = cum, kb, gsum
	}
	return sim
}

// step advances sample s by one future row with rate change v at time t.
func (l *logisticSim) step(s int, v, t float64) {
	l.cum[s] += v
	next := l.kb[s]
	if v != 0 {
		if kc := l.cum[s] + l.k; kc != 0 {
			next = kc
		}
	}
	g := (t - l.m - l.gsum[s]) * (1 - l.kb[s]/next)
	l.gsum[s] += g
	l.kb[s] = next
	l.kt[s] = l.cum[s] + l.k
	l.mt[s] = l.gsum[s] + l.m
}

// trends writes each sample's logistic trend at t minus their mean into
// out (the uncertainty around the expected trend).
func (l *logisticSim) trends(out []float64, t, capS float64) {
	mean := 0.0
	for s := range out {
		out[s] = capS / (1 + purem.Exp(-l.kt[s]*(t-l.mt[s])))
		mean += out[s]
	}
	mean /= float64(len(out))
	for s := range out {
		out[s] -= mean
	}
}
