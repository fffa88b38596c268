package runtime_test

import (
	"context"
	"testing"

	"github.com/ppa-autoscaler/ppa/host/store"
	"github.com/ppa-autoscaler/ppa/test/testenv"
)

// TestServesFromSeaweedFS serves a model from a store on SeaweedFS's S3
// gateway, as from MinIO: the forecast over both protocols, then a new
// version picked up by polling.
func TestServesFromSeaweedFS(t *testing.T) {
	weed := testenv.SeaweedFS(t)
	bucket := weed.NewBucket(t)
	e := newEnv(t, "s3://"+bucket+"/ppa", store.S3Options{Endpoint: weed.Endpoint, Insecure: true, AccessKey: weed.AccessKey, SecretKey: weed.SecretKey})
	v1 := e.model(seasonalNaivePkg, "cpu", "v0001", nil, 100, 50)
	s := start(t, e.options("cpu"), true)
	now := e.clock.Now().Unix()
	aligned := now - now%stepSeconds
	wantDS := grid(aligned, 60, 11)

	got, err := s.restInfer("cpu", 600, ptr(aligned), nil)
	if err != nil {
		t.Fatalf("rest: %v", err)
	}
	checkForecast(t, e, v1, got, wantDS)
	got, err = s.grpcInfer(context.Background(), "cpu", true, 600, ptr(aligned), nil)
	if err != nil {
		t.Fatalf("grpc: %v", err)
	}
	checkForecast(t, e, v1, got, wantDS)

	v2 := e.model(seasonalNaivePkg, "cpu", "v0002", nil, 500, 10)
	waitFor(t, "version v0002 to serve", func() bool {
		f, err := s.restInfer("cpu", 600, ptr(aligned), nil)
		return err == nil && f.version == v2.Version
	})
	got, err = s.restInfer("cpu", 600, ptr(aligned), nil)
	if err != nil {
		t.Fatalf("rest after the reload: %v", err)
	}
	checkForecast(t, e, v2, got, wantDS)
}
