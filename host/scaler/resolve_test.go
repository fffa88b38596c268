package scaler

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kedacore/keda/v2/pkg/scalers/externalscaler"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/ppa-autoscaler/ppa/api/v1alpha1"
	"github.com/ppa-autoscaler/ppa/test/testenv"
)

// addrSource records the runtime address of each fetch.
type addrSource struct {
	curveSource
	mu    sync.Mutex
	addrs []string
}

func (s *addrSource) Forecast(ctx context.Context, address, model string, start time.Time, horizon time.Duration) (*Forecast, error) {
	s.mu.Lock()
	s.addrs = append(s.addrs, address)
	s.mu.Unlock()
	return s.curveSource.Forecast(ctx, address, model, start, horizon)
}

// TestModelStatusResolution runs a real kube-apiserver with PPA's CRDs:
// a trigger without runtimeAddress is served by the runtime the Model's
// status names, read through an informer cache.
func TestModelStatusResolution(t *testing.T) {
	assets, err := testenv.EnvtestAssets()
	if err != nil {
		t.Fatal(err)
	}
	te := &envtest.Environment{
		CRDDirectoryPaths:     []string{filepath.Join("..", "..", "charts", "ppa", "files", "crds")},
		ErrorIfCRDPathMissing: true,
		BinaryAssetsDirectory: assets,
	}
	cfg, err := te.Start()
	if err != nil {
		t.Fatalf("start envtest: %v", err)
	}
	t.Cleanup(func() {
		if err := te.Stop(); err != nil {
			t.Errorf("stop envtest: %v", err)
		}
	})
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	resolver, err := WatchModels(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	scheme := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{v1alpha1.AddToScheme, corev1.AddToScheme} {
		if err := add(scheme); err != nil {
			t.Fatal(err)
		}
	}
	direct, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}
	if err := direct.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "shop"}}); err != nil {
		t.Fatal(err)
	}
	m := &v1alpha1.Model{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "shop"},
		Spec: v1alpha1.ModelSpec{
			Source:     v1alpha1.SourceSpec{Prometheus: v1alpha1.PrometheusSource{URL: "http://prometheus:9090", Query: "up"}},
			Forecaster: v1alpha1.ForecasterRef{Name: "seasonal-naive"},
		},
	}
	if err := direct.Create(ctx, m); err != nil {
		t.Fatalf("create Model: %v", err)
	}

	clk := &fakeClock{t: t0}
	src := &addrSource{curveSource: curveSource{clock: clk.Now, f: ramp}}
	s, err := New(Config{Forecasts: src, Resolver: resolver, Clock: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	c := startScaler(t, s)

	// Not serving yet: the trigger fails (KEDA's fallback applies).
	waitCached := func(want func(*v1alpha1.Model) bool) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for {
			var got v1alpha1.Model
			if err := resolver.Reader.Get(ctx, client.ObjectKeyFromObject(m), &got); err == nil && want(&got) {
				return
			}
			if time.Now().After(deadline) {
				t.Fatal("the informer cache did not see the change")
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	waitCached(func(*v1alpha1.Model) bool { return true })
	_, err = c.GetMetrics(ctx, &externalscaler.GetMetricsRequest{ScaledObjectRef: ref(nil)})
	if err == nil || !strings.Contains(err.Error(), "no serving endpoint") {
		t.Fatalf("before the endpoint is set: err = %v", err)
	}

	m.Status.Endpoint = "web-predictor.shop.svc.cluster.local:8081"
	if err := direct.Status().Update(ctx, m); err != nil {
		t.Fatalf("update status: %v", err)
	}
	waitCached(func(got *v1alpha1.Model) bool { return got.Status.Endpoint != "" })
	resp, err := c.GetMetrics(ctx, &externalscaler.GetMetricsRequest{ScaledObjectRef: ref(nil)})
	if err != nil {
		t.Fatal(err)
	}
	if got := resp.MetricValues[0].MetricValueFloat; got != 150 {
		t.Fatalf("value = %v, want 150", got)
	}
	src.mu.Lock()
	addrs := append([]string(nil), src.addrs...)
	src.mu.Unlock()
	if len(addrs) != 1 || addrs[0] != "web-predictor.shop.svc.cluster.local:8081" {
		t.Fatalf("fetched from %v, want the Model's status.endpoint", addrs)
	}

	// A trigger for a Model that does not exist.
	_, err = c.GetMetrics(ctx, &externalscaler.GetMetricsRequest{ScaledObjectRef: ref(map[string]string{"modelName": "nope"})})
	if err == nil || !strings.Contains(err.Error(), "no such Model") {
		t.Fatalf("missing Model: err = %v", err)
	}
	// The resolver on its own reports typed errors.
	_, err = ModelResolver{Reader: resolver.Reader}.Resolve(ctx, "shop", "nope")
	if !errors.Is(err, ErrModelNotFound) {
		t.Fatalf("Resolve(missing) = %v, want ErrModelNotFound", err)
	}
}
