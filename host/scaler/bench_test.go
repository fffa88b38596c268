package scaler

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kedacore/keda/v2/pkg/scalers/externalscaler"
)

func benchServer(b *testing.B) (*Server, externalscaler.ExternalScalerClient) {
	b.Helper()
	clk := &fakeClock{t: t0}
	s, err := New(Config{RuntimeAddress: "runtime:8081", Forecasts: &curveSource{clock: clk.Now, f: ramp, bounds: true}, Clock: clk.Now})
	if err != nil {
		b.Fatal(err)
	}
	return s, startScaler(b, s)
}

// BenchmarkGetMetricsPaced sends GetMetrics over loopback gRPC at a steady
// 500 requests per second, answered from the forecast cache, and reports
// the latency percentiles.
func BenchmarkGetMetricsPaced(b *testing.B) {
	_, c := benchServer(b)
	ctx := context.Background()
	req := &externalscaler.GetMetricsRequest{ScaledObjectRef: ref(map[string]string{"horizon": "5m"}), MetricName: "ppa-shop-web"}
	if _, err := c.GetMetrics(ctx, req); err != nil { // warm the cache
		b.Fatal(err)
	}
	const rate = 500
	n := 2 * rate // two seconds per iteration
	lat := make([]time.Duration, 0, n*b.N)
	b.ResetTimer()
	for range b.N {
		tick := time.NewTicker(time.Second / rate)
		var mu sync.Mutex
		var wg sync.WaitGroup
		for range n {
			<-tick.C
			wg.Go(func() {
				start := time.Now()
				if _, err := c.GetMetrics(ctx, req); err != nil {
					b.Error(err)
				}
				d := time.Since(start)
				mu.Lock()
				lat = append(lat, d)
				mu.Unlock()
			})
		}
		wg.Wait()
		tick.Stop()
	}
	b.StopTimer()
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
}

// BenchmarkGetMetrics10kScaledObjects measures throughput with 10,000
// distinct ScaledObjects, each on its own model (so 10,000 cached curves),
// from 64 concurrent clients.
func BenchmarkGetMetrics10kScaledObjects(b *testing.B) {
	s, c := benchServer(b)
	ctx := context.Background()
	const objects = 10000
	reqs := make([]*externalscaler.GetMetricsRequest, objects)
	for i := range reqs {
		r := ref(map[string]string{"modelName": fmt.Sprintf("model-%d", i)})
		r.Name = fmt.Sprintf("so-%d", i)
		reqs[i] = &externalscaler.GetMetricsRequest{ScaledObjectRef: r}
		if _, err := c.GetMetrics(ctx, reqs[i]); err != nil {
			b.Fatal(err)
		}
	}
	if got := s.cache.len(); got != objects {
		b.Fatalf("%d cached curves, want %d", got, objects)
	}
	var next atomic.Int64
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	for range 64 {
		wg.Go(func() {
			for {
				i := next.Add(1) - 1
				if i >= int64(b.N) {
					return
				}
				if _, err := c.GetMetrics(ctx, reqs[i%objects]); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "req/s")
}
