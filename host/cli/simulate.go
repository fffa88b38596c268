package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/ppa-autoscaler/ppa/abi"
	"github.com/ppa-autoscaler/ppa/host/decision"
	"github.com/ppa-autoscaler/ppa/host/flagkit"
	"github.com/ppa-autoscaler/ppa/host/plot"
	"github.com/ppa-autoscaler/ppa/host/policy"
	"github.com/ppa-autoscaler/ppa/host/series"
	"github.com/ppa-autoscaler/ppa/host/simulate"
	"github.com/ppa-autoscaler/ppa/plugins/seasonalnaive"
)

// SimulateOptions are the flags of `ppa simulate`.
type SimulateOptions struct {
	Data              string
	Capacity          float64
	TargetUtilization float64
	Lead              string
	Train             string
	Retrain           string
	Stabilization     string
	Tolerance         float64
	pluginFlags
	Aggregation       string
	Bound             string
	ReactiveFloor     bool
	Anchor            bool
	AnchorHalfLife    string
	Min, Max, Initial int
	Sweep             bool
	Utilizations      []float64
	Format            string
	Plot              string
	// auto is set when no forecaster or decision flag was given: the
	// policy is then learned at every training (host/policy).
	auto bool
}

// tuningFlags are the flags that fix the forecaster or the decision; when
// none is given, simulate learns the policy as the trainer does.
var tuningFlags = []string{"plugin", "param", "aggregation", "bound", "reactive-floor", "anchor", "anchor-half-life"}

func newSimulateCmd(app *App, out io.Writer) *cobra.Command {
	def := simulate.DefaultOptions()
	o := &SimulateOptions{}
	cmd := &cobra.Command{
		Use:   "simulate --data FILE.csv --capacity PER_REPLICA",
		Short: "Replay a metric trace through reactive, predictive and oracle autoscalers",
		Long: `simulate walks through a demand trace (CSV with columns ds and y, one row per
step; NaN or a missing row is a gap) in time order with three autoscalers that
share one replica model: the Kubernetes HPA with an AverageValue target of
capacity × target utilisation (10 % tolerance), new replicas ready only after
--lead, scale-down held by a --stabilization window.

  reactive    the HPA on the current value;
  predictive  by default the policy PPA learns: at every training (every
              --retrain, on the trailing --train) the trainer's policy search
              replays that window walk-forward and keeps the forecaster and
              decision rules that beat the HPA at equal replica-hours, or
              reactive when none does (the table lists every plan). With
              --plugin, --param, --aggregation, --bound, --reactive-floor or
              --anchor the policy is fixed instead: that plugin, read over
              [now, now + lead] exactly as the PPA scaler reads it;
  oracle      perfect knowledge of the demand over the lead: the limit.

The first --train (plus the lead or the stabilisation window) is warm-up and
not scored. Per arm it reports under-provisioned minutes (demand above ready
replicas × capacity), the unserved share of the demand, replica-hours, the
idle share of ready capacity and scale events. --sweep repeats the arms over
--utilizations and compares them at equal replica-hours: the predictive arm's
under-provisioned minutes as a share of reactive's (interpolated along
reactive's trade-off curve), and the share of the reactive → oracle gap it
closes. Progress goes to stderr.`,
		Example: `  ppa simulate --data requests.csv --capacity 50 --lead 5m --plot sim.svg
  ppa simulate --data cpu-5m.csv --capacity 250000 --plugin prophet --lead 15m --reactive-floor --sweep --format json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o.auto = true
			for _, name := range tuningFlags {
				if cmd.Flags().Changed(name) {
					o.auto = false
				}
			}
			return o.Run(cmd.Context(), app, out)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.Data, "data", "", "CSV file with columns ds and y (required)")
	f.Float64Var(&o.Capacity, "capacity", 0, "demand one replica serves at 100 % utilisation, in the trace's units (required)")
	f.Float64Var(&o.TargetUtilization, "target-utilization", def.TargetUtilization, "share of a replica's capacity the autoscaler aims for, in (0, 1]")
	f.StringVar(&o.Lead, "lead", "5m", "time a new replica needs to become ready; also the forecast horizon")
	f.StringVar(&o.Train, "train", "7d", "trailing window the forecaster is trained on")
	f.StringVar(&o.Retrain, "retrain", "24h", "period between trainings")
	f.StringVar(&o.Stabilization, "stabilization", "5m", "HPA scale-down stabilisation window")
	f.Float64Var(&o.Tolerance, "tolerance", def.Tolerance, "HPA tolerance")
	o.pluginFlags.register(f)
	f.StringVar(&o.Aggregation, "aggregation", string(decision.AggMax), "aggregation of the forecast over the lead: max, mean or last")
	f.StringVar(&o.Bound, "bound", string(decision.BoundYhat), "forecast series read: yhat, upper or lower")
	f.BoolVar(&o.ReactiveFloor, "reactive-floor", false, "use max(forecast, current value), and the current value when the forecast is unusable")
	f.BoolVar(&o.Anchor, "anchor", false, "shift the forecast by current value − forecast at now before reading it (the scaler's anchor key)")
	f.StringVar(&o.AnchorHalfLife, "anchor-half-life", "0", "with --anchor, halve the shift every this much ahead of now (0: the full shift over the lead)")
	f.IntVar(&o.Min, "min", def.MinReplicas, "minimum replicas")
	f.IntVar(&o.Max, "max", 0, "maximum replicas (0: no limit)")
	f.IntVar(&o.Initial, "initial-replicas", 0, "replicas at the start of the trace (0: what the HPA picks for the first value)")
	f.BoolVar(&o.Sweep, "sweep", false, "run every arm at each of --utilizations and compare at equal replica-hours")
	f.Float64SliceVar(&o.Utilizations, "utilizations", def.Utilizations, "target utilisations of a sweep")
	if u := def.Utilizations; len(u) > 3 { // pflag would print every point with six decimals
		f.Lookup("utilizations").DefValue = fmt.Sprintf("%g,%g,…,%g", u[0], u[1], u[len(u)-1])
	}
	f.StringVar(&o.Format, "format", formatTable, "output format: table or json")
	f.StringVar(&o.Plot, "plot", "", "write charts to this file: .svg, .png or .html")
	for _, name := range []string{"data", "capacity"} {
		_ = cmd.MarkFlagRequired(name)
	}
	return cmd
}

// options turns the flags into simulate.Options, without the series and
// the forecaster.
func (o *SimulateOptions) options() (simulate.Options, error) {
	s := simulate.DefaultOptions()
	if err := checkTableOrJSON(o.Format); err != nil {
		return s, err
	}
	if o.Plot != "" {
		if _, err := plot.FormatOf(o.Plot); err != nil {
			return s, fmt.Errorf("--plot: %w", err)
		}
	}
	for _, d := range []struct {
		flag, value string
		dst         *time.Duration
	}{{"lead", o.Lead, &s.Lead}, {"train", o.Train, &s.Train}, {"retrain", o.Retrain, &s.Retrain}, {"stabilization", o.Stabilization, &s.Stabilization}, {"anchor-half-life", o.AnchorHalfLife, &s.Decision.AnchorHalfLife}} {
		v, err := abi.ParseDuration(d.value)
		if err == nil && v < 0 {
			err = fmt.Errorf("%s is negative", d.value)
		}
		if err != nil {
			return s, fmt.Errorf("--%s: %w", d.flag, err)
		}
		*d.dst = v
	}
	var err error
	if s.Decision.Aggregation, err = decision.ParseAggregation(o.Aggregation); err != nil {
		return s, fmt.Errorf("--aggregation: %w", err)
	}
	if s.Decision.Bound, err = decision.ParseBound(o.Bound); err != nil {
		return s, fmt.Errorf("--bound: %w", err)
	}
	s.Decision.ReactiveFloor = o.ReactiveFloor
	s.Decision.Anchor = o.Anchor
	s.CapacityPerReplica = o.Capacity
	s.TargetUtilization = o.TargetUtilization
	s.Tolerance = o.Tolerance
	s.MinReplicas, s.MaxReplicas, s.InitialReplicas = o.Min, o.Max, o.Initial
	s.Seed = o.Seed
	s.Sweep, s.Utilizations = o.Sweep, o.Utilizations
	return s, nil
}

// Run loads the data and the plugin, simulates, and writes the result to w
// and the charts to --plot.
func (o *SimulateOptions) Run(ctx context.Context, app *App, w io.Writer) error {
	opts, err := o.options()
	if err != nil {
		return err
	}
	kv, err := flagkit.ParseParams(o.Params)
	if err != nil {
		return err
	}
	s, err := series.ReadFile(o.Data)
	if err != nil {
		return err
	}
	if o.auto {
		return o.runLearned(ctx, app, w, opts, s)
	}
	p, release, err := app.openPlugin(ctx, o.Plugin)
	if err != nil {
		return err
	}
	defer release()
	desc := p.Description()
	if opts.Params, err = desc.ParseParams(kv); err != nil {
		return fmt.Errorf("plugin %s: %w", desc.Name, err)
	}
	opts.Series, opts.Forecaster = s, p
	opts.Label = desc.Name + " " + desc.Version
	opts.Logger = app.Logger()
	last := -1
	opts.Progress = func(done, total int) {
		if pct := 10 * done / total; pct != last || done == total {
			last = pct
			fmt.Fprintf(app.Err, "ppa simulate: forecasting with %s: %d of %d periods\n", desc.Name, done, total)
		}
	}
	return o.finish(ctx, app, w, opts, nil)
}

// runLearned simulates with the policy learned at every training from the
// built-in candidates, as the trainer does.
func (o *SimulateOptions) runLearned(ctx context.Context, app *App, w io.Writer, opts simulate.Options, s *series.Series) error {
	opts.Series = s
	opts.Planner = &policy.Planner{}
	if err := simulate.Check(opts); err != nil {
		return err
	}
	e, err := app.NewEngine(ctx, nil)
	if err != nil {
		return err
	}
	defer e.Close(ctx)
	cands, err := app.policyCandidates(ctx, e)
	if err != nil {
		return err
	}
	cfg := policy.DefaultConfig()
	cfg.CapacityPerReplica, cfg.TargetUtilization = opts.CapacityPerReplica, opts.TargetUtilization
	cfg.Stabilization, cfg.Tolerance = opts.Stabilization, opts.Tolerance
	cfg.MinReplicas, cfg.MaxReplicas, cfg.Seed = opts.MinReplicas, opts.MaxReplicas, opts.Seed
	cfg.Candidates = cands
	for i := range cands {
		if cands[i].Name == seasonalnaive.Name {
			cfg.Baseline = &cands[i]
		}
	}
	var last *policy.Result
	opts.Series = s
	opts.Label = "learned policy"
	opts.Planner = &policy.Planner{Config: cfg, OnPlan: func(_ int64, r *policy.Result) { last = r }}
	opts.Progress = func(done, n int) {
		if done == n || done%10 == 0 {
			fmt.Fprintf(app.Err, "ppa simulate: learning the policy at each training: %d of %d\n", done, n)
		}
	}
	return o.finish(ctx, app, w, opts, func(res *simulate.Result) error {
		if o.Format == formatJSON {
			return nil
		}
		return writePlans(w, res, last)
	})
}

// writePlans prints the policies learned at each training and the last
// search's candidates.
func writePlans(w io.Writer, res *simulate.Result, last *policy.Result) error {
	var pred, react int
	for _, p := range res.Plans {
		if p.Reactive {
			react++
		} else {
			pred++
		}
	}
	fmt.Fprintf(w, "\nLearned policy: %d trainings, %d predictive, %d reactive (never worse than the HPA on the history each saw)\n", len(res.Plans), pred, react)
	for _, p := range res.Plans {
		fmt.Fprintf(w, "  %s  %s\n", p.At.Format("2006-01-02T15:04Z"), p.Label)
	}
	if last == nil {
		return nil
	}
	fmt.Fprintf(w, "\nCandidates of the last search (%d scored folds of %s; gap closed at equal replica-hours, target and pooled over target ± 0.1):\n",
		last.Policy.Settings.Folds, last.Policy.Settings.FoldLength)
	return policy.WriteRows(w, last.Rows, 12)
}

// finish runs the simulation and writes the result; extra, when set,
// writes more after the table.
func (o *SimulateOptions) finish(ctx context.Context, app *App, w io.Writer, opts simulate.Options, extra func(*simulate.Result) error) error {
	start := app.now()
	res, err := simulate.Run(ctx, opts)
	if err != nil {
		return err
	}
	app.Logger().Info("simulate", "data", o.Data, "plugin", opts.Label, "elapsed", app.now().Sub(start))
	if fs := res.Forecast; fs.SkippedTrainings > 0 {
		fmt.Fprintf(app.Err, "ppa simulate: warning: %d of %d trainings were skipped for lack of data (the previous model, or with none the %s, stood in)\n",
			fs.SkippedTrainings, fs.SkippedTrainings+fs.Trainings, map[bool]string{true: "reactive floor", false: "current replica count"}[o.ReactiveFloor])
	}
	if o.Plot != "" {
		if err := writeSimulatePlot(o.Plot, o.Data, res); err != nil {
			return err
		}
		fmt.Fprintf(app.Err, "ppa simulate: wrote %s\n", o.Plot)
	}
	if o.Format == formatJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(res)
	}
	if err := res.WriteTable(w); err != nil {
		return err
	}
	if extra != nil {
		return extra(res)
	}
	return nil
}

// writeSimulatePlot writes the charts of a simulation: demand against each
// arm's ready capacity over the busiest day of the scored period and over
// the whole period, the forecast against the demand over the busiest day,
// and the trade-off curves of a sweep.
func writeSimulatePlot(path, source string, res *simulate.Result) error {
	source = filepath.Base(source)
	tl := res.Timeline
	from, to := busiestDay(tl)
	lines := func(a, b int) []plot.Line {
		capLine := func(name string, ready []int32) plot.Line {
			l := plot.Line{Name: name + " ready capacity", T: tl.T[a:b], Y: make([]float64, b-a)}
			for i := a; i < b; i++ {
				l.Y[i-a] = float64(ready[i]) * tl.CapacityPerReplica
			}
			return l
		}
		return []plot.Line{
			{Name: "demand", T: tl.T[a:b], Y: tl.Demand[a:b]},
			capLine("reactive", tl.Reactive), capLine("predictive", tl.Predictive), capLine("oracle", tl.Oracle),
		}
	}
	var charts []*plot.Chart
	day, err := plot.Timeline(fmt.Sprintf("%s: demand and ready capacity, busiest day", source), "demand", lines(from, to), true)
	if err != nil {
		return err
	}
	fc, err := plot.Forecast(fmt.Sprintf("%s: forecast (%s) and demand, busiest day", source, res.Settings.Forecaster), "demand",
		plot.Line{Name: "demand", T: tl.T[from:to], Y: tl.Demand[from:to]},
		plot.Band{Name: "forecast", T: tl.T[from:to], Yhat: tl.Yhat[from:to], Lower: tl.Lower[from:to], Upper: tl.Upper[from:to]})
	if err != nil {
		return err
	}
	all, err := plot.Timeline(fmt.Sprintf("%s: demand and ready capacity, scored period", source), "demand", lines(tl.ScoredFrom, len(tl.T)), true)
	if err != nil {
		return err
	}
	charts = append(charts, day, fc, all)
	if c := res.Curves; c != nil {
		curve := func(name string, pts []simulate.CurvePoint) plot.Curve {
			cv := plot.Curve{Name: name}
			for _, p := range pts {
				cv.X = append(cv.X, p.ReplicaHours)
				cv.Y = append(cv.Y, p.UnderprovisionedMinutes)
				cv.Labels = append(cv.Labels, fmt.Sprintf("%g", p.TargetUtilization))
			}
			return cv
		}
		title := "trade-off: under-provisioned minutes against replica-hours (labels: target utilisation)"
		if e := res.AtEqualReplicaHours; e != nil && e.GapClosed != nil {
			title = fmt.Sprintf("trade-off (at equal replica-hours the predictive arm closes %.0f%% of the reactive → oracle gap)", 100**e.GapClosed)
		}
		tr, err := plot.Tradeoff(title, "replica-hours", "under-provisioned minutes",
			[]plot.Curve{curve("reactive", c.Reactive), curve("predictive", c.Predictive), curve("oracle", c.Oracle)})
		if err != nil {
			return err
		}
		charts = append(charts, tr)
	}
	return plot.Save(path, "ppa simulate: "+source, charts...)
}

// busiestDay returns the [from, to) step range of the 24 hours of the
// scored period centred on its highest demand (the whole scored period
// when it is shorter than two days).
func busiestDay(tl *simulate.Timeline) (int, int) {
	n := len(tl.T)
	if n-tl.ScoredFrom < 2 {
		return tl.ScoredFrom, n
	}
	step := tl.T[tl.ScoredFrom+1] - tl.T[tl.ScoredFrom]
	day := int((24 * time.Hour).Milliseconds() / step)
	if n-tl.ScoredFrom <= 2*day {
		return tl.ScoredFrom, n
	}
	peak, best := tl.ScoredFrom, math.Inf(-1)
	for i := tl.ScoredFrom; i < n; i++ {
		if v := tl.Demand[i]; v > best {
			peak, best = i, v
		}
	}
	from := max(tl.ScoredFrom, peak-day/2)
	to := min(n, from+day)
	return max(tl.ScoredFrom, to-day), to
}
