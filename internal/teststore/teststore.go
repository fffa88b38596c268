// Package teststore fills local stores with small trained models for tests
// that need something to serve.
package teststore

import (
	"context"
	"encoding/json"
	"math"
	"testing"
	"time"

	"github.com/ppa-autoscaler/ppa/abi"
	"github.com/ppa-autoscaler/ppa/host/engine"
	"github.com/ppa-autoscaler/ppa/host/store"
	"github.com/ppa-autoscaler/ppa/internal/testwasm"
)

// SeasonalNaive writes the seasonal-naive plugin and an accepted model
// team-a/cpu, version v0001, into a new local store under t.TempDir(), and
// returns the store's directory and the model's version. The model is
// trained on two days of one-minute values with a daily sine cycle
// (100 ± 50) ending at 2026-03-02T00:00:00Z.
func SeasonalNaive(t testing.TB) (dir, version string) {
	t.Helper()
	return SeasonalNaiveWithPolicy(t, nil)
}

// SeasonalNaiveWithPolicy is SeasonalNaive with pol (a host/policy.Policy
// as JSON; nil for none) as the model version's scaling policy.
func SeasonalNaiveWithPolicy(t testing.TB, pol json.RawMessage) (dir, version string) {
	t.Helper()
	ctx := context.Background()
	dir = t.TempDir()
	st, err := store.Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	wasm := testwasm.Build(t, "./plugins/seasonalnaive/wasm")
	eng, err := engine.New(ctx, engine.NewConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close(ctx)
	p, err := eng.Load(ctx, wasm, "")
	if err != nil {
		t.Fatal(err)
	}
	d := p.Description()
	meta, err := st.PutPlugin(ctx, store.PluginMeta{Name: d.Name, Version: d.Version, ABIVersion: abi.VersionString(p.ABIVersion()), Description: d}, wasm)
	if err != nil {
		t.Fatal(err)
	}
	end := time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)
	n := 2 * 1440
	ts := make([]int64, n)
	ys := make([]float64, n)
	for i := range n {
		ts[i] = end.Add(-time.Duration(n-1-i) * time.Minute).UnixMilli()
		ys[i] = 100 + 50*math.Sin(2*math.Pi*float64(i%1440)/1440)
	}
	resp, err := p.Train(ctx, &abi.TrainRequest{Timestamps: ts, Values: ys})
	if err != nil {
		t.Fatal(err)
	}
	man, err := st.PutModel(ctx, store.Manifest{
		Model:   store.ModelRef{Namespace: "team-a", Name: "cpu"},
		Version: "v0001",
		Plugin:  store.PluginRef{Name: meta.Name, Version: meta.Version, SHA256: meta.SHA256},
		Data:    store.DataWindow{Source: "test", Start: time.UnixMilli(ts[0]), End: end, Step: store.Duration(time.Minute), Points: n},
		Gate:    store.Gate{Accepted: true},
		Policy:  pol,
	}, resp.Model)
	if err != nil {
		t.Fatal(err)
	}
	return dir, man.Version
}
