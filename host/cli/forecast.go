package cli

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/ppa-autoscaler/ppa/abi"
	"github.com/ppa-autoscaler/ppa/host/engine"
	"github.com/ppa-autoscaler/ppa/host/flagkit"
	"github.com/ppa-autoscaler/ppa/host/plot"
	"github.com/ppa-autoscaler/ppa/host/series"
)

// DefaultPlugin is the plugin `ppa forecast` uses without --plugin.
const DefaultPlugin = "seasonal-naive"

// maxPeriods bounds --periods.
const maxPeriods = 1_000_000

// Output formats of forecast.
const (
	formatTable = "table"
	formatCSV   = "csv"
	formatJSON  = "json"
)

// ForecastOptions are the flags of `ppa forecast`.
type ForecastOptions struct {
	// Data is the CSV file with columns ds and y.
	Data string
	// Periods is how many steps to forecast after the last timestamp.
	Periods int
	// Freq is the step between forecasts, e.g. "5m" or "1d".
	Freq string
	// pluginFlags are --plugin, --param and --seed.
	pluginFlags
	// Format is table, csv or json.
	Format string
	// Out is a file to write instead of standard output.
	Out string
	// Plot is a file (.svg, .png or .html) to draw the forecast into.
	Plot string
}

func newForecastCmd(app *App, out io.Writer) *cobra.Command {
	o := &ForecastOptions{}
	cmd := &cobra.Command{
		Use:   "forecast --data FILE.csv --periods N --freq DURATION",
		Short: "Train a plugin on a CSV series and forecast the steps after its end",
		Long: `forecast trains a forecaster plugin on every row of a CSV file (header
naming the columns ds and y; ds in RFC 3339 or YYYY-MM-DD[ HH:MM[:SS]], UTC;
an empty y or NaN is a missing value) and forecasts --periods points, --freq
apart, after the last timestamp.

Durations accept Go syntax plus d for days: 90s, 5m, 1h, 1d12h.
Plugin parameters are given as --param name=value (repeatable) and checked
against the plugin's self-description; see ppa plugin inspect NAME.`,
		Example: `  ppa forecast --data requests.csv --periods 288 --freq 5m
  ppa forecast --data requests.csv --periods 7 --freq 1d --param season=7d --format json
  ppa forecast --data requests.csv --periods 48 --freq 1h --plugin ./my-forecaster.wasm --out forecast.csv --format csv`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return o.Run(cmd.Context(), app, out)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.Data, "data", "", "CSV file with columns ds and y (required)")
	f.IntVar(&o.Periods, "periods", 0, "number of points to forecast (required)")
	f.StringVar(&o.Freq, "freq", "", "step between forecast points, e.g. 5m, 1h, 1d (required)")
	o.pluginFlags.register(f)
	f.StringVar(&o.Format, "format", formatTable, "output format: table, csv or json")
	f.StringVar(&o.Out, "out", "", "write the forecast to this file instead of standard output")
	f.StringVar(&o.Plot, "plot", "", "also draw the forecast after the data's last stretch into this file: .svg, .png or .html")
	for _, name := range []string{"data", "periods", "freq"} {
		_ = cmd.MarkFlagRequired(name)
	}
	return cmd
}

// ForecastPoint is one row of a forecast.
type ForecastPoint struct {
	DS    time.Time `json:"ds"`
	Yhat  float64   `json:"yhat"`
	Lower *float64  `json:"yhat_lower,omitempty"`
	Upper *float64  `json:"yhat_upper,omitempty"`
}

// PluginRef identifies the plugin that made a forecast.
type PluginRef struct {
	Name    string `json:"name"`
	Version string `json:"version"`
	Digest  string `json:"digest"`
}

// ForecastResult is the JSON document `ppa forecast --format json` prints.
type ForecastResult struct {
	Plugin   PluginRef       `json:"plugin"`
	Forecast []ForecastPoint `json:"forecast"`
}

// validate checks the flags that need no file or plugin.
func (o *ForecastOptions) validate() (time.Duration, map[string]string, error) {
	if o.Periods < 1 || o.Periods > maxPeriods {
		return 0, nil, fmt.Errorf("--periods %d: want 1 to %d", o.Periods, maxPeriods)
	}
	freq, err := abi.ParseDuration(o.Freq)
	if err != nil {
		return 0, nil, fmt.Errorf("--freq: %w", err)
	}
	if freq < time.Millisecond {
		return 0, nil, fmt.Errorf("--freq %s: want at least 1ms", o.Freq)
	}
	switch o.Format {
	case formatTable, formatCSV, formatJSON:
	default:
		return 0, nil, fmt.Errorf("--format %q: want table, csv or json", o.Format)
	}
	if o.Plot != "" {
		if _, err := plot.FormatOf(o.Plot); err != nil {
			return 0, nil, fmt.Errorf("--plot: %w", err)
		}
	}
	kv, err := flagkit.ParseParams(o.Params)
	if err != nil {
		return 0, nil, err
	}
	return freq, kv, nil
}

// checkTableOrJSON checks a --format flag that takes table or json.
func checkTableOrJSON(format string) error {
	if format != formatTable && format != formatJSON {
		return fmt.Errorf("--format %q: want table or json", format)
	}
	return nil
}

// pluginFlags are the flags that choose and configure a forecaster plugin,
// the same in every command that runs one (forecast, backtest, simulate,
// up).
type pluginFlags struct {
	// Plugin is a built-in plugin name or a path to a .wasm file.
	Plugin string
	// Params are "key=value" plugin parameters.
	Params []string
	// Seed seeds the plugin's random choices.
	Seed uint64
}

// register adds --plugin, --param and --seed to f.
func (pf *pluginFlags) register(f *pflag.FlagSet) {
	f.StringVar(&pf.Plugin, "plugin", DefaultPlugin, "built-in plugin name or path to a .wasm file")
	f.StringArrayVar(&pf.Params, "param", nil, "plugin parameter as name=value (repeatable)")
	f.Uint64Var(&pf.Seed, "seed", 0, "seed for the plugin's random choices")
}

// Run reads the data, trains, forecasts and writes the result to w (or to
// the --out file).
func (o *ForecastOptions) Run(ctx context.Context, app *App, w io.Writer) error {
	freq, kv, err := o.validate()
	if err != nil {
		return err
	}
	s, err := series.ReadFile(o.Data)
	if err != nil {
		return err
	}
	p, release, err := app.openPlugin(ctx, o.Plugin)
	if err != nil {
		return err
	}
	defer release()
	res, err := Forecast(ctx, p, s, ForecastRequest{Params: kv, Seed: o.Seed, Periods: o.Periods, Freq: freq, Source: o.Data})
	if err != nil {
		return err
	}
	res.Plugin.Digest = p.Digest()
	app.Logger().Info("forecast", "plugin", p.String(), "rows", s.Len(), "periods", o.Periods, "freq", freq)
	if o.Plot != "" {
		if err := writeForecastPlot(o.Plot, o.Data, s, res); err != nil {
			return err
		}
	}

	if o.Out == "" {
		return writeForecast(w, o.Format, res)
	}
	f, err := os.Create(o.Out)
	if err != nil {
		return fmt.Errorf("--out: %w", err)
	}
	if err := writeForecast(f, o.Format, res); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", o.Out, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write %s: %w", o.Out, err)
	}
	return nil
}

// ForecastRequest says what Forecast computes.
type ForecastRequest struct {
	// Params are plugin parameters as typed by people (name → value); they
	// are checked and typed with the plugin's description.
	Params map[string]string
	// Seed seeds the plugin.
	Seed uint64
	// Periods points are forecast, Freq apart, after the last timestamp.
	Periods int
	Freq    time.Duration
	// Source names the data in error messages (e.g. the file name).
	Source string
}

// Forecast trains f on s and forecasts req.Periods points after the end of
// s. The result's plugin digest is left empty: f may not be a module.
func Forecast(ctx context.Context, f engine.Forecaster, s *series.Series, req ForecastRequest) (*ForecastResult, error) {
	desc := f.Description()
	params, err := desc.ParseParams(req.Params)
	if err != nil {
		return nil, fmt.Errorf("plugin %s: %w", desc.Name, err)
	}
	if err := s.Validate(); err != nil {
		return nil, fmt.Errorf("%s: %w", req.Source, err)
	}
	if n, need := s.Valid(), desc.Capabilities.MinPoints; n < need {
		return nil, fmt.Errorf("%s: %d observed points (of %d rows), fewer than the %d plugin %s needs", req.Source, n, s.Len(), need, desc.Name)
	}
	tr, err := f.Train(ctx, &abi.TrainRequest{Params: params, Seed: req.Seed, Timestamps: s.T, Values: s.Y})
	if err != nil {
		return nil, fmt.Errorf("train %s on %s: %w", desc.Name, req.Source, err)
	}
	last := s.T[len(s.T)-1]
	step := req.Freq.Milliseconds()
	if maxMS := int64(253402300799999); step > (maxMS-last)/int64(max(req.Periods, 1)) {
		return nil, fmt.Errorf("%d periods of %s after %s reach past the year 9999", req.Periods, req.Freq, s.Time(len(s.T)-1).Format(time.RFC3339))
	}
	ts := make([]int64, req.Periods)
	for i := range ts {
		ts[i] = last + int64(i+1)*step
	}
	pr, err := f.Predict(ctx, &abi.PredictRequest{Model: tr.Model, Seed: req.Seed, Timestamps: ts})
	if err != nil {
		return nil, fmt.Errorf("predict with %s: %w", desc.Name, err)
	}
	res := &ForecastResult{
		Plugin:   PluginRef{Name: desc.Name, Version: desc.Version},
		Forecast: make([]ForecastPoint, len(ts)),
	}
	for i, t := range ts {
		pt := ForecastPoint{DS: time.UnixMilli(t).UTC(), Yhat: pr.Yhat[i]}
		if len(pr.Lower) > 0 {
			pt.Lower, pt.Upper = &pr.Lower[i], &pr.Upper[i]
		}
		res.Forecast[i] = pt
	}
	return res, nil
}

func writeForecast(w io.Writer, format string, res *ForecastResult) error {
	bounds := len(res.Forecast) > 0 && res.Forecast[0].Lower != nil
	switch format {
	case formatJSON:
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(res)
	case formatCSV:
		cw := csv.NewWriter(w)
		header := []string{"ds", "yhat"}
		if bounds {
			header = append(header, "yhat_lower", "yhat_upper")
		}
		if err := cw.Write(header); err != nil {
			return err
		}
		for _, p := range res.Forecast {
			row := []string{p.DS.Format(series.TimeLayout), fullFloat(p.Yhat)}
			if bounds {
				row = append(row, fullFloat(*p.Lower), fullFloat(*p.Upper))
			}
			if err := cw.Write(row); err != nil {
				return err
			}
		}
		cw.Flush()
		return cw.Error()
	default:
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
		if bounds {
			fmt.Fprintln(tw, "ds\tyhat\tyhat_lower\tyhat_upper\t")
		} else {
			fmt.Fprintln(tw, "ds\tyhat\t")
		}
		for _, p := range res.Forecast {
			if bounds {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t\n", p.DS.Format(series.TimeLayout), tableFloat(p.Yhat), tableFloat(*p.Lower), tableFloat(*p.Upper))
			} else {
				fmt.Fprintf(tw, "%s\t%s\t\n", p.DS.Format(series.TimeLayout), tableFloat(p.Yhat))
			}
		}
		return tw.Flush()
	}
}

// fullFloat is the shortest text that reads back as the same float.
func fullFloat(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }

// tableFloat rounds for people: 4 decimals.
func tableFloat(v float64) string { return strconv.FormatFloat(v, 'f', 4, 64) }
