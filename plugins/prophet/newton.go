package prophet

import (
	"math"
	"sort"

	"github.com/ppa-autoscaler/ppa/plugins/prophet/purem"
)

// This file ports CmdStan's "optimize algorithm=newton"
// (stan/services/optimize/newton.hpp, stan/optimization/newton.hpp,
// stan/model/grad_hess_log_prob.hpp). It maximises lp.
//
// The Hessian comes from finite differences of the gradient with a
// 4-point stencil, and, exactly like Stan, the stencil sum is multiplied
// by eps/2 where it should be divided by eps: the "Hessian" is about 1e-6
// times the true one. The step-halving line search then finds steps near
// the Newton step anyway, but the path (and where it stops) depends on
// this scaling, and upstream's reference numbers do too.

const (
	hessEps = 1e-3
)

// finiteDiffHessian returns Stan's grad_hess_log_prob Hessian at x
// (row-major n×n), and lp and its gradient at x.
func finiteDiffHessian(p *problem, x []float64) (lp float64, grad, hess []float64) {
	n := len(x)
	grad = make([]float64, n)
	lp = p.logProb(x, grad)
	halfEps := 0.5 * hessEps
	perturb := [4]float64{-2 * hessEps, -1 * hessEps, hessEps, 2 * hessEps}
	coef := [4]float64{1.0 / 12.0, -2.0 / 3.0, 2.0 / 3.0, -1.0 / 12.0}
	var halfCoef [4]float64
	for i := range coef {
		halfCoef[i] = halfEps * coef[i]
	}
	hess = make([]float64, n*n)
	tmp := make([]float64, n)
	px := append([]float64(nil), x...)
	for d := 0; d < n; d++ {
		for i := 0; i < 4; i++ {
			px[d] = x[d] + perturb[i]
			p.logProb(px, tmp)
			for dd := 0; dd < n; dd++ {
				inc := halfCoef[i] * tmp[dd]
				hess[d*n+dd] += inc
				hess[dd*n+d] += inc
			}
		}
		px[d] = x[d]
	}
	return lp, grad, hess
}

// symEigen returns the eigenvalues and eigenvectors (columns of V,
// row-major) of the symmetric matrix a (row-major n×n) by cyclic Jacobi
// rotations. Eigenvalues are sorted ascending as Eigen's solver returns
// them.
func symEigen(a []float64, n int) (vals, vecs []float64) {
	A := append([]float64(nil), a...)
	V := make([]float64, n*n)
	for i := 0; i < n; i++ {
		V[i*n+i] = 1
	}
	for sweep := 0; sweep < 100; sweep++ {
		off := 0.0
		diag := 0.0
		for i := 0; i < n; i++ {
			diag += A[i*n+i] * A[i*n+i]
			for j := i + 1; j < n; j++ {
				off += A[i*n+j] * A[i*n+j]
			}
		}
		if off == 0 || off <= 1e-30*diag {
			break
		}
		for pI := 0; pI < n; pI++ {
			for q := pI + 1; q < n; q++ {
				apq := A[pI*n+q]
				if apq == 0 {
					continue
				}
				app, aqq := A[pI*n+pI], A[q*n+q]
				theta := (aqq - app) / (2 * apq)
				t := 1 / (math.Abs(theta) + math.Sqrt(theta*theta+1))
				if theta < 0 {
					t = -t
				}
				if math.IsInf(theta*theta, 0) {
					t = 1 / (2 * theta)
				}
				c := 1 / math.Sqrt(t*t+1)
				s := t * c
				for k := 0; k < n; k++ {
					akp, akq := A[k*n+pI], A[k*n+q]
					A[k*n+pI] = c*akp - s*akq
					A[k*n+q] = s*akp + c*akq
				}
				for k := 0; k < n; k++ {
					apk, aqk := A[pI*n+k], A[q*n+k]
					A[pI*n+k] = c*apk - s*aqk
					A[q*n+k] = s*apk + c*aqk
				}
				A[pI*n+q], A[q*n+pI] = 0, 0
				for k := 0; k < n; k++ {
					vkp, vkq := V[k*n+pI], V[k*n+q]
					V[k*n+pI] = c*vkp - s*vkq
					V[k*n+q] = s*vkp + c*vkq
				}
			}
		}
	}
	idx := make([]int, n)
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(x, y int) bool { return A[idx[x]*n+idx[x]] < A[idx[y]*n+idx[y]] })
	vals = make([]float64, n)
	vecs = make([]float64, n*n)
	for c, i := range idx {
		vals[c] = A[i*n+i]
		for r := 0; r < n; r++ {
			vecs[r*n+c] = V[r*n+i]
		}
	}
	return vals, vecs
}

// newtonStep is Stan's newton_step: it moves x in place and returns the
// new lp (or the old one when no step size improves lp).
func newtonStep(p *problem, x []float64) float64 {
	n := len(x)
	f0, g, H := finiteDiffHessian(p, x)
	vals, V := symEigen(H, n)
	// make_negative_definite_and_solve: g ← V·(−Vᵀg/|λ|).
	proj := make([]float64, n)
	for i := 0; i < n; i++ {
		s := 0.0
		for r := 0; r < n; r++ {
			s += V[r*n+i] * g[r]
		}
		proj[i] = -s / math.Abs(vals[i])
	}
	dir := make([]float64, n)
	for r := 0; r < n; r++ {
		s := 0.0
		for i := 0; i < n; i++ {
			s += V[r*n+i] * proj[i]
		}
		dir[r] = s
	}
	next := make([]float64, n)
	step := 2.0
	f1 := -1e100
	for f1 < f0 {
		step *= 0.5
		if step < 1e-50 {
			return f0
		}
		for i := range x {
			next[i] = x[i] - step*dir[i]
		}
		f1 = p.logProb(next, nil)
		if math.IsNaN(f1) {
			f1 = -1e100
		}
	}
	copy(x, next)
	return f1
}

// maximizeNewton runs Stan's Newton optimiser from x0 for at most iters
// iterations, stopping when lp changes by at most 1e-8.
func maximizeNewton(p *problem, x0 []float64, iters int) optResult {
	x := append([]float64(nil), x0...)
	// Stan's first lp includes the normalising constants (propto=false), so
	// the first comparison never stops early.
	lp := p.logProb(x, nil) + p.logConstants()
	it := 0
	for it < iters {
		it++
		last := lp
		lp = newtonStep(p, x)
		if math.Abs(lp-last) <= 1e-8 {
			break
		}
	}
	return optResult{x: x, f: -lp, iterations: it}
}

// logConstants returns the terms log_prob drops under propto: the
// normalising constants of every prior and of the likelihood.
func (p *problem) logConstants() float64 {
	halfLog2Pi := 0.5 * purem.Log(2*math.Pi)
	c := 2 * (-halfLog2Pi - purem.Log(5)) // k, m
	c += float64(p.s) * -purem.Log(2*p.tau)
	c += -halfLog2Pi - purem.Log(0.5)
	for _, s := range p.sigmas {
		c += -halfLog2Pi - purem.Log(s)
	}
	c += float64(p.n) * -halfLog2Pi
	return c
}
