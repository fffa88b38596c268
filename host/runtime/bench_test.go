package runtime_test

import (
	"context"
	"fmt"
	goruntime "runtime"
	"sort"
	"testing"
	"time"

	"github.com/ppa-autoscaler/ppa/host/runtime"
)

// benchServer starts a runtime for a benchmark and waits until it is
// ready; stop shuts it down.
func benchServer(b *testing.B, opts runtime.Options) (s *server, stop func()) {
	b.Helper()
	ctx := context.Background()
	srv, err := runtime.New(ctx, opts)
	if err != nil {
		b.Fatal(err)
	}
	if err := srv.Start(ctx); err != nil {
		b.Fatal(err)
	}
	for !srv.Ready() {
		time.Sleep(time.Millisecond)
	}
	return &server{Server: srv, base: "http://" + srv.HTTPAddr()}, func() {
		if err := srv.Shutdown(ctx); err != nil {
			b.Fatal(err)
		}
	}
}

func benchOptions(e *env, cacheDir string, models ...string) runtime.Options {
	o := e.options(models...)
	o.CacheDir = cacheDir
	o.PollInterval = 0
	o.Logger = nil
	return o
}

// BenchmarkColdStart measures a runtime from New to its first answered
// prediction (REST), with an empty compilation cache directory (the plugin
// is compiled) and a warm one (the compiled code is read from disk).
func BenchmarkColdStart(b *testing.B) {
	e := newDirEnv(b)
	e.model(seasonalNaivePkg, "cpu", "v0001", nil, 100, 50)
	warm := b.TempDir()
	_, stop := benchServer(b, benchOptions(e, warm, "cpu"))
	stop()
	for _, c := range []struct {
		name  string
		cache func() string
	}{
		{"cold_cache", func() string { return b.TempDir() }},
		{"warm_cache", func() string { return warm }},
	} {
		b.Run(c.name, func(b *testing.B) {
			var total time.Duration
			for b.Loop() {
				b.StopTimer()
				opts := benchOptions(e, c.cache(), "cpu")
				b.StartTimer()
				begin := time.Now()
				s, stop := benchServer(b, opts)
				if _, err := s.restInfer("cpu", 3600, nil, nil); err != nil {
					b.Fatal(err)
				}
				total += time.Since(begin)
				b.StopTimer()
				stop()
				b.StartTimer()
			}
			b.ReportMetric(float64(total.Milliseconds())/float64(b.N), "ms/first-prediction")
		})
	}
}

// BenchmarkPredictLatency measures request latency over gRPC and REST for
// a one-hour forecast at one minute (61 points), answered from the
// forecast cache or by calling the plugin, and reports p50 and p99. One
// iteration is a batch of 200 sequential requests.
func BenchmarkPredictLatency(b *testing.B) {
	e := newDirEnv(b)
	e.model(seasonalNaivePkg, "cpu", "v0001", nil, 100, 50)
	for _, cache := range []struct {
		name   string
		window time.Duration
	}{{"cached", 24 * time.Hour}, {"uncached", 0}} {
		opts := benchOptions(e, compileCache, "cpu")
		opts.ForecastCacheWindow = cache.window
		s, stop := benchServer(b, opts)
		s.grpc = dialGRPC(b, s.GRPCAddr())
		for _, proto := range []string{"grpc", "rest"} {
			b.Run(proto+"/"+cache.name, func(b *testing.B) {
				ask := func() error {
					if proto == "grpc" {
						_, err := s.grpcInfer(context.Background(), "cpu", false, 3600, nil, nil)
						return err
					}
					_, err := s.restInfer("cpu", 3600, nil, nil)
					return err
				}
				if err := ask(); err != nil { // fills the cache
					b.Fatal(err)
				}
				// Each iteration is a batch, so that the percentiles rest
				// on enough samples even with -benchtime 3x.
				const batch = 200
				lat := make([]time.Duration, 0, batch)
				for b.Loop() {
					for range batch {
						begin := time.Now()
						if err := ask(); err != nil {
							b.Fatal(err)
						}
						lat = append(lat, time.Since(begin))
					}
				}
				sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
				b.ReportMetric(float64(percentile(lat, 0.50).Microseconds()), "µs-p50")
				b.ReportMetric(float64(percentile(lat, 0.99).Microseconds()), "µs-p99")
			})
		}
		stop()
	}
}

func percentile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(q * float64(len(sorted)-1))
	return sorted[i]
}

// BenchmarkMemoryPerModel loads 1,000 models that share one plugin (100
// with -short) and reports the heap growth per model over a runtime with
// one model, right after loading and after each model's forecast curve is
// cached. Both runtimes run one plugin instance and make the same plugin
// calls (a guest's linear memory lives in the Go heap and grows with the
// calls it serves), so that the difference is what a model costs.
func BenchmarkMemoryPerModel(b *testing.B) {
	n := 1000
	if testing.Short() {
		n = 100
	}
	e := newDirEnv(b)
	first := e.model(seasonalNaivePkg, "m0", "v0001", nil, 100, 50)
	_, model, err := e.st.GetModel(context.Background(), first.Model, first.Version)
	if err != nil {
		b.Fatal(err)
	}
	names := []string{"m0"}
	for i := 1; i <= n; i++ {
		man := first
		man.Model.Name = fmt.Sprintf("m%d", i)
		man.ModelSHA256, man.ModelSize = "", 0
		if _, err := e.st.PutModel(context.Background(), man, model); err != nil {
			b.Fatal(err)
		}
		names = append(names, man.Model.Name)
	}
	heap := func() uint64 {
		var ms goruntime.MemStats
		goruntime.GC()
		goruntime.GC()
		goruntime.ReadMemStats(&ms)
		return ms.HeapAlloc
	}
	options := func(models ...string) runtime.Options {
		o := benchOptions(e, compileCache, models...)
		o.PluginInstances = 1
		return o
	}
	now := e.clock.Now().Unix()
	var perModel, perCached float64
	for b.Loop() {
		// One model, and the plugin calls that loading and caching n
		// more would make: a one-point load check and a one-day curve
		// each (an unaligned start is never cached).
		s0, stop := benchServer(b, options("m0"))
		odd := now + 1
		for range n {
			if _, err := s0.restInfer("m0", 0, &odd, nil); err != nil {
				b.Fatal(err)
			}
		}
		base := heap()
		for range n + 1 {
			if _, err := s0.restInfer("m0", 86400, &odd, nil); err != nil {
				b.Fatal(err)
			}
		}
		baseCached := heap()
		stop()

		s, stop := benchServer(b, options(names...))
		loaded := heap()
		for _, name := range names {
			if _, err := s.restInfer(name, 3600, nil, nil); err != nil {
				b.Fatal(err)
			}
		}
		cached := heap()
		stop()
		perModel += (float64(loaded) - float64(base)) / float64(n)
		perCached += (float64(cached) - float64(baseCached)) / float64(n)
	}
	b.ReportMetric(perModel/float64(b.N), "B/model")
	b.ReportMetric(perCached/float64(b.N), "B/model-with-cached-curve")
	b.ReportMetric(float64(len(model)), "B/model-bytes")
}
