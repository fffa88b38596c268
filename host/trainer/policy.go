package trainer

import (
	"context"
	"fmt"
	"math"

	"github.com/ppa-autoscaler/ppa/abi"
	"github.com/ppa-autoscaler/ppa/host/policy"
	"github.com/ppa-autoscaler/ppa/host/series"
	"github.com/ppa-autoscaler/ppa/plugins/seasonalnaive"
)

// searchPolicy runs the policy search on the history with the resolved
// candidates (params apply to a single, named plugin).
func (r *run) searchPolicy(ctx context.Context, s *series.Series, cands []*resolvedPlugin, params abi.Params) (*policy.Result, error) {
	sc := r.o.Scaling
	cfg := policy.DefaultConfig()
	cfg.Lead = sc.Lead
	if cfg.Lead == 0 {
		cfg.Lead = DefaultLead
	}
	cfg.TargetUtilization = sc.TargetUtilization
	if cfg.TargetUtilization == 0 {
		cfg.TargetUtilization = DefaultTargetUtilization
	}
	assumed := ""
	if sc.TargetValue > 0 {
		cfg.CapacityPerReplica = sc.TargetValue / cfg.TargetUtilization
	} else {
		peak := math.Inf(-1)
		for _, v := range s.Y {
			if !math.IsNaN(v) {
				peak = max(peak, v)
			}
		}
		if !(peak > 0) {
			return nil, fmt.Errorf("policy: no target value given and the history has no positive value to derive one from")
		}
		cfg.CapacityPerReplica = peak / DefaultPeakReplicas
		assumed = fmt.Sprintf("no target value given: assumed the history's peak %.6g needs %d replicas (capacity %.6g per replica)", peak, DefaultPeakReplicas, cfg.CapacityPerReplica)
	}
	cfg.Seed = r.o.Seed
	cfg.Logger = r.log
	for _, c := range cands {
		cand := policy.Candidate{Name: c.ref.Name, Params: c.params, Forecaster: c.plugin}
		if len(cands) == 1 && c.params == nil {
			cand.Params = params
		}
		cfg.Candidates = append(cfg.Candidates, cand)
	}
	for i := range cfg.Candidates {
		if cfg.Candidates[i].Name == seasonalnaive.Name {
			cfg.Baseline = &cfg.Candidates[i]
		}
	}
	res, err := policy.Search(ctx, cfg, s.T, s.Y)
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("policy search: %w", err)
		}
		// The model can still serve forecasts; only the scaling stays
		// reactive, and the manifest says why.
		r.log.Warn("policy search failed: the policy is reactive", "error", err)
		res = &policy.Result{Policy: policy.Policy{Mode: policy.ModeReactive, Reason: "policy search failed: " + err.Error(),
			Settings: policy.Settings{Lead: cfg.Lead.String(), CapacityPerReplica: cfg.CapacityPerReplica, TargetUtilization: cfg.TargetUtilization, MinGain: cfg.MinGain}}}
	}
	res.Policy.Settings.Assumed = assumed
	r.log.Info("policy", "policy", res.Policy.Describe())
	return res, nil
}
