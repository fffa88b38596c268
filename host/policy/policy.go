// Package policy learns, for one workload, how PPA should turn forecasts
// into the metric it hands to KEDA: which forecaster, how its window is
// read, how far it is anchored to the current value, how much headroom it
// adds, and whether to predict at all.
//
// # The search
//
// Search replays the workload's own history through the simulator's
// replica model (host/simulate, host/decision), walk-forward: the history
// is cut into folds (one day each when it spans at least six days); every
// fold is forecast by a model trained only on the half of the history
// before it, and decided with rules whose learned numbers (anchoring gain
// and half-life, headroom margin) come only from the folds before it. The
// first fold therefore only calibrates, and the others are scored: no step
// is ever scored with anything learned from itself or from later steps.
//
// Each candidate policy (forecaster × anchoring × aggregation × margin
// quantile × reactive floor) is scored as the simulator scores PPA against
// the HPA: under-provisioned minutes at equal replica-hours against the
// reactive arm, as the share of the reactive → oracle gap it closes, pooled
// over target utilisations around the user's (Config.TargetUtilization ±
// 0.1) so that the choice does not hang on one point of a convex curve.
//
// # Never worse than the HPA
//
// The best candidate is kept only when it closes at least Config.MinGain
// of the gap both pooled and at the user's target, on the scored folds;
// otherwise the policy is reactive (the scaler serves the current value,
// as the HPA would) and Policy.Reason says why. A history too short for
// the folds also gives the reactive policy with its reason.
//
// # The learned numbers
//
//   - Anchoring: with r the residual (demand − forecast), the share of r
//     that is still there h steps later is the regression coefficient
//     φ(h) of r(t+h) on r(t). The search fits φ(h) ≈ g·2^(−h/half-life)
//     through φ(1) and φ(L) (L the lead in steps): an autoregressive model
//     of the residual with learned coefficients, which the decision applies
//     as decision.Options.AnchorGain and AnchorHalfLife.
//   - Margin: the q-quantile of the errors of the decided window maximum
//     (the demand the replicas must meet minus the value decided for it),
//     a conformal bound at the lead; q is searched.
package policy

import (
	"encoding/json"
	"fmt"
	"math"
	"time"

	"github.com/ppa-autoscaler/ppa/abi"
	"github.com/ppa-autoscaler/ppa/host/decision"
)

// Mode says whether a policy predicts.
type Mode string

// Modes.
const (
	// ModePredictive: the scaler reads the forecast with the policy's rules.
	ModePredictive Mode = "predictive"
	// ModeReactive: the scaler serves the current value, as the HPA would.
	ModeReactive Mode = "reactive"
)

// Policy is a learned scaling policy, as the trainer stores it in a model's
// manifest and the runtime reports it in the model's metadata.
type Policy struct {
	// Mode is predictive or reactive.
	Mode Mode `json:"mode"`
	// Reason says, for a reactive policy, why nothing predictive was kept;
	// for a predictive one, what won.
	Reason string `json:"reason"`
	// Forecaster is the plugin name of the chosen forecaster and Params its
	// parameters (predictive only). The model stored beside the policy was
	// trained with them.
	Forecaster string     `json:"forecaster,omitempty"`
	Params     abi.Params `json:"params,omitempty"`
	// Decision is how the scaler reads the forecast (predictive only).
	Decision *Decision `json:"decision,omitempty"`
	// Benefit is what the policy achieved on the history's scored folds.
	Benefit *Benefit `json:"benefit,omitempty"`
	// Settings echo what the search assumed.
	Settings Settings `json:"settings"`
}

// Decision is the serialisable form of decision.Options without the
// horizon (the lead, in Settings) and the age limit (the scaler's).
type Decision struct {
	Aggregation   decision.Aggregation `json:"aggregation"`
	Bound         decision.Bound       `json:"bound"`
	ReactiveFloor bool                 `json:"reactive_floor"`
	Anchor        bool                 `json:"anchor"`
	// AnchorGain is in [0, 1]; 0 means 1.
	AnchorGain float64 `json:"anchor_gain,omitempty"`
	// AnchorHalfLife is a duration ("90s"); empty or "0s" means none.
	AnchorHalfLife string `json:"anchor_half_life,omitempty"`
	// Margin is added to the aggregated forecast, in the metric's units;
	// MarginQuantile is the quantile of the errors at the lead it is.
	Margin         float64 `json:"margin"`
	MarginQuantile float64 `json:"margin_quantile,omitempty"`
}

// Settings are the assumptions of a search.
type Settings struct {
	// Lead is the forecast horizon (time for a replica to become ready).
	Lead string `json:"lead"`
	// CapacityPerReplica and TargetUtilization give the HPA's target
	// value, CapacityPerReplica × TargetUtilization.
	CapacityPerReplica float64 `json:"capacity_per_replica"`
	TargetUtilization  float64 `json:"target_utilization"`
	// MinGain is the share of the gap a candidate must close to be kept.
	MinGain float64 `json:"min_gain"`
	// Step is the history's step; Folds the number of scored folds and
	// FoldLength their length.
	Step       string `json:"step"`
	Folds      int    `json:"folds"`
	FoldLength string `json:"fold_length,omitempty"`
	// Assumed says what the search had to assume (e.g. a capacity derived
	// from the history when no target value was given).
	Assumed string `json:"assumed,omitempty"`
}

// Benefit is a policy's measured effect on the scored folds, at equal
// replica-hours against the reactive arm (see simulate.Comparison).
type Benefit struct {
	// GapClosed is the share of the reactive → oracle gap in
	// under-provisioned minutes the policy closed at the target
	// utilisation; PooledGapClosed the same pooled over the target ± 0.1.
	GapClosed       float64 `json:"gap_closed"`
	PooledGapClosed float64 `json:"pooled_gap_closed"`
	// UnderprovisionedRatio is the policy's under-provisioned minutes over
	// reactive's at the same replica-hours (below 1 is better).
	UnderprovisionedRatio float64 `json:"underprovisioned_ratio"`
	// ReplicaHoursRatio is the policy's replica-hours over reactive's at
	// the same target utilisation (what the user pays more or less).
	ReplicaHoursRatio float64 `json:"replica_hours_ratio"`
	// UnderprovisionedMinutes of the policy and of reactive at the target.
	UnderprovisionedMinutes         float64 `json:"underprovisioned_minutes"`
	ReactiveUnderprovisionedMinutes float64 `json:"reactive_underprovisioned_minutes"`
	// Baseline is seasonal naive with the reactive floor scored the same
	// way, when it could be run: the simplest predictive policy.
	Baseline *Comparison `json:"baseline,omitempty"`
	// LeadMAE is the error of the policy's (anchored) forecast a lead
	// ahead; PersistenceMAE the error of the current value as that
	// forecast (what reactive assumes).
	LeadMAE        float64 `json:"lead_mae"`
	PersistenceMAE float64 `json:"persistence_mae"`
	// ScoredHours is the length of the scored folds.
	ScoredHours float64 `json:"scored_hours"`
}

// Comparison is a policy's gap closed and under-provisioned ratio.
type Comparison struct {
	Label                 string `json:"label"`
	GapClosed             Num    `json:"gap_closed"`
	PooledGapClosed       Num    `json:"pooled_gap_closed"`
	UnderprovisionedRatio Num    `json:"underprovisioned_ratio"`
}

// Num is a float64 that is written to JSON as null when it is not finite
// (an undefined ratio), and read back as NaN.
type Num float64

// MarshalJSON implements json.Marshaler.
func (n Num) MarshalJSON() ([]byte, error) {
	if f := float64(n); math.IsNaN(f) || math.IsInf(f, 0) {
		return []byte("null"), nil
	}
	return json.Marshal(float64(n))
}

// UnmarshalJSON implements json.Unmarshaler.
func (n *Num) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*n = Num(math.NaN())
		return nil
	}
	var f float64
	if err := json.Unmarshal(b, &f); err != nil {
		return err
	}
	*n = Num(f)
	return nil
}

// Options returns the decision options the policy prescribes for a lead;
// the zero Options and false for a reactive policy.
func (p *Policy) Options(lead time.Duration) (decision.Options, bool, error) {
	if p.Mode != ModePredictive || p.Decision == nil {
		return decision.Options{}, false, nil
	}
	d := p.Decision
	o := decision.Options{
		Aggregation: d.Aggregation, Bound: d.Bound, Horizon: lead,
		ReactiveFloor: d.ReactiveFloor, Anchor: d.Anchor, AnchorGain: d.AnchorGain, Margin: d.Margin,
	}
	if d.AnchorHalfLife != "" {
		hl, err := time.ParseDuration(d.AnchorHalfLife)
		if err != nil {
			return o, false, fmt.Errorf("policy: anchor_half_life %q: %w", d.AnchorHalfLife, err)
		}
		o.AnchorHalfLife = hl
	}
	if err := o.Validate(); err != nil {
		return o, false, fmt.Errorf("policy: %w", err)
	}
	return o, true, nil
}

// Validate checks a decoded policy.
func (p *Policy) Validate() error {
	switch p.Mode {
	case ModeReactive:
		return nil
	case ModePredictive:
	default:
		return fmt.Errorf("policy: mode %q: want predictive or reactive", p.Mode)
	}
	if p.Forecaster == "" {
		return fmt.Errorf("policy: a predictive policy names no forecaster")
	}
	if p.Decision == nil {
		return fmt.Errorf("policy: a predictive policy has no decision rules")
	}
	_, _, err := p.Options(0)
	return err
}

// Parse decodes and validates a policy from JSON.
func Parse(b []byte) (*Policy, error) {
	var p Policy
	if err := json.Unmarshal(b, &p); err != nil {
		return nil, fmt.Errorf("policy: %w", err)
	}
	if err := p.Validate(); err != nil {
		return nil, err
	}
	return &p, nil
}

// Describe renders the policy on one line for people, e.g.
// "predictive: seasonal-profile, max of yhat + 3.2 (q0.9), anchored ×0.8 half-life 4m, floor".
func (p *Policy) Describe() string {
	if p.Mode != ModePredictive || p.Decision == nil {
		return "reactive: " + p.Reason
	}
	d := p.Decision
	s := fmt.Sprintf("predictive: %s, %s of %s", p.Forecaster, d.Aggregation, d.Bound)
	if d.Margin != 0 {
		s += fmt.Sprintf(" %+.4g (q%.2g)", d.Margin, d.MarginQuantile)
	}
	if d.Anchor {
		g := d.AnchorGain
		if g == 0 {
			g = 1
		}
		s += fmt.Sprintf(", anchored ×%.2f", g)
		if d.AnchorHalfLife != "" && d.AnchorHalfLife != "0s" {
			s += " half-life " + d.AnchorHalfLife
		}
	}
	if d.ReactiveFloor {
		s += ", reactive floor"
	}
	return s
}

func finite(v float64) float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return 0
	}
	return v
}
