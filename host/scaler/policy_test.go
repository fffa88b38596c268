package scaler

import (
	"context"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/kedacore/keda/v2/pkg/scalers/externalscaler"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/ppa-autoscaler/ppa/host/decision"
	"github.com/ppa-autoscaler/ppa/host/policy"
)

// TestLearnedPolicy: without decision keys the scaler applies the policy
// the runtime serves with the forecast. The ramp's yhat is 100 + 10 per
// minute from t0, so the 5-minute window holds 100..150.
func TestLearnedPolicy(t *testing.T) {
	ctx := context.Background()
	floor := map[string]string{"reactiveQuery": "sum(rate(x[1m]))", "prometheusAddress": "http://prom:9090", "horizon": "5m"}
	predictive := func(d policy.Decision) *policy.Policy {
		return &policy.Policy{Mode: policy.ModePredictive, Forecaster: "seasonal-profile", Decision: &d}
	}
	reactive := &policy.Policy{Mode: policy.ModeReactive, Reason: "no candidate beats the HPA"}
	for _, tc := range []struct {
		name      string
		md        map[string]string
		pol       *policy.Policy
		polErr    error
		current   float64
		want      float64
		mode      string
		errCode   codes.Code
		errSubstr string
	}{
		// r = 130 − 100 = 30, gain 0.5: +15 → 115..165, margin +5: 170.
		{name: "anchored with margin", md: floor, pol: predictive(policy.Decision{Aggregation: decision.AggMax, Bound: decision.BoundYhat, ReactiveFloor: true, Anchor: true, AnchorGain: 0.5, Margin: 5}),
			current: 130, want: 170, mode: "predictive"},
		// A negative margin lowers the forecast (150 − 10); the trigger's
		// floor still holds the current value under it.
		{name: "negative margin, floor", md: floor, pol: predictive(policy.Decision{Aggregation: decision.AggMax, Bound: decision.BoundYhat, Margin: -10}),
			current: 145, want: 145, mode: "predictive"},
		{name: "negative margin", md: floor, pol: predictive(policy.Decision{Aggregation: decision.AggMax, Bound: decision.BoundYhat, Margin: -10}),
			current: 120, want: 140, mode: "predictive"},
		// Reactive: the current value, as the HPA would.
		{name: "reactive", md: floor, pol: reactive, current: 130, want: 130, mode: "reactive"},
		{name: "reactive without a current value", md: map[string]string{}, pol: reactive, mode: "reactive",
			errCode: codes.Unavailable, errSubstr: `set "reactiveQuery"`},
		// No usable policy: as for a missing forecast, the floor or KEDA's
		// fallback.
		{name: "invalid policy, floor", md: floor, polErr: fmt.Errorf("%w: model version v1: policy: mode \"x\"", ErrNoPolicy), current: 130, want: 130, mode: "invalid"},
		{name: "invalid policy", md: map[string]string{}, polErr: fmt.Errorf("%w: model version v1: the manifest holds no scaling policy", ErrNoPolicy), mode: "invalid",
			errCode: codes.Unavailable, errSubstr: "model version v1: the manifest holds no scaling policy"},
		// A decision key replaces the policy: mean of 100..150 = 125.
		{name: "trigger keys override", md: with(floor, "aggregation", "mean"), pol: reactive, current: 110, want: 125, mode: "trigger"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := &curveSource{clock: func() time.Time { return t0 }, f: ramp, policy: tc.pol, policyErr: tc.polErr}
			_, c, reg := newTestServer(t, src, &fakeReactive{v: tc.current}, &fakeClock{t: t0})
			resp, err := c.GetMetrics(ctx, &externalscaler.GetMetricsRequest{ScaledObjectRef: ref(tc.md)})
			if tc.errSubstr != "" {
				if status.Code(err) != tc.errCode || !strings.Contains(err.Error(), tc.errSubstr) {
					t.Fatalf("err = %v, want %s containing %q", err, tc.errCode, tc.errSubstr)
				}
			} else if err != nil {
				t.Fatal(err)
			} else if got := resp.MetricValues[0].MetricValueFloat; math.Abs(got-tc.want) > 1e-9 {
				t.Errorf("value = %v, want %v", got, tc.want)
			}
			if v := policyGauge(t, reg, tc.mode); v != 1 {
				t.Errorf("ppa_scaler_policy{mode=%q} = %v, want 1", tc.mode, v)
			}
		})
	}
}

func with(md map[string]string, kv ...string) map[string]string {
	m := map[string]string{}
	for k, v := range md {
		m[k] = v
	}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return m
}

// policyGauge reads ppa_scaler_policy for a mode.
func policyGauge(t *testing.T, reg *prometheus.Registry, mode string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "ppa_scaler_policy" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "mode" && l.GetValue() == mode {
					return m.GetGauge().GetValue()
				}
			}
		}
	}
	return math.NaN()
}
