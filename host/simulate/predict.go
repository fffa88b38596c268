package simulate

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/ppa-autoscaler/ppa/abi"
	"github.com/ppa-autoscaler/ppa/host/decision"
)

// ForecastStats describes the predictive arm's forecasts over the scored
// period.
type ForecastStats struct {
	// Trainings is the number of successful Train calls.
	Trainings int `json:"trainings"`
	// SkippedTrainings counts retraining times whose window had too little
	// data (no known value, or the plugin answered INSUFFICIENT_DATA); the
	// previous model, if any, was used instead.
	SkippedTrainings int `json:"skipped_trainings"`
	// ForecastMinutes is the number of scored minutes where the forecast
	// gave the metric value.
	ForecastMinutes float64 `json:"forecast_minutes"`
	// FloorMinutes is the number of scored minutes where the reactive floor
	// gave it (the current value was higher, or the forecast was unusable).
	FloorMinutes float64 `json:"floor_minutes"`
	// UnavailableMinutes is the number of scored minutes with no usable
	// forecast and no floor: the arm held its replicas, as the HPA does
	// when KEDA reports an error.
	UnavailableMinutes float64 `json:"unavailable_minutes"`
	// ReactiveMinutes is the number of scored minutes in periods whose
	// planned policy was reactive (Options.Planner): the arm served the
	// current value, as the HPA does.
	ReactiveMinutes float64 `json:"reactive_minutes,omitempty"`
	// MAE is the mean absolute error of yhat against the demand over the
	// scored steps, where yhat for a step is read from the curve predicted
	// at the last training before it (so it is 0 to Retrain+Lead ahead).
	MAE float64 `json:"mae"`
	// LeadMAE is the mean absolute error, over the scored steps, of the
	// yhat the decision Lead earlier read for the step: the curve's yhat,
	// shifted by the anchoring residual when the decision anchored it. It
	// is the forecast's error at the horizon that matters for scaling.
	LeadMAE float64 `json:"lead_mae"`
	// PersistenceMAE is the same error for the demand Lead earlier used as
	// the forecast (what the reactive arm implicitly assumes), for
	// reference.
	PersistenceMAE float64 `json:"persistence_mae"`
	// AnchoredMinutes is the number of scored minutes whose decision
	// anchored the forecast to the current demand (with Decision.Anchor).
	AnchoredMinutes float64 `json:"anchored_minutes,omitempty"`
}

// predictive is the output of the predictive arm's decisions.
type predictive struct {
	metric []float64 // metric value per step; NaN = hold
	arm    []decision.Arm
	// yhat, lower and upper are the forecast for each step itself, from
	// the model in force at that step (NaN where none), for plots.
	yhat, lower, upper []float64
	// leadYhat[i] is the yhat (anchored when the decision anchored) that
	// the decision at step i−lead read for step i; NaN where none.
	leadYhat []float64
	// anchored[i] says whether the decision at step i anchored.
	anchored []bool
	// reactive[i] says whether step i's period was planned reactive.
	reactive []bool
}

// period is one forecast period of the predictive arm: the steps
// [start, end) read their windows from one curve.
type period struct {
	start, end int
	// fc covers the steps [start, end+lead); nil when there was no model
	// (or the plan was reactive).
	fc *decision.Forecast
	// plan is the planner's choice for the period (Options.Planner), nil
	// without a planner.
	plan *Plan
}

// forecastPeriods runs the predictive arm's trainings and predictions.
// From evalFrom on, at every retrain steps, the forecaster is trained on
// the train steps before (or the planner plans on them); one Predict call
// then covers the whole period up to the next training plus the lead, and
// each step's decision reads its window [t, t+lead] from that curve,
// exactly as the scaler reads a cached forecast.
func (o *Options) forecastPeriods(ctx context.Context, g *grid, evalFrom, lead, trainSteps, retrainSteps int) ([]period, ForecastStats, error) {
	n := len(g.y)
	var (
		periods   []period
		stats     ForecastStats
		model     []byte
		trainedAt int64
		fcaster   = o.Forecaster
		total     = (n - evalFrom + retrainSteps - 1) / retrainSteps
		done      int
		plan      *Plan
	)
	for r := evalFrom; r < n; r += retrainSteps {
		if err := ctx.Err(); err != nil {
			return nil, stats, err
		}
		from := max(0, r-trainSteps)
		ts := make([]int64, r-from)
		for i := range ts {
			ts[i] = g.at(from + i)
		}
		vals := g.y[from:r]
		when := time.UnixMilli(g.at(r)).UTC()
		switch {
		case countValid(vals) == 0:
			stats.SkippedTrainings++
			o.warnf("training window has no known value; keeping the previous model", "at", when)
		case o.Planner != nil:
			pl, err := o.Planner.Plan(ctx, PlanRequest{Timestamps: ts, Values: vals, Step: g.stepDuration(), Lead: time.Duration(lead) * g.stepDuration()})
			if err != nil {
				return nil, stats, fmt.Errorf("predictive arm: plan at %s on %s..%s: %w", when.Format(time.RFC3339), time.UnixMilli(ts[0]).UTC().Format(time.RFC3339), when.Format(time.RFC3339), err)
			}
			plan = &pl
			stats.Trainings++
			model, fcaster, trainedAt = pl.Model, pl.Forecaster, g.at(r)
			if pl.Reactive {
				model = nil
			}
		default:
			resp, err := o.Forecaster.Train(ctx, &abi.TrainRequest{Params: o.Params, Seed: o.Seed, Timestamps: ts, Values: vals})
			var ae *abi.Error
			switch {
			case errors.As(err, &ae) && ae.Status == abi.StatusInsufficientData:
				stats.SkippedTrainings++
				o.warnf("forecaster reports insufficient data; keeping the previous model", "at", when, "error", err)
			case err != nil:
				return nil, stats, fmt.Errorf("predictive arm: train at %s on %s..%s: %w", when.Format(time.RFC3339), time.UnixMilli(ts[0]).UTC().Format(time.RFC3339), when.Format(time.RFC3339), err)
			default:
				model, trainedAt = resp.Model, g.at(r)
				stats.Trainings++
			}
		}
		end := min(r+retrainSteps, n) // steps [r, end) use this curve
		p := period{start: r, end: end, plan: plan}
		if model != nil {
			pts := make([]int64, end-r+lead)
			for i := range pts {
				pts[i] = g.at(r + i)
			}
			resp, err := fcaster.Predict(ctx, &abi.PredictRequest{Model: model, Seed: o.Seed, Timestamps: pts})
			if err != nil {
				return nil, stats, fmt.Errorf("predictive arm: predict at %s: %w", when.Format(time.RFC3339), err)
			}
			f, err := decision.NewForecast(time.UnixMilli(trainedAt), pts, resp.Yhat, resp.Lower, resp.Upper)
			if err != nil {
				return nil, stats, fmt.Errorf("predictive arm: predict at %s: %w", when.Format(time.RFC3339), err)
			}
			p.fc = f
		}
		periods = append(periods, p)
		done++
		o.logf("forecast period done", "at", when, "period", done, "of", total)
		if o.Progress != nil {
			o.Progress(done, total)
		}
	}
	return periods, stats, nil
}

// decide turns the periods' curves into the predictive arm's metric, step
// by step, with the decision options dopts (a period's plan, when it has
// one, overrides them). margins, when not nil, replaces dopts.Margin per
// period. Steps before evalFrom (warm-up) use the current demand.
func decide(g *grid, periods []period, evalFrom, lead int, dopts decision.Options, margins []float64) *predictive {
	n := len(g.y)
	p := &predictive{
		metric: make([]float64, n),
		arm:    make([]decision.Arm, n),
		yhat:   nanSlice(n), lower: nanSlice(n), upper: nanSlice(n),
		leadYhat: nanSlice(n), anchored: make([]bool, n), reactive: make([]bool, n),
	}
	copy(p.metric[:evalFrom], g.y[:evalFrom])
	horizon := time.Duration(lead) * g.stepDuration()
	var fc decision.Forecast
	for k, per := range periods {
		d := dopts
		if per.plan != nil {
			d = per.plan.Decision
		}
		if margins != nil {
			d.Margin = margins[k]
		}
		d.Horizon, d.MaxForecastAge = horizon, 0
		cur := per.fc
		reactive := per.plan != nil && per.plan.Reactive
		if cur != nil {
			for i := per.start; i < per.end; i++ {
				pt := cur.Points[i-per.start]
				p.yhat[i], p.lower[i], p.upper[i] = pt.Yhat, pt.Lower, pt.Upper
			}
		}
		for i := per.start; i < per.end; i++ {
			if math.IsNaN(g.y[i]) {
				p.metric[i] = math.NaN() // a gap step: every arm holds
				continue
			}
			if reactive {
				p.metric[i], p.arm[i], p.reactive[i] = g.y[i], decision.ArmFloor, true
				continue
			}
			in := decision.Input{Now: time.UnixMilli(g.at(i)), Current: g.y[i], HasCurrent: true}
			if cur != nil {
				fc.GeneratedAt = cur.GeneratedAt
				fc.Points = cur.Points[i-per.start : i-per.start+lead+1]
				in.Forecast = &fc
			}
			dec, err := d.Decide(in)
			if err != nil {
				p.metric[i] = math.NaN()
				continue
			}
			p.metric[i], p.arm[i] = dec.Value, dec.Arm
			p.anchored[i] = !math.IsNaN(dec.Residual)
			if cur != nil && i+lead < n && dec.ForecastErr == nil {
				y := cur.Points[i-per.start+lead].Yhat
				if p.anchored[i] {
					y += d.AnchorShift(dec.Residual, horizon)
				}
				p.leadYhat[i+lead] = y
			}
		}
	}
	return p
}

func (o *Options) logf(msg string, args ...any) {
	if o.Logger != nil {
		o.Logger.Info(msg, args...)
	}
}

func (o *Options) warnf(msg string, args ...any) {
	if o.Logger != nil {
		o.Logger.Warn(msg, args...)
	}
}

func nanSlice(n int) []float64 {
	s := make([]float64, n)
	for i := range s {
		s[i] = math.NaN()
	}
	return s
}

func countValid(y []float64) int {
	n := 0
	for _, v := range y {
		if !math.IsNaN(v) {
			n++
		}
	}
	return n
}
