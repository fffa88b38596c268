package engine_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/ppa-autoscaler/ppa/abi"
	"github.com/ppa-autoscaler/ppa/host/engine"
	"github.com/ppa-autoscaler/ppa/internal/testwasm"
)

// sharedCache is a compilation cache directory shared by the engines of
// this test binary, so that each guest is compiled to machine code once.
var sharedCache string

func TestMain(m *testing.M) {
	if os.Getenv("PPA_ENGINE_LOCKDOWN_PROBE") == "1" {
		// TestLockDownProbe's child: no files may be made.
		os.Exit(m.Run())
	}
	dir, err := os.MkdirTemp("", "engine-test-cache-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	sharedCache = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// testConfig is the default configuration with the shared cache.
func testConfig() engine.Config { return engine.NewConfig().WithCacheDir(sharedCache) }

// guest builds the test guest testdata/guests/<name>.
func guest(t testing.TB, name string) []byte {
	t.Helper()
	return testwasm.Build(t, "./host/engine/testdata/guests/"+name)
}

// prebuild builds guests concurrently so that later guest calls are hits.
func prebuild(t testing.TB, names ...string) {
	t.Helper()
	var wg sync.WaitGroup
	for _, n := range names {
		wg.Go(func() { _, _ = testwasm.Bytes("./host/engine/testdata/guests/" + n) })
	}
	wg.Wait()
}

// newEngine creates an engine closed at the end of the test.
func newEngine(t testing.TB, cfg engine.Config) *engine.Engine {
	t.Helper()
	e, err := engine.New(context.Background(), cfg)
	if err != nil {
		t.Fatalf("engine.New: %v", err)
	}
	t.Cleanup(func() {
		if err := e.Close(context.Background()); err != nil {
			t.Errorf("engine close: %v", err)
		}
	})
	return e
}

// load loads a guest, failing the test on error.
func load(t testing.TB, e *engine.Engine, name string) *engine.Plugin {
	t.Helper()
	p, err := e.Load(context.Background(), guest(t, name), "")
	if err != nil {
		t.Fatalf("load %s: %v", name, err)
	}
	t.Cleanup(func() { _ = p.Close(context.Background()) })
	return p
}

func trainRequest(params abi.Params) *abi.TrainRequest {
	return &abi.TrainRequest{
		Params:     params,
		Seed:       1,
		Timestamps: []int64{1_700_000_000_000, 1_700_000_060_000, 1_700_000_120_000},
		Values:     []float64{1, 2, 6},
	}
}

// checkHealthy trains and predicts with f and checks the echo answer.
func checkHealthy(t testing.TB, f engine.Forecaster) {
	t.Helper()
	ctx := context.Background()
	tr, err := f.Train(ctx, trainRequest(nil))
	if err != nil {
		t.Fatalf("healthy train: %v", err)
	}
	pr, err := f.Predict(ctx, &abi.PredictRequest{Model: tr.Model, Timestamps: []int64{1, 2}})
	if err != nil {
		t.Fatalf("healthy predict: %v", err)
	}
	if len(pr.Yhat) != 2 || pr.Yhat[0] != 3 || pr.Lower[1] != 2 || pr.Upper[1] != 4 {
		t.Fatalf("healthy predict = %+v, want yhat 3, bounds 2 and 4", pr)
	}
}

// logBuffer is a concurrency-safe sink for a JSON slog handler.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func debugLogger(b *logBuffer) *slog.Logger {
	return slog.New(slog.NewJSONHandler(b, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// waitUntil polls cond until it holds, failing the test after a minute
// (a call that ended early would otherwise leave the loop spinning until
// the test binary's own timeout).
func waitUntil(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after a minute waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}
