package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ppa-autoscaler/ppa/internal/testwasm"
)

// fakeBenchPy stands in for bench.py (run with /bin/sh as the
// interpreter): it checks its arguments, counts the CSV's rows and prints
// bench.py's JSON.
const fakeBenchPy = `set -eu
csv=$1; shift
[ "$*" = "--horizon 6 --samples 50 --repeat 1" ] || { echo "bad arguments: $*" >&2; exit 2; }
head -1 "$csv" | grep -qx 'ds,y' || { echo "bad header" >&2; exit 2; }
sed -n 2p "$csv" | grep -Eq '^[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2},' || { echo "bad row" >&2; exit 2; }
rows=$(($(wc -l < "$csv") - 1))
printf '{"rows": %d, "import_s": 1.5, "fit_s": [0.5], "predict_s": [0.25], "total_s": 2.5, "last_yhat": 1,
 "versions": {"prophet": "9.9", "cmdstanpy": "1.0", "python": "3.0"}}\n' "$rows"
`

// TestBench runs the whole bench on a tiny synthetic series, natively and
// in wasm on both engine configurations, with a stand-in for Python, and
// checks both output formats.
func TestBench(t *testing.T) {
	wasm := testwasm.Build(t, "./plugins/prophet/wasm")
	dir := t.TempDir()
	wasmPath := filepath.Join(dir, "prophet.wasm")
	if err := os.WriteFile(wasmPath, wasm, 0o644); err != nil {
		t.Fatal(err)
	}
	script := filepath.Join(dir, "bench.sh")
	if err := os.WriteFile(script, []byte(fakeBenchPy), 0o644); err != nil {
		t.Fatal(err)
	}
	// 2 days every 20 minutes: 144 rows, enough for L-BFGS (100 or more).
	args := []string{"--days", "2", "--step", "20m", "--runs", "2", "--horizon", "6", "--samples", "50",
		"--wasm", wasmPath, "--python", "/bin/sh", "--bench-py", script, "--quiet"}

	var out, errOut bytes.Buffer
	if err := mainErr(context.Background(), append(args, "--format", "json"), &out, &errOut); err != nil {
		t.Fatalf("bench: %v\n%s", err, errOut.String())
	}
	var rep struct {
		Rows int `json:"rows"`
		Fit  []struct {
			Case      string
			Identical bool
			side
		} `json:"fit"`
		Predict *predictRes `json:"predict"`
		Python  *pythonRes  `json:"python"`
	}
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatalf("json output: %v\n%s", err, out.String())
	}
	if rep.Rows != 144 {
		t.Errorf("rows %d, want 144", rep.Rows)
	}
	checkSide := func(name string, s side) {
		t.Helper()
		if len(s.Native.Runs) != 2 || s.Native.Min <= 0 {
			t.Errorf("%s: native timing %+v, want 2 positive runs", name, s.Native)
		}
		for _, w := range []*timing{s.Wasm, s.WasmUninterruptible} {
			if w == nil || len(w.Runs) != 2 || w.Min <= 0 {
				t.Errorf("%s: wasm timing %+v, want 2 positive runs", name, w)
			}
		}
		if s.Ratio <= 0 || s.RatioUninterruptible <= 0 {
			t.Errorf("%s: ratios %v, %v: want positive", name, s.Ratio, s.RatioUninterruptible)
		}
	}
	var cases []string
	for _, f := range rep.Fit {
		cases = append(cases, f.Case)
		if !f.Identical {
			t.Errorf("fit %s: native and wasm models differ", f.Case)
		}
		checkSide("fit "+f.Case, f.side)
	}
	if got := strings.Join(cases, ","); got != "linear,logistic,multiplicative" {
		t.Errorf("fit cases %s, want linear,logistic,multiplicative", got)
	}
	if rep.Predict == nil {
		t.Fatal("no predict timing")
	}
	if !rep.Predict.Identical {
		t.Errorf("predict: native and wasm forecasts differ")
	}
	checkSide("predict", rep.Predict.side)
	py := rep.Python
	if py == nil {
		t.Fatal("no python timing")
	}
	if py.Fit.Min != 0.5 || py.Predict.Min != 0.25 || py.Import.Min != 1.5 || len(py.Process.Runs) != 2 || py.Versions["prophet"] != "9.9" {
		t.Errorf("python result %+v", py)
	}
	if py.FitRatio.Native <= 0 || py.FitRatio.Wasm <= 0 || py.PredictRatio.WasmUninterruptible <= 0 || py.ProcessRatio.Native <= 0 {
		t.Errorf("python ratios fit %+v predict %+v process %+v: want positive", py.FitRatio, py.PredictRatio, py.ProcessRatio)
	}

	out.Reset()
	if err := mainErr(context.Background(), append(args, "--runs", "1", "--cases", "linear", "--engines", "uninterruptible", "--python", "off"), &out, &errOut); err != nil {
		t.Fatalf("bench: %v\n%s", err, errOut.String())
	}
	table := out.String()
	for _, want := range []string{"144 rows every 20m0s", "minimum of 1 runs", "fit linear", "predict 6 × 50", "identical"} {
		if !strings.Contains(table, want) {
			t.Errorf("table does not contain %q:\n%s", want, table)
		}
	}
	for _, unwanted := range []string{"fit logistic", "Python prophet", "NO"} {
		if strings.Contains(table, unwanted) {
			t.Errorf("table contains %q:\n%s", unwanted, table)
		}
	}
}

// TestBenchErrors checks that bad flags and inputs fail with a message
// naming the problem, before any timing.
func TestBenchErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.csv")
	if err := os.WriteFile(bad, []byte("ds,y\nyesterday,1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"format", []string{"--format", "xml"}, `--format "xml"`},
		{"case", []string{"--cases", "linear,cubic"}, `unknown case "cubic"`},
		{"engine", []string{"--engines", "turbo"}, `unknown engine configuration "turbo"`},
		{"runs", []string{"--runs", "0"}, "must be positive"},
		{"argument", []string{"extra"}, "unexpected arguments"},
		{"missing data", []string{"--data", filepath.Join(dir, "none.csv"), "--python", "off"}, "data: "},
		{"bad data", []string{"--data", bad, "--python", "off"}, "data: "},
		{"missing wasm", []string{"--days", "1", "--wasm", filepath.Join(dir, "none.wasm"), "--python", "off"}, "wasm: "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			err := mainErr(context.Background(), append(tt.args, "--quiet"), &out, &errOut)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want one containing %q", err, tt.want)
			}
		})
	}
}
