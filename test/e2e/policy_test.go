package e2e

import (
	"context"
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/kedacore/keda/v2/pkg/scalers/externalscaler"

	"github.com/ppa-autoscaler/ppa/host/decision"
	"github.com/ppa-autoscaler/ppa/host/policy"
	"github.com/ppa-autoscaler/ppa/host/runtime"
	"github.com/ppa-autoscaler/ppa/host/scaler"
	"github.com/ppa-autoscaler/ppa/host/store"
	"github.com/ppa-autoscaler/ppa/host/trainer"
	"github.com/ppa-autoscaler/ppa/internal/teststore"
	"github.com/ppa-autoscaler/ppa/internal/testwasm"
)

// TestLearnedPolicyEndToEnd drives the learned policy through every real
// piece: the trainer reads 14 days of NASA requests from Prometheus,
// searches the policy among the default candidates and stores model and
// policy in MinIO; the runtime serves both; the scaler, asked with KEDA's
// client by a trigger without decision keys, applies the policy with the
// current value read from the same Prometheus. The value it reports must be
// the policy's own decision on the runtime's forecast.
func TestLearnedPolicyEndToEnd(t *testing.T) {
	env := newTrainerEnv(t)
	ctx := context.Background()
	st, bucket := env.openStore(t, env.minio)
	wasm := map[string][]byte{"seasonal-naive": env.wasm}
	for _, spec := range policy.DefaultCandidates {
		if _, ok := wasm[spec.Name]; !ok {
			wasm[spec.Name] = testwasm.Build(t, "./plugins/"+map[string]string{"seasonal-profile": "seasonalprofile", "prophet": "prophet"}[spec.Name]+"/wasm")
		}
	}
	o := env.options(st)
	o.Plugin, o.Params = "", nil
	o.Builtin = func(name string) ([]byte, error) {
		if b, ok := wasm[name]; ok {
			return b, nil
		}
		return nil, fmt.Errorf("built-in plugin %q not found", name)
	}
	o.Scaling = trainer.Scaling{Lead: 5 * time.Minute, TargetValue: 16}
	res, err := trainer.Run(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	if res.Policy == nil || res.Policy.Settings.Folds < 2 {
		t.Fatalf("policy %+v: want one searched over at least two folds", res.Policy)
	}
	t.Logf("learned: %s (%s)", res.Policy.Describe(), res.Policy.Reason)

	// Now is just after the history: the runtime forecasts from there, and
	// Prometheus still holds the current value (its 5-minute lookback).
	now := env.nasa.Time(env.nasa.Len() - 1).Add(30 * time.Second)
	clock := func() time.Time { return now }
	ro := runtime.NewOptions()
	ro.ListenAddress, ro.HTTPPort, ro.GRPCPort = "127.0.0.1", 0, 0
	ro.StoreURI = "s3://" + bucket + "/" + trainerPrefix
	ro.S3 = store.S3Options{Endpoint: env.minio.Endpoint, Insecure: true, AccessKey: env.minio.AccessKey, SecretKey: env.minio.SecretKey}
	ro.Models = []string{"shop/checkout"}
	ro.Namespace = "shop"
	ro.Now = clock
	rt := teststore.StartRuntime(t, ro)

	client := scaler.NewOIPClient(10*time.Second, nil)
	t.Cleanup(func() { client.Close() })
	_, c := startKEDAScaler(t, scaler.Config{RuntimeAddress: rt.GRPCAddr(), Forecasts: client, Reactive: &scaler.PrometheusReactive{}, Clock: clock})
	md := map[string]string{
		"modelName": "checkout", "modelNamespace": "shop", "targetValue": "16", "horizon": "5m",
		"reactiveQuery": trainerQuery, "prometheusAddress": env.prom.URL,
	}
	got, err := metricValueFor(t, c, "checkout", md)
	if err != nil {
		t.Fatal(err)
	}

	// The same decision, computed here from what the runtime serves.
	f, err := client.Forecast(ctx, rt.GRPCAddr(), "shop/checkout", time.Time{}, 5*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if f.PolicyErr != nil || f.Policy == nil || f.Policy.Describe() != res.Policy.Describe() {
		t.Fatalf("the runtime serves policy %+v (%v), want the trained one %q", f.Policy, f.PolicyErr, res.Policy.Describe())
	}
	cur, err := (&scaler.PrometheusReactive{}).Current(ctx, env.prom.URL, trainerQuery, now)
	if err != nil {
		t.Fatal(err)
	}
	want := cur // a reactive policy serves the current value
	if opts, ok, err := f.Policy.Options(5 * time.Minute); err != nil {
		t.Fatal(err)
	} else if ok {
		ms := make([]int64, len(f.DS))
		for i, s := range f.DS {
			ms[i] = s * 1000
		}
		df, err := decision.NewForecast(time.Time{}, ms, f.Yhat, f.Lower, f.Upper)
		if err != nil {
			t.Fatal(err)
		}
		opts.ReactiveFloor = true // the trigger reads the current value
		d, err := opts.Decide(decision.Input{Now: now, Forecast: df, Current: cur, HasCurrent: true})
		if err != nil {
			t.Fatal(err)
		}
		want = d.Value
	}
	if math.Abs(got-want) > 1e-9*math.Max(1, math.Abs(want)) {
		t.Errorf("scaler reports %v under the learned policy %q, want %v (current %v)", got, f.Policy.Describe(), want, cur)
	}
	if got < cur-1e-9 && f.Policy.Decision != nil && f.Policy.Decision.ReactiveFloor {
		t.Errorf("scaler reports %v below the current value %v under a policy with a floor", got, cur)
	}
}

// metricValueFor asks the scaler, as KEDA does, for the value of a
// ScaledObject named after its model with trigger metadata md.
func metricValueFor(t *testing.T, c externalscaler.ExternalScalerClient, model string, md map[string]string) (float64, error) {
	t.Helper()
	ref := &externalscaler.ScaledObjectRef{Name: model, Namespace: "shop", ScalerMetadata: md}
	resp, err := c.GetMetrics(context.Background(), &externalscaler.GetMetricsRequest{ScaledObjectRef: ref, MetricName: scaler.MetricName("shop", model)})
	if err != nil {
		return 0, err
	}
	if len(resp.MetricValues) != 1 {
		t.Fatalf("GetMetrics returned %d values", len(resp.MetricValues))
	}
	return resp.MetricValues[0].MetricValueFloat, nil
}
