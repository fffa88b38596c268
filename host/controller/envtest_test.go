package controller

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/ppa-autoscaler/ppa/test/testenv"
)

// Options of the manager under test. Its clock is fixed so that condition
// transition times can be checked.
var (
	testNow          = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	testTrainerImage = "registry.test/ppa-trainer:v0.0.1"
)

// env is the API server and manager shared by the envtest tests, started
// by the first test that needs it and stopped by TestMain.
var env struct {
	once   sync.Once
	err    error
	client client.Client
	stop   func()
}

func TestMain(m *testing.M) {
	code := m.Run()
	if env.stop != nil {
		env.stop()
	}
	os.Exit(code)
}

// startEnv starts the API server with PPA's, Argo's and KServe's CRDs and
// a manager running the reconcilers, once per test binary, and returns a
// client that reads the API server directly (not the manager's cache).
func startEnv(t *testing.T) client.Client {
	t.Helper()
	env.once.Do(func() { env.err = doStartEnv() })
	if env.err != nil {
		t.Fatal(env.err)
	}
	return env.client
}

func doStartEnv() error {
	assets, err := testenv.EnvtestAssets()
	if err != nil {
		return err
	}
	ctrl.SetLogger(logr.FromSlogHandler(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError})))
	te := &envtest.Environment{
		CRDDirectoryPaths:     []string{filepath.Join("..", "..", "charts", "ppa", "files", "crds"), filepath.Join("testdata", "crds")},
		ErrorIfCRDPathMissing: true,
		BinaryAssetsDirectory: assets,
	}
	cfg, err := te.Start()
	if err != nil {
		return fmt.Errorf("start envtest (kube-apiserver and etcd from %s): %w", assets, err)
	}
	stopEnv := func() {
		if err := te.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "stop envtest:", err)
		}
	}
	scheme, err := NewScheme()
	if err != nil {
		stopEnv()
		return err
	}
	cacheOpts, err := CacheOptions()
	if err != nil {
		stopEnv()
		return err
	}
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                 scheme,
		Cache:                  cacheOpts,
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		Controller:             config.Controller{SkipNameValidation: ptr.To(true)},
	})
	if err != nil {
		stopEnv()
		return fmt.Errorf("manager: %w", err)
	}
	opts := NewOptions()
	opts.TrainerImage = testTrainerImage
	opts.Now = func() time.Time { return testNow }
	if err := Setup(mgr, opts); err != nil {
		stopEnv()
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		cancel()
		<-done
		stopEnv()
		return fmt.Errorf("client: %w", err)
	}
	env.client = c
	env.stop = func() {
		cancel()
		if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
			fmt.Fprintln(os.Stderr, "manager:", err)
		}
		stopEnv()
	}
	return nil
}

// newNamespace creates a namespace for one test.
func newNamespace(t *testing.T, c client.Client) string {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "ppa-test-"}}
	if err := c.Create(context.Background(), ns); err != nil {
		t.Fatalf("create namespace: %v", err)
	}
	return ns.Name
}

// waitFor polls cond until it holds. It is a wait, not a timing check:
// the limit only turns a reconciler that never gets there into a failure
// that shows the last state seen.
func waitFor(t *testing.T, what string, cond func() (bool, string)) {
	t.Helper()
	const limit = 60 * time.Second
	deadline := time.Now().Add(limit)
	for {
		ok, state := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not reached within %v; last state: %s", what, limit, state)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
