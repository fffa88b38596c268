// Package v1alpha1 holds PPA's Kubernetes API, group ppa-autoscaler.io,
// version v1alpha1:
//
//   - Model (namespaced): one metric to forecast — where its history comes
//     from (Prometheus), which forecaster plugin learns it, when it is
//     retrained, how the forecast is served and where the artifacts live.
//     The controller turns it into an Argo Workflow (first training), an
//     Argo CronWorkflow (retraining) and a KServe InferenceService
//     (serving), and reports back in its status.
//   - Forecaster (cluster-scoped): a registered, immutable plugin version —
//     its artifact URI, sha256 digest and ABI version.
//
// The CRDs in charts/ppa/files/crds and zz_generated.deepcopy.go are generated
// from the markers in this package by hack/gen-k8s.sh (make generate).
//
// +kubebuilder:object:generate=true
// +groupName=ppa-autoscaler.io
package v1alpha1

import (
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/scheme"
)

var (
	// GroupVersion is the group and version of every kind in this package.
	GroupVersion = schema.GroupVersion{Group: "ppa-autoscaler.io", Version: "v1alpha1"}

	// SchemeBuilder registers the kinds of this package with a scheme.
	SchemeBuilder = &scheme.Builder{GroupVersion: GroupVersion}

	// AddToScheme adds the kinds of this package to a scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)
