package trainer_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ppa-autoscaler/ppa/abi"
	"github.com/ppa-autoscaler/ppa/host/engine"
	"github.com/ppa-autoscaler/ppa/host/series"
	"github.com/ppa-autoscaler/ppa/host/store"
	"github.com/ppa-autoscaler/ppa/host/trainer"
	"github.com/ppa-autoscaler/ppa/internal/testwasm"
)

const nasaCSV = "../../testdata/traces/nasa-http-1m-14d.csv"

var fixedNow = time.Date(2026, 11, 29, 17, 0, 0, 0, time.UTC)

func clock() time.Time { return fixedNow }

// seasonalNaive is the seasonal-naive plugin built from source.
func seasonalNaive(t testing.TB) []byte {
	t.Helper()
	return testwasm.Build(t, "./plugins/seasonalnaive/wasm")
}

// builtins serves the seasonal-naive plugin built from source as the
// only built-in plugin.
func builtins(t testing.TB) func(string) ([]byte, error) {
	wasm := seasonalNaive(t)
	return func(name string) ([]byte, error) {
		if name == "seasonal-naive" {
			return wasm, nil
		}
		return nil, fmt.Errorf("built-in plugin %q not found (available: seasonal-naive)", name)
	}
}

var (
	engOnce sync.Once
	eng     *engine.Engine
	engErr  error
)

// sharedEngine compiles each plugin once for the whole test binary.
func sharedEngine(t testing.TB) *engine.Engine {
	t.Helper()
	engOnce.Do(func() {
		ctx := context.Background()
		if eng, engErr = engine.New(ctx, engine.NewConfig()); engErr != nil {
			return
		}
		// One handle that stays open keeps the module compiled across
		// runs (the engine frees a module with its last handle).
		_, engErr = eng.Load(ctx, seasonalNaive(t), "")
	})
	if engErr != nil {
		t.Fatal(engErr)
	}
	return eng
}

func localStore(t testing.TB) (store.Store, string) {
	t.Helper()
	dir := t.TempDir()
	s, err := store.Open(context.Background(), dir, store.WithClock(clock))
	if err != nil {
		t.Fatal(err)
	}
	return s, dir
}

func baseOptions(t testing.TB, s store.Store) trainer.Options {
	return trainer.Options{
		Model:     store.ModelRef{Namespace: "shop", Name: "checkout"},
		CSV:       nasaCSV,
		Plugin:    "seasonal-naive",
		Store:     s,
		Engine:    sharedEngine(t),
		Builtin:   builtins(t),
		Now:       clock,
		CreatedBy: "trainer_test",
	}
}

func TestRunCSVStoresVersions(t *testing.T) {
	ctx := context.Background()
	s, dir := localStore(t)
	o := baseOptions(t, s)
	var events []trainer.Progress
	o.Progress = func(p trainer.Progress) { events = append(events, p) }

	res, err := trainer.Run(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	if res.Rejected || !strings.Contains(res.Reason, "no quality limits") {
		t.Errorf("rejected=%v reason=%q, want accepted without limits", res.Rejected, res.Reason)
	}
	if res.Points != 20160 || res.Missing != 7213 {
		t.Errorf("points=%d missing=%d, want 20160 and 7213", res.Points, res.Missing)
	}
	if time.Duration(res.HoldOut) != 24*time.Hour {
		t.Errorf("hold-out %v, want the default 1d on 14 days", time.Duration(res.HoldOut))
	}
	t.Logf("metrics %v, timings %+v", res.Metrics, res.Timings)
	// MAPE is undefined: the trace has minutes without requests.
	for _, k := range []string{"mase", "smape", "coverage", "rmse", "mae"} {
		if v, ok := res.Metrics[k]; !ok || math.IsNaN(v) {
			t.Errorf("metric %s = %v, want a number", k, v)
		}
	}
	if !res.PluginPublished {
		t.Error("the plugin was not published into an empty store")
	}
	wantLoc := filepath.Join(dir, "models", "shop", "checkout", res.Version) + string(filepath.Separator)
	if res.Location != wantLoc {
		t.Errorf("location %q, want %q", res.Location, wantLoc)
	}
	m := res.Manifest
	if m.Plugin.Name != "seasonal-naive" || m.Plugin.SHA256 != engine.Digest(seasonalNaive(t)) {
		t.Errorf("manifest plugin %+v", m.Plugin)
	}
	// The test engine trusts no digest: the plugin ran sandboxed, which
	// the manifest records.
	wantRun := engine.RunSandboxedProcess
	if engine.DefaultIsolation() != engine.IsolationProcess {
		wantRun = engine.RunSandboxedInProcess
	}
	if m.Plugin.Run != string(wantRun) {
		t.Errorf("manifest plugin.run %q, want %q", m.Plugin.Run, wantRun)
	}
	if m.Data.Source != "csv" || m.Data.Points != 20160 || time.Duration(m.Data.Step) != time.Minute ||
		!m.Data.Start.Equal(time.Date(1995, 7, 22, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("manifest data %+v", m.Data)
	}
	if m.CreatedBy != "trainer_test" || !m.Created.Equal(fixedNow) || m.Trainer.Version != trainer.Version || !m.Gate.Accepted {
		t.Errorf("manifest created %v by %q, trainer %q, gate %+v", m.Created, m.CreatedBy, m.Trainer.Version, m.Gate)
	}
	// The stored bytes are what the manifest says.
	got, model, err := s.GetModel(ctx, o.Model, res.Version)
	if err != nil {
		t.Fatal(err)
	}
	if got.ModelSHA256 != m.ModelSHA256 || int64(len(model)) != m.ModelSize {
		t.Errorf("stored model %d bytes sha256 %s, manifest says %d bytes %s", len(model), got.ModelSHA256, m.ModelSize, m.ModelSHA256)
	}
	// Stages are reported in order.
	var stages []string
	for _, e := range events {
		if len(stages) == 0 || stages[len(stages)-1] != e.Stage {
			stages = append(stages, e.Stage)
		}
	}
	if want := "fetch validate policy backtest fit upload"; strings.Join(stages, " ") != want {
		t.Errorf("stages %q, want %q", stages, want)
	}

	// A second run is a second version; the first stays as it was.
	before, err := os.ReadFile(filepath.Join(wantLoc, "manifest.json"))
	if err != nil {
		t.Fatal(err)
	}
	o.Progress = nil
	res2, err := trainer.Run(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	if res2.Version == res.Version || res2.PluginPublished {
		t.Errorf("second run: version %s (first %s), plugin published again: %v", res2.Version, res.Version, res2.PluginPublished)
	}
	versions, err := s.ListModelVersions(ctx, o.Model)
	if err != nil || len(versions) != 2 {
		t.Fatalf("versions %v, %v: want 2", versions, err)
	}
	after, err := os.ReadFile(filepath.Join(wantLoc, "manifest.json"))
	if err != nil || !bytes.Equal(before, after) {
		t.Errorf("the first version's manifest changed (%v)", err)
	}
}

func TestQualityGate(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name       string
		params     map[string]string
		gate       trainer.GateLimits
		rejected   bool
		reasonHave []string
	}{
		{"no limits", nil, trainer.GateLimits{}, false, []string{"no quality limits"}},
		{"daily season passes", map[string]string{"season": "1d"}, trainer.GateLimits{MaxMASE: 1.5, MaxSMAPE: 1}, false,
			[]string{"accepted", "mase", "<= 1.5", "smape", "<= 1"}},
		{"one-minute season fails MASE", map[string]string{"season": "1m"}, trainer.GateLimits{MaxMASE: 1.5}, true,
			[]string{"rejected", "mase", "above the limit 1.5"}},
		{"coverage floor", map[string]string{"season": "1d"}, trainer.GateLimits{MinCoverage: 0.999}, true,
			[]string{"coverage", "below the limit 0.999"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, _ := localStore(t)
			o := baseOptions(t, s)
			o.Params, o.Gate = tt.params, tt.gate
			res, err := trainer.Run(ctx, o)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%s: %s", tt.name, res.Reason)
			if res.Rejected != tt.rejected || res.Manifest.Rejected() != tt.rejected {
				t.Errorf("rejected %v (manifest %v), want %v: %s", res.Rejected, res.Manifest.Rejected(), tt.rejected, res.Reason)
			}
			for _, w := range tt.reasonHave {
				if !strings.Contains(res.Reason, w) {
					t.Errorf("reason %q lacks %q", res.Reason, w)
				}
			}
			// A rejected model is stored but never the newest accepted one.
			latest, err := s.Latest(ctx, o.Model, true)
			if tt.rejected {
				if !errors.Is(err, store.ErrNotFound) {
					t.Errorf("latest accepted = %v, %v; want none", latest.Version, err)
				}
			} else if err != nil || latest.Version != res.Version {
				t.Errorf("latest accepted = %v, %v; want %s", latest.Version, err, res.Version)
			}
		})
	}
}

// TestGateCripplingSeason checks that the crippled model really is worse
// than the normal one by MASE, so that the gate test means something.
func TestGateCripplingSeason(t *testing.T) {
	ctx := context.Background()
	mase := map[string]float64{}
	for _, season := range []string{"1d", "1m"} {
		s, _ := localStore(t)
		o := baseOptions(t, s)
		o.Params = map[string]string{"season": season}
		res, err := trainer.Run(ctx, o)
		if err != nil {
			t.Fatal(err)
		}
		mase[season] = res.Metrics["mase"]
	}
	t.Logf("MASE: season 1d %.3f, season 1m %.3f", mase["1d"], mase["1m"])
	if !(mase["1m"] > 1.5 && mase["1d"] < 1.5) {
		t.Errorf("MASE season=1m %.3f and season=1d %.3f: want the crippled model above 1.5 and the normal one below", mase["1m"], mase["1d"])
	}
}

func TestRunErrorsStoreNothing(t *testing.T) {
	ctx := context.Background()
	nasa, err := series.ReadFile(nasaCSV)
	if err != nil {
		t.Fatal(err)
	}
	allMissing := &series.Series{T: nasa.T[:100], Y: make([]float64, 100)}
	for i := range allMissing.Y {
		allMissing.Y[i] = math.NaN()
	}
	one := &series.Series{T: nasa.T[:5], Y: []float64{math.NaN(), 3, math.NaN(), math.NaN(), math.NaN()}}
	other := seasonalNaive(t)
	tests := []struct {
		name  string
		setup func(t *testing.T, s store.Store, o *trainer.Options)
		want  []string
	}{
		{"all missing", func(t *testing.T, s store.Store, o *trainer.Options) { o.CSV, o.Series = "", allMissing },
			[]string{"all 100 points of the history are missing"}},
		{"too few points", func(t *testing.T, s store.Store, o *trainer.Options) { o.CSV, o.Series = "", one },
			[]string{"1 observed points of 5", "needs at least 2"}},
		{"hold-out as long as the history", func(t *testing.T, s store.Store, o *trainer.Options) { o.HoldOut = 20 * 24 * time.Hour },
			[]string{"hold-out 480h0m0s leaves no history"}},
		{"unknown parameter", func(t *testing.T, s store.Store, o *trainer.Options) { o.Params = map[string]string{"seasn": "1d"} },
			[]string{`parameter "seasn": unknown to plugin seasonal-naive`}},
		{"bad parameter value", func(t *testing.T, s store.Store, o *trainer.Options) {
			o.Params = map[string]string{"interval_width": "wide"}
		},
			[]string{`parameter "interval_width"`, "not a number"}},
		{"plugin rejects a parameter", func(t *testing.T, s store.Store, o *trainer.Options) { o.Params = map[string]string{"season": "0s"} },
			[]string{"backtest seasonal-naive 1.0.0", "not positive"}},
		{"unknown plugin", func(t *testing.T, s store.Store, o *trainer.Options) { o.Plugin = "arima" },
			[]string{`plugin "arima" is not in the store`, "not built in"}},
		{"wrong built-in version", func(t *testing.T, s store.Store, o *trainer.Options) { o.Plugin = "seasonal-naive@9.9.9" },
			[]string{"seasonal-naive@9.9.9: not in the store", "is version 1.0.0"}},
		{"missing wasm file", func(t *testing.T, s store.Store, o *trainer.Options) { o.Plugin = "testdata/nope.wasm" },
			[]string{"testdata/nope.wasm", "no such file"}},
		{"missing CSV", func(t *testing.T, s store.Store, o *trainer.Options) { o.CSV = "testdata/nope.csv" },
			[]string{"fetch", "testdata/nope.csv"}},
		{"no data source", func(t *testing.T, s store.Store, o *trainer.Options) { o.CSV = "" },
			[]string{"exactly one data source", "got 0"}},
		{"bad model name", func(t *testing.T, s store.Store, o *trainer.Options) { o.Model.Name = "a/b" },
			[]string{`model "shop/a/b"`}},
		{"plugin version with other bytes in the store", func(t *testing.T, s store.Store, o *trainer.Options) {
			// Another module stored as seasonal-naive 1.0.0.
			fake := withCustomSection(other)
			if _, err := s.PutPlugin(ctx, store.PluginMeta{Name: "seasonal-naive", Version: "1.0.0", ABIVersion: "1.0.0"}, fake); err != nil {
				t.Fatal(err)
			}
			o.Plugin = writeTemp(t, other)
		}, []string{"holds other bytes under this version", "give the changed plugin a new version"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, _ := localStore(t)
			o := baseOptions(t, s)
			tt.setup(t, s, &o)
			pluginsBefore, err := s.ListPlugins(ctx)
			if err != nil {
				t.Fatal(err)
			}
			_, err = trainer.Run(ctx, o)
			if err == nil {
				t.Fatal("Run succeeded")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			if o.Model.Validate() == nil {
				if vs, err := s.ListModelVersions(ctx, o.Model); err != nil || len(vs) != 0 {
					t.Errorf("model versions after a failed run: %v, %v", vs, err)
				}
			}
			if ps, err := s.ListPlugins(ctx); err != nil || len(ps) != len(pluginsBefore) {
				t.Errorf("plugins after a failed run: %d (before %d), %v", len(ps), len(pluginsBefore), err)
			}
		})
	}
}

// withCustomSection returns a copy of wasm with a custom section appended:
// another valid module that behaves the same.
func withCustomSection(wasm []byte) []byte {
	return append(append([]byte{}, wasm...), 0x00, 0x05, 0x03, 'p', 'p', 'a', 0x01)
}

// writeTemp writes b to a .wasm file and returns its path.
func writeTemp(t *testing.T, b []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "plugin.wasm")
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestExistingVersionIsRefused(t *testing.T) {
	ctx := context.Background()
	s, dir := localStore(t)
	o := baseOptions(t, s)
	o.Version = "v1"
	if _, err := trainer.Run(ctx, o); err != nil {
		t.Fatal(err)
	}
	manifest := filepath.Join(dir, "models", "shop", "checkout", "v1", "manifest.json")
	before, err := os.ReadFile(manifest)
	if err != nil {
		t.Fatal(err)
	}
	o.Params = map[string]string{"season": "7d"}
	_, err = trainer.Run(ctx, o)
	if !errors.Is(err, store.ErrExists) {
		t.Fatalf("second run with version v1: %v, want ErrExists", err)
	}
	after, err := os.ReadFile(manifest)
	if err != nil || !bytes.Equal(before, after) {
		t.Errorf("version v1 changed (%v)", err)
	}
}

func TestPluginFromStore(t *testing.T) {
	ctx := context.Background()
	s, _ := localStore(t)
	wasm := seasonalNaive(t)
	meta, created, err := trainer.PushPlugin(ctx, s, sharedEngine(t), wasm, "tester")
	if err != nil || !created {
		t.Fatalf("push: %v, created %v", err, created)
	}
	if meta.Name != "seasonal-naive" || meta.Version != "1.0.0" || meta.ABIVersion == "" || meta.Uploader != "tester" {
		t.Errorf("pushed meta %+v", meta)
	}
	// Pushing the same bytes again is not an error.
	if _, created, err := trainer.PushPlugin(ctx, s, sharedEngine(t), wasm, "tester"); err != nil || created {
		t.Errorf("push again: %v, created %v; want no error, not created", err, created)
	}
	// Other bytes under the same version are refused.
	if _, _, err := trainer.PushPlugin(ctx, s, sharedEngine(t), withCustomSection(wasm), "tester"); !errors.Is(err, store.ErrExists) {
		t.Errorf("push other bytes: %v, want ErrExists", err)
	}

	o := baseOptions(t, s)
	o.Builtin = func(string) ([]byte, error) { return nil, errors.New("no built-ins in this test") }
	for _, ref := range []string{"seasonal-naive", "seasonal-naive@1.0.0"} {
		o.Plugin = ref
		res, err := trainer.Run(ctx, o)
		if err != nil {
			t.Fatalf("%s: %v", ref, err)
		}
		if res.PluginPublished || res.Manifest.Plugin.SHA256 != meta.SHA256 {
			t.Errorf("%s: published %v, plugin %+v", ref, res.PluginPublished, res.Manifest.Plugin)
		}
	}
	o.Plugin = "seasonal-naive@2.0.0"
	if _, err := trainer.Run(ctx, o); err == nil || !strings.Contains(err.Error(), "no built-ins in this test") {
		t.Errorf("missing version: %v", err)
	}
}

func TestResultOutput(t *testing.T) {
	ctx := context.Background()
	s, dir := localStore(t)
	o := baseOptions(t, s)
	o.Gate = trainer.GateLimits{MaxMASE: 5}
	o.Params = map[string]string{"season": "1d"}
	res, err := trainer.Run(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	var table bytes.Buffer
	if err := res.WriteTable(&table); err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{"model       shop/checkout", "ACCEPTED (accepted: mase", "season=1d", "20160 points, 7213 missing",
		"every 1m", "hold-out    1d", "published by this run", "location    " + dir} {
		if !strings.Contains(table.String(), w) {
			t.Errorf("table lacks %q:\n%s", w, table.String())
		}
	}
	file := filepath.Join(t.TempDir(), "result.json")
	if err := res.WriteFile(file); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{`"version": "` + res.Version + `"`, `"rejected": false`, `"location": "`, `"mase": `, `"timings": {`, `"manifest": {`} {
		if !bytes.Contains(b, []byte(w)) {
			t.Errorf("result file lacks %s:\n%s", w, b)
		}
	}
}

func TestProgressReporter(t *testing.T) {
	events := []trainer.Progress{
		{Stage: trainer.StageFetch, Total: 0, Message: "querying"},
		{Stage: trainer.StageFetch, Done: 1, Total: 2, Message: "chunk 1 of 2"},
		{Stage: trainer.StageFetch, Done: 2, Total: 2, Message: "chunk 2 of 2"},
		{Stage: trainer.StageBacktest, Done: 0, Total: 1, Message: "backtesting"},
		{Stage: trainer.StageBacktest, Done: 1, Total: 1, Message: "hold-out mase=0.9"},
		{Stage: trainer.StageUpload, Done: 0, Total: 2, Message: "publishing"},
	}
	t.Run("terminal", func(t *testing.T) {
		var out bytes.Buffer
		report, done := trainer.ProgressReporter(&out, true, nil)
		for _, e := range events {
			report(e)
		}
		done()
		for _, w := range []string{"fetch: chunk 2 of 2", "2/2", "backtest: hold-out mase=0.9", "upload: publishing"} {
			if !strings.Contains(out.String(), w) {
				t.Errorf("bar output lacks %q:\n%q", w, out.String())
			}
		}
	})
	t.Run("log lines", func(t *testing.T) {
		var out bytes.Buffer
		log := slogText(&out)
		report, done := trainer.ProgressReporter(&bytes.Buffer{}, false, log)
		for _, e := range events {
			report(e)
		}
		done()
		lines := strings.Split(strings.TrimSpace(out.String()), "\n")
		if len(lines) != len(events) {
			t.Fatalf("%d log lines for %d events:\n%s", len(lines), len(events), out.String())
		}
		if !strings.Contains(lines[1], `msg="chunk 1 of 2" stage=fetch done=1 total=2`) {
			t.Errorf("line %q", lines[1])
		}
	})
}

func slogText(w *bytes.Buffer) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
		if a.Key == slog.TimeKey {
			return slog.Attr{}
		}
		return a
	}}))
}

func TestDescribeParamsRoundTrip(t *testing.T) {
	// The manifest keeps typed parameters the plugin accepts back.
	ctx := context.Background()
	s, _ := localStore(t)
	o := baseOptions(t, s)
	o.Params = map[string]string{"season": "1d", "interval_width": "0.9", "min_seasons": "2", "widen_intervals": "false"}
	res, err := trainer.Run(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	want := abi.Params{"season": "1d", "interval_width": 0.9, "min_seasons": 2.0, "widen_intervals": false}
	got, _ := s.GetManifest(ctx, o.Model, res.Version)
	if fmt.Sprint(got.Parameters) != fmt.Sprint(want) {
		t.Errorf("stored parameters %v, want %v", got.Parameters, want)
	}
}
