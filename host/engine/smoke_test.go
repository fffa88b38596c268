package engine_test

import (
	"context"
	"testing"

	"github.com/ppa-autoscaler/ppa/abi"
	"github.com/ppa-autoscaler/ppa/host/engine"
	"github.com/ppa-autoscaler/ppa/internal/testwasm"
)

func TestSmoke(t *testing.T) {
	ctx := context.Background()
	wasm := testwasm.Build(t, "./host/engine/testdata/guests/echo")
	e, err := engine.New(ctx, engine.NewConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close(ctx)
	p, err := e.Load(ctx, wasm, engine.Digest(wasm))
	if err != nil {
		t.Fatal(err)
	}
	tr, err := p.Train(ctx, &abi.TrainRequest{Timestamps: []int64{1, 2}, Values: []float64{1, 3}})
	if err != nil {
		t.Fatal(err)
	}
	pr, err := p.Predict(ctx, &abi.PredictRequest{Model: tr.Model, Timestamps: []int64{5, 6, 7}})
	if err != nil {
		t.Fatal(err)
	}
	t.Log(p.Description(), tr.Info, pr, p.Stats())
}
