package simulate

import (
	"math"

	"github.com/ppa-autoscaler/ppa/host/decision"
)

// replicaModel is the autoscaling model every arm shares: the HPA on a
// metric, a scale-down stabilisation window, and replicas that become
// ready lead steps after they are created.
type replicaModel struct {
	hpa decision.HPA
	// lead is the number of steps between creating a replica and its being
	// ready.
	lead int
	// stab is the stabilisation window in steps: at step i the applied
	// recommendation is the largest of the steps i-stab..i.
	stab int
	// initial is the replica count, all ready, before the first step.
	initial int
	// downOnly applies the HPA's tolerance only to counts that are too
	// large (ratio in [1−tolerance, 1]): the oracle's rule, which never
	// keeps too few replicas.
	downOnly bool
}

// proposal is the HPA's proposal, or the oracle's variant (downOnly).
func (m replicaModel) proposal(v float64, cur int) int {
	if !m.downOnly {
		return m.hpa.Proposal(v, cur)
	}
	if cur > 0 {
		ratio := v / (m.hpa.TargetValue * float64(cur))
		if ratio <= 1 && 1-ratio <= m.hpa.Tolerance {
			return cur
		}
	}
	h := m.hpa
	h.Tolerance = 0
	return h.Proposal(v, cur)
}

// trajectory is what an arm did at each step.
type trajectory struct {
	// spec is the number of replicas that exist (ready or starting), which
	// is also what the HPA sees as the current replicas.
	spec []int32
	// ready is the number of ready replicas.
	ready []int32
}

// run plays the model over a metric series. At step i, when metric[i] is a
// number:
//
//  1. the HPA proposes a replica count from metric[i] and the current
//     replicas (decision.HPA.Proposal, tolerance included);
//  2. the applied count is the clamp of the largest proposal made at steps
//     i-stab..i (scale-up is therefore immediate, scale-down waits until
//     every larger proposal has left the window);
//  3. new replicas are created now and become ready at step i+lead; a scale
//     down removes starting replicas first (newest first), then ready ones,
//     immediately.
//
// A NaN metric is a step without information: the arm holds, no proposal
// is recorded. Replicas that reach their ready time become ready at the end
// of every step, NaN or not, so with lead 0 they serve the step that
// created them.
func (m replicaModel) run(metric []float64) trajectory {
	n := len(metric)
	tr := trajectory{spec: make([]int32, n), ready: make([]int32, n)}
	type batch struct{ at, n int }
	var (
		pending []batch // in creation order; pending[head:] are live
		head    int
		cur     = m.initial
		ready   = m.initial
		recs    = make([]int, n)
		has     = make([]bool, n)
	)
	for i, v := range metric {
		if !math.IsNaN(v) {
			recs[i], has[i] = m.proposal(v, cur), true
			best := recs[i]
			for j := max(0, i-m.stab); j < i; j++ {
				if has[j] && recs[j] > best {
					best = recs[j]
				}
			}
			desired := m.hpa.Clamp(best)
			switch {
			case desired > cur:
				pending = append(pending, batch{at: i + m.lead, n: desired - cur})
			case desired < cur:
				drop := cur - desired
				for drop > 0 && len(pending) > head {
					last := &pending[len(pending)-1]
					k := min(drop, last.n)
					last.n -= k
					drop -= k
					if last.n == 0 {
						pending = pending[:len(pending)-1]
					}
				}
				ready -= drop
			}
			cur = desired
		}
		for head < len(pending) && pending[head].at <= i {
			ready += pending[head].n
			head++
		}
		tr.spec[i], tr.ready[i] = int32(cur), int32(ready)
	}
	return tr
}

// oracleMetric returns, for each step i, the largest known demand of steps
// i..i+lead (NaN when all are unknown): what an autoscaler with perfect
// knowledge of the next lead must provision now.
func oracleMetric(y []float64, lead int) []float64 {
	out := make([]float64, len(y))
	for i := range y {
		best := math.NaN()
		for j := i; j <= i+lead && j < len(y); j++ {
			if v := y[j]; !math.IsNaN(v) && (math.IsNaN(best) || v > best) {
				best = v
			}
		}
		out[i] = best
	}
	return out
}
