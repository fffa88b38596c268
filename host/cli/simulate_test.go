package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ppa-autoscaler/ppa/internal/testwasm"
)

// simTrace writes four days of a 5-minute daily pattern with a gap to a
// CSV file and returns its path.
func simTrace(t *testing.T) string {
	t.Helper()
	var b strings.Builder
	b.WriteString("ds,y\n")
	start := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range 4 * 288 {
		y := 300 + 200*math.Sin(2*math.Pi*float64(i)/288) + float64(i%7)*10
		v := fmt.Sprintf("%g", math.Round(y))
		if i >= 700 && i < 712 {
			v = "NaN"
		}
		fmt.Fprintf(&b, "%s,%s\n", start.Add(time.Duration(i)*5*time.Minute).Format(time.RFC3339), v)
	}
	path := filepath.Join(t.TempDir(), "trace.csv")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// simApp is an App whose only built-in plugin is seasonal-naive, built
// from source, with a compilation cache of the test's own.
func simApp(t *testing.T) *App {
	t.Helper()
	wasm := testwasm.Build(t, "./plugins/seasonalnaive/wasm")
	cache := t.TempDir()
	return &App{
		Getenv: func(k string) string {
			if k == "XDG_CACHE_HOME" {
				return cache
			}
			return ""
		},
		Builtin: func(name string) ([]byte, error) {
			if name != "seasonal-naive" {
				return nil, fmt.Errorf("built-in plugin %q not found (test)", name)
			}
			return wasm, nil
		},
		BuiltinNames: func() []string { return []string{"seasonal-naive"} },
	}
}

func runSim(app *App, args ...string) (string, string, error) {
	var out, errb bytes.Buffer
	app.Out, app.Err = &out, &errb
	root := NewRootCommand(app)
	root.SetArgs(append([]string{"simulate"}, args...))
	err := root.Execute()
	return out.String(), errb.String(), err
}

func TestSimulateCommand(t *testing.T) {
	app := simApp(t)
	data := simTrace(t)
	base := []string{"--data", data, "--capacity", "50", "--lead", "15m", "--train", "2d", "--retrain", "12h", "--param", "season=1d"}

	out, stderr, err := runSim(app, append(base, "--reactive-floor")...)
	if err != nil {
		t.Fatalf("simulate: %v\n%s", err, stderr)
	}
	for _, want := range []string{"reactive", "predictive", "oracle", "under-provisioned min", "seasonal-naive", "60 min of gaps", "reactive floor"} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
	if !strings.Contains(stderr, "forecasting with seasonal-naive: 4 of 4 periods") {
		t.Errorf("stderr lacks progress:\n%s", stderr)
	}

	dir := t.TempDir()
	plotPath := filepath.Join(dir, "sim.png")
	out, stderr, err = runSim(app, append(base, "--sweep", "--utilizations", "0.6,0.8,1", "--format", "json", "--plot", plotPath, "--bound", "upper", "--aggregation", "mean", "--anchor", "--anchor-half-life", "30m")...)
	if err != nil {
		t.Fatalf("simulate --sweep: %v\n%s", err, stderr)
	}
	var doc struct {
		Reactive, Predictive, Oracle map[string]any
		Curves                       map[string][]map[string]float64
		AtEqual                      map[string]any `json:"at_equal_replica_hours"`
		Settings                     map[string]any
		Trace                        map[string]any
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("json: %v\n%s", err, out)
	}
	if _, ok := doc.Predictive["underprovisioned_minutes"]; !ok {
		t.Errorf("predictive lacks underprovisioned_minutes: %v", doc.Predictive)
	}
	if len(doc.Curves["reactive"]) != 3 || doc.Curves["oracle"][2]["target_utilization"] != 1 {
		t.Errorf("curves: %v", doc.Curves)
	}
	if _, ok := doc.AtEqual["gap_closed"]; !ok {
		t.Errorf("at_equal_replica_hours: %v", doc.AtEqual)
	}
	if doc.Settings["bound"] != "upper" || doc.Settings["aggregation"] != "mean" || doc.Settings["lead_seconds"] != float64(900) || doc.Trace["gap_minutes"] != float64(60) ||
		doc.Settings["anchor"] != true || doc.Settings["anchor_half_life_seconds"] != float64(1800) {
		t.Errorf("settings %v, trace %v", doc.Settings, doc.Trace)
	}
	f, err := os.Open(plotPath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("plot: %v", err)
	}
	if img.Bounds().Dy() < 4*img.Bounds().Dx()/3 {
		t.Errorf("plot %v: want four stacked charts", img.Bounds())
	}
}

func TestSimulateCommandErrors(t *testing.T) {
	app := simApp(t)
	data := simTrace(t)
	base := []string{"--data", data, "--capacity", "50", "--train", "2d"}
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"--capacity", "50"}, `"data" not set`},
		{[]string{"--format", "xml"}, "--format"},
		{[]string{"--aggregation", "p99"}, "--aggregation"},
		{[]string{"--bound", "median"}, "--bound"},
		{[]string{"--lead", "soon"}, "--lead"},
		{[]string{"--anchor", "--anchor-half-life", "-5m"}, "--anchor-half-life: -5m is negative"},
		{[]string{"--plot", "x.gif"}, "--plot"},
		{[]string{"--param", "nope=1"}, `parameter "nope"`},
		{[]string{"--target-utilization", "1.5"}, "target utilization"},
		{[]string{"--train", "30d"}, "warm-up"},
		{[]string{"--plugin", "missing"}, "missing"},
	} {
		args := append(append([]string{}, base...), tt.args...)
		if tt.want == `"data" not set` {
			args = tt.args
		}
		_, _, err := runSim(app, args...)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%v: err = %v, want one mentioning %s", tt.args, err, tt.want)
		}
	}
}
