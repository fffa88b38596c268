package policy

import (
	"context"

	"github.com/ppa-autoscaler/ppa/host/simulate"
)

// Planner makes the simulator learn its policy at every training, the way
// the trainer does for a Model: it implements simulate.Planner with Search.
type Planner struct {
	// Config is the search's configuration; its Lead is replaced by the
	// simulator's (rounded) lead.
	Config Config
	// OnPlan, when set, receives every search's result (for reports).
	OnPlan func(at int64, res *Result)
}

// Plan searches the policy on the request's window.
func (p *Planner) Plan(ctx context.Context, req simulate.PlanRequest) (simulate.Plan, error) {
	cfg := p.Config
	cfg.Lead = req.Lead
	res, err := Search(ctx, cfg, req.Timestamps, req.Values)
	if err != nil {
		return simulate.Plan{}, err
	}
	if p.OnPlan != nil && len(req.Timestamps) > 0 {
		p.OnPlan(req.Timestamps[len(req.Timestamps)-1]+req.Step.Milliseconds(), res)
	}
	opts, ok, err := res.Policy.Options(req.Lead)
	if err != nil {
		return simulate.Plan{}, err
	}
	if !ok {
		return simulate.Plan{Reactive: true, Label: res.Policy.Describe()}, nil
	}
	return simulate.Plan{Forecaster: res.Forecaster.Forecaster, Model: res.Model, Decision: opts, Label: res.Policy.Describe()}, nil
}
