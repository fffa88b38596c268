package simulate

import (
	"fmt"
	"math"
	"sort"
	"strings"
)

// CurvePoint is one point of a trade-off curve: an arm run at one target
// utilisation.
type CurvePoint struct {
	TargetUtilization       float64 `json:"target_utilization"`
	UnderprovisionedMinutes float64 `json:"underprovisioned_minutes"`
	ReplicaHours            float64 `json:"replica_hours"`
	ScaleEvents             int     `json:"scale_events"`
}

// Curves are the trade-off curves of a sweep, one point per utilisation in
// the order of Options.Utilizations.
type Curves struct {
	Reactive   []CurvePoint `json:"reactive"`
	Predictive []CurvePoint `json:"predictive"`
	Oracle     []CurvePoint `json:"oracle"`
}

// Fit says how a curve was read at a given number of replica-hours.
type Fit string

// Fits.
const (
	// FitInterpolated: the replica-hours lie within the curve's range; the
	// value is linear between the two neighbouring points.
	FitInterpolated Fit = "interpolated"
	// FitExtrapolatedBelow: fewer replica-hours than any point of the curve;
	// the value extends the segment of the two points with the fewest
	// replica-hours, and is not allowed below 0.
	FitExtrapolatedBelow Fit = "extrapolated_below"
	// FitExtrapolatedAbove: more replica-hours than any point; the value
	// extends the segment of the two points with the most, not below 0.
	FitExtrapolatedAbove Fit = "extrapolated_above"
)

// Interpolate reads a curve's under-provisioned minutes at the given
// replica-hours, linearly along the curve's points sorted by replica-hours
// (points with equal replica-hours are merged into their mean). Outside the
// curve's range the end segment is extended and the Fit says so; a curve of
// one point is flat. It returns NaN for an empty curve.
func Interpolate(curve []CurvePoint, replicaHours float64) (float64, Fit) {
	type xy struct{ x, y float64 }
	pts := make([]xy, 0, len(curve))
	sorted := append([]CurvePoint(nil), curve...)
	sort.SliceStable(sorted, func(i, j int) bool { return sorted[i].ReplicaHours < sorted[j].ReplicaHours })
	for i := 0; i < len(sorted); {
		j, sum := i, 0.0
		for ; j < len(sorted) && sorted[j].ReplicaHours == sorted[i].ReplicaHours; j++ {
			sum += sorted[j].UnderprovisionedMinutes
		}
		pts = append(pts, xy{sorted[i].ReplicaHours, sum / float64(j-i)})
		i = j
	}
	switch {
	case len(pts) == 0:
		return math.NaN(), FitInterpolated
	case len(pts) == 1:
		fit := FitInterpolated
		if replicaHours < pts[0].x {
			fit = FitExtrapolatedBelow
		} else if replicaHours > pts[0].x {
			fit = FitExtrapolatedAbove
		}
		return pts[0].y, fit
	}
	line := func(a, b xy) float64 { return a.y + (b.y-a.y)*(replicaHours-a.x)/(b.x-a.x) }
	last := len(pts) - 1
	switch {
	case replicaHours < pts[0].x:
		return max(0, line(pts[0], pts[1])), FitExtrapolatedBelow
	case replicaHours > pts[last].x:
		return max(0, line(pts[last-1], pts[last])), FitExtrapolatedAbove
	}
	k := sort.Search(len(pts), func(i int) bool { return pts[i].x >= replicaHours })
	if pts[k].x == replicaHours {
		return pts[k].y, FitInterpolated
	}
	return line(pts[k-1], pts[k]), FitInterpolated
}

// Comparison compares one predictive point with the reactive arm and the
// oracle at the predictive point's replica-hours. With P the predictive
// arm's under-provisioned minutes at its own replica-hours H, and R(H) and
// O(H) the reactive and oracle curves read at H (Interpolate):
//
//	underprovisioned_ratio = P / R(H)                 (null when R(H) = 0)
//	gap_closed             = (R(H) − P) / (R(H) − O(H)) (null when R(H) ≤ O(H))
//
// A ratio below 1 means fewer under-provisioned minutes than reactive for
// the same cost; gap_closed 1 means as good as the oracle, 0 as good as
// reactive, below 0 worse than reactive.
type Comparison struct {
	// TargetUtilization is the predictive point compared.
	TargetUtilization float64 `json:"target_utilization"`
	// ReplicaHours is H.
	ReplicaHours float64 `json:"replica_hours"`
	// PredictiveUnderprovisionedMinutes is P.
	PredictiveUnderprovisionedMinutes float64 `json:"predictive_underprovisioned_minutes"`
	// ReactiveUnderprovisionedMinutes is R(H).
	ReactiveUnderprovisionedMinutes float64 `json:"reactive_underprovisioned_minutes"`
	// OracleUnderprovisionedMinutes is O(H).
	OracleUnderprovisionedMinutes float64 `json:"oracle_underprovisioned_minutes"`
	// UnderprovisionedRatio is P / R(H).
	UnderprovisionedRatio *float64 `json:"underprovisioned_ratio"`
	// GapClosed is (R(H) − P) / (R(H) − O(H)).
	GapClosed *float64 `json:"gap_closed"`
	// ReactiveFit and OracleFit say whether H lay within each curve's range.
	ReactiveFit Fit `json:"reactive_fit"`
	OracleFit   Fit `json:"oracle_fit"`
	// Note explains an extrapolation or an undefined figure.
	Note string `json:"note,omitempty"`
}

// CompareAt compares one predictive point with the reactive and oracle
// curves.
func CompareAt(pred CurvePoint, reactive, oracle []CurvePoint) Comparison {
	h := pred.ReplicaHours
	r, rfit := Interpolate(reactive, h)
	o, ofit := Interpolate(oracle, h)
	e := Comparison{
		TargetUtilization:                 pred.TargetUtilization,
		ReplicaHours:                      h,
		PredictiveUnderprovisionedMinutes: pred.UnderprovisionedMinutes,
		ReactiveUnderprovisionedMinutes:   r,
		OracleUnderprovisionedMinutes:     o,
		ReactiveFit:                       rfit,
		OracleFit:                         ofit,
	}
	var notes []string
	if rfit != FitInterpolated {
		notes = append(notes, fmt.Sprintf("reactive curve %s its range: widen the utilizations", describeFit(rfit)))
	}
	if ofit != FitInterpolated {
		notes = append(notes, fmt.Sprintf("oracle curve %s its range", describeFit(ofit)))
	}
	if r > 0 {
		v := pred.UnderprovisionedMinutes / r
		e.UnderprovisionedRatio = &v
	} else {
		notes = append(notes, "ratio undefined: reactive has no under-provisioned minutes at these replica-hours")
	}
	if r > o {
		v := (r - pred.UnderprovisionedMinutes) / (r - o)
		e.GapClosed = &v
	} else {
		notes = append(notes, "gap undefined: the oracle is not better than reactive at these replica-hours")
	}
	for i, n := range notes {
		if i > 0 {
			e.Note += "; "
		}
		e.Note += n
	}
	return e
}

func describeFit(f Fit) string {
	if f == FitExtrapolatedBelow {
		return "extrapolated below"
	}
	return "extrapolated above"
}

// EqualReplicaHours is the headline of a sweep: the predictive arm against
// the reactive arm and the oracle at equal replica-hours.
//
// The embedded Comparison is the one of the predictive point at the run's
// target utilisation (see Comparison for R, O, the ratio and the gap).
//
// Pooled sums the same quantities over every predictive point k of the
// sweep whose replica-hours H_k lie within the reactive curve's range:
//
//	underprovisioned_ratio = Σ P_k / Σ R(H_k)                      (null when Σ R = 0)
//	gap_closed             = Σ (R(H_k) − P_k) / Σ (R(H_k) − O(H_k)) (null when the denominator ≤ 0)
//
// which weighs each utilisation by its under-provisioned minutes: it is
// defined as soon as one point has any. When no point lies within
// reactive's range, every point is used with extrapolated readings and
// Pooled.Extrapolated is true. ByUtilization compares every point on its
// own.
type EqualReplicaHours struct {
	Comparison
	Pooled        Pooled       `json:"pooled"`
	ByUtilization []Comparison `json:"by_utilization"`
}

// Pooled is the comparison summed over the points of a sweep; see
// EqualReplicaHours.
type Pooled struct {
	UnderprovisionedRatio             *float64 `json:"underprovisioned_ratio"`
	GapClosed                         *float64 `json:"gap_closed"`
	PredictiveUnderprovisionedMinutes float64  `json:"predictive_underprovisioned_minutes"`
	ReactiveUnderprovisionedMinutes   float64  `json:"reactive_underprovisioned_minutes"`
	OracleUnderprovisionedMinutes     float64  `json:"oracle_underprovisioned_minutes"`
	// Utilizations lists the pooled predictive points.
	Utilizations []float64 `json:"utilizations"`
	// Extrapolated is true when the pooled points lie outside reactive's
	// range.
	Extrapolated bool   `json:"extrapolated"`
	Note         string `json:"note,omitempty"`
}

// Summarize computes the headline of a sweep from its curves; target is
// the utilisation of the headline point (it must be one of the curves').
func Summarize(c *Curves, target float64) *EqualReplicaHours {
	e := &EqualReplicaHours{}
	for _, p := range c.Predictive {
		cmp := CompareAt(p, c.Reactive, c.Oracle)
		e.ByUtilization = append(e.ByUtilization, cmp)
		if p.TargetUtilization == target {
			e.Comparison = cmp
		}
	}
	e.Pooled = pool(e.ByUtilization)
	return e
}

func pool(cmps []Comparison) Pooled {
	pl := Pooled{Utilizations: []float64{}}
	use := func(cmp Comparison) bool { return cmp.ReactiveFit == FitInterpolated }
	n := 0
	for _, cmp := range cmps {
		if use(cmp) {
			n++
		}
	}
	if n == 0 {
		pl.Extrapolated = true
		use = func(Comparison) bool { return true }
	}
	var excluded []string
	for _, cmp := range cmps {
		if !use(cmp) {
			excluded = append(excluded, fmt.Sprintf("%g", cmp.TargetUtilization))
			continue
		}
		pl.Utilizations = append(pl.Utilizations, cmp.TargetUtilization)
		pl.PredictiveUnderprovisionedMinutes += cmp.PredictiveUnderprovisionedMinutes
		pl.ReactiveUnderprovisionedMinutes += cmp.ReactiveUnderprovisionedMinutes
		pl.OracleUnderprovisionedMinutes += cmp.OracleUnderprovisionedMinutes
	}
	var notes []string
	if pl.Extrapolated {
		notes = append(notes, "no predictive point lies within the reactive curve's replica-hours: all are compared with extrapolated readings; widen the utilizations")
	} else if len(excluded) > 0 {
		notes = append(notes, "left out (replica-hours outside the reactive curve's range): u="+strings.Join(excluded, ", u="))
	}
	r, p, o := pl.ReactiveUnderprovisionedMinutes, pl.PredictiveUnderprovisionedMinutes, pl.OracleUnderprovisionedMinutes
	if r > 0 {
		v := p / r
		pl.UnderprovisionedRatio = &v
	} else {
		notes = append(notes, "ratio undefined: reactive has no under-provisioned minutes at these replica-hours (try higher utilizations or less capacity per replica)")
	}
	if r > o {
		v := (r - p) / (r - o)
		pl.GapClosed = &v
	} else {
		notes = append(notes, "gap undefined: the oracle is not better than reactive at these replica-hours")
	}
	pl.Note = strings.Join(notes, "; ")
	return pl
}
