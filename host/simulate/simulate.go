// Package simulate replays a demand trace through three autoscalers that
// share one replica model, to show what a predictive autoscaler would have
// done against the reactive HPA and against the best possible one.
//
// # The replica model
//
// The simulation walks the trace's regular grid of steps in time order
// (durations below are rounded up to whole steps). Each arm feeds a metric
// value m to the same Kubernetes HPA (decision.HPA) with the AverageValue
// target CapacityPerReplica × TargetUtilization:
//
//   - proposal: ceil(m / target), or the current replicas when
//     |m / (target × current) − 1| ≤ Tolerance;
//   - scale-down stabilisation: the applied count is the largest proposal
//     whose step overlaps the last Stabilization (the steps i−S..i with
//     S = ceil(Stabilization / step): a step's value stands for the whole
//     step, so a drop at t is acted on at t + Stabilization); scale-up is
//     immediate; the count is clamped to [MinReplicas, MaxReplicas];
//   - replicas created at step i are ready from step i + L, L = ceil(Lead /
//     step); a scale-down removes starting replicas first, then ready ones,
//     at once.
//
// The arms differ only in m:
//
//   - reactive: the demand of the step (what the HPA sees now);
//   - predictive: decision.Options.Decide on the forecast window
//     [t, t + L×step] and the current demand (for the reactive floor and
//     for anchoring),
//     with the forecast curve made by the forecaster trained every Retrain
//     on the trailing Train; before the first training (the first Train of
//     the trace) it is the demand, as reactive;
//   - oracle: the largest demand of the steps i..i+L, the demand the
//     replicas ordered now must meet when they become ready. It knows the
//     future exactly, and it applies the HPA's tolerance only downwards:
//     it keeps a count up to Tolerance too large (no scale-down for a
//     small dip), never one too small (the HPA keeps up to 10 % too few,
//     which at target utilisations above 1/1.1 leaves even perfect
//     knowledge short). So its ready capacity always covers the demand
//     (unless MaxReplicas binds): it is the limit of this replica model.
//     A perfect forecast read with max aggregation reproduces it exactly
//     when Tolerance is 0, and whenever the tolerance does not bind.
//
// Scoring starts after a warm-up of Train + max(Lead, Stabilization): the
// first Train has no forecast, and for the next max(Lead, Stabilization)
// the predictive arm's replicas still follow from its reactive warm-up
// (replicas ordered before, proposals still in the stabilisation window).
// From then on each arm's replicas follow from its own decisions.
//
// A step whose demand is unknown (NaN, or a row missing from the grid) is a
// gap: every arm holds its replicas and records no proposal (the HPA does
// not act without a metric), starting replicas still become ready, and the
// step is left out of every metric; ArmMetrics lists the metrics and
// TraceInfo counts the gap minutes.
package simulate

import (
	"context"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/ppa-autoscaler/ppa/host/decision"
)

// TraceInfo describes the trace and the scored period.
type TraceInfo struct {
	Start       time.Time `json:"start"`
	End         time.Time `json:"end"`
	StepSeconds float64   `json:"step_seconds"`
	Steps       int       `json:"steps"`
	// ScoredFrom is the first scored step: Start + Train + max(Lead,
	// Stabilization), rounded up to steps.
	ScoredFrom time.Time `json:"scored_from"`
	// ScoredMinutes is the scored period's known minutes (gaps excluded).
	ScoredMinutes float64 `json:"scored_minutes"`
	// GapMinutes is the scored period's unknown minutes (NaN values and
	// rows missing from the grid).
	GapMinutes float64 `json:"gap_minutes"`
	// WarmupMinutes is the length of the unscored warm-up.
	WarmupMinutes float64 `json:"warmup_minutes"`
}

// Settings echo the simulation's effective settings.
type Settings struct {
	Forecaster            string  `json:"forecaster,omitempty"`
	CapacityPerReplica    float64 `json:"capacity_per_replica"`
	TargetUtilization     float64 `json:"target_utilization"`
	LeadSeconds           float64 `json:"lead_seconds"`
	StabilizationSeconds  float64 `json:"stabilization_seconds"`
	TrainSeconds          float64 `json:"train_seconds"`
	RetrainSeconds        float64 `json:"retrain_seconds"`
	Tolerance             float64 `json:"tolerance"`
	MinReplicas           int     `json:"min_replicas"`
	MaxReplicas           int     `json:"max_replicas"`
	Aggregation           string  `json:"aggregation"`
	Bound                 string  `json:"bound"`
	ReactiveFloor         bool    `json:"reactive_floor"`
	Anchor                bool    `json:"anchor"`
	AnchorHalfLifeSeconds float64 `json:"anchor_half_life_seconds,omitempty"`
	Margin                float64 `json:"margin,omitempty"`
	// Planned is true when a Planner chose the policy at every training
	// (the decision fields above are then empty: see the plans).
	Planned bool   `json:"planned,omitempty"`
	Seed    uint64 `json:"seed"`
}

// Result is the outcome of Run. The three arms are scored at
// Settings.TargetUtilization.
type Result struct {
	Trace      TraceInfo     `json:"trace"`
	Settings   Settings      `json:"settings"`
	Reactive   ArmMetrics    `json:"reactive"`
	Predictive ArmMetrics    `json:"predictive"`
	Oracle     ArmMetrics    `json:"oracle"`
	Forecast   ForecastStats `json:"forecast"`
	// Curves and AtEqualReplicaHours are set by a sweep.
	Curves              *Curves            `json:"curves,omitempty"`
	AtEqualReplicaHours *EqualReplicaHours `json:"at_equal_replica_hours,omitempty"`
	// Plans lists, with a Planner, the policy chosen at every training.
	Plans []PlanRecord `json:"plans,omitempty"`
	// Timeline holds the per-step series at TargetUtilization, for plots.
	Timeline *Timeline `json:"-"`
}

// PlanRecord is one Planner decision: when, and what it chose.
type PlanRecord struct {
	At       time.Time `json:"at"`
	Reactive bool      `json:"reactive"`
	Label    string    `json:"label"`
}

// Timeline is the step-by-step record of a run at the target utilisation.
type Timeline struct {
	// T holds the steps' Unix milliseconds; Demand the trace (NaN = gap).
	T      []int64
	Demand []float64
	// ScoredFrom is the index of the first scored step.
	ScoredFrom int
	// CapacityPerReplica converts replicas into demand units.
	CapacityPerReplica float64
	// Ready replicas per arm.
	Reactive, Predictive, Oracle []int32
	// Yhat, Lower and Upper are the predictive arm's forecast for each step
	// (NaN where none).
	Yhat, Lower, Upper []float64
}

// Replay is a trace on its regular grid together with the predictive
// arm's forecasts: decision rules can be replayed on it, and scored, without
// training or predicting again. Run is NewReplay followed by Result; the
// policy search (host/policy) replays many rules on one Replay.
type Replay struct {
	o                        Options
	g                        *grid
	lead, stab               int
	trainSteps, retrainSteps int
	scoredFrom               int
	periods                  []period
	stats                    ForecastStats
	oracle                   []float64
}

// Run runs the simulation. It is deterministic: the same options (seed
// included) and forecaster give the same result.
func Run(ctx context.Context, o Options) (*Result, error) {
	rp, err := NewReplay(ctx, o)
	if err != nil {
		return nil, err
	}
	return rp.Result(ctx, o.Decision)
}

// Check validates the options and the trace (its grid, the warm-up)
// without forecasting: the errors NewReplay would give before its first
// training.
func Check(o Options) error {
	_, err := prepare(o)
	return err
}

// NewReplay validates the options, puts the trace on its grid and runs the
// predictive arm's trainings and predictions (or plans, with a Planner).
func NewReplay(ctx context.Context, o Options) (*Replay, error) {
	rp, err := prepare(o)
	if err != nil {
		return nil, err
	}
	rp.periods, rp.stats, err = o.forecastPeriods(ctx, rp.g, rp.trainSteps, rp.lead, rp.trainSteps, rp.retrainSteps)
	if err != nil {
		return nil, fmt.Errorf("simulate: %w", err)
	}
	return rp, nil
}

// prepare is NewReplay without the forecasts.
func prepare(o Options) (*Replay, error) {
	if err := o.Validate(); err != nil {
		return nil, fmt.Errorf("simulate: %w", err)
	}
	g, err := regularize(o.Series)
	if err != nil {
		return nil, fmt.Errorf("simulate: %w", err)
	}
	step := g.stepDuration()
	rp := &Replay{o: o, g: g}
	rp.lead = stepsCeil(o.Lead, g.step)
	rp.stab = stepsCeil(o.Stabilization, g.step)
	rp.trainSteps = max(1, stepsCeil(o.Train, g.step))
	rp.retrainSteps = max(1, stepsCeil(o.Retrain, g.step))
	n := len(g.y)
	rp.scoredFrom = rp.trainSteps + max(rp.lead, rp.stab)
	if rp.scoredFrom >= n {
		return nil, fmt.Errorf("simulate: the trace has %d steps of %s (%s), not more than the warm-up: the training window %s and max(lead, stabilization) %s", n, step, time.Duration(n)*step, o.Train, time.Duration(max(rp.lead, rp.stab))*step)
	}
	if time.Duration(rp.lead)*step != o.Lead {
		o.logf("lead rounded up to whole steps", "lead", o.Lead, "effective", time.Duration(rp.lead)*step)
	}
	if countValid(g.y[rp.scoredFrom:]) == 0 {
		return nil, fmt.Errorf("simulate: no known demand after the warm-up (%s)", time.Duration(rp.scoredFrom)*step)
	}
	rp.oracle = oracleMetric(g.y, rp.lead)
	for i, v := range g.y {
		if math.IsNaN(v) {
			rp.oracle[i] = math.NaN()
		}
	}
	return rp, nil
}

// Result replays the decision options d (a planned period's own options
// take precedence) and scores the three arms as Options say.
func (rp *Replay) Result(ctx context.Context, d decision.Options) (*Result, error) {
	o, g := rp.o, rp.g
	step := g.stepDuration()
	lead, scoredFrom := rp.lead, rp.scoredFrom
	n := len(g.y)
	stepMin := step.Minutes()
	res := &Result{
		Trace: TraceInfo{
			Start: time.UnixMilli(g.t0).UTC(), End: time.UnixMilli(g.at(n - 1)).UTC(),
			StepSeconds: step.Seconds(), Steps: n,
			ScoredFrom:    time.UnixMilli(g.at(scoredFrom)).UTC(),
			WarmupMinutes: float64(scoredFrom) * stepMin,
		},
		Settings: Settings{
			Forecaster: o.Label, CapacityPerReplica: o.CapacityPerReplica, TargetUtilization: o.TargetUtilization,
			LeadSeconds: (time.Duration(lead) * step).Seconds(), StabilizationSeconds: o.Stabilization.Seconds(),
			TrainSeconds: o.Train.Seconds(), RetrainSeconds: o.Retrain.Seconds(), Tolerance: o.Tolerance,
			MinReplicas: o.MinReplicas, MaxReplicas: o.MaxReplicas,
			Aggregation: string(d.Aggregation), Bound: string(d.Bound), ReactiveFloor: d.ReactiveFloor,
			Anchor: d.Anchor, AnchorHalfLifeSeconds: d.AnchorHalfLife.Seconds(), Margin: d.Margin,
			Seed: o.Seed,
		},
	}
	var prev *Plan
	for _, p := range rp.periods {
		if p.plan != nil && p.plan != prev {
			prev = p.plan
			res.Plans = append(res.Plans, PlanRecord{At: time.UnixMilli(g.at(p.start)).UTC(), Reactive: p.plan.Reactive, Label: p.plan.Label})
		}
	}
	if o.Planner != nil {
		res.Settings.Planned = true
		res.Settings.Aggregation, res.Settings.Bound, res.Settings.ReactiveFloor, res.Settings.Anchor = "", "", false, false
		res.Settings.AnchorHalfLifeSeconds, res.Settings.Margin = 0, 0
	}
	known := countValid(g.y[scoredFrom:])
	res.Trace.ScoredMinutes = float64(known) * stepMin
	res.Trace.GapMinutes = float64(n-scoredFrom-known) * stepMin

	pred := decide(g, rp.periods, rp.trainSteps, lead, d, nil)
	res.Forecast = rp.stats
	var absErr, leadErr, persErr float64
	var errN, leadN, persN int
	for i := scoredFrom; i < n; i++ {
		if math.IsNaN(g.y[i]) {
			continue
		}
		switch {
		case pred.reactive[i]:
			res.Forecast.ReactiveMinutes += stepMin
		case math.IsNaN(pred.metric[i]):
			res.Forecast.UnavailableMinutes += stepMin
		case pred.arm[i] == decision.ArmFloor:
			res.Forecast.FloorMinutes += stepMin
		default:
			res.Forecast.ForecastMinutes += stepMin
		}
		if !math.IsNaN(pred.yhat[i]) {
			absErr += math.Abs(pred.yhat[i] - g.y[i])
			errN++
		}
		if !math.IsNaN(pred.leadYhat[i]) {
			leadErr += math.Abs(pred.leadYhat[i] - g.y[i])
			leadN++
		}
		if prev := g.y[i-lead]; !math.IsNaN(prev) {
			persErr += math.Abs(prev - g.y[i])
			persN++
		}
		if pred.anchored[i] {
			res.Forecast.AnchoredMinutes += stepMin
		}
	}
	if errN > 0 {
		res.Forecast.MAE = absErr / float64(errN)
	}
	if leadN > 0 {
		res.Forecast.LeadMAE = leadErr / float64(leadN)
	}
	if persN > 0 {
		res.Forecast.PersistenceMAE = persErr / float64(persN)
	}
	metrics := [3][]float64{g.y, pred.metric, rp.oracle}

	utils := []float64{o.TargetUtilization}
	if o.Sweep {
		utils = append([]float64(nil), o.Utilizations...)
		if !slices.Contains(utils, o.TargetUtilization) {
			utils = append(utils, o.TargetUtilization)
			slices.Sort(utils)
		}
		res.Curves = &Curves{}
	}
	for _, u := range utils {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("simulate: %w", err)
		}
		model := rp.model(u)
		var trs [3]trajectory
		var ms [3]ArmMetrics
		for a := range metrics {
			m := model
			m.downOnly = a == 2 // the oracle is the limit: see the package comment
			trs[a] = m.run(metrics[a])
			ms[a] = score(g.y, trs[a], scoredFrom, o.CapacityPerReplica, stepMin)
		}
		if res.Curves != nil {
			res.Curves.Reactive = append(res.Curves.Reactive, curvePoint(u, ms[0]))
			res.Curves.Predictive = append(res.Curves.Predictive, curvePoint(u, ms[1]))
			res.Curves.Oracle = append(res.Curves.Oracle, curvePoint(u, ms[2]))
		}
		if u != o.TargetUtilization {
			continue
		}
		res.Reactive, res.Predictive, res.Oracle = ms[0], ms[1], ms[2]
		tl := &Timeline{
			T: make([]int64, n), Demand: g.y, ScoredFrom: scoredFrom, CapacityPerReplica: o.CapacityPerReplica,
			Reactive: trs[0].ready, Predictive: trs[1].ready, Oracle: trs[2].ready,
			Yhat: pred.yhat, Lower: pred.lower, Upper: pred.upper,
		}
		for i := range tl.T {
			tl.T[i] = g.at(i)
		}
		res.Timeline = tl
	}
	if res.Curves != nil {
		res.AtEqualReplicaHours = Summarize(res.Curves, o.TargetUtilization)
	}
	return res, nil
}

// model returns the replica model at target utilisation u.
func (rp *Replay) model(u float64) replicaModel {
	o := rp.o
	m := replicaModel{
		hpa:  decision.HPA{TargetValue: o.CapacityPerReplica * u, MinReplicas: o.MinReplicas, MaxReplicas: o.MaxReplicas, Tolerance: o.Tolerance},
		lead: rp.lead, stab: rp.stab,
	}
	m.initial = o.InitialReplicas
	if m.initial == 0 {
		for _, v := range rp.g.y {
			if !math.IsNaN(v) {
				m.initial = m.hpa.Desired(v, 0)
				break
			}
		}
	}
	return m
}

func curvePoint(u float64, m ArmMetrics) CurvePoint {
	return CurvePoint{TargetUtilization: u, UnderprovisionedMinutes: m.UnderprovisionedMinutes, ReplicaHours: m.ReplicaHours, ScaleEvents: m.ScaleEvents}
}
