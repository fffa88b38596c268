package trainer_test

import (
	"bufio"
	"context"
	"os"
	"runtime"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ppa-autoscaler/ppa/host/engine"
	"github.com/ppa-autoscaler/ppa/host/promsource"
	"github.com/ppa-autoscaler/ppa/host/series"
	"github.com/ppa-autoscaler/ppa/host/store"
	"github.com/ppa-autoscaler/ppa/host/trainer"
	"github.com/ppa-autoscaler/ppa/internal/testwasm"
	"github.com/ppa-autoscaler/ppa/test/testenv"
)

// BenchmarkRun14Days1m trains on 14 days of the NASA trace at one minute
// (20,160 points) read from a real Prometheus and stores the model in a
// real MinIO, once per plugin. Besides ns/op it reports each stage's wall
// time (fetch-s, backtest-s, fit-s, upload-s), the bytes allocated on the
// Go heap per run (alloc-MB), the peak live Go heap (peak-heap-MB, sampled
// every 10 ms) and the process's peak resident set (peak-rss-MB, VmHWM,
// reset before each run where the kernel allows; it includes the plugin's
// wasm memory and the compiled code).
//
//	go test -run '^$' -bench Run14Days1m -benchtime 3x ./host/trainer
func BenchmarkRun14Days1m(b *testing.B) {
	nasa, err := series.ReadFile(nasaCSV)
	if err != nil {
		b.Fatal(err)
	}
	prom := testenv.Prometheus(b, testenv.OpenMetrics("nasa_http_requests", map[string]string{"job": "nasa"}, nasa.T, nasa.Y))
	m := testenv.MinIO(b)
	bucket := m.NewBucket(b)
	ctx := context.Background()
	s, err := store.Open(ctx, "s3://"+bucket+"/bench?endpoint="+m.Endpoint+"&insecure=true",
		store.WithGetenv(func(string) string { return "" }),
		store.WithS3(store.S3Options{AccessKey: m.AccessKey, SecretKey: m.SecretKey}))
	if err != nil {
		b.Fatal(err)
	}
	for _, bc := range []struct {
		name, pkg string
		params    map[string]string
	}{
		{"seasonal-naive", "./plugins/seasonalnaive/wasm", map[string]string{"season": "1d"}},
		{"prophet", "./plugins/prophet/wasm", nil},
	} {
		b.Run(bc.name, func(b *testing.B) {
			wasm := testwasm.Build(b, bc.pkg)
			e, err := engine.New(ctx, engine.NewConfig())
			if err != nil {
				b.Fatal(err)
			}
			defer e.Close(ctx)
			// Compile outside the measured runs; the handle keeps it.
			if _, err := e.Load(ctx, wasm, ""); err != nil {
				b.Fatal(err)
			}
			o := trainer.Options{
				Model: store.ModelRef{Namespace: "bench", Name: bc.name},
				Prometheus: &trainer.PrometheusSource{
					Config:  promsource.Config{URL: prom.URL},
					Query:   `nasa_http_requests{job="nasa"}`,
					History: 14 * 24 * time.Hour,
					Step:    time.Minute,
					End:     nasa.Time(nasa.Len() - 1),
				},
				Plugin:  bc.name,
				Params:  bc.params,
				Store:   s,
				Engine:  e,
				Builtin: func(string) ([]byte, error) { return wasm, nil },
				Now:     time.Now,
			}
			var sum trainer.Timings
			var alloc, peakHeap, peakRSS float64
			b.ResetTimer()
			for b.Loop() {
				runtime.GC()
				resetPeakRSS()
				var before runtime.MemStats
				runtime.ReadMemStats(&before)
				stop := samplePeakHeap()
				res, err := trainer.Run(ctx, o)
				heap := stop()
				if err != nil {
					b.Fatal(err)
				}
				if res.Points != 20160 {
					b.Fatalf("%d points, want 20160", res.Points)
				}
				var after runtime.MemStats
				runtime.ReadMemStats(&after)
				alloc += float64(after.TotalAlloc - before.TotalAlloc)
				peakHeap = max(peakHeap, heap)
				peakRSS = max(peakRSS, peakRSSBytes(b))
				sum.Fetch += res.Timings.Fetch
				sum.Backtest += res.Timings.Backtest
				sum.Fit += res.Timings.Fit
				sum.Upload += res.Timings.Upload
			}
			n := float64(b.N)
			b.ReportMetric(sum.Fetch/n, "fetch-s")
			b.ReportMetric(sum.Backtest/n, "backtest-s")
			b.ReportMetric(sum.Fit/n, "fit-s")
			b.ReportMetric(sum.Upload/n, "upload-s")
			b.ReportMetric(alloc/n/(1<<20), "alloc-MB")
			b.ReportMetric(peakHeap/(1<<20), "peak-heap-MB")
			b.ReportMetric(peakRSS/(1<<20), "peak-rss-MB")
		})
	}
}

// samplePeakHeap samples the live Go heap every 10 ms until the returned
// function is called, which returns the largest sample.
func samplePeakHeap() func() float64 {
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	read := func() float64 {
		metrics.Read(sample)
		return float64(sample[0].Value.Uint64())
	}
	var mu sync.Mutex
	peak := read()
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(10 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				v := read()
				mu.Lock()
				peak = max(peak, v)
				mu.Unlock()
			}
		}
	}()
	return func() float64 {
		close(done)
		<-finished
		mu.Lock()
		defer mu.Unlock()
		return max(peak, read())
	}
}

// resetPeakRSS resets the kernel's peak RSS of this process (Linux 4.0+;
// silently nothing elsewhere or without permission).
func resetPeakRSS() { _ = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) }

// peakRSSBytes reads VmHWM from /proc/self/status.
func peakRSSBytes(b *testing.B) float64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		b.Logf("peak RSS unavailable: %v", err)
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 64)
			if err != nil {
				b.Fatalf("VmHWM %q: %v", rest, err)
			}
			return kb * 1024
		}
	}
	return 0
}
