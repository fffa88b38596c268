package scaler

import (
	"context"
	"net"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/kedacore/keda/v2/pkg/scalers/externalscaler"
	"google.golang.org/grpc"

	"github.com/ppa-autoscaler/ppa/host/runtime/inferencepb"
)

// hangSource is a runtime that froze (SIGSTOP): once frozen, every call
// hangs until its context ends.
type hangSource struct {
	curveSource
	mu     sync.Mutex
	frozen bool
}

func (h *hangSource) freeze() { h.mu.Lock(); h.frozen = true; h.mu.Unlock() }

func (h *hangSource) Forecast(ctx context.Context, address, model string, start time.Time, horizon time.Duration) (*Forecast, error) {
	h.mu.Lock()
	frozen := h.frozen
	h.mu.Unlock()
	if frozen {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	return h.curveSource.Forecast(ctx, address, model, start, horizon)
}

// TestFrozenRuntimeAnswersWithinBudget freezes the runtime: GetMetrics and
// IsActive still answer, from the cached forecast while a refresh hangs,
// and from the reactive floor when there is no forecast yet, instead of
// waiting for the runtime until KEDA's deadline passes.
func TestFrozenRuntimeAnswersWithinBudget(t *testing.T) {
	floorMD := map[string]string{"reactiveQuery": "up", "prometheusAddress": "http://prom:9090"}
	newServer := func(t *testing.T, src ForecastSource, clk *fakeClock) (*Server, externalscaler.ExternalScalerClient) {
		s, err := New(Config{RuntimeAddress: "runtime:8081", Forecasts: src, Reactive: &fakeReactive{v: 77}, Clock: clk.Now,
			AnswerBudget: 50 * time.Millisecond, FetchTimeout: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		return s, startScaler(t, s)
	}
	// Every call gets far longer than the budget; a scaler that waits for
	// the frozen runtime runs into this deadline and fails.
	call := func(t *testing.T) context.Context {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		t.Cleanup(cancel)
		return ctx
	}

	t.Run("no forecast yet: the floor", func(t *testing.T) {
		clk := &fakeClock{t: t0}
		src := &hangSource{curveSource: curveSource{clock: clk.Now, f: ramp}}
		src.freeze()
		_, c := newServer(t, src, clk)
		resp, err := c.GetMetrics(call(t), &externalscaler.GetMetricsRequest{ScaledObjectRef: ref(floorMD)})
		if err != nil || resp.MetricValues[0].MetricValueFloat != 77 {
			t.Fatalf("resp = %v, err = %v; want the floor 77", resp, err)
		}
		act, err := c.IsActive(call(t), ref(floorMD))
		if err != nil || !act.Result {
			t.Fatalf("IsActive = %v, %v; want active from the floor", act, err)
		}
	})
	t.Run("refresh hangs: the cached forecast", func(t *testing.T) {
		clk := &fakeClock{t: t0}
		src := &hangSource{curveSource: curveSource{clock: clk.Now, f: ramp}}
		s, c := newServer(t, src, clk)
		if _, err := c.GetMetrics(call(t), &externalscaler.GetMetricsRequest{ScaledObjectRef: ref(nil)}); err != nil {
			t.Fatal(err)
		}
		src.freeze()
		refreshCtx, stopRefresh := context.WithCancel(context.Background())
		refreshed := make(chan struct{})
		go func() { s.Refresh(refreshCtx); close(refreshed) }()
		t.Cleanup(func() { stopRefresh(); <-refreshed })
		for range 3 {
			resp, err := c.GetMetrics(call(t), &externalscaler.GetMetricsRequest{ScaledObjectRef: ref(nil)})
			if err != nil || resp.MetricValues[0].MetricValueFloat != 150 {
				t.Fatalf("resp = %v, err = %v; want the cached forecast 150", resp, err)
			}
			if act, err := c.IsActive(call(t), ref(nil)); err != nil || !act.Result {
				t.Fatalf("IsActive = %v, %v", act, err)
			}
		}
	})
	t.Run("no forecast, no floor: Unavailable within the budget", func(t *testing.T) {
		clk := &fakeClock{t: t0}
		src := &hangSource{curveSource: curveSource{clock: clk.Now, f: ramp}}
		src.freeze()
		_, c := newServer(t, src, clk)
		ctx := call(t)
		_, err := c.GetMetrics(ctx, &externalscaler.GetMetricsRequest{ScaledObjectRef: ref(nil)})
		if ctx.Err() != nil || err == nil {
			t.Fatalf("err = %v (call context: %v); want Unavailable before the caller's deadline", err, ctx.Err())
		}
	})
}

// oipStub is a runtime that answers every ModelInfer with a flat curve.
type oipStub struct {
	inferencepb.UnimplementedGRPCInferenceServiceServer
}

func (oipStub) ModelInfer(_ context.Context, req *inferencepb.ModelInferRequest) (*inferencepb.ModelInferResponse, error) {
	return &inferencepb.ModelInferResponse{ModelName: req.GetModelName(), ModelVersion: "v1",
		Outputs: []*inferencepb.ModelInferResponse_InferOutputTensor{
			{Name: "ds", Datatype: "INT64", Shape: []int64{1}, Contents: &inferencepb.InferTensorContents{Int64Contents: []int64{1}}},
			{Name: "yhat", Datatype: "FP64", Shape: []int64{1}, Contents: &inferencepb.InferTensorContents{Fp64Contents: []float64{1}}},
		}}, nil
}

// serveStub serves an oipStub on addr ("127.0.0.1:0" picks a port).
func serveStub(tb testing.TB, addr string) (*grpc.Server, string) {
	tb.Helper()
	var lis net.Listener
	var err error
	for range 50 { // the old listener's port may take a moment to free
		if lis, err = net.Listen("tcp", addr); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		tb.Fatal(err)
	}
	g := grpc.NewServer()
	inferencepb.RegisterGRPCInferenceServiceServer(g, oipStub{})
	go g.Serve(lis)
	return g, lis.Addr().String()
}

// TestClientReconnectsAfterRuntimeRestart stops the runtime, lets calls
// fail for a while, starts it again on the same address: the client
// recovers without being recreated.
func TestClientReconnectsAfterRuntimeRestart(t *testing.T) {
	recovery := measureReconnect(t, 3*time.Second)
	t.Logf("recovered %v after the restart", recovery)
}

// measureReconnect runs the restart scenario with the runtime down for
// down, polling like a refresh loop every 100ms, and returns the time from
// the restart to the first successful call.
func measureReconnect(tb testing.TB, down time.Duration) time.Duration {
	g, addr := serveStub(tb, "127.0.0.1:0")
	c := NewOIPClient(time.Second, nil)
	defer c.Close()
	call := func() error {
		_, err := c.Forecast(context.Background(), addr, "ns/m", time.Time{}, time.Minute)
		return err
	}
	if err := call(); err != nil {
		tb.Fatal(err)
	}
	g.Stop()
	for end := time.Now().Add(down); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
		if call() == nil {
			tb.Fatal("a call succeeded while the runtime was down")
		}
	}
	g, _ = serveStub(tb, addr)
	defer g.Stop()
	restarted := time.Now()
	for deadline := restarted.Add(3 * time.Minute); call() != nil; time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			tb.Fatal("the client did not reconnect within 3 minutes of the restart")
		}
	}
	return time.Since(restarted)
}

// BenchmarkReconnectAfterRestart reports how long after a runtime restart
// the scaler's client answers again (recover-ms), the runtime having been
// down for PPA_RECONNECT_DOWN (default 20s).
func BenchmarkReconnectAfterRestart(b *testing.B) {
	down := 20 * time.Second
	if v := os.Getenv("PPA_RECONNECT_DOWN"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			b.Fatal(err)
		}
		down = d
	}
	var total time.Duration
	for b.Loop() {
		total += measureReconnect(b, down)
	}
	b.ReportMetric(float64(total.Milliseconds())/float64(b.N), "recover-ms")
}

// nsRecorder is an oipStub that records the namespace parameter.
type nsRecorder struct {
	oipStub
	got chan string
}

func (r nsRecorder) ModelInfer(ctx context.Context, req *inferencepb.ModelInferRequest) (*inferencepb.ModelInferResponse, error) {
	r.got <- req.GetModelName() + " in " + req.GetParameters()["namespace"].GetStringParam()
	return r.oipStub.ModelInfer(ctx, req)
}

// TestClientSendsNamespace checks that the model's namespace travels with
// the request (the runtime refuses another namespace's model), so that
// modelNamespace counts with a runtime address too.
func TestClientSendsNamespace(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g := grpc.NewServer()
	rec := nsRecorder{got: make(chan string, 1)}
	inferencepb.RegisterGRPCInferenceServiceServer(g, rec)
	go g.Serve(lis)
	t.Cleanup(g.Stop)
	c := NewOIPClient(10*time.Second, nil)
	t.Cleanup(func() { c.Close() })
	if _, err := c.Forecast(context.Background(), lis.Addr().String(), "shop/web", time.Time{}, time.Minute); err != nil {
		t.Fatal(err)
	}
	if got := <-rec.got; got != "web in shop" {
		t.Fatalf("runtime got %q, want %q", got, "web in shop")
	}
}
