package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/ppa-autoscaler/ppa/abi"
	"github.com/ppa-autoscaler/ppa/host/backtest"
	"github.com/ppa-autoscaler/ppa/host/flagkit"
	"github.com/ppa-autoscaler/ppa/host/plot"
	"github.com/ppa-autoscaler/ppa/host/series"
)

// maxTableHorizons is the most by-horizon rows the table format prints;
// longer lists are thinned evenly (the JSON format has them all).
const maxTableHorizons = 12

// BacktestOptions are the flags of `ppa backtest`.
type BacktestOptions struct {
	// Data is the CSV file with columns ds and y.
	Data string
	// Horizon, Initial and Period are durations as typed ("6h", "7d");
	// Initial and Period may be empty (defaults 3×horizon and horizon/2).
	Horizon, Initial, Period string
	// Season is the MASE lag; empty picks it from the data's span (see
	// defaultSeason), "0" leaves MASE undefined.
	Season string
	// pluginFlags are --plugin, --param and --seed.
	pluginFlags
	// Format is table or json.
	Format string
	// Plot is a file (.svg, .png or .html) for the last cutoff's forecast
	// against the actual values; empty draws nothing.
	Plot string
	// MaxCutoffs, when positive, keeps only the latest cutoffs.
	MaxCutoffs int
}

func newBacktestCmd(app *App, out io.Writer) *cobra.Command {
	o := &BacktestOptions{}
	cmd := &cobra.Command{
		Use:   "backtest --data FILE.csv --horizon DURATION",
		Short: "Cross-validate a plugin on a CSV series: simulated historical forecasts and their accuracy",
		Long: `backtest evaluates a forecaster plugin the way Prophet's cross_validation and
performance_metrics do. Cutoffs are placed from the end of the series back,
--period apart, the first at least --initial after the first observation;
for each cutoff the plugin is trained on the rows up to it and forecasts the
observations in the --horizon after it. Rows with a missing value (empty or
NaN) are never forecast points, but the plugin sees the gaps when it trains.

Metrics over all points: rmse, mae, mse, mape, mdape, smape (fractions; the
table shows them in %), coverage of the prediction interval, and MASE: the
error scaled by the in-sample error of the seasonal naive forecast with lag
--season (< 1 beats "same time one season ago"). By horizon they are
averaged over rolling windows of 10 % of the points, as upstream.

--season defaults to 7d when the data span at least two weeks, else 1d when
they span at least two days, else the sampling step (the naive forecast);
--season 0 leaves MASE undefined. Progress goes to stderr, one line per
cutoff.`,
		Example: `  ppa backtest --data requests.csv --horizon 1d
  ppa backtest --data requests.csv --horizon 6h --initial 7d --period 12h --plugin prophet --format json
  ppa backtest --data requests.csv --horizon 1h --max-cutoffs 20 --plot last-cutoff.svg`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return o.Run(cmd.Context(), app, out)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.Data, "data", "", "CSV file with columns ds and y (required)")
	f.StringVar(&o.Horizon, "horizon", "", "how far after each cutoff to forecast, e.g. 6h, 1d (required)")
	f.StringVar(&o.Initial, "initial", "", "least history before the first cutoff (default 3 × horizon)")
	f.StringVar(&o.Period, "period", "", "spacing of the cutoffs (default horizon / 2)")
	f.StringVar(&o.Season, "season", "", "seasonal-naive lag of MASE (default 7d with two weeks of data, else 1d with two days, else one step; 0: no MASE)")
	o.pluginFlags.register(f)
	f.StringVar(&o.Format, "format", formatTable, "output format: table or json")
	f.StringVar(&o.Plot, "plot", "", "draw the last cutoff's forecast against the actual values into this file: .svg, .png or .html")
	f.IntVar(&o.MaxCutoffs, "max-cutoffs", 0, "keep only the latest N cutoffs (0: all)")
	for _, name := range []string{"data", "horizon"} {
		_ = cmd.MarkFlagRequired(name)
	}
	return cmd
}

// backtestPlan is what the flags resolve to once the data is known.
type backtestPlan struct {
	horizon, initial, period, season time.Duration
	seasonDefaulted                  bool
	cutoffs                          []int64
	generated                        int // cutoffs before --max-cutoffs
}

// validate checks the flags that need no file or plugin.
func (o *BacktestOptions) validate() (map[string]string, error) {
	if err := checkTableOrJSON(o.Format); err != nil {
		return nil, err
	}
	if o.Plot != "" {
		if _, err := plot.FormatOf(o.Plot); err != nil {
			return nil, fmt.Errorf("--plot: %w", err)
		}
	}
	if o.MaxCutoffs < 0 {
		return nil, fmt.Errorf("--max-cutoffs %d: must not be negative", o.MaxCutoffs)
	}
	return flagkit.ParseParams(o.Params)
}

// plan resolves the durations and places the cutoffs on s.
func (o *BacktestOptions) plan(s *series.Series) (*backtestPlan, error) {
	p := &backtestPlan{}
	var err error
	if p.horizon, err = flagkit.ParseDurationFlag("horizon", o.Horizon, 0); err != nil {
		return nil, err
	}
	if p.horizon < time.Millisecond {
		return nil, fmt.Errorf("--horizon %q: want a positive duration such as 6h or 1d", o.Horizon)
	}
	if p.initial, err = flagkit.ParseDurationFlag("initial", o.Initial, 3*p.horizon); err != nil {
		return nil, err
	}
	if p.period, err = flagkit.ParseDurationFlag("period", o.Period, p.horizon/2); err != nil {
		return nil, err
	}
	if p.period < time.Millisecond {
		return nil, fmt.Errorf("--period %q: want a positive duration", o.Period)
	}
	var obs []int64
	for i, y := range s.Y {
		if !math.IsNaN(y) {
			obs = append(obs, s.T[i])
		}
	}
	if len(obs) < 2 {
		return nil, fmt.Errorf("%s: %d observed values, need at least 2", o.Data, len(obs))
	}
	span := time.Duration(obs[len(obs)-1]-obs[0]) * time.Millisecond
	if o.Season == "" {
		p.season, p.seasonDefaulted = defaultSeason(span, s.Step()), true
	} else if p.season, err = flagkit.ParseDurationFlag("season", o.Season, 0); err != nil {
		return nil, err
	}
	p.cutoffs, err = backtest.GenerateCutoffs(obs, p.horizon, p.initial, p.period)
	if err != nil {
		return nil, fmt.Errorf("%s: %d rows from %s to %s: too little data for --initial %s and --horizon %s: %w",
			o.Data, s.Len(), fmtRFC3339(obs[0]), fmtRFC3339(obs[len(obs)-1]), flagkit.FormatDuration(p.initial), flagkit.FormatDuration(p.horizon), err)
	}
	p.generated = len(p.cutoffs)
	if o.MaxCutoffs > 0 && len(p.cutoffs) > o.MaxCutoffs {
		p.cutoffs = p.cutoffs[len(p.cutoffs)-o.MaxCutoffs:]
	}
	return p, nil
}

// defaultSeason is the MASE lag used without --season: weekly when the
// data span two weeks, daily when they span two days, else the sampling
// step (the naive forecast), so that MASE stays defined on short series.
func defaultSeason(span, step time.Duration) time.Duration {
	const day = 24 * time.Hour
	switch {
	case span >= 14*day:
		return 7 * day
	case span >= 2*day:
		return day
	}
	return step
}

// Run reads the data, cross-validates the plugin, and writes the result to
// w and the plot to --plot. Progress goes to app.Err.
func (o *BacktestOptions) Run(ctx context.Context, app *App, w io.Writer) error {
	kv, err := o.validate()
	if err != nil {
		return err
	}
	s, err := series.ReadFile(o.Data)
	if err != nil {
		return err
	}
	if err := s.Validate(); err != nil {
		return fmt.Errorf("%s: %w", o.Data, err)
	}
	pl, err := o.plan(s)
	if err != nil {
		return err
	}
	p, release, err := app.openPlugin(ctx, o.Plugin)
	if err != nil {
		return err
	}
	defer release()
	desc := p.Description()
	params, err := desc.ParseParams(kv)
	if err != nil {
		return fmt.Errorf("plugin %s: %w", desc.Name, err)
	}

	fp := backtest.ForecasterFunc(p, params, o.Seed)
	n := 0
	progress := func(ctx context.Context, train *series.Series, at []int64) (*abi.PredictResponse, error) {
		// Folds run one after the other, in cutoff order.
		c := pl.cutoffs[min(n, len(pl.cutoffs)-1)]
		n++
		fmt.Fprintf(app.Err, "ppa backtest: cutoff %d of %d (%s): training %s on %d rows, forecasting %d points\n",
			n, len(pl.cutoffs), fmtRFC3339(c), desc.Name, train.Len(), len(at))
		return fp(ctx, train, at)
	}
	start := app.now()
	res, err := backtest.Run(ctx, s, backtest.Options{
		Horizon: pl.horizon,
		Cutoffs: pl.cutoffs,
		Season:  pl.season,
		Logger:  app.Logger(),
	}, progress)
	if err != nil {
		return fmt.Errorf("%s: %w", o.Data, err)
	}
	app.Logger().Info("backtest", "data", o.Data, "plugin", p.String(), "cutoffs", res.Cutoffs, "points", res.Points, "elapsed", app.now().Sub(start))
	if o.Plot != "" {
		if err := writeBacktestPlot(o.Plot, o.Data, desc.Name+" "+desc.Version, s, res, pl.horizon); err != nil {
			return err
		}
		fmt.Fprintf(app.Err, "ppa backtest: wrote %s\n", o.Plot)
	}
	if o.Format == formatJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(res)
	}
	return writeBacktestTable(w, o.Data, desc.Name+" "+desc.Version, s, pl, res)
}

// writeBacktestTable writes the settings, the overall metrics and a
// compact by-horizon table.
func writeBacktestTable(w io.Writer, source, plugin string, s *series.Series, pl *backtestPlan, res *backtest.Result) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "plugin\t%s\n", plugin)
	fmt.Fprintf(tw, "data\t%s: %d rows, %d observed, %s .. %s\n", source, s.Len(), s.Valid(), fmtRFC3339(s.T[0]), fmtRFC3339(s.T[s.Len()-1]))
	kept := ""
	if res.Cutoffs < pl.generated {
		kept = fmt.Sprintf(" (latest %d of %d)", res.Cutoffs, pl.generated)
	}
	fmt.Fprintf(tw, "cutoffs\t%d%s, %s .. %s\n", res.Cutoffs, kept, fmtRFC3339(res.CutoffTimes[0]), fmtRFC3339(res.CutoffTimes[len(res.CutoffTimes)-1]))
	fmt.Fprintf(tw, "windows\thorizon %s, period %s, initial %s\n", flagkit.FormatDuration(pl.horizon), flagkit.FormatDuration(pl.period), flagkit.FormatDuration(pl.initial))
	season := "none (MASE undefined)"
	if pl.season > 0 {
		season = flagkit.FormatDuration(pl.season)
		if pl.seasonDefaulted {
			season += " (default for the data's span)"
		}
	}
	fmt.Fprintf(tw, "mase season\t%s\n", season)
	fmt.Fprintf(tw, "points\t%d\n", res.Points)
	if err := tw.Flush(); err != nil {
		return err
	}
	m := res.Metrics
	fmt.Fprintln(w, "\nmetrics over all points:")
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "  rmse\tmae\tmape\tmdape\tsmape\tmase\tcoverage\t")
	fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\t%s\t%s\t\n", metricNum(m.RMSE), metricNum(m.MAE), metricPct(m.MAPE), metricPct(m.MDAPE),
		metricPct(m.SMAPE), metricNum(m.MASE), metricPct(m.Coverage))
	if err := tw.Flush(); err != nil {
		return err
	}
	rows := thin(len(res.ByHorizon), maxTableHorizons)
	title := "\nby horizon (rolling windows of 10 % of the points):"
	if len(rows) < len(res.ByHorizon) {
		title = fmt.Sprintf("\nby horizon (rolling windows of 10 %% of the points; %d of %d horizons, --format json for all):", len(rows), len(res.ByHorizon))
	}
	fmt.Fprintln(w, title)
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "  horizon\trmse\tmae\tmape\tsmape\tmase\tcoverage\t")
	for _, i := range rows {
		h := res.ByHorizon[i]
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\t%s\t%s\t\n", flagkit.FormatDuration(h.Horizon), metricNum(h.RMSE), metricNum(h.MAE),
			metricPct(h.MAPE), metricPct(h.SMAPE), metricNum(h.MASE), metricPct(h.Coverage))
	}
	return tw.Flush()
}

// thin returns at most k indices of 0..n-1, evenly spread, always with the
// first and the last.
func thin(n, k int) []int {
	if n <= k {
		idx := make([]int, n)
		for i := range idx {
			idx[i] = i
		}
		return idx
	}
	idx := make([]int, k)
	for j := range idx {
		idx[j] = int(math.Round(float64(j) * float64(n-1) / float64(k-1)))
	}
	return idx
}

// metricNum formats a metric for people; "-" when undefined.
func metricNum(v float64) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return "-"
	}
	return strconv.FormatFloat(v, 'f', 4, 64)
}

// metricPct formats a fraction as a percentage; "-" when undefined.
func metricPct(v float64) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return "-"
	}
	return strconv.FormatFloat(100*v, 'f', 2, 64) + "%"
}

// fmtRFC3339 formats Unix milliseconds as RFC 3339 in UTC.
func fmtRFC3339(ms int64) string { return time.UnixMilli(ms).UTC().Format(time.RFC3339) }

// writeBacktestPlot draws the forecast of the last cutoff, with its
// interval, against the actual values from two horizons before the cutoff
// to the end of the horizon.
func writeBacktestPlot(path, source, plugin string, s *series.Series, res *backtest.Result, horizon time.Duration) error {
	last := res.CutoffTimes[len(res.CutoffTimes)-1]
	band := plot.Band{Name: "forecast (" + plugin + ")"}
	intervals := false
	for _, p := range res.Forecasts {
		if p.Cutoff == last && !math.IsNaN(p.Lower) {
			intervals = true
			break
		}
	}
	// Forecasts are sorted by horizon, which for one cutoff is time order.
	for _, p := range res.Forecasts {
		if p.Cutoff != last {
			continue
		}
		band.T = append(band.T, p.T)
		band.Yhat = append(band.Yhat, p.Yhat)
		if intervals {
			band.Lower = append(band.Lower, p.Lower)
			band.Upper = append(band.Upper, p.Upper)
		}
	}
	h := horizon.Milliseconds()
	actual := s.Slice(last-2*h, last+h+1)
	c, err := plot.Forecast(fmt.Sprintf("%s: forecast from the last cutoff (%s) against the actual values", source, fmtRFC3339(last)),
		"y", plot.Line{Name: "actual", T: actual.T, Y: actual.Y}, band)
	if err != nil {
		return err
	}
	return plot.Save(path, "ppa backtest: "+source, c)
}

// writeForecastPlot draws the forecast of `ppa forecast --plot` (with its
// interval, when the plugin gives one) after the last stretch of the
// training data: three times the forecast's span, at most the whole series.
func writeForecastPlot(path, source string, s *series.Series, res *ForecastResult) error {
	band := plot.Band{Name: fmt.Sprintf("forecast (%s %s)", res.Plugin.Name, res.Plugin.Version)}
	for _, p := range res.Forecast {
		band.T = append(band.T, p.DS.UnixMilli())
		band.Yhat = append(band.Yhat, p.Yhat)
		if p.Lower != nil && p.Upper != nil {
			band.Lower = append(band.Lower, *p.Lower)
			band.Upper = append(band.Upper, *p.Upper)
		}
	}
	if len(band.Lower) != len(band.T) {
		band.Lower, band.Upper = nil, nil
	}
	actual := s
	if len(band.T) > 0 && s.Len() > 0 {
		last := s.T[s.Len()-1]
		span := band.T[len(band.T)-1] - last
		actual = s.Slice(last-3*span, last+1)
	}
	c, err := plot.Forecast(source+": forecast after the end of the data", "y",
		plot.Line{Name: "actual", T: actual.T, Y: actual.Y}, band)
	if err != nil {
		return err
	}
	return plot.Save(path, "ppa forecast: "+source, c)
}
