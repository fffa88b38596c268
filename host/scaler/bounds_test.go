package scaler

import (
	"context"
	"math"
	"testing"
	"time"

	"github.com/kedacore/keda/v2/pkg/scalers/externalscaler"
)

// TestIntegersDoNotOverflow gives the largest target value allowed and a
// forecast of 1e300: the integer fields KEDA reads saturate instead of
// wrapping to -2^63, and a target of 1e300 is refused.
func TestIntegersDoNotOverflow(t *testing.T) {
	clk := &fakeClock{t: t0}
	src := &curveSource{clock: clk.Now, f: func(time.Time) (float64, float64, float64) { return 1e300, 0, 0 }}
	_, c, _ := newTestServer(t, src, nil, clk)
	ctx := context.Background()
	r := ref(map[string]string{"targetValue": "1e15"})
	spec, err := c.GetMetricSpec(ctx, r)
	if err != nil {
		t.Fatal(err)
	}
	if got := spec.MetricSpecs[0].TargetSize; got != 1e15 {
		t.Fatalf("targetSize %d, want 1e15", got)
	}
	resp, err := c.GetMetrics(ctx, &externalscaler.GetMetricsRequest{ScaledObjectRef: r})
	if err != nil {
		t.Fatal(err)
	}
	if got := resp.MetricValues[0].MetricValue; got != math.MaxInt64 {
		t.Fatalf("metricValue %d for a forecast of 1e300, want it saturated at 2^63-1", got)
	}
	if _, err := c.GetMetricSpec(ctx, ref(map[string]string{"targetValue": "1e300"})); err == nil {
		t.Fatal("targetValue 1e300 accepted")
	}
}

func TestCeilInt64(t *testing.T) {
	for _, c := range []struct {
		v    float64
		want int64
	}{
		{0.2, 1}, {-0.5, 0}, {1e300, math.MaxInt64}, {-1e300, math.MinInt64}, {math.Inf(1), math.MaxInt64},
		{math.NaN(), 0}, {9.2e18, 9200000000000000000},
	} {
		if got := ceilInt64(c.v); got != c.want {
			t.Errorf("ceilInt64(%g) = %d, want %d", c.v, got, c.want)
		}
	}
}
