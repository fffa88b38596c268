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

// symEigen returns the eigenvalues (ascending, as Eigen's solver returns
// them) and eigenvectors (columns of V, row-major) of the symmetric matrix a
// (row-major n×n): Householder reduction to tridiagonal form, then the QL
// algorithm with implicit shifts (the classic EISPACK tred2/tql2 pair).
func symEigen(a []float64, n int) (vals, vecs []float64) {
	V := append([]float64(nil), a...)
	d := make([]float64, n)
	e := make([]float64, n)
	tridiagonalize(V, d, e, n)
	tridiagonalQL(V, d, e, n)
	idx := make([]int, n)
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(x, y int) bool { return d[idx[x]] < d[idx[y]] })
	vals = make([]float64, n)
	vecs = make([]float64, n*n)
	for c, i := range idx {
		vals[c] = d[i]
		for r := 0; r < n; r++ {
			vecs[r*n+c] = V[r*n+i]
		}
	}
	return vals, vecs
}

// hypot is sqrt(p²+q²) without undue overflow (pure Go: math.Hypot uses
// assembly on amd64).
func hypot(p, q float64) float64 {
	p, q = math.Abs(p), math.Abs(q)
	if p < q {
		p, q = q, p
	}
	if p == 0 {
		return 0
	}
	q = q / p
	return p * math.Sqrt(1+q*q)
}

// tridiagonalize reduces the symmetric V (row-major n×n) to tridiagonal
// form by Householder reflections: on return d holds the diagonal, e the
// subdiagonal (e[0] = 0) and V the accumulated orthogonal transformation.
func tridiagonalize(V, d, e []float64, n int) {
	at := func(i, j int) *float64 { return &V[i*n+j] }
	for j := 0; j < n; j++ {
		d[j] = *at(n-1, j)
	}
	for i := n - 1; i > 0; i-- {
		scale, h := 0.0, 0.0
		for k := 0; k < i; k++ {
			scale += math.Abs(d[k])
		}
		if scale == 0 {
			e[i] = d[i-1]
			for j := 0; j < i; j++ {
				d[j] = *at(i-1, j)
				*at(i, j) = 0
				*at(j, i) = 0
			}
		} else {
			for k := 0; k < i; k++ {
				d[k] /= scale
				h += d[k] * d[k]
			}
			f := d[i-1]
			g := math.Sqrt(h)
			if f > 0 {
				g = -g
			}
			e[i] = scale * g
			h -= f * g
			d[i-1] = f - g
			for j := 0; j < i; j++ {
				e[j] = 0
			}
			for j := 0; j < i; j++ {
				f = d[j]
				*at(j, i) = f
				g = e[j] + *at(j, j)*f
				for k := j + 1; k <= i-1; k++ {
					g += *at(k, j) * d[k]
					e[k] += *at(k, j) * f
				}
				e[j] = g
			}
			f = 0
			for j := 0; j < i; j++ {
				e[j] /= h
				f += e[j] * d[j]
			}
			hh := f / (h + h)
			for j := 0; j < i; j++ {
				e[j] -= hh * d[j]
			}
			for j := 0; j < i; j++ {
				f = d[j]
				g = e[j]
				for k := j; k <= i-1; k++ {
					*at(k, j) -= f*e[k] + g*d[k]
				}
				d[j] = *at(i-1, j)
				*at(i, j) = 0
			}
		}
		d[i] = h
	}
	// Accumulate the transformations.
	for i := 0; i < n-1; i++ {
		*at(n-1, i) = *at(i, i)
		*at(i, i) = 1
		h := d[i+1]
		if h != 0 {
			for k := 0; k <= i; k++ {
				d[k] = *at(k, i+1) / h
			}
			for j := 0; j <= i; j++ {
				g := 0.0
				for k := 0; k <= i; k++ {
					g += *at(k, i+1) * *at(k, j)
				}
				for k := 0; k <= i; k++ {
					*at(k, j) -= g * d[k]
				}
			}
		}
		for k := 0; k <= i; k++ {
			*at(k, i+1) = 0
		}
	}
	for j := 0; j < n; j++ {
		d[j] = *at(n-1, j)
		*at(n-1, j) = 0
	}
	*at(n-1, n-1) = 1
	e[0] = 0
}

// tridiagonalQL diagonalises the tridiagonal matrix (d, e) by the QL
// algorithm with implicit shifts, applying the rotations to V; on return d
// holds the eigenvalues and V's columns the eigenvectors.
func tridiagonalQL(V, d, e []float64, n int) {
	for i := 1; i < n; i++ {
		e[i-1] = e[i]
	}
	e[n-1] = 0
	f, tst1 := 0.0, 0.0
	const eps = 0x1p-52
	for l := 0; l < n; l++ {
		tst1 = math.Max(tst1, math.Abs(d[l])+math.Abs(e[l]))
		m := l
		for m < n-1 && math.Abs(e[m]) > eps*tst1 {
			m++
		}
		if m > l {
			for iter := 0; iter < 100; iter++ {
				g := d[l]
				p := (d[l+1] - g) / (2 * e[l])
				r := hypot(p, 1)
				if p < 0 {
					r = -r
				}
				d[l] = e[l] / (p + r)
				d[l+1] = e[l] * (p + r)
				dl1 := d[l+1]
				h := g - d[l]
				for i := l + 2; i < n; i++ {
					d[i] -= h
				}
				f += h
				p = d[m]
				c, c2, c3 := 1.0, 1.0, 1.0
				el1 := e[l+1]
				s, s2 := 0.0, 0.0
				for i := m - 1; i >= l; i-- {
					c3 = c2
					c2 = c
					s2 = s
					g = c * e[i]
					h = c * p
					r = hypot(p, e[i])
					e[i+1] = s * r
					s = e[i] / r
					c = p / r
					p = c*d[i] - s*g
					d[i+1] = h + s*(c*g+s*d[i])
					for k := 0; k < n; k++ {
						h = V[k*n+i+1]
						V[k*n+i+1] = s*V[k*n+i] + c*h
						V[k*n+i] = c*V[k*n+i] - s*h
					}
				}
				p = -s * s2 * c3 * el1 * e[l] / dl1
				e[l] = s * p
				d[l] = c * p
				if !(math.Abs(e[l]) > eps*tst1) {
					break
				}
			}
		}
		d[l] += f
		e[l] = 0
	}
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
