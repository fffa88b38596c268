package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/ppa-autoscaler/ppa/internal/testwasm"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden with the current output")

// cacheDir is one wazero compilation cache for the whole test binary, so
// that each module compiles once.
var cacheDir string

func TestMain(m *testing.M) {
	flag.Parse()
	dir, err := os.MkdirTemp("", "ppa-cli-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	cacheDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// plugins are the test's built-in plugins, built from source.
func plugins(t *testing.T) map[string][]byte {
	t.Helper()
	return map[string][]byte{
		"seasonal-naive": testwasm.Build(t, "./plugins/seasonalnaive/wasm"),
		"broken":         testwasm.Build(t, "./host/conformance/testdata/broken"),
	}
}

// newApp returns an App whose built-in plugins are ps and whose
// environment holds only XDG_CACHE_HOME pointing at the shared test cache.
func newApp(ps map[string][]byte) *App {
	return &App{
		Getenv: func(k string) string {
			if k == "XDG_CACHE_HOME" {
				return cacheDir
			}
			return ""
		},
		Builtin: func(name string) ([]byte, error) {
			b, ok := ps[name]
			if !ok {
				return nil, fmt.Errorf("built-in plugin %q not found (test)", name)
			}
			return b, nil
		},
		BuiltinNames: func() []string {
			var names []string
			for n := range ps {
				names = append(names, n)
			}
			sort.Strings(names)
			return names
		},
	}
}

// run executes ppa with args in-process.
func run(app *App, args ...string) (stdout, stderr string, err error) {
	var out, errb bytes.Buffer
	app.Out, app.Err = &out, &errb
	root := NewRootCommand(app)
	root.SetArgs(args)
	err = root.ExecuteContext(context.Background())
	return out.String(), errb.String(), err
}

// errorCase is a ppa command line that must fail with an error containing
// every string of want.
type errorCase struct {
	name string
	args []string
	want []string
}

// runErrorCases runs each case as a subtest, with ps as the built-in
// plugins.
func runErrorCases(t *testing.T, ps map[string][]byte, tests []errorCase) {
	t.Helper()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, _, err := run(newApp(ps), tc.args...)
			if err == nil {
				t.Fatalf("ppa %s succeeded:\n%s", strings.Join(tc.args, " "), out)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

var (
	digestRe     = regexp.MustCompile(`\b[0-9a-f]{64}\b`)
	sizeRe       = regexp.MustCompile(`(size +|"size": |module of )[0-9]+`)
	shortHashRe  = regexp.MustCompile(`(sha256:)[0-9a-f]{12}\b`)
	tablePrefixR = regexp.MustCompile(`(?m)^(seasonal-naive|broken)( +[0-9.]+ +)[0-9a-f]{12}\b`)
)

// scrub replaces what changes with every build of a plugin (its digest and
// size) by placeholders.
func scrub(s string) string {
	s = digestRe.ReplaceAllString(s, "<sha256>")
	s = shortHashRe.ReplaceAllString(s, "${1}<sha256>")
	s = tablePrefixR.ReplaceAllString(s, "${1}${2}<sha256>")
	// Whether a test's built-in is trusted depends on whether this build
	// embeds the same bytes (make plugins): the golden files say <run>.
	s = runRe.ReplaceAllString(s, "${1}<run>")
	return sizeRe.ReplaceAllString(s, "${1}<size>")
}

// runRe matches a plugin's run mode in inspect's output.
var runRe = regexp.MustCompile(`("run": "|runs +)(trusted-inprocess|sandboxed-process|sandboxed-inprocess)`)

// golden compares got with testdata/name.golden, or rewrites it with
// -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./host/cli -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("output differs from %s (run go test ./host/cli -update if the change is intended)\n--- got ---\n%s\n--- want ---\n%s", path, got, want)
	}
}

func TestGolden(t *testing.T) {
	ps := plugins(t)
	root, err := testwasm.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	// A plugin without intervals: no bound columns or fields.
	movingAverage := filepath.Join(root, "plugins", "examples", "assemblyscript", "moving-average.wasm")
	tests := []struct {
		name    string
		args    []string
		wantErr string
	}{
		{"forecast_table", []string{"forecast", "--data", "testdata/hourly.csv", "--periods", "6", "--freq", "1h"}, ""},
		{"forecast_csv", []string{"forecast", "--data", "testdata/hourly.csv", "--periods", "4", "--freq", "30m", "--format", "csv", "--param", "season=12h"}, ""},
		{"forecast_json", []string{"forecast", "--data", "testdata/hourly.csv", "--periods", "3", "--freq", "1h", "--format", "json", "--param", "interval_width=0.5", "--param", "widen_intervals=false"}, ""},
		{"forecast_days", []string{"forecast", "--data", "testdata/hourly.csv", "--periods", "3", "--freq", "1d", "--plugin", "seasonal-naive"}, ""},
		{"forecast_no_bounds_table", []string{"forecast", "--data", "testdata/hourly.csv", "--periods", "2", "--freq", "1h", "--plugin", movingAverage}, ""},
		{"forecast_no_bounds_csv", []string{"forecast", "--data", "testdata/hourly.csv", "--periods", "2", "--freq", "1h", "--plugin", movingAverage, "--format", "csv"}, ""},
		{"forecast_no_bounds_json", []string{"forecast", "--data", "testdata/hourly.csv", "--periods", "2", "--freq", "1h", "--plugin", movingAverage, "--format", "json", "--param", "window=3"}, ""},
		{"inspect_table", []string{"plugin", "inspect", "seasonal-naive"}, ""},
		{"inspect_json", []string{"plugin", "inspect", "seasonal-naive", "--format", "json"}, ""},
		{"list", []string{"plugin", "list"}, ""},
		{"verify_seasonal_naive", []string{"plugin", "verify", "seasonal-naive"}, ""},
		{"verify_broken", []string{"plugin", "verify", "broken"}, "plugin broken does not conform: 11 of 17 checks did not pass (describe, round-trip/seasonal"},
		{"verify_broken_json", []string{"plugin", "verify", "broken", "--format", "json"}, "does not conform"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, stderr, err := run(newApp(ps), tc.args...)
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("ppa %s: %v\nstderr: %s", strings.Join(tc.args, " "), err, stderr)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("ppa %s: error %v, want one containing %q", strings.Join(tc.args, " "), err, tc.wantErr)
			}
			golden(t, tc.name, scrub(out))
		})
	}
}

func TestHelpGolden(t *testing.T) {
	app := newApp(nil)
	app.Getenv = func(k string) string {
		if k == "HOME" {
			return "/home/ppa"
		}
		return ""
	}
	out, _, err := run(app, "--help")
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "help", out)
	out, _, err = run(app, "forecast", "--help")
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "forecast_help", out)
}

func TestForecastJSONShape(t *testing.T) {
	out, _, err := run(newApp(plugins(t)), "forecast", "--data", "testdata/hourly.csv", "--periods", "2", "--freq", "1h", "--format", "json")
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatal(err)
	}
	keys := func(m map[string]any) string {
		var ks []string
		for k := range m {
			ks = append(ks, k)
		}
		sort.Strings(ks)
		return strings.Join(ks, ",")
	}
	if got := keys(doc); got != "forecast,plugin" {
		t.Fatalf("top-level keys %s", got)
	}
	if got := keys(doc["plugin"].(map[string]any)); got != "digest,name,version" {
		t.Fatalf("plugin keys %s", got)
	}
	rows := doc["forecast"].([]any)
	if len(rows) != 2 {
		t.Fatalf("%d rows", len(rows))
	}
	if got := keys(rows[0].(map[string]any)); got != "ds,yhat,yhat_lower,yhat_upper" {
		t.Fatalf("row keys %s", got)
	}
	if ds := rows[0].(map[string]any)["ds"]; ds != "2024-03-04T00:00:00Z" {
		t.Fatalf("first ds %v, want one hour after the last row", ds)
	}
}

func TestForecastOut(t *testing.T) {
	path := filepath.Join(t.TempDir(), "forecast.csv")
	stdout, _, err := run(newApp(plugins(t)), "forecast", "--data", "testdata/hourly.csv", "--periods", "6", "--freq", "1h", "--format", "csv", "--out", path)
	if err != nil {
		t.Fatal(err)
	}
	if stdout != "" {
		t.Fatalf("stdout %q, want nothing with --out", stdout)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if lines := strings.Count(string(b), "\n"); lines != 7 || !strings.HasPrefix(string(b), "ds,yhat,yhat_lower,yhat_upper\n") {
		t.Fatalf("file has %d lines:\n%s", lines, b)
	}
}

// TestForecastCSVKeepsSubSecond forecasts at a 250ms step: the CSV output
// keeps the milliseconds, so its rows do not collapse into duplicate
// timestamps that ppa cannot read back.
func TestForecastCSVKeepsSubSecond(t *testing.T) {
	stdout, _, err := run(newApp(plugins(t)), "forecast", "--data", "testdata/subsecond.csv", "--periods", "4", "--freq", "250ms",
		"--param", "season=1s", "--format", "csv")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"\n2024-03-01T00:00:10Z,", "\n2024-03-01T00:00:10.25Z,", "\n2024-03-01T00:00:10.5Z,", "\n2024-03-01T00:00:10.75Z,"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("output lacks %q:\n%s", want[1:], stdout)
		}
	}
}

func TestPluginFromPath(t *testing.T) {
	ps := plugins(t)
	path := filepath.Join(t.TempDir(), "sn.wasm")
	if err := os.WriteFile(path, ps["seasonal-naive"], 0o644); err != nil {
		t.Fatal(err)
	}
	byName, _, err := run(newApp(ps), "forecast", "--data", "testdata/hourly.csv", "--periods", "3", "--freq", "1h", "--format", "json")
	if err != nil {
		t.Fatal(err)
	}
	byPath, _, err := run(newApp(nil), "forecast", "--data", "testdata/hourly.csv", "--periods", "3", "--freq", "1h", "--format", "json", "--plugin", path)
	if err != nil {
		t.Fatal(err)
	}
	if byName != byPath {
		t.Fatalf("the same module by name and by path gave different output:\n%s\n%s", byName, byPath)
	}
}

func TestErrors(t *testing.T) {
	ps := plugins(t)
	fc := func(data string, extra ...string) []string {
		return append([]string{"forecast", "--data", data, "--periods", "3", "--freq", "1h"}, extra...)
	}
	tests := []errorCase{
		{"missing header", fc("testdata/no_header.csv"), []string{"testdata/no_header.csv: line 1: header", "must name the columns ds and y"}},
		{"unparsable timestamp", fc("testdata/bad_time.csv"), []string{"testdata/bad_time.csv: line 5: ds:", `"yesterday"`}},
		{"unparsable value", fc("testdata/bad_value.csv"), []string{"line 3: y:", `"lots"`}},
		{"unsorted", fc("testdata/unsorted.csv"), []string{"line 4:", "rows must be sorted"}},
		{"duplicate", fc("testdata/duplicate.csv"), []string{"line 4: duplicate timestamp"}},
		{"no rows", fc("testdata/no_rows.csv"), []string{"testdata/no_rows.csv: no data rows"}},
		{"too few points", fc("testdata/too_few.csv"), []string{"testdata/too_few.csv: 1 observed points (of 3 rows), fewer than the 2 plugin seasonal-naive needs"}},
		{"missing file", fc("testdata/nope.csv"), []string{"open testdata/nope.csv"}},
		{"unknown parameter", fc("testdata/hourly.csv", "--param", "seasonality=1d"), []string{`parameter "seasonality": unknown to plugin seasonal-naive`, "known: season, interval_width"}},
		{"parameter of wrong type", fc("testdata/hourly.csv", "--param", "interval_width=wide"), []string{`parameter "interval_width": "wide" is not a number`}},
		{"parameter the plugin rejects", fc("testdata/hourly.csv", "--param", "season=weekly"), []string{"train seasonal-naive on testdata/hourly.csv", "INVALID_ARGUMENT", `parameter "season"`}},
		{"parameter without value", fc("testdata/hourly.csv", "--param", "season"), []string{`--param "season": want name=value`}},
		{"parameter twice", fc("testdata/hourly.csv", "--param", "season=1d", "--param", "season=2d"), []string{`parameter "season" given twice`}},
		{"history too short for season", fc("testdata/hourly.csv", "--param", "season=7d"), []string{"INSUFFICIENT_DATA", "season 7d"}},
		{"unknown plugin", fc("testdata/hourly.csv", "--plugin", "prophetish"), []string{`built-in plugin "prophetish" not found`}},
		{"missing plugin file", fc("testdata/hourly.csv", "--plugin", "nope.wasm"), []string{"plugin: open nope.wasm"}},
		{"not a plugin", fc("testdata/hourly.csv", "--plugin", "testdata/hourly.csv"), []string{"plugin testdata/hourly.csv: load plugin", "compile"}},
		{"bad freq", fc("testdata/hourly.csv", "--freq", "hourly"), []string{"--freq: invalid duration"}},
		// 3000000d overflowed into a negative duration: "want at least 1ms".
		{"overflowing freq", fc("testdata/hourly.csv", "--freq", "3000000d"), []string{`--freq: duration "3000000d" is too long`}},
		{"periods past 9999", fc("testdata/hourly.csv", "--freq", "100000d", "--periods", "100"), []string{"100 periods of", "reach past the year 9999"}},
		{"row with an extra field", fc("testdata/extra_field.csv"), []string{"testdata/extra_field.csv: line 4: 3 fields, the header has 2 (ds,y)"}},
		{"zero periods", []string{"forecast", "--data", "testdata/hourly.csv", "--periods", "0", "--freq", "1h"}, []string{"--periods 0: want 1 to"}},
		{"bad format", fc("testdata/hourly.csv", "--format", "xml"), []string{`--format "xml"`}},
		{"missing flags", []string{"forecast"}, []string{`required flag(s) "data", "freq", "periods" not set`}},
		{"bad log level", []string{"--log-level", "loud", "plugin", "list"}, []string{`--log-level "loud"`}},
		{"verify missing file", []string{"plugin", "verify", "./nope.wasm"}, []string{"plugin: open ./nope.wasm"}},
		{"inspect bad format", []string{"plugin", "inspect", "seasonal-naive", "--format", "yaml"}, []string{`--format "yaml"`}},
	}
	runErrorCases(t, ps, tests)
}

func TestExecuteExitCodes(t *testing.T) {
	var out, errb bytes.Buffer
	if code := Execute(context.Background(), []string{"forecast", "--periods", "1"}, &out, &errb); code != 1 {
		t.Fatalf("exit code %d, want 1", code)
	}
	if !strings.HasPrefix(errb.String(), "ppa: required flag(s)") {
		t.Fatalf("stderr %q", errb.String())
	}
	out.Reset()
	errb.Reset()
	if code := Execute(context.Background(), []string{"--help"}, &out, &errb); code != 0 || !strings.Contains(out.String(), "Usage:") {
		t.Fatalf("exit code %d, stdout %q", code, out.String())
	}
}

func TestDefaultCacheDir(t *testing.T) {
	tests := []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{"XDG_CACHE_HOME": "/x", "HOME": "/h"}, "/x/ppa/wazero"},
		{map[string]string{"HOME": "/h"}, "/h/.cache/ppa/wazero"},
		{map[string]string{}, ""},
	}
	for _, tc := range tests {
		app := &App{Getenv: func(k string) string { return tc.env[k] }}
		if got := app.DefaultCacheDir(); got != tc.want {
			t.Errorf("env %v: %q, want %q", tc.env, got, tc.want)
		}
	}
}
