package scaler

import (
	"context"
	"errors"
	"math"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kedacore/keda/v2/pkg/scalers/externalscaler"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/ppa-autoscaler/ppa/host/decision"
	"github.com/ppa-autoscaler/ppa/host/policy"
	"github.com/ppa-autoscaler/ppa/test/testenv"
)

// fakeClock is a settable clock.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// curveSource serves a forecast from a function of time, at one-minute
// steps from start (or from now, rounded down, like the runtime), or fails
// with err.
type curveSource struct {
	clock  func() time.Time
	mu     sync.Mutex
	f      func(t time.Time) (yhat, lo, hi float64)
	err    error
	calls  int
	bounds bool
	// policy is served with every forecast; nil serves plainPolicy, the
	// rules a trigger without decision keys used before policies.
	policy    *policy.Policy
	policyErr error
}

// plainPolicy reads the max of yhat over the horizon, without anchoring,
// margin or floor of its own.
var plainPolicy = &policy.Policy{Mode: policy.ModePredictive, Forecaster: "test",
	Decision: &policy.Decision{Aggregation: decision.AggMax, Bound: decision.BoundYhat}}

func (s *curveSource) Forecast(_ context.Context, address, model string, start time.Time, horizon time.Duration) (*Forecast, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls++
	if s.err != nil {
		return nil, s.err
	}
	out := &Forecast{Model: model, Version: "v1", Policy: s.policy, PolicyErr: s.policyErr}
	if out.Policy == nil && out.PolicyErr == nil {
		out.Policy = plainPolicy
	}
	if start.IsZero() {
		start = s.clock()
	}
	for t := start.Truncate(time.Minute); !t.After(start.Add(horizon)); t = t.Add(time.Minute) {
		y, lo, hi := s.f(t)
		out.DS = append(out.DS, t.Unix())
		out.Yhat = append(out.Yhat, y)
		if s.bounds {
			out.Lower = append(out.Lower, lo)
			out.Upper = append(out.Upper, hi)
		}
	}
	return out, nil
}

func (s *curveSource) set(err error) { s.mu.Lock(); s.err = err; s.mu.Unlock() }

type fakeReactive struct {
	mu  sync.Mutex
	v   float64
	err error
}

func (r *fakeReactive) Current(context.Context, string, string, time.Time) (float64, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.v, r.err
}

var t0 = time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)

// ramp: yhat grows by 10 per minute from 100 at t0; bounds ±5.
func ramp(t time.Time) (float64, float64, float64) {
	y := 100 + 10*t.Sub(t0).Minutes()
	return y, y - 5, y + 5
}

// startScaler serves s on a loopback port and returns a KEDA client.
func startScaler(t testing.TB, s *Server) externalscaler.ExternalScalerClient {
	t.Helper()
	cc := testenv.ServeGRPC(t, func(g grpc.ServiceRegistrar) { externalscaler.RegisterExternalScalerServer(g, s) })
	return externalscaler.NewExternalScalerClient(cc)
}

func ref(md map[string]string) *externalscaler.ScaledObjectRef {
	m := map[string]string{"modelName": "web", "targetValue": "50"}
	for k, v := range md {
		m[k] = v
	}
	return &externalscaler.ScaledObjectRef{Name: "web", Namespace: "shop", ScalerMetadata: m}
}

func newTestServer(t *testing.T, src ForecastSource, rs ReactiveSource, clk *fakeClock) (*Server, externalscaler.ExternalScalerClient, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	s, err := New(Config{RuntimeAddress: "runtime:8081", Forecasts: src, Reactive: rs, Clock: clk.Now,
		StreamInterval: 20 * time.Millisecond, Metrics: NewMetrics(reg)})
	if err != nil {
		t.Fatal(err)
	}
	return s, startScaler(t, s), reg
}

func TestGetMetricsAggregationsAndBounds(t *testing.T) {
	clk := &fakeClock{t: t0}
	src := &curveSource{clock: clk.Now, f: ramp, bounds: true}
	_, c, reg := newTestServer(t, src, nil, clk)
	ctx := context.Background()

	spec, err := c.GetMetricSpec(ctx, ref(nil))
	if err != nil {
		t.Fatal(err)
	}
	if len(spec.MetricSpecs) != 1 || spec.MetricSpecs[0].TargetSizeFloat != 50 || spec.MetricSpecs[0].MetricName != "ppa-shop-web" {
		t.Fatalf("spec = %v", spec)
	}
	// Horizon 5m at t0: points at 0..5 minutes: 100, 110, ..., 150.
	tests := []struct {
		agg, bound string
		want       float64
	}{
		{"max", "yhat", 150},
		{"mean", "yhat", 125},
		{"last", "yhat", 150},
		{"max", "upper", 155},
		{"mean", "lower", 120},
		{"last", "lower", 145},
	}
	for _, tc := range tests {
		resp, err := c.GetMetrics(ctx, &externalscaler.GetMetricsRequest{
			ScaledObjectRef: ref(map[string]string{"aggregation": tc.agg, "bound": tc.bound, "horizon": "5"}),
			MetricName:      "ppa-shop-web",
		})
		if err != nil {
			t.Fatalf("%s/%s: %v", tc.agg, tc.bound, err)
		}
		got := resp.MetricValues[0].MetricValueFloat
		if math.Abs(got-tc.want) > 1e-9 {
			t.Errorf("%s of %s = %v, want %v", tc.agg, tc.bound, got, tc.want)
		}
	}
	// One cached curve per (runtime, model, horizon): six evaluations, one fetch.
	if src.calls != 1 {
		t.Errorf("forecast fetched %d times, want 1 (answers come from the cache)", src.calls)
	}
	if v := gauge(t, reg, "ppa_scaler_served_value"); v != 145 {
		t.Errorf("served_value gauge = %v, want 145", v)
	}
}

// gauge returns the value of the single series of gauge name in reg.
func gauge(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name && len(mf.GetMetric()) == 1 {
			return mf.GetMetric()[0].GetGauge().GetValue()
		}
	}
	t.Fatalf("no single series %s", name)
	return 0
}

func TestFailSafe(t *testing.T) {
	ctx := context.Background()
	clk := &fakeClock{t: t0} // never advanced, except by the stale case's own clock
	floorMD := map[string]string{"reactiveQuery": "sum(rate(http_requests_total[1m]))", "prometheusAddress": "http://prom:9090"}

	t.Run("runtime down, no floor: Unavailable, never a made-up value", func(t *testing.T) {
		src := &curveSource{clock: clk.Now, f: ramp, err: errors.New("connection refused")}
		_, c, _ := newTestServer(t, src, nil, &fakeClock{t: t0})
		_, err := c.GetMetrics(ctx, &externalscaler.GetMetricsRequest{ScaledObjectRef: ref(nil)})
		if status.Code(err) != codes.Unavailable || !strings.Contains(err.Error(), "connection refused") {
			t.Fatalf("err = %v, want Unavailable naming the cause", err)
		}
	})
	t.Run("runtime down, floor: current value", func(t *testing.T) {
		src := &curveSource{clock: clk.Now, f: ramp, err: errors.New("connection refused")}
		_, c, _ := newTestServer(t, src, &fakeReactive{v: 77}, &fakeClock{t: t0})
		resp, err := c.GetMetrics(ctx, &externalscaler.GetMetricsRequest{ScaledObjectRef: ref(floorMD)})
		if err != nil || resp.MetricValues[0].MetricValueFloat != 77 {
			t.Fatalf("resp = %v, err = %v; want the floor 77", resp, err)
		}
	})
	t.Run("floor above forecast wins", func(t *testing.T) {
		src := &curveSource{clock: clk.Now, f: ramp}
		_, c, _ := newTestServer(t, src, &fakeReactive{v: 1000}, &fakeClock{t: t0})
		resp, err := c.GetMetrics(ctx, &externalscaler.GetMetricsRequest{ScaledObjectRef: ref(floorMD)})
		if err != nil || resp.MetricValues[0].MetricValueFloat != 1000 {
			t.Fatalf("resp = %v, err = %v", resp, err)
		}
	})
	t.Run("prometheus down with floor: forecast alone", func(t *testing.T) {
		src := &curveSource{clock: clk.Now, f: ramp}
		_, c, _ := newTestServer(t, src, &fakeReactive{err: errors.New("dial tcp: refused")}, &fakeClock{t: t0})
		resp, err := c.GetMetrics(ctx, &externalscaler.GetMetricsRequest{ScaledObjectRef: ref(floorMD)})
		if err != nil || resp.MetricValues[0].MetricValueFloat != 150 {
			t.Fatalf("resp = %v, err = %v; want the forecast 150", resp, err)
		}
	})
	t.Run("both down: Unavailable", func(t *testing.T) {
		src := &curveSource{clock: clk.Now, f: ramp, err: errors.New("connection refused")}
		_, c, _ := newTestServer(t, src, &fakeReactive{err: errors.New("refused")}, &fakeClock{t: t0})
		_, err := c.GetMetrics(ctx, &externalscaler.GetMetricsRequest{ScaledObjectRef: ref(floorMD)})
		if status.Code(err) != codes.Unavailable {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("stale forecast: Unavailable, then floor", func(t *testing.T) {
		clk := &fakeClock{t: t0}
		src := &curveSource{clock: clk.Now, f: ramp}
		s, c, _ := newTestServer(t, src, &fakeReactive{v: 5}, clk)
		md := map[string]string{"maxForecastAge": "2m", "horizon": "1m"}
		if _, err := c.GetMetrics(ctx, &externalscaler.GetMetricsRequest{ScaledObjectRef: ref(md)}); err != nil {
			t.Fatal(err)
		}
		src.set(errors.New("runtime unreachable"))
		clk.Add(3 * time.Minute)
		s.Refresh(ctx) // fails: the old curve stays, and is now too old
		_, err := c.GetMetrics(ctx, &externalscaler.GetMetricsRequest{ScaledObjectRef: ref(md)})
		if status.Code(err) != codes.Unavailable || !strings.Contains(err.Error(), "stale") {
			t.Fatalf("err = %v, want Unavailable: stale", err)
		}
		for k, v := range floorMD {
			md[k] = v
		}
		resp, err := c.GetMetrics(ctx, &externalscaler.GetMetricsRequest{ScaledObjectRef: ref(md)})
		if err != nil || resp.MetricValues[0].MetricValueFloat != 5 {
			t.Fatalf("resp = %v, err = %v; want the floor 5", resp, err)
		}
	})
	t.Run("upper bound without intervals: Unavailable", func(t *testing.T) {
		src := &curveSource{clock: clk.Now, f: ramp}
		_, c, _ := newTestServer(t, src, nil, &fakeClock{t: t0})
		_, err := c.GetMetrics(ctx, &externalscaler.GetMetricsRequest{ScaledObjectRef: ref(map[string]string{"bound": "upper"})})
		if status.Code(err) != codes.Unavailable || !strings.Contains(err.Error(), "interval") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("forecastOnly returns the reactive value", func(t *testing.T) {
		src := &curveSource{clock: clk.Now, f: ramp}
		_, c, reg := newTestServer(t, src, &fakeReactive{v: 42}, &fakeClock{t: t0})
		md := map[string]string{"mode": "forecastOnly"}
		for k, v := range floorMD {
			md[k] = v
		}
		resp, err := c.GetMetrics(ctx, &externalscaler.GetMetricsRequest{ScaledObjectRef: ref(md)})
		if err != nil || resp.MetricValues[0].MetricValueFloat != 42 {
			t.Fatalf("resp = %v, err = %v; want the reactive 42", resp, err)
		}
		if v := gauge(t, reg, "ppa_scaler_forecast_value"); v != 150 {
			t.Fatalf("forecast_value = %v, want 150 exported in dry run", v)
		}
	})
	t.Run("bad metadata: InvalidArgument naming the key", func(t *testing.T) {
		_, c, _ := newTestServer(t, &curveSource{clock: clk.Now, f: ramp}, nil, &fakeClock{t: t0})
		for key, md := range map[string]map[string]string{
			"targetValue": {"targetValue": ""},
			"horizon":     {"horizon": "later"},
			"aggregation": {"aggregation": "p95"},
		} {
			_, err := c.GetMetrics(ctx, &externalscaler.GetMetricsRequest{ScaledObjectRef: ref(md)})
			if status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), `"`+key+`"`) {
				t.Errorf("%s: err = %v", key, err)
			}
		}
	})
}

func TestIsActiveDoesNotFlap(t *testing.T) {
	clk := &fakeClock{t: t0}
	src := &curveSource{clock: clk.Now, f: ramp}
	s, c, _ := newTestServer(t, src, nil, clk)
	ctx := context.Background()
	md := map[string]string{"activationValue": "120", "horizon": "1m", "maxForecastAge": "1m"}
	// At t0 the 1-minute window peaks at 110: not active.
	resp, err := c.IsActive(ctx, ref(md))
	if err != nil || resp.Result {
		t.Fatalf("IsActive = %v, %v; want false", resp, err)
	}
	clk.Add(2 * time.Minute)
	s.Refresh(ctx)
	if resp, err = c.IsActive(ctx, ref(md)); err != nil || !resp.Result {
		t.Fatalf("IsActive = %v, %v; want true (window peaks at 130)", resp, err)
	}
	// The runtime fails; the forecast goes stale; within the grace the last answer holds.
	src.set(errors.New("runtime down"))
	clk.Add(2 * time.Minute)
	s.Refresh(ctx)
	if resp, err = c.IsActive(ctx, ref(md)); err != nil || !resp.Result {
		t.Fatalf("IsActive during grace = %v, %v; want the last answer true", resp, err)
	}
	clk.Add(10 * time.Minute)
	if _, err = c.IsActive(ctx, ref(md)); status.Code(err) != codes.Unavailable {
		t.Fatalf("IsActive after grace: err = %v, want Unavailable", err)
	}
}

func TestStreamIsActivePushesChanges(t *testing.T) {
	clk := &fakeClock{t: t0}
	src := &curveSource{clock: clk.Now, f: ramp}
	s, c, _ := newTestServer(t, src, nil, clk)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	md := map[string]string{"activationValue": "120", "horizon": "1m"}
	stream, err := c.StreamIsActive(ctx, ref(md))
	if err != nil {
		t.Fatal(err)
	}
	first, err := stream.Recv()
	if err != nil || first.Result {
		t.Fatalf("first = %v, %v; want false", first, err)
	}
	clk.Add(3 * time.Minute)
	s.Refresh(ctx)
	second, err := stream.Recv()
	if err != nil || !second.Result {
		t.Fatalf("second = %v, %v; want true after the change", second, err)
	}
	cancel()
}
