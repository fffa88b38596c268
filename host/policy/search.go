package policy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"sort"
	"time"

	"github.com/ppa-autoscaler/ppa/abi"
	"github.com/ppa-autoscaler/ppa/host/decision"
	"github.com/ppa-autoscaler/ppa/host/series"
	"github.com/ppa-autoscaler/ppa/host/simulate"
)

// Candidate is a forecaster the search may pick.
type Candidate struct {
	// Name is the plugin's name, as stored in the policy.
	Name string
	// Params are passed to every training.
	Params abi.Params
	// Forecaster trains and predicts (an engine plugin or a native one).
	Forecaster simulate.Forecaster
}

// Config configures a search. Start from DefaultConfig.
type Config struct {
	// Lead is the forecast horizon: the time a new replica needs to become
	// ready. Required.
	Lead time.Duration
	// CapacityPerReplica is the demand one replica serves at 100 %
	// utilisation; TargetUtilization the share the HPA aims for (the HPA's
	// target value is their product). Required.
	CapacityPerReplica, TargetUtilization float64
	// Stabilization, Tolerance, MinReplicas and MaxReplicas are the HPA's,
	// as in simulate.Options.
	Stabilization            time.Duration
	Tolerance                float64
	MinReplicas, MaxReplicas int
	// Candidates are the forecasters to try, in order of preference on a
	// tie.
	Candidates []Candidate
	// Baseline, when set, is scored as seasonal naive with the reactive
	// floor, for the record (Benefit.Baseline); it is not a candidate
	// unless it is also in Candidates.
	Baseline *Candidate
	// MinGain is the share of the reactive → oracle gap a policy must close
	// on the history, at the target and pooled, to be kept. Default 0.1.
	MinGain float64
	// Quantiles are the margin quantiles tried (0 = no margin). Default
	// 0, 0.05, 0.1, 0.25, 0.5, 0.75, 0.9: low quantiles give negative
	// margins, which pay for the reactive floor's extra replicas.
	Quantiles []float64
	// MaxExtraCost bounds the replica-hours a policy may spend above the
	// HPA's at the same target utilisation, as a share (default 0.05): the
	// search compares at equal replica-hours, so headroom is not what it
	// may buy.
	MaxExtraCost float64
	// Seed is passed to every training and prediction.
	Seed uint64
	// Logger receives progress at Debug level; nil discards it.
	Logger *slog.Logger
}

// DefaultConfig returns the documented defaults; Lead, the capacity, the
// target utilisation and the candidates must still be set.
func DefaultConfig() Config {
	return Config{
		Stabilization: 5 * time.Minute,
		Tolerance:     decision.DefaultTolerance,
		MinReplicas:   1,
		MinGain:       0.1,
		Quantiles:     []float64{0, 0.5, 0.75, 0.9},
		MaxExtraCost:  0.2,
	}
}

// Row is one candidate policy as the search scored it.
type Row struct {
	// Label names the forecaster and the rules, e.g.
	// "seasonal-profile max/learned/q0.9/floor".
	Label      string `json:"label"`
	Forecaster string `json:"forecaster"`
	GapClosed  Num    `json:"gap_closed"`
	// PooledGapClosed is the score: the gap closed pooled over the target
	// ± 0.1.
	PooledGapClosed       Num `json:"pooled_gap_closed"`
	UnderprovisionedRatio Num `json:"underprovisioned_ratio"`
	ReplicaHoursRatio     Num `json:"replica_hours_ratio"`
	LeadMAE               Num `json:"lead_mae"`
	// Eligible says whether the variant met the conditions to be kept
	// (gain, cost, lead error).
	Eligible bool `json:"eligible"`
	// Chosen marks the kept policy's row.
	Chosen bool `json:"chosen,omitempty"`
}

// Result is the outcome of Search.
type Result struct {
	// Policy is the learned policy.
	Policy Policy
	// Forecaster is the chosen candidate, Model its model trained on the
	// whole history and Info what the training reported (predictive only).
	Forecaster *Candidate
	Model      []byte
	Info       map[string]any
	// Rows are the candidate policies scored, best first.
	Rows []Row
}

// anchorMode is one of the anchoring variants the search tries.
type anchorMode int

const (
	anchorNone anchorMode = iota
	anchorFull
	anchorLearned
)

func (a anchorMode) String() string {
	return [...]string{"unanchored", "anchored", "learned-anchor"}[a]
}

// Errors a search reports.
var (
	// ErrNoCandidate: Config.Candidates is empty.
	ErrNoCandidate = errors.New("policy: no candidate forecaster")
)

// Search learns the policy for the history ts, vals (Unix milliseconds on a
// regular grid, NaN where unknown). It fails only on invalid input; a
// history that cannot support a predictive policy yields the reactive one.
func Search(ctx context.Context, cfg Config, ts []int64, vals []float64) (*Result, error) {
	if len(cfg.Candidates) == 0 {
		return nil, ErrNoCandidate
	}
	if !(cfg.CapacityPerReplica > 0) || math.IsInf(cfg.CapacityPerReplica, 0) {
		return nil, fmt.Errorf("policy: capacity per replica %g: must be a positive number", cfg.CapacityPerReplica)
	}
	if !(cfg.TargetUtilization > 0 && cfg.TargetUtilization <= 1) {
		return nil, fmt.Errorf("policy: target utilization %g: must be in (0, 1]", cfg.TargetUtilization)
	}
	if cfg.Lead <= 0 {
		return nil, fmt.Errorf("policy: lead %s: must be positive", cfg.Lead)
	}
	if len(ts) != len(vals) {
		return nil, fmt.Errorf("policy: %d timestamps but %d values", len(ts), len(vals))
	}
	s := &searcher{cfg: cfg, hist: &series.Series{T: ts, Y: vals}}
	res := &Result{Policy: Policy{Mode: ModeReactive, Settings: Settings{
		Lead: cfg.Lead.String(), CapacityPerReplica: cfg.CapacityPerReplica,
		TargetUtilization: cfg.TargetUtilization, MinGain: cfg.MinGain,
	}}}
	if len(ts) < 2 {
		res.Policy.Reason = fmt.Sprintf("history too short: %d points", len(ts))
		return res, nil
	}
	if err := s.hist.Validate(); err != nil {
		return nil, fmt.Errorf("policy: %w", err)
	}
	step := s.hist.Step()
	res.Policy.Settings.Step = step.String()
	span := time.Duration(ts[len(ts)-1]-ts[0])*time.Millisecond + step
	s.fold = min(24*time.Hour, span/6).Truncate(step)
	minFold := max(time.Hour, 12*cfg.Lead, 12*step)
	if s.fold < minFold {
		res.Policy.Reason = fmt.Sprintf("history too short for walk-forward scoring: it spans %s; two scored folds of at least %s (max(1h, 12 × lead, 12 steps)) after a training half need at least %s", span, minFold, 6*minFold)
		return res, nil
	}
	s.train = (span / 2).Truncate(step)
	res.Policy.Settings.FoldLength = s.fold.String()
	if err := s.baselines(ctx); err != nil {
		return nil, err
	}
	return s.search(ctx, res)
}

// search scores the candidates on the folds and keeps the winner.
func (s *searcher) search(ctx context.Context, res *Result) (*Result, error) {
	cfg := s.cfg
	res.Policy.Settings.Folds = len(s.spans) - 1
	if s.reactiveTarget <= 0 {
		res.Policy.Reason = fmt.Sprintf("the HPA was never short on the history's %d scored folds at target utilization %g: there is nothing to gain", len(s.spans)-1, cfg.TargetUtilization)
		return res, nil
	}
	type best struct {
		ev   *evaluation
		cand *candidateRun
	}
	var winner, top *best
	var runs []*candidateRun
	for i := range cfg.Candidates {
		c := &cfg.Candidates[i]
		run, err := s.runCandidate(ctx, c)
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			s.logf("candidate skipped", "forecaster", c.Name, "error", err)
			res.Rows = append(res.Rows, Row{Label: c.Name + " (failed: " + err.Error() + ")", Forecaster: c.Name, GapClosed: Num(math.NaN()), PooledGapClosed: Num(math.NaN()), UnderprovisionedRatio: Num(math.NaN()), ReplicaHoursRatio: Num(math.NaN()), LeadMAE: Num(math.NaN())})
			continue
		}
		runs = append(runs, run)
		for _, ev := range run.evals {
			row := ev.row(c.Name)
			row.Eligible = s.eligible(ev)
			res.Rows = append(res.Rows, row)
			if top == nil || gt(ev.pooled, top.ev.pooled) {
				top = &best{ev, run}
			}
			if s.eligible(ev) && (winner == nil || ev.pooled > winner.ev.pooled) {
				winner = &best{ev, run}
			}
		}
	}
	sort.SliceStable(res.Rows, func(i, j int) bool {
		return gt(float64(res.Rows[i].PooledGapClosed), float64(res.Rows[j].PooledGapClosed))
	})
	if cfg.Baseline != nil {
		if cmp, err := s.baseline(ctx, cfg.Baseline, runs); err == nil {
			res.Policy.Benefit = &Benefit{Baseline: cmp}
		} else {
			s.logf("baseline skipped", "error", err)
		}
	}
	switch {
	case top == nil:
		res.Policy.Reason = "no candidate forecaster could be trained on the history"
		return res, nil
	case winner == nil:
		res.Policy.Reason = fmt.Sprintf("no candidate beats the HPA by the margin on the history: the best, %s, closes %.1f %% of the gap at the target and %.1f %% pooled (at least %.0f %% of both needed, with a lead error at most persistence's %.4g; its is %.4g)",
			top.ev.label(top.cand.c.Name), 100*top.ev.gap, 100*top.ev.pooled, 100*cfg.MinGain, s.persistenceMAE, top.ev.leadMAE)
		return res, nil
	}
	if err := s.finish(ctx, res, winner.cand, winner.ev); err != nil {
		return nil, err
	}
	for i := range res.Rows {
		if res.Rows[i].Label == winner.ev.label(winner.cand.c.Name) {
			res.Rows[i].Chosen = true
		}
	}
	return res, nil
}

// eligible says whether a variant may be kept: it closes at least MinGain
// of the gap at the target and pooled, it spends at most MaxExtraCost more
// replica-hours than the HPA at the target, and its forecast at the lead
// is at least as accurate as the current value (persistence): what it
// adds must be foresight, not headroom that the HPA could buy with a lower
// target.
func (s *searcher) eligible(ev *evaluation) bool {
	return ev.pooled >= s.cfg.MinGain && ev.gap >= s.cfg.MinGain && !ev.leadWorse && ev.rhRatio <= 1+s.cfg.MaxExtraCost
}

// searcher holds one search's state.
type searcher struct {
	cfg         Config
	hist        *series.Series
	fold, train time.Duration
	// spans and from are the folds and the first scored step, the same
	// for every candidate (they depend only on the grid).
	spans []simulate.Span
	from  int
	// utils is the reactive and oracle curves' grid, band the predictive
	// points scored; target is band's index of the target utilisation.
	utils, band      []float64
	target           int
	reactive, oracle []simulate.CurvePoint
	reactiveTarget   float64 // reactive's under-provisioned minutes at the target
	reactiveRH       float64 // reactive's replica-hours at the target
	persistenceMAE   float64
}

func (s *searcher) logf(msg string, args ...any) {
	if s.cfg.Logger != nil {
		s.cfg.Logger.Debug(msg, args...)
	}
}

func (s *searcher) options(c *Candidate) simulate.Options {
	o := simulate.DefaultOptions()
	o.Series = s.hist
	o.CapacityPerReplica = s.cfg.CapacityPerReplica
	o.TargetUtilization = s.cfg.TargetUtilization
	o.Lead, o.Stabilization, o.Tolerance = s.cfg.Lead, s.cfg.Stabilization, s.cfg.Tolerance
	o.MinReplicas, o.MaxReplicas = s.cfg.MinReplicas, s.cfg.MaxReplicas
	o.Train, o.Retrain = s.train, s.fold
	o.Seed = s.cfg.Seed
	if c != nil {
		o.Forecaster, o.Params, o.Label = c.Forecaster, c.Params, c.Name
	} else {
		o.Forecaster = nopForecaster{}
	}
	return o
}

// baselines computes the folds and the reactive and oracle curves on a
// replay without forecasts.
func (s *searcher) baselines(ctx context.Context) error {
	rp, err := simulate.NewReplay(ctx, s.options(nil))
	if err != nil {
		return fmt.Errorf("policy: %w", err)
	}
	s.spans = rp.Spans()
	if len(s.spans) < 3 {
		return fmt.Errorf("policy: %d folds after the training half, want at least 3", len(s.spans))
	}
	s.from = s.spans[1].Start
	s.utils = simulate.DefaultUtilizations()
	u := s.cfg.TargetUtilization
	for _, d := range []float64{-0.1, -0.05, 0, 0.05, 0.1} {
		if v := math.Round((u+d)*1000) / 1000; v > 0 && v <= 1 {
			if d == 0 {
				s.target = len(s.band)
			}
			s.band = append(s.band, v)
		}
	}
	if !slices.Contains(s.utils, u) {
		s.utils = append(s.utils, u)
		slices.Sort(s.utils)
	}
	s.reactive = rp.Curve(rp.Demand(), s.from, s.utils, false)
	s.oracle = rp.Curve(rp.Oracle(), s.from, s.utils, true)
	for _, p := range s.reactive {
		if p.TargetUtilization == u {
			s.reactiveTarget, s.reactiveRH = p.UnderprovisionedMinutes, p.ReplicaHours
		}
	}
	y, lead := rp.Demand(), rp.LeadSteps()
	var sum float64
	var n int
	for i := s.from; i < len(y); i++ {
		if i >= lead && !math.IsNaN(y[i]) && !math.IsNaN(y[i-lead]) {
			sum += math.Abs(y[i] - y[i-lead])
			n++
		}
	}
	if n > 0 {
		s.persistenceMAE = sum / float64(n)
	}
	return nil
}

// candidateRun is one forecaster's replay and its scored variants.
type candidateRun struct {
	c     *Candidate
	rp    *simulate.Replay
	evals []*evaluation
	// learned[k] are the anchoring gain and half-life learned from the
	// spans before k (k ≥ 1), ok false where none could be fitted.
	learned []anchorFit
}

// evaluation is one scored variant.
type evaluation struct {
	anchor    anchorMode
	agg       decision.Aggregation
	q         float64
	floor     bool
	gap       float64 // at the target
	pooled    float64 // over the band: the score
	ratio     float64
	rhRatio   float64
	leadMAE   float64
	leadWorse bool
	underMins float64
}

func (e *evaluation) label(name string) string {
	s := fmt.Sprintf("%s %s/%s", name, e.agg, e.anchor)
	if e.q > 0 {
		s += fmt.Sprintf("/q%g", e.q)
	}
	if e.floor {
		s += "/floor"
	}
	return s
}

func (e *evaluation) row(name string) Row {
	return Row{Label: e.label(name), Forecaster: name, GapClosed: Num(e.gap), PooledGapClosed: Num(e.pooled),
		UnderprovisionedRatio: Num(e.ratio), ReplicaHoursRatio: Num(e.rhRatio), LeadMAE: Num(e.leadMAE)}
}

// runCandidate replays one forecaster over the folds and scores every
// variant of the rules.
func (s *searcher) runCandidate(ctx context.Context, c *Candidate) (*candidateRun, error) {
	rp, err := simulate.NewReplay(ctx, s.options(c))
	if err != nil {
		return nil, err
	}
	spans := rp.Spans()
	for _, sp := range spans[1:] {
		if !sp.Trained {
			return nil, fmt.Errorf("no model for the fold at %s (too little data)", sp.At.Format(time.RFC3339))
		}
	}
	run := &candidateRun{c: c, rp: rp}
	// Residuals of the plain forecast, for the anchoring fits.
	plain := s.rules(decision.AggMax, false, anchorFit{}, 0)
	base := rp.Decide(repeat(plain, len(spans)))
	resid := make([]float64, len(base.Yhat))
	y := rp.Demand()
	for i := range resid {
		resid[i] = y[i] - base.Yhat[i]
	}
	run.learned = make([]anchorFit, len(spans))
	for k := 1; k < len(spans); k++ {
		run.learned[k] = fitAnchor(resid, spans[0].Start, spans[k].Start, rp.LeadSteps(), rp.StepDuration())
	}
	for _, am := range []anchorMode{anchorNone, anchorFull, anchorLearned} {
		for _, agg := range []decision.Aggregation{decision.AggMax} {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			ds := make([]*decision.Options, len(spans))
			for k := range spans {
				ds[k] = s.rules(agg, false, run.anchorFor(am, k), 0)
			}
			raw := rp.Decide(ds)
			errs := windowErrors(rp.Oracle(), raw.Forecast)
			metric := make([]float64, len(raw.Metric))
			for _, q := range s.cfg.Quantiles {
				margins := foldMargins(errs, spans, q)
				for _, floor := range []bool{true} {
					finishDecisions(metric, raw, y, spans, margins, floor)
					ev := s.score(rp, metric, raw.LeadYhat)
					ev.anchor, ev.agg, ev.q, ev.floor = am, agg, q, floor
					run.evals = append(run.evals, ev)
				}
			}
		}
	}
	return run, nil
}

// anchorFor returns the anchoring of variant am for span k.
func (r *candidateRun) anchorFor(am anchorMode, k int) anchorFit {
	switch am {
	case anchorFull:
		return anchorFit{on: true, gain: 1}
	case anchorLearned:
		return r.learned[k]
	}
	return anchorFit{}
}

func (s *searcher) rules(agg decision.Aggregation, floor bool, a anchorFit, margin float64) *decision.Options {
	return &decision.Options{
		Aggregation: agg, Bound: decision.BoundYhat, ReactiveFloor: floor,
		Anchor: a.on, AnchorGain: a.gain, AnchorHalfLife: a.halfLife, Margin: finite(margin),
	}
}

// score compares a replayed predictive arm with reactive and the oracle at
// equal replica-hours over the band of utilisations.
func (s *searcher) score(rp *simulate.Replay, metric, leadYhat []float64) *evaluation {
	pts := rp.Curve(metric, s.from, s.band, false)
	ev := &evaluation{}
	var sr, sp, so float64
	ev.gap, ev.ratio, ev.rhRatio = math.NaN(), math.NaN(), math.NaN()
	for i, p := range pts {
		r, fit := simulate.Interpolate(s.reactive, p.ReplicaHours)
		if fit != simulate.FitInterpolated {
			// Outside reactive's range on the simulator's grid: not a
			// comparison at equal replica-hours.
			continue
		}
		o, _ := simulate.Interpolate(s.oracle, p.ReplicaHours)
		sr += r
		sp += p.UnderprovisionedMinutes
		so += o
		if i == s.target {
			ev.gap = ratio(r-p.UnderprovisionedMinutes, r-o)
			ev.ratio = ratio(p.UnderprovisionedMinutes, r)
			ev.rhRatio = ratio(p.ReplicaHours, s.reactiveRH)
			ev.underMins = p.UnderprovisionedMinutes
		}
	}
	ev.pooled = ratio(sr-sp, sr-so)
	ev.leadMAE, ev.leadWorse = s.leadError(rp, leadYhat)
	return ev
}

// leadError returns the mean absolute error of the forecast a lead ahead
// over the scored folds, and whether it is significantly worse than
// persistence's (the current value as the forecast): a one-sided paired
// t-test at 5 % on the folds' mean differences, so that a forecast as good
// as persistence within the folds' noise is not rejected for it.
func (s *searcher) leadError(rp *simulate.Replay, leadYhat []float64) (float64, bool) {
	y, lead := rp.Demand(), rp.LeadSteps()
	var sum float64
	var n int
	var diffs []float64
	for _, sp := range s.spans[1:] {
		var d float64
		var m int
		for i := sp.Start; i < sp.End; i++ {
			v := leadYhat[i]
			if math.IsNaN(v) || math.IsNaN(y[i]) {
				continue
			}
			sum += math.Abs(v - y[i])
			n++
			if i >= lead && !math.IsNaN(y[i-lead]) {
				d += math.Abs(v-y[i]) - math.Abs(y[i-lead]-y[i])
				m++
			}
		}
		if m > 0 {
			diffs = append(diffs, d/float64(m))
		}
	}
	if n == 0 {
		return math.NaN(), true
	}
	return sum / float64(n), worseThanZero(diffs)
}

// worseThanZero tells whether the mean of xs is significantly above 0: a
// one-sided t-test at 5 %. With one value it is the sign.
func worseThanZero(xs []float64) bool {
	k := len(xs)
	if k == 0 {
		return true
	}
	var mean float64
	for _, x := range xs {
		mean += x
	}
	mean /= float64(k)
	if k == 1 || mean <= 0 {
		return mean > 0
	}
	var ss float64
	for _, x := range xs {
		ss += (x - mean) * (x - mean)
	}
	se := math.Sqrt(ss / float64(k-1) / float64(k))
	return mean > tCritical95(k-1)*se
}

// tCritical95 is Student's t one-sided 95 % quantile for df degrees of
// freedom.
func tCritical95(df int) float64 {
	table := []float64{0, 6.314, 2.920, 2.353, 2.132, 2.015, 1.943, 1.895, 1.860, 1.833, 1.812,
		1.796, 1.782, 1.771, 1.761, 1.753, 1.746, 1.740, 1.734, 1.729, 1.725}
	switch {
	case df < len(table):
		return table[df]
	case df < 30:
		return 1.70
	}
	return 1.645
}

// finish turns the winning variant into the policy: the anchoring and the
// margin are learned again from every fold, and the forecaster is trained
// on the whole history.
func (s *searcher) finish(ctx context.Context, res *Result, run *candidateRun, ev *evaluation) error {
	rp := run.rp
	spans := rp.Spans()
	y := rp.Demand()
	var a anchorFit
	switch ev.anchor {
	case anchorFull:
		a = anchorFit{on: true, gain: 1}
	case anchorLearned:
		plain := rp.Decide(repeat(s.rules(decision.AggMax, false, anchorFit{}, 0), len(spans)))
		resid := make([]float64, len(y))
		for i := range resid {
			resid[i] = y[i] - plain.Yhat[i]
		}
		a = fitAnchor(resid, spans[0].Start, len(y), rp.LeadSteps(), rp.StepDuration())
	}
	margin := 0.0
	if ev.q > 0 {
		raw := rp.Decide(repeat(s.rules(ev.agg, false, a, 0), len(spans)))
		margin = quantileOf(windowErrors(rp.Oracle(), raw.Forecast)[spans[0].Start:], ev.q)
	}
	d := &Decision{Aggregation: ev.agg, Bound: decision.BoundYhat, ReactiveFloor: ev.floor, Anchor: a.on,
		AnchorGain: a.gain, Margin: finite(margin), MarginQuantile: ev.q}
	if a.halfLife > 0 {
		d.AnchorHalfLife = a.halfLife.String()
	}
	resp, err := run.c.Forecaster.Train(ctx, &abi.TrainRequest{Params: run.c.Params, Seed: s.cfg.Seed, Timestamps: s.hist.T, Values: s.hist.Y})
	if err != nil {
		return fmt.Errorf("policy: train %s on the whole history: %w", run.c.Name, err)
	}
	p := &res.Policy
	p.Mode, p.Forecaster, p.Params, p.Decision = ModePredictive, run.c.Name, run.c.Params, d
	p.Reason = fmt.Sprintf("%s closes %.1f %% of the gap to the oracle at the target and %.1f %% pooled on the history (at least %.0f %% needed)",
		ev.label(run.c.Name), 100*ev.gap, 100*ev.pooled, 100*s.cfg.MinGain)
	b := p.Benefit
	if b == nil {
		b = &Benefit{}
		p.Benefit = b
	}
	b.GapClosed, b.PooledGapClosed, b.UnderprovisionedRatio, b.ReplicaHoursRatio = ev.gap, ev.pooled, ev.ratio, ev.rhRatio
	b.UnderprovisionedMinutes, b.ReactiveUnderprovisionedMinutes = ev.underMins, s.reactiveTarget
	b.LeadMAE, b.PersistenceMAE = finite(ev.leadMAE), s.persistenceMAE
	b.ScoredHours = float64(len(y)-s.from) * rp.StepDuration().Hours()
	res.Forecaster, res.Model, res.Info = run.c, resp.Model, resp.Info
	return nil
}

// baseline scores seasonal naive with the reactive floor.
func (s *searcher) baseline(ctx context.Context, c *Candidate, runs []*candidateRun) (*Comparison, error) {
	var rp *simulate.Replay
	for _, r := range runs {
		if r.c.Name == c.Name && fmt.Sprint(r.c.Params) == fmt.Sprint(c.Params) {
			rp = r.rp
		}
	}
	if rp == nil {
		var err error
		if rp, err = simulate.NewReplay(ctx, s.options(c)); err != nil {
			return nil, err
		}
	}
	dec := rp.Decide(repeat(s.rules(decision.AggMax, true, anchorFit{}, 0), len(rp.Spans())))
	ev := s.score(rp, dec.Metric, dec.LeadYhat)
	return &Comparison{Label: c.Name + " max/unanchored/floor", GapClosed: Num(ev.gap), PooledGapClosed: Num(ev.pooled), UnderprovisionedRatio: Num(ev.ratio)}, nil
}

// foldMargins returns the margin of each span: the q-quantile of the
// window errors of the spans before it (none for the first span, or for
// q = 0). No span's margin depends on its own steps or later ones.
func foldMargins(errs []float64, spans []simulate.Span, q float64) []float64 {
	margins := make([]float64, len(spans))
	for k := 1; k < len(spans) && q > 0; k++ {
		margins[k] = finite(quantileOf(errs[spans[0].Start:spans[k].Start], q))
	}
	return margins
}

// finishDecisions completes a replay decided without margin and floor
// (raw) into the metric with the per-span margins and, with floor, the
// reactive floor: the last two steps of decision.Options.Decide
// (max(unclamped + margin, 0), then max with the current value, which
// also stands in for an unusable forecast), done here so that the margin
// quantiles and the floor cost no replay each. Warm-up steps keep the
// demand.
func finishDecisions(metric []float64, raw *simulate.Decisions, y []float64, spans []simulate.Span, margins []float64, floor bool) {
	copy(metric, raw.Metric)
	for k, sp := range spans {
		for i := sp.Start; i < sp.End; i++ {
			if math.IsNaN(y[i]) {
				metric[i] = math.NaN()
				continue
			}
			v := math.NaN()
			if u := raw.Unclamped[i]; !math.IsNaN(u) {
				v = max(u+margins[k], 0)
			}
			if floor && !(v >= y[i]) {
				v = y[i]
			}
			metric[i] = v
		}
	}
}

// anchorFit is a learned anchoring.
type anchorFit struct {
	on       bool
	gain     float64
	halfLife time.Duration
}

// fitAnchor fits the residual's persistence on steps [from, to): φ(h), the
// regression coefficient of r(t+h) on r(t), at h = 1 and h = lead, and the
// exponential g·2^(−h/half-life) through them. A residual that does not
// persist (φ(1) ≤ 0.05) gives no anchoring.
func fitAnchor(resid []float64, from, to, lead int, step time.Duration) anchorFit {
	phi := func(h int) (float64, bool) {
		var sxy, sxx float64
		n := 0
		for i := from; i+h < to; i++ {
			a, b := resid[i], resid[i+h]
			if math.IsNaN(a) || math.IsNaN(b) {
				continue
			}
			sxy += a * b
			sxx += a * a
			n++
		}
		if n < 10 || sxx == 0 {
			return 0, false
		}
		return sxy / sxx, true
	}
	p1, ok := phi(1)
	if !ok || p1 <= 0.05 {
		return anchorFit{}
	}
	p1 = min(p1, 1)
	if lead <= 1 {
		return anchorFit{on: true, gain: p1}
	}
	pl, ok := phi(lead)
	switch {
	case !ok || pl >= p1:
		return anchorFit{on: true, gain: p1}
	case pl <= 0.01:
		// Gone within the lead: halve at least every step.
		return anchorFit{on: true, gain: min(1, 2*p1), halfLife: step}
	}
	// φ(h) = g·2^(−h/hl) through (1, p1) and (lead, pl).
	hlSteps := float64(lead-1) * math.Ln2 / math.Log(p1/pl)
	g := min(1, p1*math.Exp2(1/hlSteps))
	hl := time.Duration(hlSteps * float64(step)).Round(time.Second)
	if hl < time.Second {
		hl = time.Second
	}
	return anchorFit{on: true, gain: g, halfLife: hl}
}

// windowErrors returns oracle − decided per step (NaN where either is).
func windowErrors(oracle, decided []float64) []float64 {
	out := make([]float64, len(oracle))
	for i := range out {
		out[i] = oracle[i] - decided[i]
	}
	return out
}

// quantileOf returns the q-quantile of the finite values of xs (type 7),
// 0 when there is none.
func quantileOf(xs []float64, q float64) float64 {
	v := make([]float64, 0, len(xs))
	for _, x := range xs {
		if !math.IsNaN(x) && !math.IsInf(x, 0) {
			v = append(v, x)
		}
	}
	if len(v) == 0 {
		return 0
	}
	slices.Sort(v)
	h := q * float64(len(v)-1)
	lo := int(math.Floor(h))
	if lo >= len(v)-1 {
		return v[len(v)-1]
	}
	return v[lo] + (h-float64(lo))*(v[lo+1]-v[lo])
}

func repeat(d *decision.Options, n int) []*decision.Options {
	out := make([]*decision.Options, n)
	for i := range out {
		out[i] = d
	}
	return out
}

func ratio(a, b float64) float64 {
	if b <= 0 {
		return math.NaN()
	}
	return a / b
}

// gt orders NaN last.
func gt(a, b float64) bool {
	if math.IsNaN(b) {
		return !math.IsNaN(a)
	}
	return a > b
}

// nopForecaster predicts nothing: the baselines' replay needs no forecast.
type nopForecaster struct{}

func (nopForecaster) Train(context.Context, *abi.TrainRequest) (*abi.TrainResponse, error) {
	return nil, abi.Errorf(abi.StatusInsufficientData, "no forecast needed")
}

func (nopForecaster) Predict(context.Context, *abi.PredictRequest) (*abi.PredictResponse, error) {
	return nil, abi.Errorf(abi.StatusInternal, "no forecast needed")
}
