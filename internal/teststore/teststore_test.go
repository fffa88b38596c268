package teststore

import (
	"context"
	"testing"

	"github.com/ppa-autoscaler/ppa/host/store"
)

// TestSeasonalNaive reads back what SeasonalNaive stored.
func TestSeasonalNaive(t *testing.T) {
	ctx := context.Background()
	dir, version := SeasonalNaive(t)
	if version != "v0001" {
		t.Fatalf("version %q, want v0001", version)
	}
	st, err := store.Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	man, model, err := st.GetModel(ctx, store.ModelRef{Namespace: "team-a", Name: "cpu"}, version)
	if err != nil {
		t.Fatal(err)
	}
	if !man.Gate.Accepted || man.Plugin.Name != "seasonal-naive" || man.Data.Points != 2*1440 || len(model) == 0 {
		t.Fatalf("manifest %+v with a %d-byte model", man, len(model))
	}
}
