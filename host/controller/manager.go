package controller

import (
	"fmt"
	"time"

	wfv1 "github.com/argoproj/argo-workflows/v3/pkg/apis/workflow/v1alpha1"
	kservev1beta1 "github.com/kserve/kserve/pkg/apis/serving/v1beta1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/selection"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	ppav1 "github.com/ppa-autoscaler/ppa/api/v1alpha1"
)

// NewScheme returns a scheme with every kind the controller reads or
// writes: Kubernetes' own, PPA's, Argo's and KServe's.
func NewScheme() (*runtime.Scheme, error) {
	s := runtime.NewScheme()
	for name, add := range map[string]func(*runtime.Scheme) error{
		"kubernetes":        clientgoscheme.AddToScheme,
		"ppa-autoscaler.io": ppav1.AddToScheme,
		"argoproj.io":       wfv1.AddToScheme,
		"serving.kserve.io": kservev1beta1.AddToScheme,
	} {
		if err := add(s); err != nil {
			return nil, fmt.Errorf("scheme: add %s kinds: %w", name, err)
		}
	}
	return s, nil
}

// CacheOptions limits the manager's cache of Workflows to those labelled
// with a Model: a cluster may run many other workflows.
func CacheOptions() (cache.Options, error) {
	req, err := labels.NewRequirement(LabelModel, selection.Exists, nil)
	if err != nil {
		return cache.Options{}, fmt.Errorf("cache: workflow selector: %w", err)
	}
	return cache.Options{ByObject: map[client.Object]cache.ByObject{
		&wfv1.Workflow{}: {Label: labels.NewSelector().Add(*req)},
	}}, nil
}

// Setup adds the Model and Forecaster reconcilers to mgr.
func Setup(mgr ctrl.Manager, o Options) error {
	models := &ModelReconciler{Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(), Scheme: mgr.GetScheme(), Options: o,
		Recorder: mgr.GetEventRecorderFor(EventSource)}
	if err := models.SetupWithManager(mgr); err != nil {
		return err
	}
	now := o.Now
	if now == nil {
		now = time.Now
	}
	forecasters := &ForecasterReconciler{Client: mgr.GetClient(), Now: func() metav1.Time { return metav1.NewTime(now()) },
		Recorder: mgr.GetEventRecorderFor(EventSource)}
	if err := forecasters.SetupWithManager(mgr); err != nil {
		return fmt.Errorf("forecaster controller: %w", err)
	}
	return nil
}
