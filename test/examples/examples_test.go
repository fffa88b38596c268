package examples_test

import (
	"context"
	"math"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/ppa-autoscaler/ppa/abi"
	"github.com/ppa-autoscaler/ppa/host/conformance"
	"github.com/ppa-autoscaler/ppa/host/engine"
)

var modules = []struct {
	path, name string
	intervals  bool
}{
	{filepath.Join("..", "..", "plugins", "examples", "c", "ses.wasm"), "ses-c", true},
	{filepath.Join("..", "..", "plugins", "examples", "assemblyscript", "moving-average.wasm"), "moving-average-as", false},
}

func newEngine(t *testing.T, cfg engine.Config) *engine.Engine {
	t.Helper()
	ctx := context.Background()
	e, err := engine.New(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close(ctx) })
	return e
}

func TestConformance(t *testing.T) {
	for _, m := range modules {
		t.Run(m.name, func(t *testing.T) {
			wasm, err := os.ReadFile(m.path)
			if err != nil {
				t.Fatal(err)
			}
			r := conformance.Run(context.Background(), newEngine(t, engine.NewConfig().WithPoolSize(1)), wasm)
			if !r.Passed() {
				t.Fatalf("%s does not conform:\n%s", m.path, r.String())
			}
			if r.Plugin != m.name {
				t.Fatalf("plugin name %q, want %q", r.Plugin, m.name)
			}
		})
	}
}

// TestMemoryIsReused runs many calls on one instance under a memory limit
// far below what they would need if buffers were never reclaimed.
func TestMemoryIsReused(t *testing.T) {
	const points = 2000 // a 32 KB request per train call
	calls := 200
	if testing.Short() {
		calls = 60
	}
	ts := make([]int64, points)
	ys := make([]float64, points)
	for i := range ts {
		ts[i] = int64(i) * time.Minute.Milliseconds()
		ys[i] = 50 + 10*math.Sin(float64(i)/30)
	}
	future := []int64{ts[points-1] + 60_000, ts[points-1] + 120_000}
	for _, m := range modules {
		t.Run(m.name, func(t *testing.T) {
			wasm, err := os.ReadFile(m.path)
			if err != nil {
				t.Fatal(err)
			}
			// 16 pages = 1 MiB; the calls below allocate over 6 MiB.
			e := newEngine(t, engine.NewConfig().WithPoolSize(1).WithMemoryLimitPages(16))
			ctx := context.Background()
			p, err := e.Load(ctx, wasm, "")
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close(ctx)
			var first *abi.PredictResponse
			for i := 0; i < calls; i++ {
				tr, err := p.Train(ctx, &abi.TrainRequest{Timestamps: ts, Values: ys})
				if err != nil {
					t.Fatalf("call %d: train: %v", i, err)
				}
				pr, err := p.Predict(ctx, &abi.PredictRequest{Model: tr.Model, Timestamps: future})
				if err != nil {
					t.Fatalf("call %d: predict: %v", i, err)
				}
				if (len(pr.Lower) > 0) != m.intervals {
					t.Fatalf("bounds %v, want intervals %t", pr.Lower, m.intervals)
				}
				if first == nil {
					first = pr
				} else if pr.Yhat[0] != first.Yhat[0] {
					t.Fatalf("call %d: yhat %v, first call %v", i, pr.Yhat[0], first.Yhat[0])
				}
			}
			if st := p.Stats(); st.Failures != 0 || st.Instantiations != 1 {
				t.Fatalf("%d failed calls, %d instances; want 0 and 1", st.Failures, st.Instantiations)
			}
		})
	}
}
