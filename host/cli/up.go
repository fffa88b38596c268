package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/spf13/cobra"

	"github.com/ppa-autoscaler/ppa/abi"
	"github.com/ppa-autoscaler/ppa/host/decision"
	"github.com/ppa-autoscaler/ppa/host/flagkit"
	"github.com/ppa-autoscaler/ppa/host/local"
	"github.com/ppa-autoscaler/ppa/host/promsource"
	"github.com/ppa-autoscaler/ppa/host/runtime"
	"github.com/ppa-autoscaler/ppa/host/scaler"
	"github.com/ppa-autoscaler/ppa/host/store"
	"github.com/ppa-autoscaler/ppa/host/trainer"
)

// clockOffsetAuto is the --clock-offset value that makes now the end of
// the CSV file.
const clockOffsetAuto = "auto"

// UpOptions are the flags of `ppa up`.
type UpOptions struct {
	// Data is a CSV file of ds,y rows; Prometheus, Query, History, Step
	// and Aggregate read the history from Prometheus instead.
	Data                     string
	Prometheus, Query        string
	History, Step, Aggregate string
	// Store is the local directory of models and plugins.
	Store string
	// Model is NAMESPACE/NAME.
	Model string
	// pluginFlags (--plugin, --param, --seed) configure the forecaster.
	pluginFlags
	// Retrain is the period between trainings ("0": never).
	Retrain string
	// ListenAddress and the ports of the runtime and the scaler.
	ListenAddress                  string
	HTTPPort, GRPCPort, ScalerPort int
	// ClockOffset is "0", "auto" or a signed duration.
	ClockOffset string
	// TargetValue and Horizon fill the printed KEDA trigger and grpcurl
	// examples.
	TargetValue float64
	Horizon     string

	// horizon is Horizon parsed (by the scaler's rules: a bare integer is
	// minutes); explicit names the Prometheus-only flags given.
	horizon  time.Duration
	explicit map[string]bool
}

func newUpCmd(app *App, out io.Writer) *cobra.Command {
	o := &UpOptions{}
	cmd := &cobra.Command{
		Use:     "up (--data FILE.csv | --prometheus URL --query PROMQL)",
		Aliases: []string{"local"},
		Short:   "Run the trainer, the runtime and the KEDA scaler in one process on loopback",
		Long: `up runs PPA's whole loop on a laptop, in one process, with a local-directory
store: it trains --model on the history (a CSV file, or Prometheus over
--history at --step), prints the result, starts the inference runtime
(Open Inference Protocol v2: REST on --http-port, gRPC on --grpc-port)
serving the model, and starts the KEDA external scaler (gRPC on
--scaler-port) reading the runtime's forecasts. It then retrains every
--retrain (0: never); the runtime switches to each new version at once.
It prints how to query the runtime with curl and the scaler with grpcurl,
and a ScaledObject trigger to paste. Ctrl-C (SIGINT) or SIGTERM stops
everything cleanly.

Every port binds --listen-address (127.0.0.1); a port of 0 picks a free one
(the bound addresses are printed). KEDA in a cluster must reach the
scaler: give --listen-address 0.0.0.0 and the host's address as seen from
the cluster (e.g. host.docker.internal with kind or Docker Desktop).

Clock: the runtime and the scaler forecast for "now", the wall clock. A
model trained on a historical CSV file therefore forecasts far after its
data, an extrapolation. --clock-offset auto shifts their clock so that
"now" is the last timestamp of the CSV file when up starts (and then moves
on in real time): a demo replays the file's end as if it were live. A
signed duration (e.g. -720h) shifts by that much; the trainer and the
store keep the real time.`,
		Example: `  ppa up --data requests.csv --clock-offset auto
  ppa up --data requests.csv --plugin prophet --model shop/checkout --http-port 0 --grpc-port 0 --scaler-port 0
  ppa up --prometheus http://localhost:9090 --query 'sum(rate(http_requests_total[5m]))' --history 14d --step 1m --retrain 1h`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o.explicit = map[string]bool{}
			for _, name := range []string{"history", "step"} {
				o.explicit[name] = cmd.Flags().Changed(name)
			}
			return o.Run(cmd.Context(), app, out)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.Data, "data", "", "CSV file with columns ds and y to train on")
	f.StringVar(&o.Prometheus, "prometheus", "", "Prometheus base URL to read the history from, e.g. http://localhost:9090")
	f.StringVar(&o.Query, "query", "", "PromQL query of the metric (with --prometheus)")
	f.StringVar(&o.History, "history", "14d", "history to read from Prometheus")
	f.StringVar(&o.Step, "step", "1m", "sampling step of the Prometheus history")
	f.StringVar(&o.Aggregate, "aggregate", "", "fold the query's series into one: sum, max, min or avg")
	f.StringVar(&o.Store, "store", "", "local directory of models and plugins (default ${XDG_DATA_HOME:-~/.local/share}/ppa/store)")
	f.StringVar(&o.Model, "model", "default/demo", "model to train and serve, NAMESPACE/NAME")
	o.pluginFlags.register(f)
	f.StringVar(&o.Retrain, "retrain", "1h", "period between trainings (0: train once)")
	f.StringVar(&o.ListenAddress, "listen-address", local.DefaultListenAddress, "address every port binds")
	f.IntVar(&o.HTTPPort, "http-port", runtime.DefaultHTTPPort, "runtime REST port (0: any free port)")
	f.IntVar(&o.GRPCPort, "grpc-port", runtime.DefaultGRPCPort, "runtime gRPC port (0: any free port)")
	f.IntVar(&o.ScalerPort, "scaler-port", local.DefaultScalerPort, "KEDA external scaler gRPC port (0: any free port)")
	f.StringVar(&o.ClockOffset, "clock-offset", "0", `shift of the runtime's and scaler's clock: "auto" (now = the end of the CSV file) or a signed duration`)
	f.Float64Var(&o.TargetValue, "target-value", 100, "metric value one replica handles, for the printed trigger and grpcurl examples")
	f.StringVar(&o.Horizon, "horizon", flagkit.FormatDuration(scaler.DefaultHorizon), "lead time of the printed trigger and grpcurl examples")
	return cmd
}

// options turns the flags into local.Options without the store, engine
// and clock offset.
func (o *UpOptions) options(app *App) (local.Options, error) {
	var lo local.Options
	ref, err := store.ParseModelRef(o.Model)
	if err != nil {
		return lo, fmt.Errorf("--model: %w", err)
	}
	tr := trainer.Options{Model: ref, Plugin: o.Plugin, Seed: o.Seed, Builtin: app.Builtin, Logger: app.Logger(), CreatedBy: "ppa up"}
	if tr.Params, err = flagkit.ParseParams(o.Params); err != nil {
		return lo, err
	}
	src := flagkit.Source{Data: o.Data, Prometheus: o.Prometheus, Query: o.Query, Aggregate: o.Aggregate}
	for _, name := range []string{"history", "step"} {
		if o.explicit[name] {
			src.PrometheusOnly = append(src.PrometheusOnly, name)
		}
	}
	csv, err := src.Check()
	switch {
	case err != nil:
		return lo, err
	case csv:
		tr.CSV = o.Data
	default:
		p := &trainer.PrometheusSource{
			Config:    promsource.Config{URL: o.Prometheus},
			Query:     o.Query,
			Aggregate: promsource.Aggregation(strings.ToLower(o.Aggregate)),
		}
		if p.History, err = flagkit.ParseDurationFlag("history", o.History, 0); err != nil {
			return lo, err
		}
		if p.Step, err = flagkit.ParseDurationFlag("step", o.Step, 0); err != nil {
			return lo, err
		}
		if p.Step <= 0 || p.History < p.Step {
			return lo, fmt.Errorf("--history %s and --step %s: want a positive step no longer than the history", o.History, o.Step)
		}
		tr.Prometheus = p
	}
	if !(o.TargetValue > 0) {
		return lo, fmt.Errorf("--target-value %v: want a positive number", o.TargetValue)
	}
	if err := scaler.ValidateModelName(ref.Name); err != nil {
		return lo, fmt.Errorf("--model: the scaler takes Kubernetes names: %w", err)
	}
	if err := scaler.ValidateNamespace(ref.Namespace); err != nil {
		return lo, fmt.Errorf("--model: the scaler takes Kubernetes names: %w", err)
	}
	if o.TargetValue > scaler.MaxTargetValue {
		return lo, fmt.Errorf("--target-value %v: more than the scaler's limit of %g", o.TargetValue, scaler.MaxTargetValue)
	}
	// Parsed once, by the scaler's rules, for both the check and the
	// printed examples.
	t, err := scaler.ParseTrigger("", ref.Namespace, map[string]string{
		scaler.KeyModelName: ref.Name, scaler.KeyTargetValue: "1", scaler.KeyHorizon: o.Horizon,
	})
	if err != nil {
		return lo, fmt.Errorf("--horizon: %w", err)
	}
	o.horizon = t.Horizon
	// The policy search learns for the lead the trigger reads.
	tr.Scaling = trainer.Scaling{Lead: o.horizon, TargetValue: o.TargetValue}
	lo.Train = tr
	if lo.Retrain, err = flagkit.ParseDurationFlag("retrain", o.Retrain, 0); err != nil {
		return lo, err
	}
	if o.ClockOffset == clockOffsetAuto && o.Data == "" {
		return lo, errors.New(`--clock-offset auto needs --data: it makes now the end of the CSV file`)
	}
	if o.ClockOffset != clockOffsetAuto && o.ClockOffset != "0" && o.ClockOffset != "" {
		neg := strings.HasPrefix(o.ClockOffset, "-")
		d, err := abi.ParseDuration(strings.TrimPrefix(strings.TrimPrefix(o.ClockOffset, "-"), "+"))
		if err != nil {
			return lo, fmt.Errorf(`--clock-offset: want "auto" or a signed duration: %w`, err)
		}
		if neg {
			d = -d
		}
		lo.ClockOffset = d
	}
	lo.ListenAddress = o.ListenAddress
	lo.HTTPPort, lo.GRPCPort, lo.ScalerPort = o.HTTPPort, o.GRPCPort, o.ScalerPort
	lo.Now = app.Now
	lo.Logger = app.Logger()
	return lo, nil
}

// defaultStore returns ${XDG_DATA_HOME:-$HOME/.local/share}/ppa/store, or
// "" when neither variable is set.
func (a *App) defaultStore() string {
	base := a.getenv("XDG_DATA_HOME")
	if base == "" {
		home := a.getenv("HOME")
		if home == "" {
			return ""
		}
		base = filepath.Join(home, ".local", "share")
	}
	return filepath.Join(base, "ppa", "store")
}

// Run trains, serves until ctx is done and shuts down, printing what
// happens to w (progress of the first training to app.Err).
func (o *UpOptions) Run(ctx context.Context, app *App, w io.Writer) error {
	lo, err := o.options(app)
	if err != nil {
		return err
	}
	dir := o.Store
	if dir == "" {
		if dir = app.defaultStore(); dir == "" {
			return errors.New("--store: no default (neither XDG_DATA_HOME nor HOME is set): give a directory")
		}
	}
	if strings.Contains(dir, "://") {
		return fmt.Errorf("--store %s: ppa up keeps its models in a local directory", dir)
	}
	st, err := store.Open(ctx, dir, store.WithLogger(app.Logger()), store.WithClock(app.now))
	if err != nil {
		return fmt.Errorf("--store: %w", err)
	}
	lo.Train.Store = st
	if o.ClockOffset == clockOffsetAuto {
		if lo.ClockOffset, err = local.ClockOffsetToEnd(o.Data, app.now()); err != nil {
			return err
		}
	}
	e, err := app.NewEngine(ctx, nil)
	if err != nil {
		return err
	}
	defer e.Close(ctx)
	lo.Train.Engine = e
	report, done, err := progressReporter(progressAuto, app.Err)
	if err != nil {
		return err
	}
	// Progress bars for the first training only: later ones print a line.
	var trained atomic.Bool
	lo.Train.Progress = func(p trainer.Progress) {
		if !trained.Load() {
			report(p)
		}
	}
	rt := runtime.NewOptions()
	rt.CacheDir = app.CacheDir
	lo.Runtime = &rt

	source := o.Data
	if source == "" {
		source = o.Prometheus + " " + o.Query
	}
	fmt.Fprintf(w, "ppa up: training %s with %s on %s (store %s)\n", lo.Train.Model, o.Plugin, source, dir)
	return local.Run(ctx, lo, local.Hooks{
		Trained: func(first bool, res *trainer.Result, err error) {
			if first {
				trained.Store(true)
				done()
				if err == nil {
					_ = res.WriteTable(w)
				}
				return
			}
			if err != nil {
				fmt.Fprintf(app.Err, "ppa up: retraining %s failed, the previous version keeps serving: %v\n", lo.Train.Model, err)
				return
			}
			verdict := "accepted, now serving"
			if res.Rejected {
				verdict = "rejected by the quality gate, not serving: " + res.Reason
			}
			fmt.Fprintf(w, "ppa up: retrained %s: version %s (%s)\n", res.Model, res.Version, verdict)
		},
		Serving: func(ep local.Endpoints) {
			o.writeServing(w, lo, ep, app.now())
		},
	})
}

// writeServing prints the endpoints and how to use them.
func (o *UpOptions) writeServing(w io.Writer, lo local.Options, ep local.Endpoints, wall time.Time) {
	ref := lo.Train.Model
	fmt.Fprintln(w)
	if lo.ClockOffset != 0 {
		fmt.Fprintf(w, "clock:   shifted by %s: the runtime and the scaler take now = %s\n",
			flagkit.FormatDuration(lo.ClockOffset.Round(time.Second)), wall.Add(lo.ClockOffset).UTC().Format(time.RFC3339))
	}
	fmt.Fprintf(w, "runtime: REST http://%s (metrics on /metrics), gRPC %s, model %s\n", ep.RuntimeHTTP, ep.RuntimeGRPC, ref.Name)
	fmt.Fprintf(w, "scaler:  gRPC %s (KEDA external scaler, runtime %s)\n", ep.Scaler, ep.RuntimeGRPC)
	if lo.Retrain > 0 {
		fmt.Fprintf(w, "retraining every %s\n", flagkit.FormatDuration(lo.Retrain))
	}
	horizon := o.horizon
	target := strconv.FormatFloat(o.TargetValue, 'g', -1, 64)
	md := map[string]string{
		scaler.KeyModelName:      ref.Name,
		scaler.KeyModelNamespace: ref.Namespace,
		scaler.KeyTargetValue:    target,
		scaler.KeyHorizon:        o.Horizon,
	}
	// The learned policy needs the current value (to anchor to, to floor
	// with, or to serve when it is reactive): Prometheus gives it. A CSV
	// file does not, so its example names the rules instead.
	var extra string
	if p := lo.Train.Prometheus; p != nil {
		md[scaler.KeyReactiveQuery], md[scaler.KeyPrometheusAddress] = p.Query, p.Config.URL
		extra = fmt.Sprintf("      reactiveQuery: %q   # the current value: the learned policy anchors to it, floors with it, or serves it\n      prometheusAddress: %q\n", p.Query, p.Config.URL)
	} else {
		md[scaler.KeyAggregation] = string(decision.AggMax)
		extra = fmt.Sprintf("      aggregation: %q   # a CSV gives no current value: this rule replaces the learned policy (with Prometheus, set reactiveQuery and prometheusAddress instead)\n", decision.AggMax)
	}
	req, _ := json.Marshal(map[string]any{
		"scaledObjectRef": map[string]any{"name": ref.Name, "namespace": ref.Namespace, "scalerMetadata": md},
		"metricName":      scaler.MetricName(ref.Namespace, ref.Name),
	})
	infer := fmt.Sprintf(`{"inputs":[{"name":"horizon","shape":[1],"datatype":"INT64","data":[%d]}]}`, int64(horizon/time.Second))
	fmt.Fprintf(w, `
Forecast for the next %s from the runtime:
  curl -s http://%s/v2/models/%s/infer -d '%s'
The value the scaler hands to KEDA:
  grpcurl -plaintext -d '%s' %s externalscaler.ExternalScaler/GetMetrics

KEDA ScaledObject trigger (spec.triggers; KEDA must reach %s, see --listen-address):
  - type: external
    metadata:
      scalerAddress: "%s"
      modelName: "%s"
      modelNamespace: "%s"
      targetValue: "%s"   # metric value one replica handles
      horizon: "%s"        # lead time: the window [now, now+horizon] the forecast is read over
%s
Serving until Ctrl-C.
`, flagkit.FormatDuration(horizon), ep.RuntimeHTTP, ref.Name, infer, req, ep.Scaler, ep.Scaler, ep.Scaler, ref.Name, ref.Namespace, target, o.Horizon, extra)
}
