package cli

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/ppa-autoscaler/ppa/host/backtest"
	"github.com/ppa-autoscaler/ppa/host/flagkit"
)

const backtestData = "testdata/backtest_hourly.csv"

func TestBacktestGolden(t *testing.T) {
	ps := plugins(t)
	tests := []struct {
		name string
		args []string
		// wantProgress are the stderr lines expected, in order.
		wantProgress []string
	}{
		{"backtest_table", []string{"backtest", "--data", backtestData, "--horizon", "6h", "--initial", "2d", "--period", "12h"},
			[]string{"cutoff 1 of 6 (2024-03-03T05:00:00Z): training seasonal-naive on 54 rows, forecasting 6 points", "cutoff 6 of 6 (2024-03-05T17:00:00Z)"}},
		{"backtest_json", []string{"backtest", "--data", backtestData, "--horizon", "3h", "--initial", "3d", "--period", "1d", "--format", "json", "--param", "season=1d"},
			[]string{"cutoff 1 of 2", "cutoff 2 of 2"}},
		{"backtest_max_cutoffs", []string{"backtest", "--data", backtestData, "--horizon", "2h", "--initial", "1d", "--period", "1h", "--max-cutoffs", "3", "--season", "12h"},
			[]string{"cutoff 1 of 3 (2024-03-05T19:00:00Z)", "cutoff 3 of 3 (2024-03-05T21:00:00Z)"}},
		{"backtest_many_horizons", []string{"backtest", "--data", backtestData, "--horizon", "1d", "--initial", "2d", "--period", "1d", "--season", "0"},
			[]string{"cutoff 1 of 2"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, stderr, err := run(newApp(ps), tc.args...)
			if err != nil {
				t.Fatalf("ppa %s: %v\nstderr: %s", strings.Join(tc.args, " "), err, stderr)
			}
			golden(t, tc.name, out)
			rest := stderr
			for _, w := range tc.wantProgress {
				i := strings.Index(rest, w)
				if i < 0 {
					t.Fatalf("stderr lacks %q (in order):\n%s", w, stderr)
				}
				rest = rest[i+len(w):]
			}
		})
	}
}

// TestBacktestJSONIsResult checks that the JSON is backtest.Result's
// document: its keys, and that it reads back into a Result whose numbers
// agree with a direct recomputation of the overall MAE from by-horizon
// windows of one point each.
func TestBacktestJSONIsResult(t *testing.T) {
	out, _, err := run(newApp(plugins(t)), "backtest", "--data", backtestData, "--horizon", "4h", "--initial", "2d", "--format", "json")
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]json.RawMessage
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatal(err)
	}
	var keys []string
	for k := range doc {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	if got := strings.Join(keys, ","); got != "by_horizon,cutoffs,metrics,points" {
		t.Fatalf("top-level keys %s", got)
	}
	var res backtest.Result
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatal(err)
	}
	// horizon 4h, period 2h, initial 2d over 5 days with the last value at
	// 23:00 on day 5: cutoffs every 2h from day 3 01:00 to day 5 19:00.
	if res.Cutoffs != 34 {
		t.Errorf("cutoffs %d, want 34", res.Cutoffs)
	}
	if len(res.ByHorizon) != 4 || res.ByHorizon[0].Horizon != time.Hour || res.ByHorizon[3].Horizon != 4*time.Hour {
		t.Errorf("by horizon %+v, want 1h..4h", res.ByHorizon)
	}
	m := res.Metrics
	if !(m.RMSE >= m.MAE && m.MAE > 0) || math.Abs(m.RMSE*m.RMSE-m.MSE) > 1e-9*m.MSE {
		t.Errorf("inconsistent metrics %+v", m)
	}
	if math.IsNaN(m.MASE) || math.IsNaN(m.Coverage) {
		t.Errorf("MASE %v and coverage %v should be defined (daily season, intervals)", m.MASE, m.Coverage)
	}
}

func TestBacktestPlot(t *testing.T) {
	ps := plugins(t)
	dir := t.TempDir()
	for _, name := range []string{"last.svg", "last.png", "last.html"} {
		path := filepath.Join(dir, name)
		_, stderr, err := run(newApp(ps), "backtest", "--data", backtestData, "--horizon", "6h", "--max-cutoffs", "2", "--plot", path)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !strings.Contains(stderr, "wrote "+path) {
			t.Errorf("stderr does not say it wrote %s:\n%s", path, stderr)
		}
		checkImage(t, path)
	}
}

func TestForecastPlot(t *testing.T) {
	path := filepath.Join(t.TempDir(), "forecast.svg")
	out, _, err := run(newApp(plugins(t)), "forecast", "--data", "testdata/hourly.csv", "--periods", "6", "--freq", "1h", "--plot", path)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "2024-03-04T05:00:00Z") {
		t.Errorf("the table is still printed with --plot:\n%s", out)
	}
	checkImage(t, path)
	if _, _, err := run(newApp(plugins(t)), "forecast", "--data", "testdata/hourly.csv", "--periods", "6", "--freq", "1h", "--plot", "f.jpeg"); err == nil || !strings.Contains(err.Error(), "--plot") {
		t.Errorf("--plot f.jpeg: error %v, want one naming --plot", err)
	}
}

// checkImage checks that path holds a non-trivial image of the format its
// extension names.
func checkImage(t *testing.T, path string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var ok bool
	switch filepath.Ext(path) {
	case ".svg":
		ok = strings.Contains(string(b), "<svg")
	case ".html":
		ok = strings.HasPrefix(string(b), "<!DOCTYPE html>") && strings.Contains(string(b), "<svg")
	case ".png":
		ok = strings.HasPrefix(string(b), "\x89PNG\r\n\x1a\n")
	}
	if !ok || len(b) < 1000 {
		t.Errorf("%s: not a %s image (%d bytes)", path, filepath.Ext(path), len(b))
	}
}

func TestBacktestErrors(t *testing.T) {
	ps := plugins(t)
	bt := func(extra ...string) []string {
		return append([]string{"backtest", "--data", backtestData}, extra...)
	}
	tests := []errorCase{
		{"horizon missing", bt(), []string{`required flag(s) "horizon" not set`}},
		{"data missing", []string{"backtest", "--horizon", "1h"}, []string{`required flag(s) "data" not set`}},
		{"horizon unparsable", bt("--horizon", "soon"), []string{"--horizon: invalid duration", `"soon"`}},
		{"horizon zero", bt("--horizon", "0"), []string{`--horizon "0": want a positive duration`}},
		{"horizon negative", bt("--horizon", "-1h"), []string{"--horizon -1h: must not be negative"}},
		{"initial unparsable", bt("--horizon", "1h", "--initial", "two days"), []string{"--initial: invalid duration"}},
		{"period zero", bt("--horizon", "1h", "--period", "0"), []string{`--period "0": want a positive duration`}},
		{"season unparsable", bt("--horizon", "1h", "--season", "weekly"), []string{"--season: invalid duration"}},
		{"too little data for initial + horizon", bt("--horizon", "1d", "--initial", "4d12h"),
			[]string{"testdata/backtest_hourly.csv: 120 rows from 2024-03-01T00:00:00Z to 2024-03-05T23:00:00Z: too little data for --initial 4d12h and --horizon 1d", "no cutoffs"}},
		{"horizon longer than the data", bt("--horizon", "6d"), []string{"too little data", "less than the horizon 144h0m0s"}},
		{"plugin needs more history than a cutoff has", bt("--horizon", "6h", "--initial", "12h", "--param", "season=1d"),
			[]string{"backtest: cutoff 2024-03-01T14:00:00Z", "train on 15 rows", "INSUFFICIENT_DATA", "season 1d"}},
		{"bad format", bt("--horizon", "1h", "--format", "csv"), []string{`--format "csv": want table or json`}},
		{"bad plot extension", bt("--horizon", "1h", "--plot", "out.pdf"), []string{"--plot: plot out.pdf: unknown extension"}},
		{"negative max cutoffs", bt("--horizon", "1h", "--max-cutoffs", "-1"), []string{"--max-cutoffs -1"}},
		{"unknown parameter", bt("--horizon", "1h", "--param", "seasonality=1d"), []string{`parameter "seasonality": unknown to plugin seasonal-naive`}},
		{"unknown plugin", bt("--horizon", "1h", "--plugin", "prophetish"), []string{`built-in plugin "prophetish" not found`}},
		{"missing file", []string{"backtest", "--data", "testdata/nope.csv", "--horizon", "1h"}, []string{"open testdata/nope.csv"}},
		{"one observation", []string{"backtest", "--data", "testdata/too_few.csv", "--horizon", "1h"}, []string{"testdata/too_few.csv: 1 observed values, need at least 2"}},
	}
	runErrorCases(t, ps, tests)
}

func TestDefaultSeason(t *testing.T) {
	const day = 24 * time.Hour
	tests := []struct {
		span, step, want time.Duration
	}{
		{30 * day, time.Minute, 7 * day},
		{14 * day, time.Hour, 7 * day},
		{14*day - time.Hour, time.Hour, day},
		{2 * day, 5 * time.Minute, day},
		{2*day - time.Minute, time.Minute, time.Minute},
		{time.Hour, time.Minute, time.Minute},
	}
	for _, tc := range tests {
		if got := defaultSeason(tc.span, tc.step); got != tc.want {
			t.Errorf("defaultSeason(%v, %v) = %v, want %v", tc.span, tc.step, got, tc.want)
		}
	}
}

func TestFmtDuration(t *testing.T) {
	tests := []struct {
		d    time.Duration
		want string
	}{
		{0, "0"},
		{90 * time.Second, "1m30s"},
		{5 * time.Minute, "5m"},
		{time.Hour, "1h"},
		{90 * time.Minute, "1h30m"},
		{24 * time.Hour, "1d"},
		{30 * time.Hour, "1d6h"},
		{7*24*time.Hour + 30*time.Second, "7d30s"},
		{1500 * time.Millisecond, "1.5s"},
		{-2 * time.Hour, "-2h"},
	}
	for _, tc := range tests {
		if got := flagkit.FormatDuration(tc.d); got != tc.want {
			t.Errorf("flagkit.FormatDuration(%v) = %q, want %q", tc.d, got, tc.want)
		}
	}
}

func TestThin(t *testing.T) {
	tests := []struct {
		n, k int
		want string
	}{
		{3, 5, "[0 1 2]"},
		{5, 5, "[0 1 2 3 4]"},
		{10, 4, "[0 3 6 9]"},
		{24, 12, "[0 2 4 6 8 10 13 15 17 19 21 23]"},
	}
	for _, tc := range tests {
		if got := fmt.Sprint(thin(tc.n, tc.k)); got != tc.want {
			t.Errorf("thin(%d, %d) = %s, want %s", tc.n, tc.k, got, tc.want)
		}
	}
}
