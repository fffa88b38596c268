package scaler

import (
	"context"
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/kedacore/keda/v2/pkg/scalers/externalscaler"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// TestAnchor: with anchor, the served value is the forecast shifted by
// current − yhat(now). The ramp's yhat is 100 + 10 per minute from t0, the
// reactive value 130.
func TestAnchor(t *testing.T) {
	ctx := context.Background()
	floorMD := map[string]string{"reactiveQuery": "sum(rate(http_requests_total[1m]))", "prometheusAddress": "http://prom:9090", "horizon": "5m"}
	with := func(kv ...string) map[string]string {
		m := map[string]string{}
		for k, v := range floorMD {
			m[k] = v
		}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	tests := []struct {
		name     string
		now      time.Time
		md       map[string]string
		reactive *fakeReactive
		want     float64
		residual float64 // NaN: not anchored
		skipped  bool
	}{
		// Not anchored: max of 100..150 over [t0, t0+5m], above the floor 130.
		{name: "off", now: t0, md: with(), reactive: &fakeReactive{v: 130}, want: 150, residual: math.NaN()},
		// yhat(t0) = 100, r = +30: 130..180.
		{name: "max yhat", now: t0, md: with("anchor", "true"), reactive: &fakeReactive{v: 130}, want: 180, residual: 30},
		// upper = yhat + 5, shifted by the same 30.
		{name: "max upper", now: t0, md: with("anchor", "true", "bound", "upper"), reactive: &fakeReactive{v: 130}, want: 185, residual: 30},
		// At t0+30s the runtime's curve still starts at t0: yhat(now) is
		// interpolated, 105; r = +25; the window holds the points at 1..5
		// minutes, 110..150: max 175.
		{name: "between points", now: t0.Add(30 * time.Second), md: with("anchor", "true"), reactive: &fakeReactive{v: 130}, want: 175, residual: 25},
		// r = 60 − 100 = −40: mean of 60..110 is 85, above the floor 60.
		{name: "negative residual", now: t0, md: with("anchor", "true", "aggregation", "mean"), reactive: &fakeReactive{v: 60}, want: 85, residual: -40},
		// Half-life 1m: r = +30 adds 30, 15, 7.5, 3.75, 1.875, 0.9375 to
		// 100..150: 130, 125, 127.5, 133.75, 141.875, 150.9375.
		{name: "half-life", now: t0, md: with("anchor", "true", "anchorHalfLife", "1m"), reactive: &fakeReactive{v: 130}, want: 150.9375, residual: 30},
		// Prometheus down: neither floor nor anchor, the forecast alone.
		{name: "prometheus down", now: t0, md: with("anchor", "true"), reactive: &fakeReactive{err: errors.New("refused")}, want: 150, residual: math.NaN(), skipped: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			clk := &fakeClock{t: tc.now}
			src := &curveSource{clock: func() time.Time { return t0 }, f: ramp, bounds: true}
			s, c, reg := newTestServer(t, src, tc.reactive, clk)
			resp, err := c.GetMetrics(ctx, &externalscaler.GetMetricsRequest{ScaledObjectRef: ref(tc.md)})
			if err != nil {
				t.Fatal(err)
			}
			if got := resp.MetricValues[0].MetricValueFloat; math.Abs(got-tc.want) > 1e-9 {
				t.Errorf("value = %v, want %v", got, tc.want)
			}
			tr, err := ParseTrigger("shop/web", "shop", ref(tc.md).ScalerMetadata)
			if err != nil {
				t.Fatal(err)
			}
			tr.RuntimeAddress = "runtime:8081" // as the server's default fills it in
			ev, err := s.Evaluate(ctx, tr)
			if err != nil {
				t.Fatal(err)
			}
			if d := ev.Decision; !(math.IsNaN(tc.residual) && math.IsNaN(d.Residual) || d.Residual == tc.residual) || d.AnchorSkipped != tc.skipped {
				t.Errorf("residual %v skipped %v, want %v %v", d.Residual, d.AnchorSkipped, tc.residual, tc.skipped)
			}
			// The forecast gauge reports the anchored forecast.
			if v := gauge(t, reg, "ppa_scaler_forecast_value"); math.Abs(v-tc.want) > 1e-9 {
				t.Errorf("forecast_value gauge = %v, want %v", v, tc.want)
			}
		})
	}
}

func TestAnchorNeedsFloor(t *testing.T) {
	src := &curveSource{clock: func() time.Time { return t0 }, f: ramp}
	_, c, _ := newTestServer(t, src, &fakeReactive{v: 1}, &fakeClock{t: t0})
	_, err := c.GetMetrics(context.Background(), &externalscaler.GetMetricsRequest{ScaledObjectRef: ref(map[string]string{"anchor": "true"})})
	if status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), `metadata "anchor"`) {
		t.Fatalf("err = %v, want InvalidArgument naming the anchor key", err)
	}
}
