package prophet

import "github.com/ppa-autoscaler/ppa/plugins/prophet/purem"

// piecewiseLinear evaluates the linear trend with rate changes deltas at
// the changepoint times cps (sorted): (k + Σ δ_j [t ≥ c_j])·t + m − Σ δ_j c_j [t ≥ c_j].
func piecewiseLinear(t, deltas []float64, k, m float64, cps []float64) []float64 {
	out := make([]float64, len(t))
	for i, ti := range t {
		kt, mt := 0.0, 0.0
		for j, c := range cps {
			if c <= ti {
				kt += deltas[j]
				mt += deltas[j] * -c
			}
		}
		out[i] = (kt+k)*ti + (mt + m)
	}
	return out
}

// logisticGammas returns the offset adjustments that keep the piecewise
// logistic trend continuous.
func logisticGammas(deltas []float64, k, m float64, cps []float64) []float64 {
	gammas := make([]float64, len(cps))
	logisticGammasInto(gammas, deltas, k, m, cps)
	return gammas
}

// logisticGammasInto is logisticGammas writing into gammas.
func logisticGammasInto(gammas, deltas []float64, k, m float64, cps []float64) {
	kPrev := k
	cum := 0.0
	sumG := 0.0
	for i, c := range cps {
		cum += deltas[i]
		kNext := cum + k
		gammas[i] = (c - m - sumG) * (1 - kPrev/kNext)
		sumG += gammas[i]
		kPrev = kNext
	}
}

// piecewiseLogistic evaluates cap / (1 + exp(−k_t (t − m_t))).
func piecewiseLogistic(t, capS, deltas []float64, k, m float64, cps []float64) []float64 {
	gammas := logisticGammas(deltas, k, m, cps)
	out := make([]float64, len(t))
	for i, ti := range t {
		kt, mt := k, m
		for j, c := range cps {
			if ti >= c {
				kt += deltas[j]
				mt += gammas[j]
			}
		}
		out[i] = capS[i] / (1 + purem.Exp(-kt*(ti-mt)))
	}
	return out
}

// flatTrend is m everywhere.
func flatTrend(t []float64, m float64) []float64 {
	out := make([]float64, len(t))
	for i := range out {
		out[i] = m
	}
	return out
}
