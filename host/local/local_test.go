package local

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kedacore/keda/v2/pkg/scalers/externalscaler"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/ppa-autoscaler/ppa/host/engine"
	"github.com/ppa-autoscaler/ppa/host/runtime"
	"github.com/ppa-autoscaler/ppa/host/store"
	"github.com/ppa-autoscaler/ppa/host/trainer"
	"github.com/ppa-autoscaler/ppa/internal/testwasm"
)

// cacheDir is one wazero compilation cache for the whole test binary, so
// that the plugin compiles once.
var cacheDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "ppa-local-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	cacheDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// writeCSV writes 3 days of hourly values, a daily cycle times scale,
// ending at 2024-03-03T23:00:00Z.
func writeCSV(t *testing.T, path string, scale float64) {
	t.Helper()
	var b strings.Builder
	b.WriteString("ds,y\n")
	start := time.Date(2024, 3, 1, 0, 0, 0, 0, time.UTC)
	for i := range 72 {
		y := scale * (100 + 40*math.Sin(2*math.Pi*float64(i%24)/24))
		fmt.Fprintf(&b, "%s,%.4f\n", start.Add(time.Duration(i)*time.Hour).Format(time.RFC3339), y)
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}

func newOptions(t *testing.T, csv string, now time.Time) Options {
	t.Helper()
	wasm := testwasm.Build(t, "./plugins/seasonalnaive/wasm")
	ctx := context.Background()
	st, err := store.Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	e, err := engine.New(ctx, engine.NewConfig().WithCacheDir(cacheDir))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close(ctx) })
	rt := runtime.NewOptions()
	rt.CacheDir = cacheDir
	return Options{
		Runtime: &rt,
		Train: trainer.Options{
			Model:  store.ModelRef{Namespace: "team", Name: "web"},
			CSV:    csv,
			Plugin: "seasonal-naive",
			Store:  st,
			Engine: e,
			Builtin: func(name string) ([]byte, error) {
				if name != "seasonal-naive" {
					return nil, fmt.Errorf("built-in plugin %q not found (test)", name)
				}
				return wasm, nil
			},
		},
		Now: func() time.Time { return now },
	}
}

// infer asks the runtime for the next horizon and returns the version and
// the forecast.
func infer(t *testing.T, addr string, horizon time.Duration) (string, []float64) {
	t.Helper()
	body := fmt.Sprintf(`{"inputs":[{"name":"horizon","shape":[1],"datatype":"INT64","data":[%d]}]}`, int64(horizon/time.Second))
	resp, err := http.Post("http://"+addr+"/v2/models/web/infer", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var r struct {
		Version string `json:"model_version"`
		Outputs []struct {
			Name string    `json:"name"`
			Data []float64 `json:"data"`
		} `json:"outputs"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("infer: status %d, %v", resp.StatusCode, err)
	}
	for _, o := range r.Outputs {
		if o.Name == "yhat" {
			return r.Version, o.Data
		}
	}
	t.Fatalf("infer: no yhat in %+v", r)
	return "", nil
}

// TestRetrainHotReload trains, serves, retrains on changed data and checks
// that the runtime and the scaler answer with the new version as soon as
// Train returns.
func TestRetrainHotReload(t *testing.T) {
	ctx := context.Background()
	csv := filepath.Join(t.TempDir(), "demand.csv")
	writeCSV(t, csv, 1)
	wall := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	off, err := ClockOffsetToEnd(csv, wall)
	if err != nil {
		t.Fatal(err)
	}
	o := newOptions(t, csv, wall)
	o.ClockOffset = off
	s, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := s.Clock(), time.Date(2024, 3, 3, 23, 0, 0, 0, time.UTC); !got.Equal(want) {
		t.Fatalf("clock %s, want the end of the CSV %s", got, want)
	}
	first, err := s.Train(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ep, err := s.Start(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Shutdown(ctx)

	conn, err := grpc.NewClient(ep.Scaler, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	client := externalscaler.NewExternalScalerClient(conn)
	// The trigger names its rule (the CSV gives the scaler no current
	// value for a learned policy): each version's forecast maximum.
	ref := &externalscaler.ScaledObjectRef{Name: "web", Namespace: "team", ScalerMetadata: map[string]string{
		"modelName": "web", "targetValue": "10", "horizon": "3h", "aggregation": "max",
	}}
	metric := func() float64 {
		t.Helper()
		r, err := client.GetMetrics(ctx, &externalscaler.GetMetricsRequest{ScaledObjectRef: ref})
		if err != nil {
			t.Fatal(err)
		}
		return r.MetricValues[0].MetricValueFloat
	}
	maxOf := func(ys []float64) float64 {
		m := math.Inf(-1)
		for _, y := range ys {
			m = max(m, y)
		}
		return m
	}

	v1, y1 := infer(t, ep.RuntimeHTTP, 3*time.Hour)
	if v1 != first.Version || len(y1) != 4 {
		t.Fatalf("serving %s with %d points, want %s with 4", v1, len(y1), first.Version)
	}
	if got := metric(); got != maxOf(y1) {
		t.Fatalf("scaler %v, want the maximum of %v", got, y1)
	}

	writeCSV(t, csv, 2)
	second, err := s.Train(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if second.Version == first.Version {
		t.Fatalf("retraining wrote version %s again", second.Version)
	}
	v2, y2 := infer(t, ep.RuntimeHTTP, 3*time.Hour)
	if v2 != second.Version {
		t.Fatalf("after retraining the runtime serves %s, want %s", v2, second.Version)
	}
	for i := range y1 {
		if math.Abs(y2[i]-2*y1[i]) > 1e-3 { // the CSV has 4 decimals
			t.Errorf("point %d: %v after doubling the data, want %v", i, y2[i], 2*y1[i])
		}
	}
	if got := metric(); got != maxOf(y2) {
		t.Errorf("scaler after retraining %v, want the new forecast's maximum %v", got, maxOf(y2))
	}
	if err := s.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.Shutdown(ctx); err != nil {
		t.Fatalf("second shutdown: %v", err)
	}
}

func TestStartWithoutModel(t *testing.T) {
	ctx := context.Background()
	csv := filepath.Join(t.TempDir(), "demand.csv")
	writeCSV(t, csv, 1)
	s, err := New(newOptions(t, csv, time.Now()))
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.Start(ctx)
	if err == nil {
		s.Shutdown(ctx)
		t.Fatal("Start without a trained model succeeded")
	}
	if !strings.Contains(err.Error(), "runtime cannot serve model team/web") {
		t.Errorf("error %q does not say the model cannot serve", err)
	}
	if err := s.Shutdown(ctx); err != nil {
		t.Errorf("shutdown of a stack that did not start: %v", err)
	}
}

func TestNewErrors(t *testing.T) {
	csv := filepath.Join(t.TempDir(), "demand.csv")
	writeCSV(t, csv, 1)
	tests := []struct {
		name   string
		change func(*Options)
		want   string
	}{
		{"no store", func(o *Options) { o.Train.Store = nil }, "no store"},
		{"bad model", func(o *Options) { o.Train.Model = store.ModelRef{Name: "web"} }, "model:"},
		{"fixed version", func(o *Options) { o.Train.Version = "v1" }, `training version "v1": must be empty`},
		{"bad port", func(o *Options) { o.ScalerPort = 70000 }, "scaler port 70000"},
		{"negative retrain", func(o *Options) { o.Retrain = -time.Second }, "retrain period -1s"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := newOptions(t, csv, time.Now())
			tc.change(&o)
			_, err := New(o)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

func TestClockOffsetToEnd(t *testing.T) {
	dir := t.TempDir()
	csv := filepath.Join(dir, "demand.csv")
	writeCSV(t, csv, 1)
	now := time.Date(2024, 3, 4, 0, 0, 0, 0, time.UTC)
	if got, err := ClockOffsetToEnd(csv, now); err != nil || got != -time.Hour {
		t.Errorf("offset %v, %v; want -1h", got, err)
	}
	if _, err := ClockOffsetToEnd(filepath.Join(dir, "nope.csv"), now); err == nil || !strings.Contains(err.Error(), "clock offset: open") {
		t.Errorf("missing file: error %v", err)
	}
}

// TestRunRetrains runs the whole loop with a short retraining period until
// two retrainings have been reported, then cancels it.
func TestRunRetrains(t *testing.T) {
	csv := filepath.Join(t.TempDir(), "demand.csv")
	writeCSV(t, csv, 1)
	o := newOptions(t, csv, time.Now())
	o.Retrain = 10 * time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	type event struct {
		first   bool
		version string
		err     error
	}
	events := make(chan event, 16)
	var served Endpoints
	result := make(chan error, 1)
	go func() {
		result <- Run(ctx, o, Hooks{
			Trained: func(first bool, res *trainer.Result, err error) {
				ev := event{first: first, err: err}
				if res != nil {
					ev.version = res.Version
				}
				events <- ev
			},
			Serving: func(ep Endpoints) { served = ep },
		})
	}()
	var versions []string
	for len(versions) < 3 {
		select {
		case ev := <-events:
			if ev.err != nil {
				t.Fatalf("training %d: %v", len(versions)+1, ev.err)
			}
			if ev.first != (len(versions) == 0) {
				t.Fatalf("training %d reported first=%t", len(versions)+1, ev.first)
			}
			versions = append(versions, ev.version)
		case err := <-result:
			t.Fatalf("Run ended after %d trainings: %v", len(versions), err)
		}
	}
	cancel()
	if err := <-result; err != nil {
		t.Fatalf("Run after cancellation: %v", err)
	}
	if served.Scaler == "" || served.RuntimeHTTP == "" {
		t.Errorf("Serving was not called with the endpoints: %+v", served)
	}
	if versions[0] == versions[1] || versions[1] == versions[2] {
		t.Errorf("versions %v: each training must write a new one", versions)
	}
	list, err := o.Train.Store.ListModelVersions(context.Background(), o.Train.Model)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) < 3 {
		t.Errorf("the store holds %d versions, want at least 3", len(list))
	}
}
