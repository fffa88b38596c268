// Package e2e holds end-to-end tests that drive PPA's binaries' packages
// against real servers (MinIO, Prometheus) started as child processes.
package e2e

import (
	"context"
	"encoding/json"
	"math"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kedacore/keda/v2/pkg/scalers/externalscaler"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/ppa-autoscaler/ppa/abi"
	"github.com/ppa-autoscaler/ppa/host/decision"
	"github.com/ppa-autoscaler/ppa/host/engine"
	"github.com/ppa-autoscaler/ppa/host/policy"
	"github.com/ppa-autoscaler/ppa/host/runtime"
	"github.com/ppa-autoscaler/ppa/host/scaler"
	"github.com/ppa-autoscaler/ppa/host/store"
	"github.com/ppa-autoscaler/ppa/internal/testwasm"
	"github.com/ppa-autoscaler/ppa/test/testenv"
)

// scalerNow is the fixed "now" of the scaler tests: 17 s past a minute, so
// that the window [now, now+horizon] does not start on the model's grid.
var scalerNow = time.Date(2026, 11, 20, 9, 30, 17, 0, time.UTC)

const scalerNS = "shop"

type scalerClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *scalerClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *scalerClock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// scalerEnv is a MinIO-backed store with one trained seasonal-naive model,
// a runtime serving it, and the engine to compute expected forecasts.
type scalerEnv struct {
	st      store.Store
	eng     *engine.Engine
	plugin  *engine.Plugin
	model   []byte
	runtime *runtime.Server
	clock   *scalerClock
}

func newScalerEnv(t *testing.T) *scalerEnv {
	t.Helper()
	ctx := context.Background()
	m := testenv.MinIO(t)
	bucket := m.NewBucket(t)
	s3 := store.S3Options{Endpoint: m.Endpoint, Insecure: true, AccessKey: m.AccessKey, SecretKey: m.SecretKey}
	uri := "s3://" + bucket + "/ppa"
	st, err := store.Open(ctx, uri, store.WithS3(s3))
	if err != nil {
		t.Fatal(err)
	}
	eng, err := engine.New(ctx, engine.NewConfig().WithCallTimeout(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { eng.Close(context.Background()) })
	wasm := testwasm.Build(t, "./plugins/seasonalnaive/wasm")
	p, err := eng.Load(ctx, wasm, "")
	if err != nil {
		t.Fatal(err)
	}
	d := p.Description()
	meta, err := st.PutPlugin(ctx, store.PluginMeta{Name: d.Name, Version: d.Version, ABIVersion: abi.VersionString(p.ABIVersion()), Description: d}, wasm)
	if err != nil {
		t.Fatal(err)
	}
	// Three days of one-minute demand with a daily cycle, ending an hour before now.
	n := 3 * 24 * 60
	end := scalerNow.Truncate(time.Minute).Add(-time.Hour)
	ts := make([]int64, n)
	ys := make([]float64, n)
	for i := range n {
		at := end.Add(-time.Duration(n-1-i) * time.Minute)
		ts[i] = at.UnixMilli()
		ys[i] = 200 + 120*math.Sin(2*math.Pi*float64(at.Hour()*60+at.Minute())/1440) + float64((i*37)%13)
	}
	resp, err := p.Train(ctx, &abi.TrainRequest{Seed: 1, Timestamps: ts, Values: ys, Params: abi.Params{"season": "1d"}})
	if err != nil {
		t.Fatal(err)
	}
	// The stored policy reads the max of yhat, the rules a trigger without
	// decision keys used before policies: the tests below drive the learned
	// path through the real runtime, and its answers stay comparable with
	// the engine's own forecast.
	pol, err := json.Marshal(policy.Policy{Mode: policy.ModePredictive, Reason: "test", Forecaster: meta.Name,
		Decision: &policy.Decision{Aggregation: decision.AggMax, Bound: decision.BoundYhat}})
	if err != nil {
		t.Fatal(err)
	}
	_, err = st.PutModel(ctx, store.Manifest{
		Policy:  pol,
		Model:   store.ModelRef{Namespace: scalerNS, Name: "web"},
		Plugin:  store.PluginRef{Name: meta.Name, Version: meta.Version, SHA256: meta.SHA256},
		Data:    store.DataWindow{Source: "test", Start: time.UnixMilli(ts[0]).UTC(), End: end, Step: store.Duration(time.Minute), Points: n},
		Seed:    1,
		Gate:    store.Gate{Accepted: true},
		Trainer: store.TrainerInfo{Version: "test"},
	}, resp.Model)
	if err != nil {
		t.Fatal(err)
	}
	clock := &scalerClock{t: scalerNow}
	o := runtime.NewOptions()
	o.ListenAddress = "127.0.0.1"
	o.HTTPPort, o.GRPCPort = 0, 0
	o.StoreURI, o.S3 = uri, s3
	o.Models = []string{scalerNS + "/web"}
	o.Namespace = scalerNS
	o.Now = clock.Now
	rt, err := runtime.New(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	if err := rt.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = rt.Shutdown(sctx)
	})
	for deadline := time.Now().Add(time.Minute); !rt.Ready(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("runtime not ready after a minute: %+v", rt.Models())
		}
	}
	return &scalerEnv{st: st, eng: eng, plugin: p, model: resp.Model, runtime: rt, clock: clock}
}

// expected aggregates the engine's own forecast over [now, now+horizon] on
// the grid the runtime answers on: the model's one-minute step, anchored at
// the runtime's now rounded down to the step.
func (e *scalerEnv) expected(t *testing.T, now time.Time, horizon time.Duration, agg, bound string) float64 {
	t.Helper()
	var ms []int64
	for at := now.Truncate(time.Minute); !at.After(now.Add(horizon)); at = at.Add(time.Minute) {
		if !at.Before(now) {
			ms = append(ms, at.Unix()*1000)
		}
	}
	resp, err := e.plugin.Predict(context.Background(), &abi.PredictRequest{Model: e.model, Seed: 1, Timestamps: ms})
	if err != nil {
		t.Fatal(err)
	}
	vals := resp.Yhat
	switch bound {
	case "upper":
		vals = resp.Upper
	case "lower":
		vals = resp.Lower
	}
	switch agg {
	case "mean":
		s := 0.0
		for _, v := range vals {
			s += v
		}
		return s / float64(len(vals))
	case "last":
		return vals[len(vals)-1]
	}
	m := math.Inf(-1)
	for _, v := range vals {
		m = math.Max(m, v)
	}
	return m
}

// startKEDAScaler serves a scaler on loopback and returns KEDA's client.
func startKEDAScaler(t *testing.T, cfg scaler.Config) (*scaler.Server, externalscaler.ExternalScalerClient) {
	t.Helper()
	s, err := scaler.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	cc := testenv.ServeGRPC(t, func(g grpc.ServiceRegistrar) { externalscaler.RegisterExternalScalerServer(g, s) })
	return s, externalscaler.NewExternalScalerClient(cc)
}

func soRef(md map[string]string) *externalscaler.ScaledObjectRef {
	m := map[string]string{"modelName": "web", "targetValue": "40"}
	for k, v := range md {
		m[k] = v
	}
	return &externalscaler.ScaledObjectRef{Name: "web", Namespace: scalerNS, ScalerMetadata: m}
}

func metricValue(t *testing.T, c externalscaler.ExternalScalerClient, md map[string]string) (float64, error) {
	t.Helper()
	resp, err := c.GetMetrics(context.Background(), &externalscaler.GetMetricsRequest{ScaledObjectRef: soRef(md), MetricName: "ppa-shop-web"})
	if err != nil {
		return 0, err
	}
	if len(resp.MetricValues) != 1 {
		t.Fatalf("GetMetrics returned %d values", len(resp.MetricValues))
	}
	return resp.MetricValues[0].MetricValueFloat, nil
}

func TestScalerAgainstRealRuntime(t *testing.T) {
	e := newScalerEnv(t)
	// Prometheus holds the current demand for the reactive floor: 900 at
	// now−30s, 1200 from now+2m.
	prom := testenv.Prometheus(t, testenv.OpenMetrics("demand_per_minute", map[string]string{"app": "web"},
		[]int64{scalerNow.Add(-90 * time.Second).UnixMilli(), scalerNow.Add(-30 * time.Second).UnixMilli(), scalerNow.Add(2 * time.Minute).UnixMilli()},
		[]float64{880, 900, 1200}))
	client := scaler.NewOIPClient(5*time.Second, nil)
	t.Cleanup(func() { client.Close() })
	s, c := startKEDAScaler(t, scaler.Config{
		RuntimeAddress: e.runtime.GRPCAddr(), Forecasts: client, Reactive: &scaler.PrometheusReactive{},
		Clock: e.clock.Now, StreamInterval: 20 * time.Millisecond,
	})
	ctx := context.Background()

	spec, err := c.GetMetricSpec(ctx, soRef(nil))
	if err != nil {
		t.Fatal(err)
	}
	if got := spec.MetricSpecs[0]; got.MetricName != "ppa-shop-web" || got.TargetSizeFloat != 40 {
		t.Fatalf("metric spec = %v", got)
	}

	for _, agg := range []string{"max", "mean", "last"} {
		for _, bound := range []string{"yhat", "upper", "lower"} {
			for _, horizon := range []string{"5", "15m"} {
				md := map[string]string{"aggregation": agg, "bound": bound, "horizon": horizon}
				got, err := metricValue(t, c, md)
				if err != nil {
					t.Fatalf("%v: %v", md, err)
				}
				h := 5 * time.Minute
				if horizon == "15m" {
					h = 15 * time.Minute
				}
				want := math.Max(0, e.expected(t, scalerNow, h, agg, bound))
				if math.Abs(got-want) > 1e-9*math.Max(1, math.Abs(want)) {
					t.Errorf("%s of %s over %s = %v, want %v", agg, bound, horizon, got, want)
				}
			}
		}
	}

	floor := map[string]string{"reactiveQuery": `demand_per_minute{app="web"}`, "prometheusAddress": prom.URL}
	t.Run("reactive floor from real Prometheus", func(t *testing.T) {
		got, err := metricValue(t, c, floor)
		if err != nil || got != 900 {
			t.Fatalf("value = %v, %v; want the current 900 above the forecast", got, err)
		}
		withQuery := map[string]string{"reactiveQuery": `demand_per_minute{app="web"} / 10`, "prometheusAddress": prom.URL}
		want := e.expected(t, scalerNow, 5*time.Minute, "max", "yhat")
		if got, err := metricValue(t, c, withQuery); err != nil || math.Abs(got-want) > 1e-9*want {
			t.Fatalf("value = %v, %v; want the forecast %v above the current 90", got, err, want)
		}
	})
	t.Run("forecastOnly returns the reactive value", func(t *testing.T) {
		md := map[string]string{"mode": "forecastOnly", "reactiveQuery": `demand_per_minute{app="web"} / 10`, "prometheusAddress": prom.URL}
		if got, err := metricValue(t, c, md); err != nil || got != 90 {
			t.Fatalf("value = %v, %v; want 90", got, err)
		}
	})
	t.Run("StreamIsActive pushes a change", func(t *testing.T) {
		sctx, cancel := context.WithTimeout(ctx, time.Minute)
		defer cancel()
		// Active above 1000: the forecast stays far below, the current
		// demand is 900 now and 1200 three minutes later.
		md := map[string]string{"activationValue": "1000", "reactiveQuery": `demand_per_minute{app="web"}`, "prometheusAddress": prom.URL}
		stream, err := c.StreamIsActive(sctx, soRef(md))
		if err != nil {
			t.Fatal(err)
		}
		first, err := stream.Recv()
		if err != nil || first.Result {
			t.Fatalf("first = %v, %v; want inactive", first, err)
		}
		e.clock.Add(3 * time.Minute)
		defer e.clock.Add(-3 * time.Minute)
		second, err := stream.Recv()
		if err != nil || !second.Result {
			t.Fatalf("second = %v, %v; want active once the demand is 1200", second, err)
		}
	})
	t.Run("runtime slow past the deadline", func(t *testing.T) {
		// A listener that accepts and never answers: every call hits its deadline.
		lis, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer lis.Close()
		go func() {
			for {
				conn, err := lis.Accept()
				if err != nil {
					return
				}
				defer conn.Close()
			}
		}()
		slow := scaler.NewOIPClient(300*time.Millisecond, nil)
		defer slow.Close()
		_, c2 := startKEDAScaler(t, scaler.Config{RuntimeAddress: lis.Addr().String(), Forecasts: slow, Reactive: &scaler.PrometheusReactive{}, Clock: e.clock.Now})
		start := time.Now()
		_, err = metricValue(t, c2, nil)
		if status.Code(err) != codes.Unavailable || !strings.Contains(err.Error(), "DeadlineExceeded") {
			t.Fatalf("err = %v, want Unavailable after the deadline", err)
		}
		if time.Since(start) > 20*time.Second {
			t.Fatalf("the call took %v: the deadline did not apply", time.Since(start))
		}
		if got, err := metricValue(t, c2, floor); err != nil || got != 900 {
			t.Fatalf("with a floor: %v, %v; want 900", got, err)
		}
	})
	t.Run("model missing", func(t *testing.T) {
		_, err := metricValue(t, c, map[string]string{"modelName": "nope"})
		if status.Code(err) != codes.Unavailable || !strings.Contains(err.Error(), "not served") {
			t.Fatalf("err = %v, want Unavailable: model not served", err)
		}
	})
	t.Run("Prometheus down with a floor: the forecast alone", func(t *testing.T) {
		dead := map[string]string{"reactiveQuery": "up", "prometheusAddress": "http://" + closedAddr(t)}
		want := e.expected(t, scalerNow, 5*time.Minute, "max", "yhat")
		if got, err := metricValue(t, c, dead); err != nil || math.Abs(got-want) > 1e-9*want {
			t.Fatalf("value = %v, %v; want the forecast %v", got, err, want)
		}
	})
	t.Run("runtime down: cached curve until stale, then Unavailable or the floor", func(t *testing.T) {
		md := map[string]string{"maxForecastAge": "2m", "horizon": "1m"}
		if _, err := metricValue(t, c, md); err != nil {
			t.Fatal(err)
		}
		sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		if err := e.runtime.Shutdown(sctx); err != nil {
			t.Fatal(err)
		}
		e.clock.Add(time.Minute)
		s.Refresh(ctx) // fails; the cached curve is one minute old and still covers the window
		if _, err := metricValue(t, c, md); err != nil {
			t.Fatalf("within maxForecastAge: %v", err)
		}
		e.clock.Add(2 * time.Minute)
		s.Refresh(ctx)
		_, err := metricValue(t, c, md)
		if status.Code(err) != codes.Unavailable || !strings.Contains(err.Error(), "stale") {
			t.Fatalf("err = %v, want Unavailable: stale", err)
		}
		for k, v := range map[string]string{"reactiveQuery": "vector(123)", "prometheusAddress": prom.URL} {
			md[k] = v
		}
		if got, err := metricValue(t, c, md); err != nil || got != 123 {
			t.Fatalf("with a floor: %v, %v; want 123", got, err)
		}
	})
}

// closedAddr returns a loopback address nothing listens on.
func closedAddr(t *testing.T) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := lis.Addr().String()
	lis.Close()
	return addr
}
