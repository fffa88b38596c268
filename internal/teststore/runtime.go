package teststore

import (
	"context"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/ppa-autoscaler/ppa/host/runtime"
)

// StartRuntime starts a runtime with o, shuts it down when the test ends,
// and waits (a minute at most) until it is ready, the way the tests that
// serve a stored model need it.
func StartRuntime(t testing.TB, o runtime.Options) *runtime.Server {
	t.Helper()
	ctx := context.Background()
	srv, err := runtime.New(ctx, o)
	if err != nil {
		t.Fatalf("runtime.New: %v", err)
	}
	if err := srv.Start(ctx); err != nil {
		t.Fatalf("runtime.Start: %v", err)
	}
	t.Cleanup(func() {
		sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := srv.Shutdown(sctx); err != nil {
			t.Errorf("runtime shutdown: %v", err)
		}
	})
	for deadline := time.Now().Add(time.Minute); !srv.Ready(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("runtime not ready after a minute: %+v", srv.Models())
		}
	}
	return srv
}

// ServeSeasonalNaive stores SeasonalNaiveWithPolicy's model team-a/cpu with
// pol as its policy and starts a runtime on loopback serving it alone, with
// a compilation cache of the test's own.
func ServeSeasonalNaive(t testing.TB, pol []byte) *runtime.Server {
	t.Helper()
	dir, _ := SeasonalNaiveWithPolicy(t, pol)
	o := runtime.NewOptions()
	o.ListenAddress = "127.0.0.1"
	o.HTTPPort, o.GRPCPort = 0, 0
	o.StoreURI = dir
	o.Models = []string{"team-a/cpu"}
	o.PollInterval = 0
	o.CacheDir = filepath.Join(t.TempDir(), "cache")
	o.Logger = slog.New(slog.DiscardHandler)
	return StartRuntime(t, o)
}
