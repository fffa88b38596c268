package store_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"time"

	"github.com/ppa-autoscaler/ppa/host/store"
)

// A trainer stores a model; a runtime finds the newest accepted version.
func Example() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "ppa-store-example-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	now := time.Date(2026, 11, 29, 17, 6, 55, 0, time.UTC)
	s, err := store.Open(ctx, dir, store.WithClock(func() time.Time { return now }))
	if err != nil {
		log.Fatal(err)
	}
	ref := store.ModelRef{Namespace: "shop", Name: "checkout-rps"}
	m, err := s.PutModel(ctx, store.Manifest{
		Model:   ref,
		Version: "20261129T170655.000Z-000001",
		Plugin:  store.PluginRef{Name: "seasonal-naive", Version: "1.0.0"},
		Gate:    store.Gate{Accepted: true},
	}, []byte("opaque model bytes"))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("stored", m.Version, m.ModelSize, "bytes")

	latest, err := s.Latest(ctx, ref, true)
	if err != nil {
		log.Fatal(err)
	}
	_, model, err := s.GetModel(ctx, ref, latest.Version)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("serving %s: %q\n", latest.Version, model)
	// Output:
	// stored 20261129T170655.000Z-000001 18 bytes
	// serving 20261129T170655.000Z-000001: "opaque model bytes"
}
