package prophet

import (
	"errors"
	"math"
)

// This file ports the minimiser behind CmdStan's "optimize algorithm=lbfgs"
// (stan/optimization/bfgs.hpp, bfgs_linesearch.hpp, lbfgs_update.hpp):
// the same initial step, Wolfe line search with cubic interpolation and
// zoom, history of 5 updates, and the same stopping tests in the same
// order. It minimises f = −lp.

// Termination codes, as Stan numbers them.
const (
	termSuccess = 0
	termAbsX    = 10
	termAbsF    = 20
	termRelF    = 21
	termAbsGrad = 30
	termRelGrad = 31
	termMaxIt   = 40
	termLSFail  = -1
)

// lbfgsOptions are CmdStan's optimize defaults.
type lbfgsOptions struct {
	initAlpha   float64
	tolObj      float64
	tolRelObj   float64
	tolGrad     float64
	tolRelGrad  float64
	tolParam    float64
	historySize int
	maxIters    int
}

func defaultLBFGSOptions(iter int) lbfgsOptions {
	return lbfgsOptions{
		initAlpha:   1e-3,
		tolObj:      1e-12,
		tolRelObj:   1e4,
		tolGrad:     1e-8,
		tolRelGrad:  1e7,
		tolParam:    1e-8,
		historySize: 5,
		maxIters:    iter,
	}
}

const (
	lsC1          = 1e-4
	lsC2          = 0.9
	lsMinAlpha    = 1e-12
	lsMaxIts      = 20
	lsMaxRestarts = 10
	machineEps    = 2.220446049250313e-16
)

// errLineSearch is returned when the line search fails twice in a row.
var errLineSearch = errors.New("line search failed to achieve a sufficient decrease, no more progress can be made")

// objective evaluates f and its gradient g at x; it reports false when f
// or g is not finite (Stan's non-zero return code).
type objective func(x []float64, g []float64) (f float64, ok bool)

func dot(a, b []float64) float64 {
	s := 0.0
	for i := range a {
		s += a[i] * b[i]
	}
	return s
}

func norm(a []float64) float64 { return math.Sqrt(dot(a, a)) }

// cubicInterp minimises the cubic through (0, 0) with slope df0 and
// (x1, f1) with slope df1 over [loX, hiX].
func cubicInterp(df0, x1, f1, df1, loX, hiX float64) float64 {
	c3 := (-12*f1 + 6*x1*(df0+df1)) / (x1 * x1 * x1)
	c2 := -(4*df0+2*df1)/x1 + 6*f1/(x1*x1)
	c1 := df0
	tS := math.Sqrt(c2*c2 - 2.0*c1*c3)
	s1 := -(c2 + tS) / c3
	s2 := -(c2 - tS) / c3

	minF := loX * (loX*(loX*c3/3.0+c2)/2.0 + c1)
	minX := loX
	if tmpF := hiX * (hiX*(hiX*c3/3.0+c2)/2.0 + c1); tmpF < minF {
		minF = tmpF
		minX = hiX
	}
	if loX < s1 && s1 < hiX {
		if tmpF := s1 * (s1*(s1*c3/3.0+c2)/2.0 + c1); tmpF < minF {
			minF = tmpF
			minX = s1
		}
	}
	if loX < s2 && s2 < hiX {
		if tmpF := s2 * (s2*(s2*c3/3.0+c2)/2.0 + c1); tmpF < minF {
			minX = s2
		}
	}
	return minX
}

func axpy(out, x []float64, a float64, p []float64) {
	for i := range out {
		out[i] = x[i] + a*p[i]
	}
}

// wolfeZoom is Stan's WolfLSZoom; it returns true on failure.
func wolfeZoom(alpha *float64, newX []float64, newF *float64, newDF []float64, fn objective,
	x []float64, f, dfp, c1dfp, c2dfp float64, p []float64,
	alo, aloF, aloDFp, ahi, ahiF, ahiDFp, minRange float64) bool {
	itNum := 0
	for {
		itNum++
		if math.Abs(alo-ahi) < minRange {
			return true
		}
		if itNum%5 == 0 {
			*alpha = 0.5 * (alo + ahi)
		} else {
			d1 := aloDFp + ahiDFp - 3*(aloF-ahiF)/(alo-ahi)
			d2 := math.Sqrt(d1*d1 - aloDFp*ahiDFp)
			if ahi < alo {
				d2 = -d2
			}
			*alpha = ahi - (ahi-alo)*(ahiDFp+d2-d1)/(ahiDFp-aloDFp+2*d2)
			a := *alpha
			if math.IsNaN(a) || math.IsInf(a, 0) ||
				a < math.Min(alo, ahi)+0.01*math.Abs(alo-ahi) ||
				a > math.Max(alo, ahi)-0.01*math.Abs(alo-ahi) {
				*alpha = 0.5 * (alo + ahi)
			}
		}
		axpy(newX, x, *alpha, p)
		for {
			v, ok := fn(newX, newDF)
			*newF = v
			if ok {
				break
			}
			*alpha = 0.5 * (*alpha + math.Min(alo, ahi))
			if math.Abs(math.Min(alo, ahi)-*alpha) < minRange {
				return true
			}
			axpy(newX, x, *alpha, p)
		}
		newDFp := dot(newDF, p)
		if *newF > f+*alpha*c1dfp || *newF >= aloF {
			ahi = *alpha
			ahiF = *newF
			ahiDFp = newDFp
		} else {
			if math.Abs(newDFp) <= -c2dfp {
				break
			}
			if newDFp*(ahi-alo) >= 0 {
				ahi = alo
				ahiF = aloF
				ahiDFp = aloDFp
			}
			alo = *alpha
			aloF = *newF
			aloDFp = newDFp
		}
	}
	return false
}

// wolfeLineSearch is Stan's WolfeLineSearch; it returns true on failure.
// On success x1, *fVal and grad1 hold the new point.
func wolfeLineSearch(fn objective, alpha *float64, x1 []float64, fVal *float64, grad1 []float64,
	p, x0 []float64, f0 float64, grad0 []float64) bool {
	dfp := dot(grad0, p)
	c1dfp := lsC1 * dfp
	c2dfp := lsC2 * dfp

	alpha0 := lsMinAlpha
	alpha1 := *alpha
	prevF := f0
	prevDFp := dfp
	nits, restarts := 0, 0
	for {
		if nits >= lsMaxIts {
			return true
		}
		axpy(x1, x0, alpha1, p)
		v, ok := fn(x1, grad1)
		*fVal = v
		if !ok {
			if restarts >= lsMaxRestarts {
				return true
			}
			alpha1 = 0.5 * (alpha0 + alpha1)
			restarts++
			continue
		}
		restarts = 0
		newDFp := dot(grad1, p)
		// Stan compares against the initial alpha here, not alpha1.
		if *fVal > f0+*alpha*c1dfp || (*fVal >= prevF && nits > 0) {
			return wolfeZoom(alpha, x1, fVal, grad1, fn, x0, f0, dfp, c1dfp, c2dfp, p,
				alpha0, prevF, prevDFp, alpha1, *fVal, newDFp, 1e-16)
		}
		if math.Abs(newDFp) <= -c2dfp {
			*alpha = alpha1
			return false
		}
		if newDFp >= 0 {
			return wolfeZoom(alpha, x1, fVal, grad1, fn, x0, f0, dfp, c1dfp, c2dfp, p,
				alpha1, *fVal, newDFp, alpha0, prevF, prevDFp, 1e-16)
		}
		alpha0 = alpha1
		prevF = *fVal
		prevDFp = newDFp
		alpha1 *= 10.0
		nits++
	}
}

// lbfgsHistory is Stan's LBFGSUpdate.
type lbfgsHistory struct {
	size   int
	rho    []float64
	ys, ss [][]float64
	gamma  float64
}

func (h *lbfgsHistory) update(yk, sk []float64, reset bool) float64 {
	skyk := dot(yk, sk)
	b0 := 1.0
	yy := dot(yk, yk)
	if reset {
		b0 = yy / skyk
		h.rho, h.ys, h.ss = h.rho[:0], h.ys[:0], h.ss[:0]
	}
	h.gamma = skyk / yy
	if len(h.rho) == h.size {
		h.rho = append(h.rho[:0], h.rho[1:]...)
		h.ys = append(h.ys[:0], h.ys[1:]...)
		h.ss = append(h.ss[:0], h.ss[1:]...)
	}
	h.rho = append(h.rho, 1/skyk)
	h.ys = append(h.ys, append([]float64(nil), yk...))
	h.ss = append(h.ss, append([]float64(nil), sk...))
	return b0
}

func (h *lbfgsHistory) direction(pk, gk []float64) {
	n := len(h.rho)
	alphas := make([]float64, n)
	for i := range pk {
		pk[i] = -gk[i]
	}
	for i := n - 1; i >= 0; i-- {
		a := h.rho[i] * dot(h.ss[i], pk)
		for j := range pk {
			pk[j] -= a * h.ys[i][j]
		}
		alphas[i] = a
	}
	for j := range pk {
		pk[j] *= h.gamma
	}
	for i := 0; i < n; i++ {
		b := h.rho[i] * dot(h.ys[i], pk)
		for j := range pk {
			pk[j] += (alphas[i] - b) * h.ss[i][j]
		}
	}
}

// optResult is what an optimiser returns.
type optResult struct {
	x          []float64
	f          float64
	iterations int
	code       int
}

// minimizeLBFGS runs Stan's BFGSMinimizer with the L-BFGS update from x0.
// It returns errLineSearch (with the last point) when the line search fails
// even after a history reset.
func minimizeLBFGS(fn objective, x0 []float64, opt lbfgsOptions) (optResult, error) {
	n := len(x0)
	xk := append([]float64(nil), x0...)
	gk := make([]float64, n)
	fk, ok := fn(xk, gk)
	if !ok {
		return optResult{}, errors.New("error evaluating initial BFGS point")
	}
	pk := make([]float64, n)
	for i := range pk {
		pk[i] = -gk[i]
	}
	xk1 := make([]float64, n)
	gk1 := make([]float64, n)
	pk1 := make([]float64, n)
	sk := make([]float64, n)
	yk := make([]float64, n)
	var fk1, alphak1, alpha float64
	hist := &lbfgsHistory{size: opt.historySize}
	it := 0
	for {
		it++
		resetB := 0
		if it == 1 {
			resetB = 1
		}
		for {
			if resetB != 0 {
				for i := range pk {
					pk[i] = -gk[i]
				}
			}
			if it > 1 && resetB != 2 {
				alpha = math.Min(1.0, 1.01*cubicInterp(dot(gk1, pk1), alphak1, fk-fk1, dot(gk, pk1), lsMinAlpha, 1.0))
			} else {
				alpha = opt.initAlpha
			}
			failed := wolfeLineSearch(fn, &alpha, xk1, &fk1, gk1, pk, xk, fk, gk)
			if !failed {
				break
			}
			if resetB != 0 {
				return optResult{x: xk, f: fk, iterations: it, code: termLSFail}, errLineSearch
			}
			resetB = 2
		}
		// Make k the newest iterate.
		fk, fk1 = fk1, fk
		xk, xk1 = xk1, xk
		gk, gk1 = gk1, gk
		pk, pk1 = pk1, pk
		for i := range sk {
			sk[i] = xk[i] - xk1[i]
			yk[i] = gk[i] - gk1[i]
		}
		gradNorm := norm(gk)
		stepNorm := norm(sk)
		if resetB != 0 {
			b0 := hist.update(yk, sk, true)
			for i := range pk1 {
				pk1[i] /= b0
			}
			alphak1 = alpha * b0
		} else {
			hist.update(yk, sk, false)
			alphak1 = alpha
		}
		hist.direction(pk, gk)

		code := termSuccess
		switch {
		case math.Abs(fk1-fk) < opt.tolObj:
			code = termAbsF
		case gradNorm < opt.tolGrad:
			code = termAbsGrad
		case stepNorm < opt.tolParam:
			code = termAbsX
		case it >= opt.maxIters:
			code = termMaxIt
		case math.Abs(fk1-fk)/math.Max(math.Abs(fk1), math.Max(math.Abs(fk), 1)) < opt.tolRelObj*machineEps:
			code = termRelF
		case -dot(pk, gk)/math.Max(math.Abs(fk), 1) < opt.tolRelGrad*machineEps:
			code = termRelGrad
		}
		if code != termSuccess {
			return optResult{x: xk, f: fk, iterations: it, code: code}, nil
		}
	}
}
