package prophet

import (
	"math"

	"github.com/ppa-autoscaler/ppa/plugins/prophet/purem"
)

// Trend indicators, as in prophet.stan.
const (
	trendLinear   = 0
	trendLogistic = 1
	trendFlat     = 2
)

// problem holds the data of prophet.stan and evaluates its log density
// (propto, without Jacobian, sigma_obs on the log scale) and gradient.
//
// The unconstrained parameter vector is laid out as Stan declares it:
// [k, m, delta_1..delta_S, log(sigma_obs), beta_1..beta_K].
type problem struct {
	n, s, k int
	t, y    []float64
	capS    []float64
	tc      []float64
	X       []float64 // row-major n×k
	sa, sm  []bool
	sigmas  []float64
	tau     float64
	trend   int

	// cpStart[j] is the first row with t >= tc[j] (rows sorted by t).
	cpStart []int
	// anyMult is true when some column is multiplicative.
	anyMult bool

	// Sufficient statistics for linear/flat growth with additive features:
	// the residual is y − D·θ with θ = (k, m, δ, β).
	fast *suffStats

	// saCols and smCols list the additive and multiplicative columns.
	saCols, smCols []int

	// scratch
	trendBuf, xa, xm, w []float64
	lg                  *logisticScratch
}

// logisticScratch holds the buffers of the logistic gradient.
type logisticScratch struct {
	dbar, gbar, rowK, rowM, ks, mpr, ksbar, gammas []float64
}

type suffStats struct {
	p  int       // len(θ) = 2 + S + K
	G  []float64 // DᵀD, p×p row-major
	b  []float64 // Dᵀy
	yy float64   // yᵀy

	th, gth []float64 // scratch
}

func newProblem(t, y, capS, tc, X []float64, K int, sa, sm []bool, sigmas []float64, tau float64, trend int) *problem {
	p := &problem{
		n: len(t), s: len(tc), k: K,
		t: t, y: y, capS: capS, tc: tc, X: X, sa: sa, sm: sm, sigmas: sigmas, tau: tau, trend: trend,
	}
	p.cpStart = make([]int, p.s)
	for j, c := range tc {
		i := 0
		for i < p.n && p.t[i] < c {
			i++
		}
		p.cpStart[j] = i
	}
	for j := range sa {
		if sa[j] {
			p.saCols = append(p.saCols, j)
		}
		if sm[j] {
			p.smCols = append(p.smCols, j)
			p.anyMult = true
		}
	}
	if trend == trendLogistic {
		p.lg = &logisticScratch{
			dbar: make([]float64, p.s), gbar: make([]float64, p.s),
			rowK: make([]float64, p.n), rowM: make([]float64, p.n),
			ks: make([]float64, p.s+1), mpr: make([]float64, p.s),
			ksbar: make([]float64, p.s+1), gammas: make([]float64, p.s),
		}
	}
	p.trendBuf = make([]float64, p.n)
	p.xa = make([]float64, p.n)
	p.xm = make([]float64, p.n)
	p.w = make([]float64, p.n)
	if trend != trendLogistic && !p.anyMult {
		p.fast = p.buildSuffStats()
	}
	return p
}

func (p *problem) dim() int { return 3 + p.s + p.k }

// buildSuffStats computes DᵀD, Dᵀy and yᵀy in O(N·(K+2)²) rather than
// O(N·P²): a changepoint column is (t − c_j)·1[t ≥ c_j], so its products
// with the other columns follow from suffix sums of t·B and B over the
// base columns B = (t, 1, X_additive), taken at each changepoint's first
// row.
func (p *problem) buildSuffStats() *suffStats {
	S, K, n := p.s, p.k, p.n
	np := 2 + S + K
	st := &suffStats{p: np, G: make([]float64, np*np), b: make([]float64, np), th: make([]float64, np), gth: make([]float64, np)}
	linear := p.trend == trendLinear
	nb := 2 + K
	// theta index of base column a.
	idx := func(a int) int {
		if a < 2 {
			return a
		}
		return 2 + S + (a - 2)
	}
	base := make([]float64, nb)
	fill := func(i int) {
		base[0] = 0
		if linear {
			base[0] = p.t[i]
		}
		base[1] = 1
		row := p.X[i*K : (i+1)*K]
		for j, v := range row {
			base[2+j] = 0
			if p.sa[j] {
				base[2+j] = v
			}
		}
	}
	gb := make([]float64, nb*nb)
	by := make([]float64, nb)
	for i := 0; i < n; i++ {
		fill(i)
		yi := p.y[i]
		st.yy += yi * yi
		for a := 0; a < nb; a++ {
			ba := base[a]
			if ba == 0 {
				continue
			}
			by[a] += ba * yi
			row := gb[a*nb:]
			for c := a; c < nb; c++ {
				row[c] += ba * base[c]
			}
		}
	}
	set := func(a, c int, v float64) {
		st.G[a*np+c] = v
		st.G[c*np+a] = v
	}
	for a := 0; a < nb; a++ {
		st.b[idx(a)] = by[a]
		for c := a; c < nb; c++ {
			set(idx(a), idx(c), gb[a*nb+c])
		}
	}
	if !linear || S == 0 {
		return st
	}
	// Suffix sums Σ_{i≥cpStart[j]} t·B, Σ B, t·y, y for every changepoint.
	snapT := make([]float64, S*nb)
	snap1 := make([]float64, S*nb)
	snapTy := make([]float64, S)
	snap1y := make([]float64, S)
	rt := make([]float64, nb)
	r1 := make([]float64, nb)
	var rty, r1y float64
	j := S - 1
	for j >= 0 && p.cpStart[j] >= n {
		j--
	}
	for i := n - 1; i >= 0 && j >= 0; i-- {
		fill(i)
		ti, yi := p.t[i], p.y[i]
		for a, v := range base {
			rt[a] += ti * v
			r1[a] += v
		}
		rty += ti * yi
		r1y += yi
		for j >= 0 && p.cpStart[j] == i {
			copy(snapT[j*nb:(j+1)*nb], rt)
			copy(snap1[j*nb:(j+1)*nb], r1)
			snapTy[j], snap1y[j] = rty, r1y
			j--
		}
	}
	for j := 0; j < S; j++ {
		c := p.tc[j]
		sT, s1 := snapT[j*nb:(j+1)*nb], snap1[j*nb:(j+1)*nb]
		st.b[2+j] = snapTy[j] - c*snap1y[j]
		for a := 0; a < nb; a++ {
			set(2+j, idx(a), sT[a]-c*s1[a])
		}
		for l := 0; l <= j; l++ {
			// Rows with t ≥ max(c_j, c_l): the later changepoint, j.
			cl := p.tc[l]
			set(2+j, 2+l, sT[0]-(c+cl)*sT[1]+c*cl*s1[1])
		}
	}
	return st
}

// sign returns the sign of v with sign(0) = 0.
func sign(v float64) float64 {
	switch {
	case v > 0:
		return 1
	case v < 0:
		return -1
	}
	return 0
}

// logProb returns lp(x) and, when grad is not nil, its gradient.
func (p *problem) logProb(x, grad []float64) float64 {
	S, K := p.s, p.k
	k, m := x[0], x[1]
	delta := x[2 : 2+S]
	u := x[2+S]
	beta := x[3+S:]
	sigma := purem.Exp(u)

	// Priors.
	lp := -0.5*(k/5)*(k/5) - 0.5*(m/5)*(m/5)
	for _, d := range delta {
		lp -= math.Abs(d) / p.tau
	}
	lp -= 0.5 * (sigma / 0.5) * (sigma / 0.5)
	for j, b := range beta {
		lp -= 0.5 * (b / p.sigmas[j]) * (b / p.sigmas[j])
	}
	if grad != nil {
		for i := range grad {
			grad[i] = 0
		}
		grad[0] = -k / 25
		grad[1] = -m / 25
		for j, d := range delta {
			grad[2+j] = -sign(d) / p.tau
		}
		for j, b := range beta {
			grad[3+S+j] = -b / (p.sigmas[j] * p.sigmas[j])
		}
	}

	var ss float64
	exact := true
	if p.fast != nil {
		ss = p.fastSS(x, grad != nil)
		// Near a perfect fit cancellation would dominate yᵀy − 2θᵀb + θᵀGθ:
		// then use the exact residuals.
		exact = ss < 1e-6*p.fast.yy
		if !exact && grad != nil {
			inv := 1 / (sigma * sigma)
			g := p.fast.gth
			grad[0] += g[0] * inv
			grad[1] += g[1] * inv
			for j := 0; j < S; j++ {
				grad[2+j] += g[2+j] * inv
			}
			for j := 0; j < K; j++ {
				grad[3+S+j] += g[2+S+j] * inv
			}
		}
	}
	if exact {
		ss = p.residualSS(x, grad, sigma)
	}
	s2 := sigma * sigma
	lp += -float64(p.n)*purem.Log(sigma) - 0.5*ss/s2
	if grad != nil {
		grad[2+S] = -4*s2 - float64(p.n) + ss/s2
	}
	return lp
}

// fastSS returns Σr² from the sufficient statistics and, when withGrad,
// stores Dᵀy − DᵀDθ (σ² times the data part of the gradient) in st.gth.
func (p *problem) fastSS(x []float64, withGrad bool) float64 {
	st := p.fast
	np := st.p
	S := p.s
	th := st.th
	th[0], th[1] = x[0], x[1]
	copy(th[2:2+S], x[2:2+S])
	copy(th[2+S:], x[3+S:])
	ss := st.yy
	for a := 0; a < np; a++ {
		row := st.G[a*np : (a+1)*np]
		gt := 0.0
		for c, v := range row {
			gt += v * th[c]
		}
		ss += th[a] * (gt - 2*st.b[a])
		if withGrad {
			st.gth[a] = st.b[a] - gt
		}
	}
	return ss
}

// residualSS computes the trend, the residuals and Σr², adding the data
// part of the gradient into grad.
func (p *problem) residualSS(x, grad []float64, sigma float64) float64 {
	S, K, n := p.s, p.k, p.n
	k, m := x[0], x[1]
	delta := x[2 : 2+S]
	beta := x[3+S:]
	trend := p.trendBuf

	var gammas []float64
	switch p.trend {
	case trendLinear:
		kk, mm := k, m
		j := 0
		for i := 0; i < n; i++ {
			for j < S && p.cpStart[j] <= i {
				kk += delta[j]
				mm += -p.tc[j] * delta[j]
				j++
			}
			trend[i] = kk*p.t[i] + mm
		}
	case trendLogistic:
		gammas = p.lg.gammas
		logisticGammasInto(gammas, delta, k, m, p.tc)
		kk, mm := k, m
		j := 0
		for i := 0; i < n; i++ {
			for j < S && p.cpStart[j] <= i {
				kk += delta[j]
				mm += gammas[j]
				j++
			}
			trend[i] = p.capS[i] * purem.InvLogit(kk*(p.t[i]-mm))
		}
	default:
		for i := range trend {
			trend[i] = m
		}
	}

	ss := 0.0
	inv := 1 / (sigma * sigma)
	gb := grad
	if gb != nil {
		gb = grad[3+S:]
	}
	allAdd := len(p.saCols) == K
	// All columns multiplicative: the loops over smCols visit every column
	// in order, so ranging over the row adds in the same order without
	// the index indirection.
	allMult := !allAdd && len(p.smCols) == K && len(p.saCols) == 0
	for i := 0; i < n; i++ {
		row := p.X[i*K : (i+1)*K]
		xa, xm := 0.0, 0.0
		switch {
		case allAdd:
			// Unrolled by four, adding in order (the rounding of a plain
			// loop): in wasm each Go loop iteration costs far more than
			// the arithmetic.
			bt := beta[:len(row)]
			j := 0
			for ; j+4 <= len(row); j += 4 {
				r4, b4 := row[j:j+4:j+4], bt[j:j+4:j+4]
				xa += r4[0] * b4[0]
				xa += r4[1] * b4[1]
				xa += r4[2] * b4[2]
				xa += r4[3] * b4[3]
			}
			for ; j < len(row); j++ {
				xa += row[j] * bt[j]
			}
		case allMult:
			// Unrolled by four, adding in order (the rounding of a plain
			// loop): in wasm each Go loop iteration costs far more than
			// the arithmetic.
			bt := beta[:len(row)]
			j := 0
			for ; j+4 <= len(row); j += 4 {
				r4, b4 := row[j:j+4:j+4], bt[j:j+4:j+4]
				xm += r4[0] * b4[0]
				xm += r4[1] * b4[1]
				xm += r4[2] * b4[2]
				xm += r4[3] * b4[3]
			}
			for ; j < len(row); j++ {
				xm += row[j] * bt[j]
			}
		default:
			for _, j := range p.saCols {
				xa += row[j] * beta[j]
			}
			for _, j := range p.smCols {
				xm += row[j] * beta[j]
			}
		}
		p.xm[i] = xm
		r := p.y[i] - (xa + trend[i]*(1+xm))
		ss += r * r
		wi := r * inv // d lp / d mu_i
		p.w[i] = wi
		if gb == nil {
			continue
		}
		if allAdd || allMult {
			a := wi
			if allMult {
				a = wi * trend[i]
			}
			g := gb[:len(row)]
			j := 0
			for ; j+4 <= len(row); j += 4 {
				r4, g4 := row[j:j+4:j+4], g[j:j+4:j+4]
				g4[0] += a * r4[0]
				g4[1] += a * r4[1]
				g4[2] += a * r4[2]
				g4[3] += a * r4[3]
			}
			for ; j < len(row); j++ {
				g[j] += a * row[j]
			}
			continue
		}
		for _, j := range p.saCols {
			gb[j] += wi * row[j]
		}
		wt := wi * trend[i]
		for _, j := range p.smCols {
			gb[j] += wt * row[j]
		}
	}
	if grad == nil {
		return ss
	}
	// d lp / d trend_i.
	wt := p.w
	for i := 0; i < n; i++ {
		wt[i] *= 1 + p.xm[i]
	}
	switch p.trend {
	case trendLinear:
		var sw, swt float64
		j := S - 1
		for j >= 0 && p.cpStart[j] >= n { // changepoints after the last row
			j--
		}
		for i := n - 1; i >= 0; i-- {
			sw += wt[i]
			swt += wt[i] * p.t[i]
			for j >= 0 && p.cpStart[j] == i {
				grad[2+j] += swt - p.tc[j]*sw
				j--
			}
		}
		grad[0] += swt
		grad[1] += sw
	case trendLogistic:
		p.logisticGrad(x, gammas, grad)
	default:
		sw := 0.0
		for i := 0; i < n; i++ {
			sw += wt[i]
		}
		grad[1] += sw
	}
	return ss
}

// logisticGrad adds d lp / d (k, m, δ) for logistic growth, given
// p.w = d lp / d trend_i and the trend in p.trendBuf.
func (p *problem) logisticGrad(x, gammas, grad []float64) {
	S, n := p.s, p.n
	k, m := x[0], x[1]
	delta := x[2 : 2+S]
	// Adjoints of K_i = k + Σ δ_j and M_i = m + Σ γ_j over active j.
	sc := p.lg
	kbar := 0.0
	mbar := 0.0
	dbar := sc.dbar // direct adjoint of δ_j through K
	gbar := sc.gbar // direct adjoint of γ_j through M
	for j := range dbar {
		dbar[j], gbar[j] = 0, 0
	}
	kk, mm := k, m
	j := 0
	// Per-row adjoints, accumulated into suffix sums by changepoint.
	rowK := sc.rowK
	rowM := sc.rowM
	for i := 0; i < n; i++ {
		for j < S && p.cpStart[j] <= i {
			kk += delta[j]
			mm += gammas[j]
			j++
		}
		tr := p.trendBuf[i]
		c := p.capS[i]
		// trend = c·σ(z), dσ/dz = σ(1−σ) → dtrend/dz = tr·(1 − tr/c).
		dz := p.w[i] * tr * (1 - tr/c)
		rowK[i] = dz * (p.t[i] - mm)
		rowM[i] = -dz * kk
	}
	var sK, sM float64
	j = S - 1
	for j >= 0 && p.cpStart[j] >= n {
		j--
	}
	for i := n - 1; i >= 0; i-- {
		sK += rowK[i]
		sM += rowM[i]
		for j >= 0 && p.cpStart[j] == i {
			dbar[j] = sK
			gbar[j] = sM
			j--
		}
	}
	kbar += sK
	mbar += sM

	// Back through γ_j = (tc_j − mpr_j)(1 − ks_j/ks_{j+1}),
	// mpr_j = m + Σ_{l<j} γ_l, ks_1 = k, ks_{j+1} = k + Σ_{l≤j} δ_l.
	ks := sc.ks
	ks[0] = k
	mpr := sc.mpr
	cum := 0.0
	for j := 0; j < S; j++ {
		cum += delta[j]
		ks[j+1] = cum + k
	}
	acc := m
	for j := 0; j < S; j++ {
		mpr[j] = acc
		acc += gammas[j]
	}
	ksbar := sc.ksbar
	for j := range ksbar {
		ksbar[j] = 0
	}
	accM := 0.0 // Σ_{j'>j} gtot_j' · dγ_j'/dmpr_j'
	for j := S - 1; j >= 0; j-- {
		gtot := gbar[j] + accM
		ratio := ks[j] / ks[j+1]
		dmpr := -(1 - ratio)
		dks := (p.tc[j] - mpr[j]) * (-1 / ks[j+1])
		dks1 := (p.tc[j] - mpr[j]) * ks[j] / (ks[j+1] * ks[j+1])
		ksbar[j] += gtot * dks
		ksbar[j+1] += gtot * dks1
		accM += gtot * dmpr
	}
	mbar += accM
	// ks adjoints: every ks depends on k; ks_{j+1} on δ_l for l ≤ j.
	suffix := 0.0
	for j := S; j >= 0; j-- {
		kbar += ksbar[j]
		if j >= 1 {
			suffix += ksbar[j]
			dbar[j-1] += suffix
		}
	}
	grad[0] += kbar
	grad[1] += mbar
	for j := 0; j < S; j++ {
		grad[2+j] += dbar[j]
	}
}
