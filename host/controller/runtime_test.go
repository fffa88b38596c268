package controller

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	kservev1beta1 "github.com/kserve/kserve/pkg/apis/serving/v1beta1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	duckv1 "knative.dev/pkg/apis/duck/v1"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	ppav1 "github.com/ppa-autoscaler/ppa/api/v1alpha1"
	"github.com/ppa-autoscaler/ppa/host/runtime"
	"github.com/ppa-autoscaler/ppa/host/store"
	"github.com/ppa-autoscaler/ppa/host/trainer"
)

// TestServingStatusFromRuntime: with a runtime to ask, a Model's
// servingVersion is what the runtime serves, even a version trained outside
// the controller's workflows, and a ready InferenceService whose runtime
// does not serve the Model is not Serving. A real runtime serves a model
// trained into a local store.
func TestServingStatusFromRuntime(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, err := store.Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	res, err := trainer.Run(ctx, trainer.Options{
		Model:  store.ModelRef{Namespace: "shop", Name: "served"},
		CSV:    filepath.Join("..", "..", "testdata", "traces", "nasa-http-1m-14d.csv"),
		Plugin: "seasonal-naive",
		Store:  s,
	})
	if err != nil {
		t.Fatalf("train: %v", err)
	}
	ro := runtime.NewOptions()
	ro.ListenAddress, ro.HTTPPort, ro.GRPCPort = "127.0.0.1", 0, 0
	ro.StoreURI, ro.Models, ro.PollInterval = dir, []string{"shop/served"}, 0
	rt, err := runtime.New(ctx, ro)
	if err != nil {
		t.Fatal(err)
	}
	if err := rt.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if err := rt.Sync(ctx); err != nil {
		t.Fatalf("runtime: load the model: %v", err)
	}
	t.Cleanup(func() {
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = rt.Shutdown(sctx)
	})

	scheme, err := NewScheme()
	if err != nil {
		t.Fatal(err)
	}
	readyISVC := func(name string) *kservev1beta1.InferenceService {
		i := &kservev1beta1.InferenceService{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: name}}
		i.Status.Conditions = duckv1.Conditions{
			{Type: "PredictorReady", Status: corev1.ConditionTrue},
			{Type: "Ready", Status: corev1.ConditionTrue},
		}
		i.Status.Components = map[kservev1beta1.ComponentType]kservev1beta1.ComponentStatusSpec{
			kservev1beta1.PredictorComponent: {GrpcURL: mustURL(t, "grpc://"+rt.GRPCAddr())},
		}
		return i
	}
	// Both Models share one InferenceService (its runtime serves only
	// "served"); the runtime is asked by each member's own name.
	o := NewOptions()
	o.Runtime = &GRPCRuntime{}
	r := &ModelReconciler{Scheme: scheme, Options: o}
	shared := r.inferenceServiceName(testModel())
	if shared == testModel().Name {
		t.Fatalf("a Model in the default serving mode is served by %q, its own InferenceService", shared)
	}
	r.Client = fake.NewClientBuilder().WithScheme(scheme).WithObjects(readyISVC(shared)).Build()

	for _, tt := range []struct {
		model             string
		wantServing       metav1.ConditionStatus
		wantReason        string
		wantVersion       string
		wantTrainedReason string
	}{
		// No workflow of the controller trained it; the runtime serves it.
		{"served", metav1.ConditionTrue, ppav1.ReasonModelServed, res.Version, ppav1.ReasonVersionServed},
		// The shared InferenceService is ready, but its runtime does not
		// serve this member.
		{"elsewhere", metav1.ConditionFalse, ppav1.ReasonModelNotServed, "", ppav1.ReasonTrainingPending},
	} {
		t.Run(tt.model, func(t *testing.T) {
			m := testModel()
			m.Name = tt.model
			st := m.Status.DeepCopy()
			trained, serving, err := r.observe(ctx, m, st)
			if err != nil {
				t.Fatal(err)
			}
			if serving.Status != tt.wantServing || serving.Reason != tt.wantReason || st.ServingVersion != tt.wantVersion {
				t.Errorf("serving %s %s (%s), version %q; want %s %s, version %q",
					serving.Status, serving.Reason, serving.Message, st.ServingVersion, tt.wantServing, tt.wantReason, tt.wantVersion)
			}
			if trained.Reason != tt.wantTrainedReason {
				t.Errorf("trained %s %s (%s), want reason %s", trained.Status, trained.Reason, trained.Message, tt.wantTrainedReason)
			}
		})
	}
}
