package controller

import (
	"context"
	"fmt"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/record"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	ppav1 "github.com/ppa-autoscaler/ppa/api/v1alpha1"
)

func TestEmitTransitions(t *testing.T) {
	cond := func(typ string, s metav1.ConditionStatus, reason string) metav1.Condition {
		return metav1.Condition{Type: typ, Status: s, Reason: reason, Message: "m"}
	}
	pending := []metav1.Condition{
		cond(ppav1.ConditionTrained, metav1.ConditionFalse, ppav1.ReasonTrainingPending),
		cond(ppav1.ConditionServing, metav1.ConditionFalse, ppav1.ReasonInferenceServiceNotReady),
		cond(ppav1.ConditionReady, metav1.ConditionFalse, ppav1.ReasonNotTrained),
	}
	failed := []metav1.Condition{
		cond(ppav1.ConditionTrained, metav1.ConditionFalse, ppav1.ReasonTrainingFailed),
		pending[1], pending[2],
	}
	for _, tt := range []struct {
		name          string
		before, after []metav1.Condition
		want          []string
	}{
		{"first status", nil, pending, []string{
			"Normal TrainingPending Trained=False: m", "Normal InferenceServiceNotReady Serving=False: m", "Normal NotTrained Ready=False: m"}},
		{"no change", pending, pending, nil},
		{"reason changes, status does not", pending, failed, []string{"Warning TrainingFailed Trained=False: m"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			rec := record.NewFakeRecorder(10)
			emitTransitions(rec, &ppav1.Model{}, tt.before, tt.after, modelConditions...)
			close(rec.Events)
			var got []string
			for e := range rec.Events {
				got = append(got, e)
			}
			if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("events:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
}

// TestModelEvents: the running controller records Events on a Model when
// its conditions change (here: no store, a Warning).
func TestModelEvents(t *testing.T) {
	c := startEnv(t)
	ns := newNamespace(t, c)
	m := newModel(ns, "no-store")
	m.Spec.Store = nil
	if err := c.Create(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a NoStore Warning Event on the Model", func() (bool, string) {
		var evs corev1.EventList
		if err := c.List(context.Background(), &evs, client.InNamespace(ns)); err != nil {
			return false, err.Error()
		}
		var seen []string
		for _, e := range evs.Items {
			if e.InvolvedObject.Kind == "Model" && e.InvolvedObject.Name == m.Name {
				seen = append(seen, fmt.Sprintf("%s %s %s (%s)", e.Type, e.Reason, e.Message, e.Source.Component))
				if e.Type == corev1.EventTypeWarning && e.Reason == ppav1.ReasonNoStore && e.Source.Component == EventSource {
					return true, ""
				}
			}
		}
		return false, fmt.Sprintf("events %v", seen)
	})
}

// TestForecasterEvents: a Forecaster whose ABI this host cannot run gets a
// Warning Event when its Ready condition is first set, and none when
// nothing changes.
func TestForecasterEvents(t *testing.T) {
	scheme, err := NewScheme()
	if err != nil {
		t.Fatal(err)
	}
	f := newForecaster("futureplug", "1.0.0", "9.0.0")
	c := fake.NewClientBuilder().WithScheme(scheme).WithObjects(f).WithStatusSubresource(f).Build()
	rec := record.NewFakeRecorder(10)
	r := &ForecasterReconciler{Client: c, Recorder: rec}
	req := ctrl.Request{NamespacedName: types.NamespacedName{Name: f.Name}}
	for range 2 {
		if _, err := r.Reconcile(context.Background(), req); err != nil {
			t.Fatal(err)
		}
	}
	close(rec.Events)
	var got []string
	for e := range rec.Events {
		got = append(got, e)
	}
	if len(got) != 1 || !strings.HasPrefix(got[0], "Warning "+ppav1.ReasonABIUnsupported+" Ready=False") {
		t.Errorf("events %q, want one Warning %s", got, ppav1.ReasonABIUnsupported)
	}
}
