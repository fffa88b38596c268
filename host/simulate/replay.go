package simulate

import (
	"math"
	"time"

	"github.com/ppa-autoscaler/ppa/host/decision"
)

// Span is a forecast period of a Replay: the steps [Start, End) decide on
// one curve, made by the training at Start from the steps before it.
type Span struct {
	Start, End int
	// At is the time of step Start.
	At time.Time
	// Trained is false when the period had no model (too little data).
	Trained bool
}

// Spans returns the replay's forecast periods in time order.
func (rp *Replay) Spans() []Span {
	out := make([]Span, len(rp.periods))
	for k, p := range rp.periods {
		out[k] = Span{Start: p.start, End: p.end, At: time.UnixMilli(rp.g.at(p.start)).UTC(), Trained: p.fc != nil}
	}
	return out
}

// Steps returns the number of steps of the replay's grid.
func (rp *Replay) Steps() int { return len(rp.g.y) }

// Demand returns the trace on the grid (NaN = unknown). Do not modify it.
func (rp *Replay) Demand() []float64 { return rp.g.y }

// Oracle returns, per step, the largest known demand of the step and the
// lead after it: what the decision at that step must cover. Do not modify
// it.
func (rp *Replay) Oracle() []float64 { return rp.oracle }

// LeadSteps returns the lead in whole steps.
func (rp *Replay) LeadSteps() int { return rp.lead }

// StepDuration returns the grid's step.
func (rp *Replay) StepDuration() time.Duration { return rp.g.stepDuration() }

// Decisions is the predictive arm replayed with one set of decision rules.
type Decisions struct {
	// Metric is the value handed to the HPA per step (NaN = hold), Value of
	// decision.Decision; Forecast is the aggregated forecast before the
	// reactive floor (Decision.Forecast; NaN when unusable) and Unclamped
	// the same before the clamp at 0 (Decision.Unclamped).
	Metric, Forecast, Unclamped []float64
	// Yhat is each step's own forecast (from the curve in force), and
	// LeadYhat the yhat that the decision a lead earlier read for the step
	// (anchored when it was); NaN where none.
	Yhat, LeadYhat []float64
}

// Decide replays the periods' curves with the decision options ds, one per
// span (see Spans); a nil ds[k] makes the period's steps hold (NaN).
// Warm-up steps (before the first span) are the demand.
func (rp *Replay) Decide(ds []*decision.Options) *Decisions {
	g := rp.g
	n := len(g.y)
	out := &Decisions{Metric: make([]float64, n), Forecast: nanSlice(n), Unclamped: nanSlice(n), Yhat: nanSlice(n), LeadYhat: nanSlice(n)}
	copy(out.Metric[:rp.trainSteps], g.y[:rp.trainSteps])
	horizon := time.Duration(rp.lead) * g.stepDuration()
	var fc decision.Forecast
	for k, per := range rp.periods {
		cur := per.fc
		if cur != nil {
			for i := per.start; i < per.end; i++ {
				out.Yhat[i] = cur.Points[i-per.start].Yhat
			}
		}
		if ds[k] == nil {
			for i := per.start; i < per.end; i++ {
				out.Metric[i] = math.NaN()
			}
			continue
		}
		d := *ds[k]
		d.Horizon, d.MaxForecastAge = horizon, 0
		for i := per.start; i < per.end; i++ {
			if math.IsNaN(g.y[i]) {
				out.Metric[i] = math.NaN()
				continue
			}
			in := decision.Input{Now: time.UnixMilli(g.at(i)), Current: g.y[i], HasCurrent: true}
			if cur != nil {
				fc.GeneratedAt = cur.GeneratedAt
				fc.Points = cur.Points[i-per.start : i-per.start+rp.lead+1]
				in.Forecast = &fc
			}
			dec, err := d.Decide(in)
			if err != nil {
				out.Metric[i] = math.NaN()
				continue
			}
			out.Metric[i], out.Forecast[i], out.Unclamped[i] = dec.Value, dec.Forecast, dec.Unclamped
			if cur != nil && i+rp.lead < n && dec.ForecastErr == nil {
				y := cur.Points[i-per.start+rp.lead].Yhat
				if !math.IsNaN(dec.Residual) {
					y += d.AnchorShift(dec.Residual, horizon)
				}
				out.LeadYhat[i+rp.lead] = y
			}
		}
	}
	return out
}

// Curve plays a metric series (one value per step, NaN = hold) through the
// replica model at each target utilisation and scores the steps [from, n):
// one curve point per utilisation. oracle selects the oracle's replica
// rule (tolerance only downwards).
func (rp *Replay) Curve(metric []float64, from int, utils []float64, oracle bool) []CurvePoint {
	out := make([]CurvePoint, 0, len(utils))
	for _, u := range utils {
		m := rp.model(u)
		m.downOnly = oracle
		tr := m.run(metric)
		out = append(out, curvePoint(u, score(rp.g.y, tr, from, rp.o.CapacityPerReplica, rp.g.stepDuration().Minutes())))
	}
	return out
}
