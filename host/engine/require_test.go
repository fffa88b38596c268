package engine

import (
	"runtime"
	"testing"
)

// requireWorkers stops a test that needs worker processes where they
// cannot run: a failure on Linux, where the engine promises them (a
// machine there without seccomp is a setup to fix, not a test to skip),
// a skip elsewhere.
func requireWorkers(tb testing.TB) {
	tb.Helper()
	if err := processIsolationSupported(); err != nil {
		if runtime.GOOS == "linux" {
			tb.Fatalf("worker processes unavailable on Linux: %v", err)
		}
		tb.Skip(err)
	}
}

// RequireWorkers is requireWorkers for the package's external tests.
var RequireWorkers = requireWorkers
