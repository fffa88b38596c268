package engine_test

import (
	"context"
	"math"
	"testing"

	"github.com/ppa-autoscaler/ppa/abi"
)

// TestSDKMemoryStaysBounded makes many calls on one instance of a Go plugin:
// the SDK must let the guest's garbage collector reclaim request and result
// buffers, or the instance runs into its memory limit and traps.
func TestSDKMemoryStaysBounded(t *testing.T) {
	calls := 600
	if testing.Short() {
		calls = 200
	}
	// 64 MiB, one instance: each call moves about 100 KB in and out.
	e := newEngine(t, testConfig().WithMemoryLimitPages(1024).WithPoolSize(1))
	ctx := context.Background()
	p, err := e.Load(ctx, guest(t, "echo"), "")
	if err != nil {
		t.Fatal(err)
	}
	n := 6000
	req := &abi.PredictRequest{Model: make([]byte, 8), Timestamps: make([]int64, n)}
	for i := range req.Timestamps {
		req.Timestamps[i] = int64(i) * 60000
	}
	for i := range calls {
		resp, err := p.Predict(ctx, req)
		if err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
		if len(resp.Yhat) != n || math.IsNaN(resp.Yhat[0]) {
			t.Fatalf("call %d: %d values", i, len(resp.Yhat))
		}
	}
	if st := p.Stats(); st.Instantiations != 1 {
		t.Fatalf("%d instantiations: an instance was replaced (it failed)", st.Instantiations)
	}
}
