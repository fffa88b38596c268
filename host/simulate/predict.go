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

// predictive is the output of the predictive arm's forecasting pass.
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
	stats    ForecastStats
}

// forecast runs the predictive arm's trainings and predictions. Steps
// before evalFrom (warm-up) use the current demand as metric. From
// evalFrom on, at every retrain steps, the forecaster is trained on the
// train steps before; one Predict call then covers the whole period up to
// the next training plus the lead, and each step's decision reads its
// window [t, t+lead] from that curve, exactly as the scaler reads a cached
// forecast.
func (o *Options) forecast(ctx context.Context, g *grid, evalFrom, lead, trainSteps, retrainSteps int) (*predictive, error) {
	n := len(g.y)
	p := &predictive{
		metric: make([]float64, n),
		arm:    make([]decision.Arm, n),
		yhat:   nanSlice(n), lower: nanSlice(n), upper: nanSlice(n),
		leadYhat: nanSlice(n), anchored: make([]bool, n),
	}
	copy(p.metric[:evalFrom], g.y[:evalFrom])
	dopts := o.Decision
	dopts.Horizon = time.Duration(lead) * g.stepDuration()
	dopts.MaxForecastAge = 0
	var (
		model     []byte
		trainedAt int64
		fc        decision.Forecast
		total     = (n - evalFrom + retrainSteps - 1) / retrainSteps
		done      int
	)
	for r := evalFrom; r < n; r += retrainSteps {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		from := max(0, r-trainSteps)
		ts := make([]int64, r-from)
		for i := range ts {
			ts[i] = g.at(from + i)
		}
		vals := g.y[from:r]
		when := time.UnixMilli(g.at(r)).UTC()
		if countValid(vals) == 0 {
			p.stats.SkippedTrainings++
			o.warnf("training window has no known value; keeping the previous model", "at", when)
		} else {
			resp, err := o.Forecaster.Train(ctx, &abi.TrainRequest{Params: o.Params, Seed: o.Seed, Timestamps: ts, Values: vals})
			var ae *abi.Error
			switch {
			case errors.As(err, &ae) && ae.Status == abi.StatusInsufficientData:
				p.stats.SkippedTrainings++
				o.warnf("forecaster reports insufficient data; keeping the previous model", "at", when, "error", err)
			case err != nil:
				return nil, fmt.Errorf("predictive arm: train at %s on %s..%s: %w", when.Format(time.RFC3339), time.UnixMilli(ts[0]).UTC().Format(time.RFC3339), when.Format(time.RFC3339), err)
			default:
				model, trainedAt = resp.Model, g.at(r)
				p.stats.Trainings++
			}
		}
		end := min(r+retrainSteps, n) // steps [r, end) use this curve
		var cur *decision.Forecast
		if model != nil {
			pts := make([]int64, end-r+lead)
			for i := range pts {
				pts[i] = g.at(r + i)
			}
			resp, err := o.Forecaster.Predict(ctx, &abi.PredictRequest{Model: model, Seed: o.Seed, Timestamps: pts})
			if err != nil {
				return nil, fmt.Errorf("predictive arm: predict at %s: %w", when.Format(time.RFC3339), err)
			}
			f, err := decision.NewForecast(time.UnixMilli(trainedAt), pts, resp.Yhat, resp.Lower, resp.Upper)
			if err != nil {
				return nil, fmt.Errorf("predictive arm: predict at %s: %w", when.Format(time.RFC3339), err)
			}
			cur = f
			for i := r; i < end; i++ {
				pt := f.Points[i-r]
				p.yhat[i], p.lower[i], p.upper[i] = pt.Yhat, pt.Lower, pt.Upper
			}
		}
		for i := r; i < end; i++ {
			if math.IsNaN(g.y[i]) {
				p.metric[i] = math.NaN() // a gap step: every arm holds
				continue
			}
			in := decision.Input{Now: time.UnixMilli(g.at(i)), Current: g.y[i], HasCurrent: true}
			if cur != nil {
				fc.GeneratedAt = cur.GeneratedAt
				fc.Points = cur.Points[i-r : i-r+lead+1]
				in.Forecast = &fc
			}
			d, err := dopts.Decide(in)
			if err != nil {
				p.metric[i] = math.NaN()
				continue
			}
			p.metric[i], p.arm[i] = d.Value, d.Arm
			p.anchored[i] = !math.IsNaN(d.Residual)
			if cur != nil && i+lead < n && d.ForecastErr == nil {
				y := cur.Points[i-r+lead].Yhat
				if p.anchored[i] {
					y += dopts.AnchorShift(d.Residual, dopts.Horizon)
				}
				p.leadYhat[i+lead] = y
			}
		}
		done++
		o.logf("forecast period done", "at", when, "period", done, "of", total)
		if o.Progress != nil {
			o.Progress(done, total)
		}
	}
	return p, nil
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
