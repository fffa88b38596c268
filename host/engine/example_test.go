package engine_test

import (
	"context"
	"fmt"
	"log"

	"github.com/ppa-autoscaler/ppa/abi"
	"github.com/ppa-autoscaler/ppa/host/engine"
	"github.com/ppa-autoscaler/ppa/internal/testwasm"
)

// Load a plugin pinned by its digest, train a model and forecast two
// timestamps with it.
func Example() {
	ctx := context.Background()
	// A real host reads the module from its artifact store, with the digest
	// recorded when the plugin was registered.
	wasm, err := testwasm.Bytes("./host/engine/testdata/guests/echo")
	if err != nil {
		log.Fatal(err)
	}
	pinned := engine.Digest(wasm)

	e, err := engine.New(ctx, engine.NewConfig().WithPoolSize(2))
	if err != nil {
		log.Fatal(err)
	}
	defer e.Close(ctx)

	p, err := e.Load(ctx, wasm, pinned)
	if err != nil {
		log.Fatal(err)
	}
	defer p.Close(ctx)
	d := p.Description()
	fmt.Println(d.Name, d.Version, "ABI", abi.VersionString(p.ABIVersion()))

	tr, err := p.Train(ctx, &abi.TrainRequest{
		Timestamps: []int64{1_700_000_000_000, 1_700_000_060_000},
		Values:     []float64{10, 20},
	})
	if err != nil {
		log.Fatal(err)
	}
	pr, err := p.Predict(ctx, &abi.PredictRequest{
		Model:      tr.Model,
		Timestamps: []int64{1_700_000_120_000, 1_700_000_180_000},
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(pr.Yhat, pr.Lower, pr.Upper)
	// Output:
	// echo 1.0.0 ABI 1.0.0
	// [15 15] [14 14] [16 16]
}
