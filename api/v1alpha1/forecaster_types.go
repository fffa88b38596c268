package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// ForecasterSpec describes one immutable plugin version.
type ForecasterSpec struct {
	// Name is the plugin's name as it describes itself, e.g. prophet.
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	// +kubebuilder:validation:MaxLength=63
	Name string `json:"name"`

	// Version is the plugin's semantic version, e.g. 1.2.0.
	// +kubebuilder:validation:Pattern=`^[0-9]+\.[0-9]+\.[0-9]+(-[0-9a-z.-]+)?$`
	// +kubebuilder:validation:MaxLength=63
	Version string `json:"version"`

	// URI is where the .wasm artifact is, e.g.
	// s3://bucket/ppa/plugins/prophet/1.2.0/plugin.wasm (`ppa plugin push`
	// puts it there).
	// +kubebuilder:validation:Pattern=`^(s3|https?|file)://[^\s]+$`
	// +kubebuilder:validation:MaxLength=2048
	URI string `json:"uri"`

	// SHA256 is the artifact's digest, 64 lower-case hex digits; every
	// load checks it.
	// +kubebuilder:validation:Pattern=`^[a-f0-9]{64}$`
	SHA256 string `json:"sha256"`

	// ABIVersion is the plugin ABI version the artifact implements
	// (major.minor.patch, see abi/SPEC.md).
	// +kubebuilder:validation:Pattern=`^[0-9]+\.[0-9]+\.[0-9]+$`
	ABIVersion string `json:"abiVersion"`
}

// ForecasterStatus is what the controller observed about a Forecaster.
type ForecasterStatus struct {
	// Conditions: Ready says whether this host's ABI can run the plugin.
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// ObservedGeneration is the generation the status describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
}

// Forecaster registers one version of a forecaster plugin with the
// cluster: where its artifact is, its sha256 digest and its ABI version.
// Artifacts are immutable, and so is a Forecaster's spec; its name is
// NAME-VERSION so that each version is registered once.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:scope=Cluster,categories=ppa
// +kubebuilder:printcolumn:name="Plugin",type=string,JSONPath=`.spec.name`
// +kubebuilder:printcolumn:name="Version",type=string,JSONPath=`.spec.version`
// +kubebuilder:printcolumn:name="ABI",type=string,JSONPath=`.spec.abiVersion`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="URI",type=string,JSONPath=`.spec.uri`,priority=1
// +kubebuilder:printcolumn:name="SHA256",type=string,JSONPath=`.spec.sha256`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
// +kubebuilder:validation:XValidation:rule="self.metadata.name == self.spec.name + '-' + self.spec.version",message="metadata.name must be spec.name-spec.version, e.g. prophet-1.2.0"
type Forecaster struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// Spec is the registered plugin version; it cannot change.
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="spec is immutable: register a new version instead"
	Spec ForecasterSpec `json:"spec"`
	// Status is the observed state.
	// +optional
	Status ForecasterStatus `json:"status,omitempty"`
}

// ForecasterList is a list of Forecasters.
//
// +kubebuilder:object:root=true
type ForecasterList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	// Items are the Forecasters.
	Items []Forecaster `json:"items"`
}

// ForecasterName is the metadata.name of the Forecaster registering
// version of plugin name.
func ForecasterName(name, version string) string {
	return name + "-" + version
}

func init() {
	SchemeBuilder.Register(&Forecaster{}, &ForecasterList{})
}
