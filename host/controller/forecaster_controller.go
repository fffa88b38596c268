package controller

import (
	"context"
	"fmt"

	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/record"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/predicate"

	"github.com/ppa-autoscaler/ppa/abi"
	ppav1 "github.com/ppa-autoscaler/ppa/api/v1alpha1"
)

// ForecasterReconciler reports on each Forecaster whether this host's ABI
// (package abi) can run it. The CRD already enforces the rest: the
// digest's form, the name NAME-VERSION and an immutable spec.
type ForecasterReconciler struct {
	// Client reads and writes the API.
	Client client.Client
	// Now is the clock of condition transition times; default time.Now.
	Now func() metav1.Time
	// Recorder emits an Event on the Forecaster when its Ready condition
	// changes; nil: none.
	Recorder record.EventRecorder
}

// +kubebuilder:rbac:groups=ppa-autoscaler.io,resources=forecasters,verbs=get;list;watch
// +kubebuilder:rbac:groups=ppa-autoscaler.io,resources=forecasters/status,verbs=get;update;patch

// Reconcile sets a Forecaster's Ready condition.
func (r *ForecasterReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	var f ppav1.Forecaster
	if err := r.Client.Get(ctx, req.NamespacedName, &f); err != nil {
		if apierrors.IsNotFound(err) {
			return ctrl.Result{}, nil
		}
		return ctrl.Result{}, fmt.Errorf("get forecaster %s: %w", req.Name, err)
	}
	orig := f.DeepCopy()
	c := metav1.Condition{Type: ppav1.ConditionReady, Status: metav1.ConditionTrue, Reason: ppav1.ReasonABISupported,
		Message: fmt.Sprintf("ABI %s runs on this host (ABI %s)", f.Spec.ABIVersion, abi.VersionString(abi.Version))}
	if err := checkABI(f.Spec.ABIVersion); err != nil {
		c.Status, c.Reason, c.Message = metav1.ConditionFalse, ppav1.ReasonABIUnsupported, err.Error()
	}
	c.ObservedGeneration = f.Generation
	if r.Now != nil {
		c.LastTransitionTime = r.Now()
	}
	meta.SetStatusCondition(&f.Status.Conditions, c)
	f.Status.ObservedGeneration = f.Generation
	if equality.Semantic.DeepEqual(orig.Status, f.Status) {
		return ctrl.Result{}, nil
	}
	if err := r.Client.Status().Patch(ctx, &f, client.MergeFrom(orig)); err != nil {
		return ctrl.Result{}, fmt.Errorf("patch status of forecaster %s: %w", f.Name, err)
	}
	log.FromContext(ctx).V(1).Info("status updated", "ready", c.Status, "reason", c.Reason)
	emitTransitions(r.Recorder, &f, orig.Status.Conditions, f.Status.Conditions, ppav1.ConditionReady)
	return ctrl.Result{}, nil
}

// SetupWithManager registers the reconciler.
func (r *ForecasterReconciler) SetupWithManager(mgr ctrl.Manager) error {
	return ctrl.NewControllerManagedBy(mgr).
		Named("forecaster").
		For(&ppav1.Forecaster{}, builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Complete(r)
}
