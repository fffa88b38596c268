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

// runModes are the ways a module can run, as engine configurations.
var runModes = []struct {
	mode engine.RunMode
	cfg  func() engine.Config
}{
	{engine.RunTrustedInProcess, func() engine.Config { return testConfig().WithInterruptible(false) }},
	{engine.RunSandboxedInProcess, func() engine.Config { return testConfig().WithIsolation(engine.IsolationInProcess) }},
	{engine.RunSandboxedProcess, func() engine.Config { return testConfig().WithIsolation(engine.IsolationProcess) }},
}

// BenchmarkBoundary measures what the process boundary costs per call, on
// the echo guest (whose own work is small) in each run mode: a predict of
// no timestamps (the fixed cost) and a train on 20,160 points (14 days
// every minute: 322 KB of request through the pipe). The process boundary's
// cost is sandboxed-process minus trusted-inprocess.
func BenchmarkBoundary(b *testing.B) {
	const n = 20160
	train := trainRequest(nil)
	train.Timestamps, train.Values = make([]int64, n), make([]float64, n)
	for i := range n {
		train.Timestamps[i] = 1_700_000_000_000 + int64(i)*60_000
		train.Values[i] = float64(i % 1440)
	}
	for _, rm := range runModes {
		if rm.mode == engine.RunSandboxedProcess && engine.DefaultIsolation() != engine.IsolationProcess {
			continue
		}
		p, model := newEchoForBench(b, rm.cfg().WithPoolSize(1))
		if got := p.RunMode(); got != rm.mode {
			b.Fatalf("run mode %q, want %q", got, rm.mode)
		}
		ctx := context.Background()
		b.Run("predict-empty/"+string(rm.mode), func(b *testing.B) {
			req := &abi.PredictRequest{Model: model}
			for b.Loop() {
				if _, err := p.Predict(ctx, req); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run("train-20160/"+string(rm.mode), func(b *testing.B) {
			b.SetBytes(int64(n * 16))
			for b.Loop() {
				if _, err := p.Train(ctx, train); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
