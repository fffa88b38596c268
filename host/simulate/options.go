package simulate

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"time"

	"github.com/ppa-autoscaler/ppa/abi"
	"github.com/ppa-autoscaler/ppa/host/decision"
	"github.com/ppa-autoscaler/ppa/host/series"
)

// Forecaster is what the predictive arm needs from a forecaster plugin. A
// plugin loaded by host/engine satisfies it, and so does any in-process
// implementation (tests use deterministic Go stubs).
type Forecaster interface {
	// Train fits a model on the request's series.
	Train(ctx context.Context, req *abi.TrainRequest) (*abi.TrainResponse, error)
	// Predict forecasts the request's timestamps with a model Train made.
	Predict(ctx context.Context, req *abi.PredictRequest) (*abi.PredictResponse, error)
}

// Options configure a simulation. Start from DefaultOptions; zero values
// are taken literally (a Tolerance of 0 means no tolerance).
type Options struct {
	// Series is the demand trace: one value per step, NaN where unknown.
	// Rows must lie on a regular grid (the most common step); missing rows
	// of the grid are treated as NaN.
	Series *series.Series
	// CapacityPerReplica is the demand one replica serves at 100 %
	// utilisation, in the trace's units. Required.
	CapacityPerReplica float64
	// TargetUtilization is the share of a replica's capacity the autoscaler
	// aims for: the HPA's AverageValue target is CapacityPerReplica ×
	// TargetUtilization. In (0, 1]; default 0.8.
	TargetUtilization float64
	// Lead is the time a new replica needs to become ready; it is also the
	// predictive arm's forecast horizon and the oracle's look-ahead. It is
	// rounded up to a whole number of trace steps. Default 5m.
	Lead time.Duration
	// Stabilization is the HPA's scale-down stabilisation window. Default 5m.
	Stabilization time.Duration
	// Tolerance is the HPA's tolerance. Default decision.DefaultTolerance.
	Tolerance float64
	// MinReplicas and MaxReplicas bound every arm; MaxReplicas 0 means no
	// upper bound. Default 1 and 0.
	MinReplicas, MaxReplicas int
	// InitialReplicas is every arm's replica count (all ready) at the first
	// step of the trace; 0 means what the HPA would choose for the first
	// known demand value at TargetUtilization.
	InitialReplicas int
	// Train is the trailing window the forecaster is trained on; the first
	// Train + max(Lead, Stabilization) of the trace is warm-up and is not
	// scored. Default 7d.
	Train time.Duration
	// Retrain is the period between trainings. Default 24h.
	Retrain time.Duration
	// Forecaster makes the predictive arm's forecasts. Required unless
	// Planner is set.
	Forecaster Forecaster
	// Planner, when set, chooses the predictive arm's policy at every
	// training from the trailing Train window alone (no look-ahead), the
	// way the trainer does for a Model: Forecaster, Params and Decision are
	// then ignored. A plan may be reactive, in which case the arm serves the
	// current demand until the next training.
	Planner Planner
	// Params are passed to every Train call.
	Params abi.Params
	// Seed is passed to every Train and Predict call.
	Seed uint64
	// Decision configures how a forecast becomes a metric value, exactly as
	// in the scaler: Aggregation, Bound, ReactiveFloor, Anchor and
	// AnchorHalfLife (the current value for the floor and the anchor is the
	// demand of the step). Horizon is ignored
	// (the simulator uses the rounded Lead) and so is MaxForecastAge (a
	// model is used until the next retraining).
	Decision decision.Options
	// Sweep runs every arm at each of Utilizations (TargetUtilization is
	// added when missing) and reports trade-off curves and the comparison at
	// equal replica-hours.
	Sweep bool
	// Utilizations are the target utilisations of a sweep. Default 0.5 to
	// 1 in steps of 0.025 (21 points): reactive's trade-off curve is
	// strongly convex near 1 on smooth traces, and a coarser grid's
	// straight segments overstate reactive's under-provisioning between
	// its points (docs/simulation-results.md). Each point only replays the
	// replica model, which costs little next to the forecasts.
	Utilizations []float64
	// Logger receives progress at Info level; nil discards it.
	Logger *slog.Logger
	// Progress, when set, is called after each forecast period (training
	// and prediction) with the number of periods done and their total.
	Progress func(done, total int)
	// Label names the forecaster in the result (e.g. "prophet 1.0.0").
	Label string
}

// Planner chooses a policy from a trailing window of history. host/policy
// implements it with the trainer's policy search.
type Planner interface {
	// Plan returns the policy for the time right after the request's
	// window, knowing only that window.
	Plan(ctx context.Context, req PlanRequest) (Plan, error)
}

// PlanRequest is the history a Planner sees.
type PlanRequest struct {
	// Timestamps (Unix milliseconds, on the trace's grid) and Values (NaN
	// where unknown) are the trailing training window.
	Timestamps []int64
	Values     []float64
	// Step is the trace's step; Lead the lead rounded up to whole steps.
	Step, Lead time.Duration
}

// Plan is a Planner's choice.
type Plan struct {
	// Reactive makes the arm serve the current demand (the HPA's own
	// input) until the next plan.
	Reactive bool
	// Forecaster and Model predict the period (unless Reactive).
	Forecaster Forecaster
	Model      []byte
	// Decision reads the forecast, as the scaler would.
	Decision decision.Options
	// Label describes the plan for logs.
	Label string
}

// DefaultOptions returns the defaults documented on Options. Series,
// CapacityPerReplica and Forecaster must still be set.
func DefaultOptions() Options {
	d := decision.DefaultOptions()
	return Options{
		TargetUtilization: 0.8,
		Lead:              5 * time.Minute,
		Stabilization:     5 * time.Minute,
		Tolerance:         decision.DefaultTolerance,
		MinReplicas:       1,
		Train:             7 * 24 * time.Hour,
		Retrain:           24 * time.Hour,
		Decision:          d,
		Utilizations:      DefaultUtilizations(),
	}
}

// DefaultUtilizations returns the default sweep grid: 0.5, 0.525, …, 1.
func DefaultUtilizations() []float64 {
	u := make([]float64, 21)
	for i := range u {
		u[i] = float64(20+i) / 40
	}
	return u
}

// Validate checks the options.
func (o *Options) Validate() error {
	switch {
	case o.Series == nil || o.Series.Len() == 0:
		return fmt.Errorf("series: empty")
	case !(o.CapacityPerReplica > 0) || math.IsInf(o.CapacityPerReplica, 0):
		return fmt.Errorf("capacity per replica %g: must be a positive number", o.CapacityPerReplica)
	case o.Lead < 0:
		return fmt.Errorf("lead %s: must not be negative", o.Lead)
	case o.Stabilization < 0:
		return fmt.Errorf("stabilization %s: must not be negative", o.Stabilization)
	case o.Train <= 0:
		return fmt.Errorf("train %s: must be positive", o.Train)
	case o.Retrain <= 0:
		return fmt.Errorf("retrain %s: must be positive", o.Retrain)
	case o.Forecaster == nil && o.Planner == nil:
		return fmt.Errorf("forecaster: none given")
	case o.InitialReplicas < 0:
		return fmt.Errorf("initial replicas %d: must not be negative", o.InitialReplicas)
	}
	if err := checkUtilization(o.TargetUtilization); err != nil {
		return fmt.Errorf("target utilization: %w", err)
	}
	if o.Sweep {
		if len(o.Utilizations) == 0 {
			return fmt.Errorf("utilizations: empty list for a sweep")
		}
		for _, u := range o.Utilizations {
			if err := checkUtilization(u); err != nil {
				return fmt.Errorf("utilizations: %w", err)
			}
		}
	}
	h := decision.HPA{TargetValue: o.CapacityPerReplica * o.TargetUtilization, MinReplicas: o.MinReplicas, MaxReplicas: o.MaxReplicas, Tolerance: o.Tolerance}
	if err := h.Validate(); err != nil {
		return err
	}
	d := o.Decision
	d.Horizon, d.MaxForecastAge = 0, 0
	if err := d.Validate(); err != nil {
		return fmt.Errorf("decision: %w", err)
	}
	if err := o.Series.Validate(); err != nil {
		return err
	}
	return nil
}

func checkUtilization(u float64) error {
	if !(u > 0 && u <= 1) {
		return fmt.Errorf("%g: must be in (0, 1]", u)
	}
	return nil
}
