package runtime_test

import (
	"context"
	"testing"

	hseries "github.com/ppa-autoscaler/ppa/host/series"
	"github.com/ppa-autoscaler/ppa/host/store"
	"github.com/ppa-autoscaler/ppa/host/trainer"
	"github.com/ppa-autoscaler/ppa/internal/testwasm"
)

// TestServesTrainerModels closes the loop with the real trainer: it
// trains into MinIO, the runtime serves the model as the engine would
// predict it, and a second training is picked up.
func TestServesTrainerModels(t *testing.T) {
	e := newS3Env(t)
	train := func(level, amplitude float64) store.Manifest {
		t.Helper()
		ts, ys := series(level, amplitude)
		res, err := trainer.Run(context.Background(), trainer.Options{
			Model:   store.ModelRef{Namespace: namespace, Name: "cpu"},
			Series:  &hseries.Series{T: ts, Y: ys},
			Plugin:  "seasonal-naive",
			Builtin: func(string) ([]byte, error) { return testwasm.Build(t, seasonalNaivePkg), nil },
			Seed:    7,
			Store:   e.st,
			Engine:  e.eng,
			Now:     e.clock.Now,
		})
		if err != nil {
			t.Fatalf("trainer: %v", err)
		}
		if res.Rejected {
			t.Fatalf("the gate rejected the model: %s", res.Reason)
		}
		return res.Manifest
	}
	v1 := train(100, 50)
	s := start(t, e.options("cpu"), true)
	now := e.clock.Now().Unix()
	wantDS := grid(now-now%60, 60, 61)
	got, err := s.restInfer("cpu", 3600, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	checkForecast(t, e, v1, got, wantDS)

	e.clock.Set(e.clock.Now().Add(1e9)) // a later version name
	v2 := train(500, 10)
	if v2.Version <= v1.Version {
		t.Fatalf("versions %s then %s do not sort", v1.Version, v2.Version)
	}
	waitFor(t, "the second training to serve", func() bool {
		f, err := s.grpcInfer(context.Background(), "cpu", false, 3600, nil, nil)
		return err == nil && f.version == v2.Version
	})
	g, err := s.grpcInfer(context.Background(), "cpu", true, 3600, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	checkForecast(t, e, v2, g, grid(e.clock.Now().Unix()-e.clock.Now().Unix()%60, 60, 61))
}
