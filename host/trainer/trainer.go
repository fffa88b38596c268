// Package trainer turns a metric's history into a stored, versioned model:
//
//	fetch → validate → backtest → fit → upload
//
// Run reads the history (a CSV file, a Series, or Prometheus query_range
// over a window such as 14 days at one minute), checks that it holds
// enough observations for the plugin, evaluates the plugin on a hold-out
// window at the end of the history (MAPE, sMAPE, MASE against the seasonal
// naive forecast, coverage, RMSE, MAE), trains it on the whole window,
// publishes the plugin into the store when the store does not hold it yet,
// and writes the model with its manifest as a new immutable version.
//
// # Quality gate
//
// Limits on the hold-out metrics (GateLimits; 0 turns a limit off) decide
// whether the model may serve. A model that fails them is still stored,
// marked rejected with the reason in its manifest (store.Gate), so that
// people can look at it, but it never becomes the newest accepted version
// (store.Store.Latest with acceptedOnly). A metric that a limit applies to
// but that is undefined (NaN, e.g. MASE on a series whose seasonal naive
// error is zero) fails the gate.
//
// # Plugins
//
// Options.Plugin is NAME[@VERSION] or a path to a .wasm file. A name is
// looked up in the store first (the newest version, or the one named),
// where every read is checked against the sha256 recorded at upload and the
// module is pinned to it when loaded; a name the store does not hold is
// taken from the built-in plugins. A plugin that did not come from the
// store is published into it before the model (under the name and version
// of its self-description), so that every stored model names a plugin the
// store can serve. Plugin versions are immutable: if the store already
// holds that name and version with other bytes, Run fails before any work
// is stored.
package trainer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/ppa-autoscaler/ppa/abi"
	"github.com/ppa-autoscaler/ppa/host/backtest"
	"github.com/ppa-autoscaler/ppa/host/engine"
	"github.com/ppa-autoscaler/ppa/host/policy"
	"github.com/ppa-autoscaler/ppa/host/promsource"
	"github.com/ppa-autoscaler/ppa/host/series"
	"github.com/ppa-autoscaler/ppa/host/store"
	"github.com/ppa-autoscaler/ppa/plugins/builtin"
)

// Version is the trainer's version, recorded in every manifest. Binaries
// may overwrite it at link time (-ldflags -X).
var Version = "0.1.0"

// DefaultPlugin is the plugin used when Options.Plugin is empty and the
// policy search is disabled; with the search (the default) an empty
// Options.Plugin lets it choose among policy.DefaultCandidates.
const DefaultPlugin = "prophet"

// Defaults of the hold-out and the MASE season, see Options.
const (
	// MaxDefaultHoldOut caps the default hold-out window.
	MaxDefaultHoldOut = 24 * time.Hour
	// DefaultHoldOutShare is the default hold-out's share of the history.
	DefaultHoldOutShare = 0.2
	// DefaultSeason is the default MASE season when the training part of
	// the history spans at least two of it.
	DefaultSeason = 24 * time.Hour
)

// Stage names, in the order Run goes through them.
const (
	StageFetch    = "fetch"
	StageValidate = "validate"
	StagePolicy   = "policy"
	StageBacktest = "backtest"
	StageFit      = "fit"
	StageUpload   = "upload"
)

// PrometheusSource is a history read from Prometheus with query_range.
type PrometheusSource struct {
	// Config is the server and how to talk to it (URL, auth, TLS,
	// timeouts, retries).
	Config promsource.Config
	// Query is the PromQL expression.
	Query string
	// History is how far back from End to read; Step the grid spacing.
	// The window holds History/Step points: End−History+Step, …, End.
	History time.Duration
	Step    time.Duration
	// End is the last grid time; zero means now (Options.Now) truncated to
	// a multiple of Step.
	End time.Time
	// Aggregate folds several series into one (sum, max, min, avg); empty
	// means the query must yield a single series.
	Aggregate promsource.Aggregation
}

// GateLimits are the quality gate's limits on the hold-out metrics. Zero
// turns a limit off; with every limit off every model is accepted.
type GateLimits struct {
	// MaxMASE is the highest accepted MASE (1 = as good as the in-sample
	// seasonal naive forecast).
	MaxMASE float64
	// MaxSMAPE and MaxMAPE are the highest accepted sMAPE and MAPE, as
	// fractions (0.2 = 20 %).
	MaxSMAPE float64
	MaxMAPE  float64
	// MinCoverage is the lowest accepted share of hold-out actuals inside
	// the prediction interval, in (0, 1].
	MinCoverage float64
}

// Progress reports where a Run is. Done counts units of Total within the
// stage (fetch: chunks; upload: objects; other stages: 0 of 1, then 1 of
// 1); Total is 0 while unknown.
type Progress struct {
	Stage       string
	Done, Total int
	// Message says what was done, for people.
	Message string
}

// Options configure one training. Model, a data source (exactly one of
// CSV, Series and Prometheus) and Store are required.
type Options struct {
	// Model names the model to store a version of.
	Model store.ModelRef
	// Version is the version to write; empty means a new time-sortable
	// version (store.NewVersion). Writing a version that exists fails with
	// store.ErrExists (a retried job cannot overwrite what it wrote).
	Version string

	// CSV is a file of ds,y rows (see series.ReadCSV).
	CSV string
	// Series is a history given directly.
	Series *series.Series
	// Prometheus reads the history from a Prometheus server.
	Prometheus *PrometheusSource

	// Plugin is NAME[@VERSION] or a path to a .wasm file (see the package
	// documentation); empty means DefaultPlugin.
	Plugin string
	// Params are the plugin's parameters as key=value strings, typed by
	// the plugin's self-description.
	Params map[string]string
	// Seed is passed to the plugin's train and predict.
	Seed uint64

	// HoldOut is the backtest window at the end of the history; zero means
	// min(MaxDefaultHoldOut, DefaultHoldOutShare of the observed span).
	HoldOut time.Duration
	// Season is the seasonal-naive lag of MASE; zero means DefaultSeason
	// when the history before the hold-out spans at least two of it, and
	// the sampling step (the naive forecast) otherwise.
	Season time.Duration
	// Gate holds the quality gate's limits.
	Gate GateLimits
	// Scaling is what the policy search needs to know about the workload.
	Scaling Scaling

	// Store receives the plugin and the model. Required.
	Store store.Store
	// Engine runs the plugin; nil means a new engine with the default
	// configuration, closed when Run returns.
	Engine *engine.Engine
	// Builtin loads a built-in plugin by name; nil means builtin.Load.
	Builtin func(name string) ([]byte, error)

	// Now is the clock (timings, the default Prometheus end, manifests'
	// Created); nil means time.Now.
	Now func() time.Time
	// Logger receives what Run does at info level; nil logs nothing.
	Logger *slog.Logger
	// Progress, when set, is called as Run advances.
	Progress func(Progress)
	// CreatedBy is recorded in the manifest (a user, a workflow name).
	CreatedBy string
}

// Scaling describes the workload for the policy search (host/policy): the
// trainer replays the history through the simulator's replica model and
// stores the scaling policy that beats the HPA, or the reactive one, in
// the manifest.
type Scaling struct {
	// Lead is the time a new replica needs to become ready: the horizon
	// the scaler reads. Zero means DefaultLead.
	Lead time.Duration
	// TargetValue is the metric one replica should carry, the ScaledObject
	// trigger's targetValue. Zero means unknown: the search then assumes
	// the history's peak needs DefaultPeakReplicas replicas, and the
	// policy's settings say so.
	TargetValue float64
	// TargetUtilization is the share of a replica's capacity that
	// TargetValue stands for (capacity = TargetValue / TargetUtilization).
	// Zero means DefaultTargetUtilization.
	TargetUtilization float64
	// Disabled skips the search: the manifest holds no policy and the
	// scaler needs its decision keys.
	Disabled bool
}

// Defaults of Scaling.
const (
	DefaultLead              = 5 * time.Minute
	DefaultTargetUtilization = 0.8
	DefaultPeakReplicas      = 20
)

// Timings are the wall times of the stages, in seconds.
type Timings struct {
	Fetch    float64 `json:"fetch"`
	Policy   float64 `json:"policy"`
	Backtest float64 `json:"backtest"`
	Fit      float64 `json:"fit"`
	Upload   float64 `json:"upload"`
	Total    float64 `json:"total"`
}

// Result is what Run returns and what the trainer prints.
type Result struct {
	// Model and Version name the stored model version.
	Model   string `json:"model"`
	Version string `json:"version"`
	// Rejected is true when the quality gate refused the model; Reason
	// says why (or, for an accepted model, which limits it met).
	Rejected bool   `json:"rejected"`
	Reason   string `json:"reason"`
	// Metrics are the hold-out metrics (NaN, ±Inf travel as strings).
	Metrics store.Metrics `json:"metrics"`
	// Location is where the version is stored, e.g.
	// s3://bucket/prefix/models/ns/name/VERSION/.
	Location string `json:"location"`
	// Points is the number of points trained on, Missing how many of
	// them had no value; HoldOut is the backtest window.
	Points  int            `json:"points"`
	Missing int            `json:"missing"`
	HoldOut store.Duration `json:"holdout"`
	// PluginPublished is true when this run put the plugin into the store.
	PluginPublished bool `json:"plugin_published"`
	// ModelInfo is what the plugin's train reported about the fit.
	ModelInfo map[string]any `json:"model_info,omitempty"`
	// Policy is the learned scaling policy (also in the manifest), and
	// Candidates the search's table, best first; nil when disabled.
	Policy     *policy.Policy `json:"policy,omitempty"`
	Candidates []policy.Row   `json:"candidates,omitempty"`
	Timings    Timings        `json:"timings"`
	// Manifest is the stored manifest.
	Manifest store.Manifest `json:"manifest"`
}

// run holds one Run's state.
type run struct {
	o   Options
	log *slog.Logger
	now func() time.Time
}

// Run trains and stores one model version. A model the gate rejects is
// stored and reported with Result.Rejected; an error means nothing new
// was committed to the store, except possibly the plugin.
func Run(ctx context.Context, o Options) (*Result, error) {
	r := &run{o: o, log: o.Logger, now: o.Now}
	if r.log == nil {
		r.log = slog.New(slog.DiscardHandler)
	}
	if r.now == nil {
		r.now = time.Now
	}
	if err := r.check(); err != nil {
		return nil, err
	}
	return r.run(ctx)
}

func (r *run) check() error {
	o := &r.o
	if err := o.Model.Validate(); err != nil {
		return fmt.Errorf("trainer: %w", err)
	}
	if o.Store == nil {
		return errors.New("trainer: no store")
	}
	sources := 0
	for _, set := range []bool{o.CSV != "", o.Series != nil, o.Prometheus != nil} {
		if set {
			sources++
		}
	}
	if sources != 1 {
		return fmt.Errorf("trainer: want exactly one data source (CSV file, series or Prometheus), got %d", sources)
	}
	if p := o.Prometheus; p != nil {
		switch {
		case strings.TrimSpace(p.Query) == "":
			return errors.New("trainer: prometheus: empty query")
		case p.Step <= 0:
			return fmt.Errorf("trainer: prometheus: step %v must be positive", p.Step)
		case p.History < p.Step:
			return fmt.Errorf("trainer: prometheus: history %v is shorter than the step %v", p.History, p.Step)
		}
	}
	if o.HoldOut < 0 || o.Season < 0 {
		return fmt.Errorf("trainer: negative hold-out %v or season %v", o.HoldOut, o.Season)
	}
	g := o.Gate
	for _, l := range []struct {
		name string
		v    float64
	}{{"max MASE", g.MaxMASE}, {"max sMAPE", g.MaxSMAPE}, {"max MAPE", g.MaxMAPE}, {"min coverage", g.MinCoverage}} {
		if l.v < 0 || math.IsNaN(l.v) || math.IsInf(l.v, 0) {
			return fmt.Errorf("trainer: gate: %s %v must be a non-negative number (0 = off)", l.name, l.v)
		}
	}
	if g.MinCoverage > 1 {
		return fmt.Errorf("trainer: gate: min coverage %v must be at most 1", g.MinCoverage)
	}
	sc := o.Scaling
	switch {
	case sc.Lead < 0:
		return fmt.Errorf("trainer: scaling: lead %v must not be negative", sc.Lead)
	case sc.TargetValue < 0 || math.IsNaN(sc.TargetValue) || math.IsInf(sc.TargetValue, 0):
		return fmt.Errorf("trainer: scaling: target value %v must be a non-negative number (0 = derive from the history)", sc.TargetValue)
	case sc.TargetUtilization < 0 || sc.TargetUtilization > 1 || math.IsNaN(sc.TargetUtilization):
		return fmt.Errorf("trainer: scaling: target utilization %v must be in (0, 1] (0 = %v)", sc.TargetUtilization, DefaultTargetUtilization)
	case o.Plugin == "" && !sc.Disabled && len(o.Params) > 0:
		return errors.New("trainer: plugin parameters need a plugin: name one, or let the policy search choose with their defaults")
	}
	return nil
}

func (r *run) progress(stage string, done, total int, msg string) {
	r.log.Debug(msg, "stage", stage, "done", done, "total", total)
	if r.o.Progress != nil {
		r.o.Progress(Progress{Stage: stage, Done: done, Total: total, Message: msg})
	}
}

func (r *run) run(ctx context.Context) (*Result, error) {
	o := &r.o
	started := r.now()
	var tm Timings
	lap := func(since time.Time) float64 { return r.now().Sub(since).Seconds() }

	// The plugin first: a wrong name, a version conflict or a corrupted
	// artifact should fail before minutes of fetching.
	eng := o.Engine
	if eng == nil {
		e, err := engine.New(ctx, engine.NewConfig().WithTrustedDigests(builtin.Digests()...).WithLogger(r.log).WithClock(r.now))
		if err != nil {
			return nil, fmt.Errorf("trainer: plugin engine: %w", err)
		}
		defer e.Close(context.WithoutCancel(ctx))
		eng = e
	}
	// Without a named plugin the policy search chooses among the built-in
	// candidates; with one, it judges that plugin's decision rules.
	specs := []policy.CandidateSpec{{Name: o.Plugin}}
	auto := o.Plugin == "" && !o.Scaling.Disabled
	switch {
	case o.Plugin != "":
	case o.Scaling.Disabled:
		specs = []policy.CandidateSpec{{Name: DefaultPlugin}}
	default:
		specs = policy.DefaultCandidates
	}
	var cands []*resolvedPlugin
	defer func() {
		for _, c := range cands {
			c.plugin.Close(context.WithoutCancel(ctx))
		}
	}()
	for _, spec := range specs {
		c, err := r.resolvePlugin(ctx, eng, spec.Name)
		if err != nil {
			return nil, fmt.Errorf("trainer: %w", err)
		}
		c.params = spec.Params
		cands = append(cands, c)
	}
	pl := cands[0]
	desc := pl.plugin.Description()
	params, err := desc.ParseParams(o.Params)
	if err != nil {
		return nil, fmt.Errorf("trainer: plugin %s %s: %w", desc.Name, desc.Version, err)
	}

	t0 := r.now()
	s, window, err := r.fetch(ctx)
	if err != nil {
		return nil, fmt.Errorf("trainer: fetch: %w", err)
	}
	tm.Fetch = lap(t0)

	r.progress(StageValidate, 0, 1, "validating the history")
	holdout, season, err := r.validate(s, &desc)
	if err != nil {
		return nil, fmt.Errorf("trainer: %w", err)
	}
	r.progress(StageValidate, 1, 1, fmt.Sprintf("%d points, %d missing; hold-out %v, MASE season %v", window.Points, window.Missing, holdout, season))

	var learned *policy.Result
	if !o.Scaling.Disabled {
		t0 = r.now()
		r.progress(StagePolicy, 0, 1, fmt.Sprintf("searching the scaling policy among %d forecaster(s)", len(cands)))
		if learned, err = r.searchPolicy(ctx, s, cands, params); err != nil {
			return nil, fmt.Errorf("trainer: %w", err)
		}
		if f := learned.Forecaster; f != nil {
			for _, c := range cands {
				if c.ref.Name == f.Name {
					pl = c
				}
			}
			desc = pl.plugin.Description()
			if auto {
				// The model serves as the search trained it.
				params = f.Params
			}
		}
		tm.Policy = lap(t0)
		r.progress(StagePolicy, 1, 1, learned.Policy.Describe())
	}

	t0 = r.now()
	r.progress(StageBacktest, 0, 1, fmt.Sprintf("backtesting %s %s on the last %v", desc.Name, desc.Version, holdout))
	bm, err := backtest.HoldOut(ctx, s, holdout, season, backtest.ForecasterFunc(pl.plugin, params, o.Seed))
	if err != nil {
		return nil, fmt.Errorf("trainer: backtest %s %s: %w", desc.Name, desc.Version, err)
	}
	metrics := toStoreMetrics(bm)
	tm.Backtest = lap(t0)
	r.progress(StageBacktest, 1, 1, "hold-out "+formatMetrics(metrics))

	t0 = r.now()
	r.progress(StageFit, 0, 1, fmt.Sprintf("training %s %s on %d points", desc.Name, desc.Version, s.Len()))
	tr, err := pl.plugin.Train(ctx, &abi.TrainRequest{Params: params, Seed: o.Seed, Timestamps: s.T, Values: s.Y})
	if err != nil {
		return nil, fmt.Errorf("trainer: train %s %s on %d points: %w", desc.Name, desc.Version, s.Len(), err)
	}
	if len(tr.Model) == 0 {
		return nil, fmt.Errorf("trainer: train %s %s: the plugin returned an empty model", desc.Name, desc.Version)
	}
	tm.Fit = lap(t0)
	r.progress(StageFit, 1, 1, fmt.Sprintf("model of %d bytes", len(tr.Model)))

	gate := judge(metrics, o.Gate)

	t0 = r.now()
	r.progress(StageUpload, 0, 2, "publishing plugin "+pl.ref.Name+" "+pl.ref.Version)
	published, err := r.publishPlugin(ctx, pl)
	if err != nil {
		return nil, fmt.Errorf("trainer: %w", err)
	}
	r.progress(StageUpload, 1, 2, "writing model "+o.Model.String())
	var polJSON []byte
	if learned != nil {
		if polJSON, err = json.Marshal(learned.Policy); err != nil {
			return nil, fmt.Errorf("trainer: policy: %w", err)
		}
	}
	m, err := o.Store.PutModel(ctx, store.Manifest{
		Policy:     polJSON,
		Model:      o.Model,
		Version:    o.Version,
		Plugin:     pl.ref,
		Data:       window,
		Parameters: params,
		Seed:       o.Seed,
		Metrics:    metrics,
		Gate:       gate,
		Trainer:    store.TrainerInfo{Version: Version},
		Created:    r.now().UTC(),
		CreatedBy:  o.CreatedBy,
	}, tr.Model)
	if err != nil {
		return nil, fmt.Errorf("trainer: %w", err)
	}
	tm.Upload = lap(t0)
	tm.Total = lap(started)
	verdict := "accepted"
	if !gate.Accepted {
		verdict = "rejected"
	}
	r.progress(StageUpload, 2, 2, fmt.Sprintf("stored %s %s (%s)", m.Model, m.Version, verdict))

	res := &Result{
		Model:           m.Model.String(),
		Version:         m.Version,
		Rejected:        !gate.Accepted,
		Reason:          gate.Reason,
		Metrics:         metrics,
		Location:        ModelLocation(o.Store, m.Model, m.Version),
		Points:          window.Points,
		Missing:         window.Missing,
		HoldOut:         store.Duration(holdout),
		PluginPublished: published,
		ModelInfo:       tr.Info,
		Timings:         tm,
		Manifest:        m,
	}
	if learned != nil {
		res.Policy, res.Candidates = &learned.Policy, learned.Rows
	}
	return res, nil
}

// fetch reads the history and describes its window.
func (r *run) fetch(ctx context.Context) (*series.Series, store.DataWindow, error) {
	o := &r.o
	var s *series.Series
	var w store.DataWindow
	switch {
	case o.Series != nil:
		r.progress(StageFetch, 0, 1, "using the given series")
		s = o.Series
		w = store.DataWindow{Source: "series"}
	case o.CSV != "":
		r.progress(StageFetch, 0, 1, "reading "+o.CSV)
		var err error
		if s, err = series.ReadFile(o.CSV); err != nil {
			return nil, w, err
		}
		w = store.DataWindow{Source: "csv", Query: filepath.Base(o.CSV)}
	default:
		p := o.Prometheus
		src, err := promsource.New(p.Config)
		if err != nil {
			return nil, w, err
		}
		end := p.End
		if end.IsZero() {
			end = r.now().Truncate(p.Step)
		}
		start := end.Add(-p.History + p.Step)
		r.progress(StageFetch, 0, 0, fmt.Sprintf("querying %s from %s to %s every %v", p.Query,
			start.UTC().Format(time.RFC3339), end.UTC().Format(time.RFC3339), p.Step))
		opts := []promsource.Option{promsource.WithProgress(func(pr promsource.Progress) {
			r.progress(StageFetch, pr.Chunk, pr.Chunks, fmt.Sprintf("chunk %d of %d: %d of %d points, %d samples",
				pr.Chunk, pr.Chunks, pr.Points, pr.TotalPoints, pr.Samples))
		})}
		if p.Aggregate != "" {
			opts = append(opts, promsource.WithAggregate(p.Aggregate))
		}
		if s, err = src.Fetch(ctx, p.Query, start, end, p.Step, opts...); err != nil {
			return nil, w, err
		}
		w = store.DataWindow{Source: "prometheus", Query: p.Query}
		if p.Aggregate != "" {
			w.Query = string(p.Aggregate) + "(" + p.Query + ")"
		}
	}
	if err := s.Validate(); err != nil {
		return nil, w, err
	}
	if s.Len() == 0 {
		return nil, w, errors.New("the history has no points")
	}
	w.Start, w.End = s.Time(0), s.Time(s.Len()-1)
	w.Step = store.Duration(s.Step())
	if p := o.Prometheus; p != nil {
		w.Step = store.Duration(p.Step)
	}
	w.Points = s.Len()
	w.Missing = s.Len() - s.Valid()
	if o.Prometheus == nil {
		r.progress(StageFetch, 1, 1, fmt.Sprintf("%d points", w.Points))
	}
	return s, w, nil
}

// validate checks that the history can be backtested and trained on, and
// returns the hold-out window and MASE season to use.
func (r *run) validate(s *series.Series, d *abi.Description) (holdout, season time.Duration, err error) {
	valid := s.Valid()
	if valid == 0 {
		return 0, 0, fmt.Errorf("validate: all %d points of the history are missing", s.Len())
	}
	need := max(d.Capabilities.MinPoints, 2)
	if valid < need {
		return 0, 0, fmt.Errorf("validate: %d observed points of %d; plugin %s %s needs at least %d", valid, s.Len(), d.Name, d.Version, need)
	}
	first, last := firstLastObserved(s)
	span := time.Duration(s.T[last]-s.T[first]) * time.Millisecond
	holdout = r.o.HoldOut
	if holdout == 0 {
		holdout = min(MaxDefaultHoldOut, time.Duration(float64(span)*DefaultHoldOutShare)).Truncate(time.Millisecond)
		if step := s.Step(); step > 0 && holdout > step {
			holdout = holdout.Truncate(step)
		}
	}
	if holdout <= 0 || holdout >= span {
		return 0, 0, fmt.Errorf("validate: hold-out %v leaves no history to train on (the observations span %v)", holdout, span)
	}
	cutoff := s.T[last] - holdout.Milliseconds()
	before, after := 0, 0
	for i, y := range s.Y {
		if math.IsNaN(y) {
			continue
		}
		if s.T[i] <= cutoff {
			before++
		} else {
			after++
		}
	}
	if before < need {
		return 0, 0, fmt.Errorf("validate: %d observed points before the %v hold-out; plugin %s %s needs at least %d: use a longer history or a shorter hold-out",
			before, holdout, d.Name, d.Version, need)
	}
	if after == 0 {
		return 0, 0, fmt.Errorf("validate: no observed point in the %v hold-out", holdout)
	}
	season = r.o.Season
	if season == 0 {
		season = s.Step()
		if trained := span - holdout; trained >= 2*DefaultSeason {
			season = DefaultSeason
		}
	}
	return holdout, season, nil
}

func firstLastObserved(s *series.Series) (int, int) {
	first, last := -1, -1
	for i, y := range s.Y {
		if !math.IsNaN(y) {
			if first < 0 {
				first = i
			}
			last = i
		}
	}
	return first, last
}

// toStoreMetrics names the hold-out metrics as the manifest stores them.
func toStoreMetrics(m backtest.Metrics) store.Metrics {
	return store.Metrics{
		"mase": m.MASE, "smape": m.SMAPE, "mape": m.MAPE, "mdape": m.MDAPE,
		"coverage": m.Coverage, "rmse": m.RMSE, "mae": m.MAE, "mse": m.MSE,
	}
}

// ModelLocation renders where a model version lives in s: the store's
// location (store.Store.String without the endpoint note) followed by the
// store's layout, models/<namespace>/<name>/<version>/.
func ModelLocation(s store.Store, ref store.ModelRef, version string) string {
	root, _, _ := strings.Cut(s.String(), " (")
	rel := path.Join("models", ref.Namespace, ref.Name, version) + "/"
	if strings.Contains(root, "://") {
		return strings.TrimSuffix(root, "/") + "/" + rel
	}
	return filepath.Join(root, filepath.FromSlash(rel)) + string(filepath.Separator)
}

// WriteJSON writes res as indented JSON followed by a newline.
func (res *Result) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(res); err != nil {
		return fmt.Errorf("write result: %w", err)
	}
	return nil
}

// WriteFile writes res as JSON to name atomically (a temporary file in the
// same directory, renamed), so that a reader such as an Argo output
// parameter never sees half a document.
func (res *Result) WriteFile(name string) error {
	dir := filepath.Dir(name)
	f, err := os.CreateTemp(dir, "."+filepath.Base(name)+".*")
	if err != nil {
		return fmt.Errorf("write result %s: %w", name, err)
	}
	tmp := f.Name()
	defer os.Remove(tmp) // no-op after a successful rename
	if err := res.WriteJSON(f); err != nil {
		f.Close()
		return fmt.Errorf("write result %s: %w", name, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write result %s: %w", name, err)
	}
	if err := os.Chmod(tmp, 0o644); err != nil {
		return fmt.Errorf("write result %s: %w", name, err)
	}
	if err := os.Rename(tmp, name); err != nil {
		return fmt.Errorf("write result %s: %w", name, err)
	}
	return nil
}
