package controller

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	wfv1 "github.com/argoproj/argo-workflows/v3/pkg/apis/workflow/v1alpha1"
	kservev1beta1 "github.com/kserve/kserve/pkg/apis/serving/v1beta1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/ptr"
	"knative.dev/pkg/apis"
	duckv1 "knative.dev/pkg/apis/duck/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	ppav1 "github.com/ppa-autoscaler/ppa/api/v1alpha1"
)

// newModel is a Model as a user writes it: the CRD fills in the defaults.
func newModel(ns, name string) *ppav1.Model {
	return &ppav1.Model{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: ppav1.ModelSpec{
			Source: ppav1.SourceSpec{Prometheus: ppav1.PrometheusSource{
				URL:   "http://prometheus.monitoring:9090",
				Query: `sum(rate(http_requests_total{job="checkout"}[5m]))`,
			}},
			Forecaster: ppav1.ForecasterRef{Name: "prophet"},
			Store: &ppav1.StoreSpec{
				URI:               "s3://models/ppa?endpoint=minio.storage:9000",
				CredentialsSecret: &corev1.LocalObjectReference{Name: "s3-creds"},
			},
		},
	}
}

func getModel(t *testing.T, c client.Client, ns, name string) *ppav1.Model {
	t.Helper()
	var m ppav1.Model
	if err := c.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: name}, &m); err != nil {
		t.Fatalf("get model %s/%s: %v", ns, name, err)
	}
	return &m
}

// conditionsString renders a Model's conditions for failure messages.
func conditionsString(m *ppav1.Model) string {
	var b strings.Builder
	fmt.Fprintf(&b, "generation %d observed %d; ", m.Generation, m.Status.ObservedGeneration)
	for _, c := range m.Status.Conditions {
		fmt.Fprintf(&b, "%s=%s (%s: %s) ", c.Type, c.Status, c.Reason, c.Message)
	}
	fmt.Fprintf(&b, "serving=%q latest=%q endpoint=%q", m.Status.ServingVersion, m.Status.LatestVersion, m.Status.Endpoint)
	return b.String()
}

// hasCondition reports whether m's current generation has condition typ
// with that status and reason.
func hasCondition(m *ppav1.Model, typ string, status metav1.ConditionStatus, reason string) bool {
	c := meta.FindStatusCondition(m.Status.Conditions, typ)
	return m.Status.ObservedGeneration == m.Generation && c != nil && c.Status == status && c.Reason == reason
}

// waitModel waits until the Model satisfies ok and returns it.
func waitModel(t *testing.T, c client.Client, ns, name, what string, ok func(*ppav1.Model) bool) *ppav1.Model {
	t.Helper()
	var m *ppav1.Model
	waitFor(t, what, func() (bool, string) {
		m = getModel(t, c, ns, name)
		return ok(m), conditionsString(m)
	})
	return m
}

// update re-reads obj and applies edit until the write does not conflict
// with the controller's own writes; status selects the status
// subresource.
func update(t *testing.T, c client.Client, obj client.Object, status bool, edit func()) {
	t.Helper()
	ctx := context.Background()
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		if err := c.Get(ctx, client.ObjectKeyFromObject(obj), obj); err != nil {
			return err
		}
		edit()
		if status {
			return c.Status().Update(ctx, obj)
		}
		return c.Update(ctx, obj)
	})
	if err != nil {
		t.Fatalf("update %s: %v", obj.GetName(), err)
	}
}

// assertOwnedBy checks that o is controlled by m, so that Kubernetes'
// garbage collector deletes it with m (envtest runs no collector).
func assertOwnedBy(t *testing.T, o metav1.Object, m *ppav1.Model) {
	t.Helper()
	refs := o.GetOwnerReferences()
	if len(refs) != 1 {
		t.Fatalf("%s: %d owner references, want 1: %+v", o.GetName(), len(refs), refs)
	}
	r := refs[0]
	want := metav1.OwnerReference{APIVersion: ppav1.GroupVersion.String(), Kind: "Model", Name: m.Name, UID: m.UID,
		Controller: ptr.To(true), BlockOwnerDeletion: ptr.To(true)}
	if r.APIVersion != want.APIVersion || r.Kind != want.Kind || r.Name != want.Name || r.UID != want.UID ||
		!ptr.Deref(r.Controller, false) || !ptr.Deref(r.BlockOwnerDeletion, false) {
		t.Errorf("%s: owner reference %+v, want %+v", o.GetName(), r, want)
	}
}

// initialWorkflows lists the first-training Workflows of a Model, by name.
func initialWorkflows(t *testing.T, c client.Client, ns, model string) []wfv1.Workflow {
	t.Helper()
	var l wfv1.WorkflowList
	if err := c.List(context.Background(), &l, client.InNamespace(ns),
		client.MatchingLabels{LabelModel: model, LabelTraining: trainingInitial}); err != nil {
		t.Fatalf("list workflows: %v", err)
	}
	slices.SortFunc(l.Items, func(a, b wfv1.Workflow) int { return strings.Compare(a.Name, b.Name) })
	return l.Items
}

// checkTrainerTemplate checks a workflow spec's training template against
// the Model.
func checkTrainerTemplate(t *testing.T, spec *wfv1.WorkflowSpec, m *ppav1.Model, plugin string, pin ...string) {
	t.Helper()
	if spec.Entrypoint != TemplateTrain || len(spec.Templates) != 1 || spec.Templates[0].Container == nil {
		t.Fatalf("workflow spec: entrypoint %q, %d templates; want one container template %q", spec.Entrypoint, len(spec.Templates), TemplateTrain)
	}
	tmpl := spec.Templates[0]
	c := tmpl.Container
	wantArgs := append(TrainerArgs(m, plugin, m.Spec.Store.URI), pin...)
	if c.Image != testTrainerImage || !slices.Equal(c.Command, []string{DefaultTrainerCommand}) || !slices.Equal(c.Args, wantArgs) {
		t.Errorf("trainer container: image %q command %q args %q\nwant %q %q %q", c.Image, c.Command, c.Args, testTrainerImage, DefaultTrainerCommand, wantArgs)
	}
	if len(c.EnvFrom) != 1 || c.EnvFrom[0].SecretRef == nil || c.EnvFrom[0].SecretRef.Name != m.Spec.Store.CredentialsSecret.Name {
		t.Errorf("trainer envFrom %+v, want the store's credentials secret", c.EnvFrom)
	}
	out := tmpl.Outputs.Parameters
	if len(out) != 1 || out[0].GlobalName != OutputResult || out[0].ValueFrom == nil || out[0].ValueFrom.Path != ResultFile {
		t.Errorf("outputs %+v, want the result file as global parameter %s", out, OutputResult)
	}
	if tmpl.Metadata.Labels[LabelModel] != m.Name {
		t.Errorf("pod labels %v, want %s=%s", tmpl.Metadata.Labels, LabelModel, m.Name)
	}
}

// TestModelLifecycle follows one Model (in dedicated serving mode) from creation through training,
// serving, retraining and spec changes.
func TestModelLifecycle(t *testing.T) {
	c := startEnv(t)
	ctx := context.Background()
	ns := newNamespace(t, c)

	m := newModel(ns, "checkout")
	m.Spec.Serving.Mode = ppav1.ServingDedicated // shared serving: TestSharedServing
	m.Spec.Parameters = map[string]string{"seasonality_mode": "multiplicative", "changepoint_prior_scale": "0.1"}
	m.Spec.Training.Gate = &ppav1.GateSpec{MaxMASE: "1.5"}
	m.Spec.Training.Resources = corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("500m")}}
	if err := c.Create(ctx, m); err != nil {
		t.Fatalf("create model: %v", err)
	}

	// The first reconcile renders the children and reports that nothing
	// is trained or serving yet.
	m = waitModel(t, c, ns, "checkout", "first status", func(m *ppav1.Model) bool {
		return hasCondition(m, ppav1.ConditionReady, metav1.ConditionFalse, ppav1.ReasonNotTrained) &&
			hasCondition(m, ppav1.ConditionTrained, metav1.ConditionFalse, ppav1.ReasonTrainingPending) &&
			hasCondition(m, ppav1.ConditionServing, metav1.ConditionFalse, ppav1.ReasonInferenceServiceNotReady)
	})
	if m.Status.Forecaster == nil || m.Status.Forecaster.Plugin != "prophet" || m.Status.Forecaster.Forecaster != "" {
		t.Errorf("resolved forecaster %+v, want the built-in prophet", m.Status.Forecaster)
	}
	if m.Status.Endpoint != "" {
		t.Errorf("endpoint %q before the InferenceService is ready", m.Status.Endpoint)
	}

	// First training.
	wfs := initialWorkflows(t, c, ns, "checkout")
	if len(wfs) != 1 {
		t.Fatalf("%d first-training workflows, want 1", len(wfs))
	}
	first := wfs[0]
	if want := InitialWorkflowName(m, TrainerArgs(m, "prophet", m.Spec.Store.URI)); first.Name != want {
		t.Errorf("workflow name %q, want %q", first.Name, want)
	}
	assertOwnedBy(t, &first, m)
	checkTrainerTemplate(t, &first.Spec, m, "prophet")
	if got := first.Spec.Templates[0].Container.Resources.Requests.Cpu().String(); got != "500m" {
		t.Errorf("trainer cpu request %s, want 500m", got)
	}

	// Retraining.
	var cw wfv1.CronWorkflow
	if err := c.Get(ctx, types.NamespacedName{Namespace: ns, Name: "checkout-retrain"}, &cw); err != nil {
		t.Fatalf("get cronworkflow: %v", err)
	}
	assertOwnedBy(t, &cw, m)
	if cw.Spec.Schedule != "0 * * * *" || len(cw.Spec.Schedules) != 0 || cw.Spec.ConcurrencyPolicy != wfv1.ForbidConcurrent || cw.Spec.Suspend {
		t.Errorf("cronworkflow: schedules %q concurrency %q suspend %v, want [0 * * * *] Forbid false",
			cw.Spec.Schedule, cw.Spec.ConcurrencyPolicy, cw.Spec.Suspend)
	}
	if cw.Spec.WorkflowMetadata == nil || cw.Spec.WorkflowMetadata.Labels[LabelModel] != "checkout" ||
		cw.Spec.WorkflowMetadata.Labels[LabelTraining] != trainingScheduled {
		t.Errorf("cronworkflow workflowMetadata %+v, want the model and training labels", cw.Spec.WorkflowMetadata)
	}
	checkTrainerTemplate(t, &cw.Spec.WorkflowSpec, m, "prophet")

	// Serving.
	var isvc kservev1beta1.InferenceService
	if err := c.Get(ctx, types.NamespacedName{Namespace: ns, Name: "checkout"}, &isvc); err != nil {
		t.Fatalf("get inferenceservice: %v", err)
	}
	assertOwnedBy(t, &isvc, m)
	pm := isvc.Spec.Predictor.Model
	if pm == nil || pm.ModelFormat.Name != "ppa" || ptr.Deref(pm.Runtime, "") != "ppa-runtime" {
		t.Fatalf("predictor model %+v, want format ppa on runtime ppa-runtime", pm)
	}
	if want := []string{"--store", m.Spec.Store.URI, "--model", ns + "/checkout"}; !slices.Equal(pm.Args, want) {
		t.Errorf("predictor args %q, want %q", pm.Args, want)
	}
	if ptr.Deref(isvc.Spec.Predictor.MinReplicas, 0) != 1 || isvc.Annotations["serving.kserve.io/deploymentMode"] != "RawDeployment" {
		t.Errorf("minReplicas %v, deployment mode %q: want 1 and RawDeployment", isvc.Spec.Predictor.MinReplicas, isvc.Annotations["serving.kserve.io/deploymentMode"])
	}
	if len(pm.EnvFrom) != 1 || pm.EnvFrom[0].SecretRef.Name != "s3-creds" {
		t.Errorf("predictor envFrom %+v, want s3-creds", pm.EnvFrom)
	}

	// The first training succeeds: Trained, not yet Serving.
	// (Argo's Workflow CRD has no status subresource.)
	update(t, c, &first, false, func() {
		first.Status.Phase = wfv1.WorkflowSucceeded
		first.Status.StartedAt = metav1.NewTime(testNow.Add(-5 * time.Minute))
		first.Status.FinishedAt = metav1.NewTime(testNow.Add(-time.Minute))
		first.Status.Outputs = &wfv1.Outputs{Parameters: []wfv1.Parameter{{Name: OutputResult,
			Value: wfv1.AnyStringPtr(`{"model":"` + ns + `/checkout","version":"20260301T1159Z-0001","rejected":false,"reason":"mase 0.7 <= 1.5"}`)}}}
	})
	m = waitModel(t, c, ns, "checkout", "Trained after the first training", func(m *ppav1.Model) bool {
		return hasCondition(m, ppav1.ConditionTrained, metav1.ConditionTrue, ppav1.ReasonTrainingSucceeded) &&
			hasCondition(m, ppav1.ConditionReady, metav1.ConditionFalse, ppav1.ReasonNotServing)
	})
	if m.Status.ServingVersion != "20260301T1159Z-0001" || m.Status.LatestVersion != "20260301T1159Z-0001" ||
		m.Status.LastTrainingWorkflow != first.Name || m.Status.LastTrainingTime == nil || !m.Status.LastTrainingTime.Equal(&first.Status.FinishedAt) {
		t.Errorf("after training: %s, last workflow %q at %v", conditionsString(m), m.Status.LastTrainingWorkflow, m.Status.LastTrainingTime)
	}

	// The InferenceService becomes ready: Serving and Ready, with the
	// endpoint the scaler dials.
	update(t, c, &isvc, true, func() {
		isvc.Status.Conditions = duckv1.Conditions{
			{Type: "PredictorReady", Status: corev1.ConditionTrue},
			{Type: apis.ConditionReady, Status: corev1.ConditionTrue},
		}
	})
	m = waitModel(t, c, ns, "checkout", "Ready once serving", func(m *ppav1.Model) bool {
		return hasCondition(m, ppav1.ConditionReady, metav1.ConditionTrue, ppav1.ReasonReady)
	})
	if want := "checkout-predictor." + ns + ".svc.cluster.local:8081"; m.Status.Endpoint != want {
		t.Errorf("endpoint %q, want %q", m.Status.Endpoint, want)
	}
	ready := meta.FindStatusCondition(m.Status.Conditions, ppav1.ConditionReady)
	if !ready.LastTransitionTime.Time.Equal(testNow) {
		t.Errorf("Ready transition time %v, want the controller's clock %v", ready.LastTransitionTime, testNow)
	}

	// A scheduled retraining (a Workflow the CronWorkflow starts, owned by
	// it, not by the Model) stores a version the gate rejects: still
	// Trained and serving the accepted version.
	run := wfv1.Workflow{
		ObjectMeta: metav1.ObjectMeta{
			Namespace: ns, Name: "checkout-retrain-1772370000",
			Labels: map[string]string{LabelModel: "checkout", LabelTraining: trainingScheduled, "workflows.argoproj.io/cron-workflow": cw.Name},
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "argoproj.io/v1alpha1", Kind: "CronWorkflow", Name: cw.Name, UID: cw.UID,
				Controller: ptr.To(true)}},
		},
		Spec: cw.Spec.WorkflowSpec,
	}
	if err := c.Create(ctx, &run); err != nil {
		t.Fatalf("create scheduled workflow: %v", err)
	}
	update(t, c, &run, false, func() {
		run.Status.Phase = wfv1.WorkflowSucceeded
		run.Status.FinishedAt = metav1.NewTime(testNow.Add(time.Hour))
		run.Status.Outputs = &wfv1.Outputs{Parameters: []wfv1.Parameter{{Name: OutputResult,
			Value: wfv1.AnyStringPtr(`{"version":"20260301T1300Z-0002","rejected":true,"reason":"mase 2.3 > 1.5"}`)}}}
	})
	m = waitModel(t, c, ns, "checkout", "gate rejection reported", func(m *ppav1.Model) bool {
		return hasCondition(m, ppav1.ConditionTrained, metav1.ConditionTrue, ppav1.ReasonGateRejected)
	})
	if m.Status.ServingVersion != "20260301T1159Z-0001" || m.Status.LatestVersion != "20260301T1300Z-0002" || m.Status.LastTrainingWorkflow != run.Name {
		t.Errorf("after a rejected retraining: %s, last workflow %q", conditionsString(m), m.Status.LastTrainingWorkflow)
	}
	if !hasCondition(m, ppav1.ConditionReady, metav1.ConditionTrue, ppav1.ReasonReady) {
		t.Errorf("a rejected retraining took the model out of Ready: %s", conditionsString(m))
	}

	// Changing the schedule updates the CronWorkflow and trains nothing
	// new now.
	update(t, c, m, false, func() {
		m.Spec.Training.Schedule = "30 2 * * *"
		m.Spec.Training.TimeZone = "Europe/Paris"
		m.Spec.Training.Suspend = true
	})
	waitFor(t, "cronworkflow schedule updated", func() (bool, string) {
		if err := c.Get(ctx, types.NamespacedName{Namespace: ns, Name: "checkout-retrain"}, &cw); err != nil {
			return false, err.Error()
		}
		return cw.Spec.Schedule == "30 2 * * *" && cw.Spec.Timezone == "Europe/Paris" && cw.Spec.Suspend,
			fmt.Sprintf("schedule %q timezone %q suspend %v", cw.Spec.Schedules, cw.Spec.Timezone, cw.Spec.Suspend)
	})
	m = waitModel(t, c, ns, "checkout", "schedule change observed", func(m *ppav1.Model) bool {
		return m.Status.ObservedGeneration == m.Generation
	})
	if n := len(initialWorkflows(t, c, ns, "checkout")); n != 1 {
		t.Errorf("%d first-training workflows after a schedule change, want still 1", n)
	}

	// Changing the query trains at once (a new first-training workflow)
	// and re-renders the CronWorkflow; changing serving updates the
	// InferenceService.
	update(t, c, m, false, func() {
		m.Spec.Source.Prometheus.Query = `sum(rate(http_requests_total{job="checkout",code!~"5.."}[5m]))`
		m.Spec.Serving.MinReplicas = 2
		m.Spec.Serving.Runtime = "ppa-runtime-gpu"
	})
	waitFor(t, "second first-training workflow", func() (bool, string) {
		n := len(initialWorkflows(t, c, ns, "checkout"))
		return n == 2, fmt.Sprintf("%d first-training workflows", n)
	})
	m = getModel(t, c, ns, "checkout")
	wantArgs := TrainerArgs(m, "prophet", m.Spec.Store.URI)
	found := false
	for _, w := range initialWorkflows(t, c, ns, "checkout") {
		if w.Name == InitialWorkflowName(m, wantArgs) {
			found = true
			checkTrainerTemplate(t, &w.Spec, m, "prophet")
			assertOwnedBy(t, &w, m)
		}
	}
	if !found {
		t.Errorf("no workflow %s for the new query", InitialWorkflowName(m, wantArgs))
	}
	waitFor(t, "cronworkflow re-rendered with the new query", func() (bool, string) {
		if err := c.Get(ctx, types.NamespacedName{Namespace: ns, Name: "checkout-retrain"}, &cw); err != nil {
			return false, err.Error()
		}
		args := cw.Spec.WorkflowSpec.Templates[0].Container.Args
		return slices.Equal(args, wantArgs), fmt.Sprintf("args %q", args)
	})
	waitFor(t, "inferenceservice updated", func() (bool, string) {
		if err := c.Get(ctx, types.NamespacedName{Namespace: ns, Name: "checkout"}, &isvc); err != nil {
			return false, err.Error()
		}
		p := isvc.Spec.Predictor
		return ptr.Deref(p.MinReplicas, 0) == 2 && ptr.Deref(p.Model.Runtime, "") == "ppa-runtime-gpu",
			fmt.Sprintf("minReplicas %v runtime %v", p.MinReplicas, p.Model.Runtime)
	})

	// Deleting the Model: no finalizer holds it, and every child carries
	// the owner reference the garbage collector follows.
	if len(m.Finalizers) != 0 {
		t.Errorf("finalizers %q, want none", m.Finalizers)
	}
	if err := c.Delete(ctx, m); err != nil {
		t.Fatalf("delete model: %v", err)
	}
	waitFor(t, "model deleted", func() (bool, string) {
		err := c.Get(ctx, types.NamespacedName{Namespace: ns, Name: "checkout"}, &ppav1.Model{})
		return apierrors.IsNotFound(err), fmt.Sprint(err)
	})
}
