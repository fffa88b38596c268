package teststore

import (
	"context"
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
