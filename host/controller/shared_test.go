package controller

import (
	"context"
	"fmt"
	"slices"
	"testing"

	kservev1beta1 "github.com/kserve/kserve/pkg/apis/serving/v1beta1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"knative.dev/pkg/apis"
	duckv1 "knative.dev/pkg/apis/duck/v1"

	ppav1 "github.com/ppa-autoscaler/ppa/api/v1alpha1"
)

// ownerNames are the names of o's Model owners; it fails on a controller
// reference (a shared InferenceService has none, so that the garbage
// collector deletes it only with its last owner).
func ownerNames(t *testing.T, o metav1.Object) []string {
	t.Helper()
	var names []string
	for _, r := range o.GetOwnerReferences() {
		if r.Kind != "Model" || r.APIVersion != ppav1.GroupVersion.String() {
			continue
		}
		if ptr.Deref(r.Controller, false) {
			t.Errorf("%s: owner %s is its controller", o.GetName(), r.Name)
		}
		names = append(names, r.Name)
	}
	slices.Sort(names)
	return names
}

// TestSharedServing: two Models of a namespace with the same store share
// one InferenceService that serves both and reports its endpoint to both;
// a dedicated Model gets its own, and moves between the two when its mode
// changes; deleting a member re-renders the shared InferenceService
// without it, and deleting the last deletes it.
func TestSharedServing(t *testing.T) {
	c := startEnv(t)
	ctx := context.Background()
	ns := newNamespace(t, c)

	a, b, d := newModel(ns, "a"), newModel(ns, "b"), newModel(ns, "d")
	b.Spec.Serving.MinReplicas = 3
	d.Spec.Serving.Mode = ppav1.ServingDedicated
	for _, m := range []*ppav1.Model{a, b, d} {
		if err := c.Create(ctx, m); err != nil {
			t.Fatalf("create model %s: %v", m.Name, err)
		}
	}
	if a.Spec.Serving.Mode != ppav1.ServingShared {
		t.Errorf("serving mode %q after creation, want the default %q", a.Spec.Serving.Mode, ppav1.ServingShared)
	}
	uri := a.Spec.Store.URI
	shared := SharedInferenceServiceName(ppav1.DefaultRuntime, uri, "s3-creds", "")
	key := types.NamespacedName{Namespace: ns, Name: shared}

	// waitShared waits until the shared InferenceService serves and is
	// owned by exactly these Models.
	waitShared := func(what string, members ...string) *kservev1beta1.InferenceService {
		t.Helper()
		want := []string{"--store", uri}
		for _, m := range members {
			want = append(want, "--model", ns+"/"+m)
		}
		want = append(want, "--ready-when-listed")
		var isvc kservev1beta1.InferenceService
		waitFor(t, what, func() (bool, string) {
			if err := c.Get(ctx, key, &isvc); err != nil {
				return false, err.Error()
			}
			args, owners := isvc.Spec.Predictor.Model.Args, ownerNames(t, &isvc)
			return slices.Equal(args, want) && slices.Equal(owners, members), fmt.Sprintf("args %q owners %q", args, owners)
		})
		return &isvc
	}
	isvc := waitShared("one InferenceService for a and b", "a", "b")
	if got := ptr.Deref(isvc.Spec.Predictor.MinReplicas, 0); got != 3 {
		t.Errorf("shared minReplicas %d, want the members' largest, 3", got)
	}
	if isvc.Labels[LabelServingGroup] != shared {
		t.Errorf("labels %v, want %s=%s", isvc.Labels, LabelServingGroup, shared)
	}

	// The dedicated Model has its own, which it controls; the shared ones
	// have none.
	var own kservev1beta1.InferenceService
	waitFor(t, "dedicated InferenceService of d", func() (bool, string) {
		err := c.Get(ctx, types.NamespacedName{Namespace: ns, Name: "d"}, &own)
		return err == nil, fmt.Sprint(err)
	})
	assertOwnedBy(t, &own, getModel(t, c, ns, "d"))
	if got := own.Spec.Predictor.Model.Args; !slices.Equal(got, []string{"--store", uri, "--model", ns + "/d"}) {
		t.Errorf("dedicated args %q", got)
	}
	for _, name := range []string{"a", "b"} {
		err := c.Get(ctx, types.NamespacedName{Namespace: ns, Name: name}, &kservev1beta1.InferenceService{})
		if !apierrors.IsNotFound(err) {
			t.Errorf("InferenceService %s of a shared Model: %v, want none", name, err)
		}
	}

	// Ready: both members report the shared predictor as their endpoint.
	update(t, c, isvc, true, func() {
		isvc.Status.Conditions = duckv1.Conditions{
			{Type: "PredictorReady", Status: corev1.ConditionTrue},
			{Type: apis.ConditionReady, Status: corev1.ConditionTrue},
		}
	})
	wantEndpoint := fmt.Sprintf("%s-predictor.%s.svc.cluster.local:%d", shared, ns, DefaultGRPCPort)
	for _, name := range []string{"a", "b"} {
		waitModel(t, c, ns, name, name+" serving from the shared InferenceService", func(m *ppav1.Model) bool {
			return m.Status.Endpoint == wantEndpoint &&
				hasCondition(m, ppav1.ConditionServing, metav1.ConditionTrue, ppav1.ReasonInferenceServiceReady)
		})
	}
	if m := getModel(t, c, ns, "d"); m.Status.Endpoint == wantEndpoint {
		t.Errorf("dedicated model d reports the shared endpoint %s", m.Status.Endpoint)
	}

	// Switching d to shared moves it into the shared InferenceService and
	// deletes its own; switching back moves it out again.
	dm := getModel(t, c, ns, "d")
	update(t, c, dm, false, func() { dm.Spec.Serving.Mode = ppav1.ServingShared })
	waitShared("d joins the shared InferenceService", "a", "b", "d")
	waitFor(t, "dedicated InferenceService of d deleted", func() (bool, string) {
		err := c.Get(ctx, types.NamespacedName{Namespace: ns, Name: "d"}, &kservev1beta1.InferenceService{})
		return apierrors.IsNotFound(err), fmt.Sprint(err)
	})
	update(t, c, dm, false, func() { dm.Spec.Serving.Mode = ppav1.ServingDedicated })
	waitShared("d leaves the shared InferenceService", "a", "b")
	waitFor(t, "dedicated InferenceService of d again", func() (bool, string) {
		err := c.Get(ctx, types.NamespacedName{Namespace: ns, Name: "d"}, &own)
		return err == nil, fmt.Sprint(err)
	})

	// Deleting a member re-renders without it; deleting the last deletes
	// the shared InferenceService. The dedicated one stays.
	if err := c.Delete(ctx, getModel(t, c, ns, "a")); err != nil {
		t.Fatalf("delete model a: %v", err)
	}
	waitShared("shared InferenceService without a", "b")
	if err := c.Delete(ctx, getModel(t, c, ns, "b")); err != nil {
		t.Fatalf("delete model b: %v", err)
	}
	waitFor(t, "shared InferenceService deleted with its last member", func() (bool, string) {
		err := c.Get(ctx, key, &kservev1beta1.InferenceService{})
		return apierrors.IsNotFound(err), fmt.Sprint(err)
	})
	if err := c.Get(ctx, types.NamespacedName{Namespace: ns, Name: "d"}, &own); err != nil {
		t.Errorf("dedicated InferenceService after the shared members went: %v", err)
	}
}
