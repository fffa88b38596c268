package engine_test

import (
	"context"
	"testing"

	"github.com/ppa-autoscaler/ppa/abi"
	"github.com/ppa-autoscaler/ppa/host/engine"
)

// benchLoad measures New + Load (compile, instantiate, _initialize,
// version and describe) + Close of the echo module.
func benchLoad(b *testing.B, cfg engine.Config, warmup bool) {
	wasm := guest(b, "echo")
	ctx := context.Background()
	once := func() {
		e, err := engine.New(ctx, cfg)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := e.Load(ctx, wasm, ""); err != nil {
			b.Fatal(err)
		}
		e.Close(ctx)
	}
	if warmup {
		once()
	}
	b.SetBytes(int64(len(wasm)))
	for b.Loop() {
		once()
	}
}

// BenchmarkLoadColdCompile compiles the module from scratch every time.
func BenchmarkLoadColdCompile(b *testing.B) { benchLoad(b, engine.NewConfig(), false) }

// BenchmarkLoadWarmCache loads the module from a warm compilation cache
// directory, as a restarted process would.
func BenchmarkLoadWarmCache(b *testing.B) {
	cfg := engine.NewConfig().WithCacheDir(b.TempDir())
	benchLoad(b, cfg, true)
}

func newEchoForBench(b *testing.B, cfg engine.Config) (*engine.Plugin, []byte) {
	e := newEngine(b, cfg)
	p := load(b, e, "echo")
	tr, err := p.Train(context.Background(), trainRequest(nil))
	if err != nil {
		b.Fatal(err)
	}
	return p, tr.Model
}

// BenchmarkPredictEmpty is the per-call overhead: an echo predict of no
// timestamps (encode, ppa_alloc, write, call, read, two ppa_free, decode).
func BenchmarkPredictEmpty(b *testing.B) {
	p, model := newEchoForBench(b, testConfig())
	ctx := context.Background()
	req := &abi.PredictRequest{Model: model}
	for b.Loop() {
		if _, err := p.Predict(ctx, req); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPredictEmptyParallel runs the same call from GOMAXPROCS
// goroutines through the instance pool.
func BenchmarkPredictEmptyParallel(b *testing.B) {
	p, model := newEchoForBench(b, testConfig())
	ctx := context.Background()
	req := &abi.PredictRequest{Model: model}
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := p.Predict(ctx, req); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkPredict1000 forecasts 1000 timestamps.
func BenchmarkPredict1000(b *testing.B) {
	p, model := newEchoForBench(b, testConfig())
	ctx := context.Background()
	ts := make([]int64, 1000)
	for i := range ts {
		ts[i] = int64(i) * 60_000
	}
	req := &abi.PredictRequest{Model: model, Timestamps: ts}
	for b.Loop() {
		if _, err := p.Predict(ctx, req); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkNativePredictEmpty is the same call on the native adapter, for
// comparison: what remains is the encoding.
func BenchmarkNativePredictEmpty(b *testing.B) {
	n := engine.Native(echoPlugin())
	ctx := context.Background()
	tr, err := n.Train(ctx, trainRequest(nil))
	if err != nil {
		b.Fatal(err)
	}
	req := &abi.PredictRequest{Model: tr.Model}
	for b.Loop() {
		if _, err := n.Predict(ctx, req); err != nil {
			b.Fatal(err)
		}
	}
}
