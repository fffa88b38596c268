package policy

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/ppa-autoscaler/ppa/abi"
	"github.com/ppa-autoscaler/ppa/host/engine"
	"github.com/ppa-autoscaler/ppa/host/series"
	"github.com/ppa-autoscaler/ppa/plugins/builtin"
)

// loadBuiltins loads the built-in plugins into a trusted engine, as the
// trainer does.
func loadBuiltins(b *testing.B, specs ...CandidateSpec) ([]Candidate, func()) {
	b.Helper()
	ctx := context.Background()
	e, err := engine.New(ctx, engine.NewConfig().WithTrustedDigests(builtin.Digests()...))
	if err != nil {
		b.Fatal(err)
	}
	var out []Candidate
	for _, spec := range specs {
		name := spec.Name
		wasm, err := builtin.Load(name)
		if err != nil {
			b.Fatalf("built-in %s: %v (run make plugins)", name, err)
		}
		p, err := e.Load(ctx, wasm, "")
		if err != nil {
			b.Fatal(err)
		}
		out = append(out, Candidate{Name: name, Params: spec.Params, Forecaster: p})
	}
	return out, func() { e.Close(ctx) }
}

func nasa14d(b *testing.B) *series.Series {
	b.Helper()
	s, err := series.ReadFile(filepath.Join("..", "..", "testdata", "traces", "nasa-http-1m-14d.csv"))
	if err != nil {
		b.Fatal(err)
	}
	return s
}

// BenchmarkSearch is the policy search the trainer runs, on 14 days at one
// minute with the default candidates in wasm; compare with
// BenchmarkProphetFit (the budget: 10 fits).
func BenchmarkSearch(b *testing.B) {
	s := nasa14d(b)
	cands, done := loadBuiltins(b, DefaultCandidates...)
	defer done()
	cfg := DefaultConfig()
	cfg.Lead, cfg.CapacityPerReplica, cfg.TargetUtilization = 5*time.Minute, 20, 0.8
	cfg.Candidates = cands
	cfg.Baseline = &cands[1]
	b.ResetTimer()
	for b.Loop() {
		if _, err := Search(context.Background(), cfg, s.T, s.Y); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkProphetFit is one fit of the trainer's default plugin on the
// same history.
func BenchmarkProphetFit(b *testing.B) {
	s := nasa14d(b)
	cands, done := loadBuiltins(b, CandidateSpec{Name: "prophet"})
	defer done()
	b.ResetTimer()
	for b.Loop() {
		if _, err := cands[0].Forecaster.Train(context.Background(), &abi.TrainRequest{Timestamps: s.T, Values: s.Y}); err != nil {
			b.Fatal(err)
		}
	}
}
