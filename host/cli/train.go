package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/ppa-autoscaler/ppa/host/engine"
	"github.com/ppa-autoscaler/ppa/host/store"
	"github.com/ppa-autoscaler/ppa/host/trainer"
)

// Progress display modes of `ppa train --progress`.
const (
	progressAuto = "auto"
	progressBar  = "bar"
	progressLog  = "log"
	progressNone = "none"
)

// TrainOptions are the flags of `ppa train`.
type TrainOptions struct {
	trainer.Flags
	// Format is table or json.
	Format string
	// Progress is auto (a bar on a terminal, log lines otherwise), bar,
	// log or none.
	Progress string
}

func newTrainCmd(app *App, out io.Writer) *cobra.Command {
	o := &TrainOptions{}
	cmd := &cobra.Command{
		Use:   "train (--data FILE.csv | --prometheus URL --query PROMQL) --store DIR|s3://BUCKET/PREFIX --model NAMESPACE/NAME",
		Short: "Backtest and train a forecaster on a metric's history and store the model as a new version",
		Long: `train reads a metric's history (a CSV file of ds,y rows, or Prometheus
query_range over --history at --step, fetched in chunks), checks that it holds
enough observations, backtests the plugin on a hold-out window at the end of
the history (MAPE, sMAPE, MASE against the seasonal naive forecast,
coverage), trains it on the whole history, and stores the model with a
manifest as a new immutable version. A plugin that is not in the store yet
is published into it first.

The quality gate (--max-mase, --max-smape, --max-mape, --min-coverage; 0 is
off) decides whether the model may serve: a model that fails it is stored
but marked rejected, with the reason, and never becomes the model's newest
accepted version.

S3 credentials come from --s3-access-key-file/--s3-secret-key-file or the
environment (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, MINIO_ROOT_USER/...).`,
		Example: `  ppa train --data requests.csv --store ./models --model shop/checkout --plugin seasonal-naive
  ppa train --prometheus http://prometheus:9090 --query 'sum(rate(http_requests_total[5m]))' \
      --history 14d --step 1m --store 's3://ppa/models?endpoint=minio:9000&insecure=true' \
      --model shop/checkout --plugin prophet --max-mase 1`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return o.Run(cmd.Context(), app, out)
		},
	}
	f := cmd.Flags()
	o.Flags.Register(f, app.getenv("USER"))
	f.StringVar(&o.Format, "format", formatTable, "output format: table or json")
	f.StringVar(&o.Progress, "progress", progressAuto, "progress display on stderr: auto (a bar on a terminal, log lines otherwise), bar, log or none")
	return cmd
}

// Run trains, stores and prints the result to w.
func (o *TrainOptions) Run(ctx context.Context, app *App, w io.Writer) error {
	if err := checkTableOrJSON(o.Format); err != nil {
		return err
	}
	opts, err := o.Flags.Options(app.now)
	if err != nil {
		return err
	}
	report, done, err := progressReporter(o.Progress, app.Err)
	if err != nil {
		return err
	}
	defer done()
	opts.Progress = report
	opts.Logger = app.Logger()
	opts.Builtin = app.Builtin
	s, err := o.Flags.OpenStore(ctx, store.WithLogger(app.Logger()), store.WithClock(app.now))
	if err != nil {
		return err
	}
	opts.Store = s
	e, err := app.NewEngine(ctx, nil)
	if err != nil {
		return err
	}
	defer e.Close(ctx)
	opts.Engine = e
	res, err := trainer.Run(ctx, opts)
	done()
	if err != nil {
		return err
	}
	if o.ResultFile != "" {
		if err := res.WriteFile(o.ResultFile); err != nil {
			return err
		}
	}
	if o.Format == formatJSON {
		return res.WriteJSON(w)
	}
	return res.WriteTable(w)
}

// progressReporter returns the progress callback of a --progress mode,
// showing progress on w.
func progressReporter(mode string, w io.Writer) (func(trainer.Progress), func(), error) {
	log := slog.New(slog.NewTextHandler(w, nil))
	switch mode {
	case progressAuto:
		report, done := trainer.ProgressReporter(w, trainer.IsTerminal(w), log)
		return report, done, nil
	case progressBar:
		report, done := trainer.ProgressReporter(w, true, log)
		return report, done, nil
	case progressLog:
		report, done := trainer.ProgressReporter(w, false, log)
		return report, done, nil
	case progressNone:
		return nil, func() {}, nil
	default:
		return nil, nil, fmt.Errorf("--progress %q: want auto, bar, log or none", mode)
	}
}

// storeFlags are the flags that open a store.
type storeFlags struct {
	Store, CAFile, AccessKeyFile, SecretKeyFile string
}

func (sf *storeFlags) register(cmd *cobra.Command, required bool) {
	f := cmd.Flags()
	help := "artifact store: a directory or s3://BUCKET/PREFIX[?endpoint=HOST:PORT&insecure=true]"
	f.StringVar(&sf.Store, "store", "", help)
	f.StringVar(&sf.CAFile, "s3-ca-file", "", "PEM file of extra CAs trusted for the S3 endpoint")
	f.StringVar(&sf.AccessKeyFile, "s3-access-key-file", "", "file holding the S3 access key (default: from the environment)")
	f.StringVar(&sf.SecretKeyFile, "s3-secret-key-file", "", "file holding the S3 secret key")
	if required {
		_ = cmd.MarkFlagRequired("store")
	}
}

func (sf *storeFlags) open(ctx context.Context, app *App) (store.Store, error) {
	return trainer.OpenStore(ctx, sf.Store, sf.CAFile, sf.AccessKeyFile, sf.SecretKeyFile,
		store.WithLogger(app.Logger()), store.WithClock(app.now))
}

// PluginPushOptions are the flags of `ppa plugin push`.
type PluginPushOptions struct {
	storeFlags
	// Plugin is a .wasm path or a built-in name.
	Plugin string
	// Uploader is recorded in the plugin's metadata.
	Uploader string
	// Format is table or json.
	Format string
}

func newPluginPushCmd(app *App, out io.Writer) *cobra.Command {
	o := &PluginPushOptions{}
	cmd := &cobra.Command{
		Use:   "push PATH.wasm|NAME --store DIR|s3://BUCKET/PREFIX",
		Short: "Store a plugin under the name and version it describes itself with",
		Long: `push loads the plugin (checking its exports, ABI version and
self-description) and stores it as plugins/<name>/<version>/ with its sha256.
Versions are immutable: pushing the same bytes again is a no-op, other bytes
under a stored version are refused.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Plugin = args[0]
			return o.Run(cmd.Context(), app, out)
		},
	}
	o.storeFlags.register(cmd, true)
	cmd.Flags().StringVar(&o.Uploader, "uploader", app.getenv("USER"), "who pushes the plugin, recorded in its metadata")
	cmd.Flags().StringVar(&o.Format, "format", formatTable, "output format: table or json")
	return cmd
}

// Run pushes the plugin and prints what the store holds.
func (o *PluginPushOptions) Run(ctx context.Context, app *App, w io.Writer) error {
	if err := checkTableOrJSON(o.Format); err != nil {
		return err
	}
	wasm, err := app.PluginBytes(o.Plugin)
	if err != nil {
		return err
	}
	s, err := o.open(ctx, app)
	if err != nil {
		return err
	}
	e, err := app.NewEngine(ctx, func(c engine.Config) engine.Config { return c.WithPoolSize(1) })
	if err != nil {
		return err
	}
	defer e.Close(ctx)
	meta, created, err := trainer.PushPlugin(ctx, s, e, wasm, o.Uploader)
	if err != nil {
		return err
	}
	if o.Format == formatJSON {
		return writeJSON(w, struct {
			Created bool `json:"created"`
			store.PluginMeta
		}{created, meta})
	}
	what := "pushed"
	if !created {
		what = "already stored (same sha256)"
	}
	_, err = fmt.Fprintf(w, "%s %s %s: %s\nsha256 %s, %d bytes, abi %s\n", what, meta.Name, meta.Version, s, meta.SHA256, meta.Size, meta.ABIVersion)
	return err
}

// listStorePlugins prints the plugins stored at sf as `ppa plugin list
// --store` shows them.
func listStorePlugins(ctx context.Context, app *App, sf *storeFlags, w io.Writer) error {
	s, err := sf.open(ctx, app)
	if err != nil {
		return err
	}
	metas, err := s.ListPlugins(ctx)
	if err != nil {
		return err
	}
	if len(metas) == 0 {
		_, err := fmt.Fprintf(w, "no plugins in %s: push one with `ppa plugin push PATH.wasm --store ...`\n", s)
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tVERSION\tSHA256\tABI\tSIZE\tCREATED\tUPLOADER")
	for _, m := range metas {
		uploader := m.Uploader
		if uploader == "" {
			uploader = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\t%s\n", m.Name, m.Version, m.SHA256[:12], m.ABIVersion, m.Size,
			m.Created.UTC().Format("2006-01-02T15:04:05Z"), uploader)
	}
	return tw.Flush()
}

// writeJSON writes v indented.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return fmt.Errorf("write json: %w", err)
	}
	return nil
}
