package decision

import (
	"fmt"
	"math"
)

// DefaultTolerance is the HorizontalPodAutoscaler's default tolerance
// (kube-controller-manager --horizontal-pod-autoscaler-tolerance=0.1).
const DefaultTolerance = 0.1

// HPA is the replica calculation the Kubernetes HorizontalPodAutoscaler
// applies to one External metric with an AverageValue target, which is how
// KEDA exposes the value PPA reports.
//
// For a metric value m, a target value v (the metric one replica should
// carry: for PPA, capacity per replica × target utilisation) and c current
// replicas (the scale subresource's status.replicas: every pod that exists,
// ready or still starting):
//
//	ratio    = m / (v × c)
//	proposal = c                 if |ratio − 1| ≤ Tolerance
//	         = ceil(m / v)       otherwise
//	desired  = min(max(proposal, MinReplicas), MaxReplicas)
//
// With c = 0 the ratio is infinite (or NaN for m = 0) and the proposal is
// ceil(m / v).
//
// # Notes
//
//   - The HPA stores the proposal (before the clamp) in its scale-down
//     stabilisation window and applies the largest proposal of the window;
//     since the clamp is monotone, clamping before or after taking that
//     maximum gives the same result. Stabilisation is the caller's job (the
//     simulator does it), as are the HPA's rate-limiting policies (by
//     default up to +100 % or +4 pods per 15 s, whichever is more), which
//     this type does not model.
//   - The comparison is done in float64 exactly as the HPA does it, so the
//     boundary itself can fall either way: 55/(10×5) − 1 evaluates to
//     0.10000000000000009 and scales up with tolerance 0.1.
//   - The HPA computes in integer milli-units (the Quantity's MilliValue);
//     this type computes in float64, so results can differ when m / v lies
//     within 0.001 of an integer.
type HPA struct {
	// TargetValue is the AverageValue target: metric units one replica
	// should carry. Must be > 0.
	TargetValue float64
	// MinReplicas and MaxReplicas clamp the result; MaxReplicas 0 means no
	// upper limit.
	MinReplicas, MaxReplicas int
	// Tolerance is the dead band around ratio 1. Use DefaultTolerance to
	// match the HPA.
	Tolerance float64
}

// Validate checks the fields.
func (h HPA) Validate() error {
	switch {
	case !(h.TargetValue > 0) || math.IsInf(h.TargetValue, 0):
		return fmt.Errorf("target value %g: must be a positive number", h.TargetValue)
	case h.MinReplicas < 0:
		return fmt.Errorf("min replicas %d: must not be negative", h.MinReplicas)
	case h.MaxReplicas < 0:
		return fmt.Errorf("max replicas %d: must not be negative", h.MaxReplicas)
	case h.MaxReplicas > 0 && h.MaxReplicas < h.MinReplicas:
		return fmt.Errorf("max replicas %d: below min replicas %d", h.MaxReplicas, h.MinReplicas)
	case h.Tolerance < 0 || math.IsNaN(h.Tolerance):
		return fmt.Errorf("tolerance %g: must not be negative", h.Tolerance)
	}
	return nil
}

// Proposal returns the HPA's replica proposal for metric m with current
// replicas, before the clamp: current when the usage ratio is within the
// tolerance, ceil(m / TargetValue) otherwise.
func (h HPA) Proposal(m float64, current int) int {
	if current > 0 {
		ratio := m / (h.TargetValue * float64(current))
		if math.Abs(ratio-1) <= h.Tolerance {
			return current
		}
	}
	if !(m > 0) {
		return 0
	}
	f := math.Ceil(m / h.TargetValue)
	if f >= math.MaxInt32 {
		return math.MaxInt32
	}
	return int(f)
}

// Clamp limits n to [MinReplicas, MaxReplicas] (no upper limit when
// MaxReplicas is 0).
func (h HPA) Clamp(n int) int {
	n = max(n, h.MinReplicas)
	if h.MaxReplicas > 0 {
		n = min(n, h.MaxReplicas)
	}
	return n
}

// Desired returns Clamp(Proposal(m, current)): the replica count the HPA
// would set for metric m with no stabilisation history.
func (h HPA) Desired(m float64, current int) int {
	return h.Clamp(h.Proposal(m, current))
}
