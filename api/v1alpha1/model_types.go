package v1alpha1

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Defaults of a Model's optional fields, as the CRD applies them.
const (
	// DefaultLead is the policy search's default lead (spec.scaling.lead).
	DefaultLead = "5m"
	// DefaultHistory is how much history a training reads.
	DefaultHistory = "14d"
	// DefaultStep is the sampling step of the history.
	DefaultStep = "1m"
	// DefaultSchedule retrains every hour, on the hour. Hourly keeps a
	// model's level and trend within an hour of the data (a predictive
	// scaler acts minutes ahead, so a day-old fit lags level shifts) while
	// one training of 14 days of minutes takes seconds to a few minutes.
	// Set training.schedule to "0 3 * * *" (daily) for costly plugins.
	DefaultSchedule = "0 * * * *"
	// DefaultRuntime is the ClusterServingRuntime of PPA's runtime, as the
	// chart installs it.
	DefaultRuntime = "ppa-runtime"
)

// ModelSpec is what a Model asks for: a metric, a forecaster, a
// retraining schedule, serving and storage.
type ModelSpec struct {
	// Source is where the metric's history comes from.
	Source SourceSpec `json:"source"`

	// Forecaster names the plugin that learns the metric: a registered
	// Forecaster (by spec.name and spec.version) or a plugin built into
	// the trainer. Without a name, every training's policy search picks
	// among the built-in forecasters built for short leads; with one, the
	// search judges that plugin's decision rules.
	// +optional
	// +kubebuilder:default={}
	Forecaster ForecasterRef `json:"forecaster,omitempty"`

	// Scaling describes the workload for the policy search each training
	// runs: the trainer replays the history through the HPA's replica
	// model and stores the rules that beat the HPA (or the reactive
	// policy) with the model, and the scaler applies them.
	// +optional
	// +kubebuilder:default={}
	Scaling ScalingSpec `json:"scaling,omitempty"`

	// Parameters are the plugin's parameters (see `ppa plugin inspect`),
	// passed to each training as --param key=value.
	// +optional
	// +kubebuilder:validation:MaxProperties=64
	Parameters map[string]string `json:"parameters,omitempty"`

	// Training says when and how the model is retrained.
	// +optional
	// +kubebuilder:default={}
	Training TrainingSpec `json:"training,omitempty"`

	// Serving configures the KServe InferenceService that serves the
	// forecast.
	// +optional
	// +kubebuilder:default={}
	Serving ServingSpec `json:"serving,omitempty"`

	// Store is where model versions (and non-built-in plugins) live.
	// Without it the controller's --default-store-uri applies.
	// +optional
	Store *StoreSpec `json:"store,omitempty"`
}

// SourceSpec is the metric's data source. Prometheus is the only one in
// this version.
type SourceSpec struct {
	// Prometheus reads the metric with query_range.
	Prometheus PrometheusSource `json:"prometheus"`
}

// PrometheusSource is a PromQL query against a Prometheus server.
type PrometheusSource struct {
	// URL is the Prometheus base URL, e.g. http://prometheus.monitoring:9090.
	// +kubebuilder:validation:Pattern=`^https?://[^\s]+$`
	// +kubebuilder:validation:MaxLength=2048
	URL string `json:"url"`

	// Query is the PromQL expression of the metric.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=8192
	Query string `json:"query"`

	// Aggregate folds a query that returns several series into one.
	// Without it such a query is an error of the training.
	// +optional
	// +kubebuilder:validation:Enum=sum;max;min;avg
	Aggregate string `json:"aggregate,omitempty"`

	// History is how much history each training reads, as a duration
	// with an optional day unit ("14d", "36h").
	// +optional
	// +kubebuilder:default="14d"
	// +kubebuilder:validation:Pattern=`^([0-9]+(ms|s|m|h|d))+$`
	History string `json:"history,omitempty"`

	// Step is the sampling step of the history ("1m", "30s").
	// +optional
	// +kubebuilder:default="1m"
	// +kubebuilder:validation:Pattern=`^([0-9]+(ms|s|m|h|d))+$`
	Step string `json:"step,omitempty"`

	// Auth holds references to Secrets, in the Model's namespace, with
	// Prometheus credentials. The controller never reads them: they are
	// mounted into the training pods.
	// +optional
	Auth *PrometheusAuth `json:"auth,omitempty"`
}

// PrometheusAuth references Secret keys holding Prometheus credentials.
// +kubebuilder:validation:XValidation:rule="!(has(self.bearerToken) && has(self.basicAuth))",message="bearerToken and basicAuth: give one, not both"
type PrometheusAuth struct {
	// BearerToken is a Secret key holding a bearer token.
	// +optional
	BearerToken *corev1.SecretKeySelector `json:"bearerToken,omitempty"`

	// BasicAuth is a user name and password, each from a Secret key.
	// +optional
	BasicAuth *BasicAuth `json:"basicAuth,omitempty"`

	// CA is a Secret key holding PEM certificates that verify the
	// server's certificate.
	// +optional
	CA *corev1.SecretKeySelector `json:"ca,omitempty"`

	// InsecureSkipVerify turns off verification of the server's
	// certificate.
	// +optional
	InsecureSkipVerify bool `json:"insecureSkipVerify,omitempty"`
}

// BasicAuth is HTTP basic authentication from Secret keys.
type BasicAuth struct {
	// Username is a Secret key holding the user name.
	Username corev1.SecretKeySelector `json:"username"`
	// Password is a Secret key holding the password.
	Password corev1.SecretKeySelector `json:"password"`
}

// ForecasterRef names a forecaster plugin.
type ForecasterRef struct {
	// Name is the plugin's name, e.g. prophet or seasonal-profile. Empty:
	// the policy search chooses.
	// +optional
	// +kubebuilder:validation:Pattern=`^([a-z0-9]([-a-z0-9]*[a-z0-9])?)?$`
	// +kubebuilder:validation:MaxLength=63
	Name string `json:"name,omitempty"`

	// Version is the plugin's semantic version. Without it: the newest
	// registered Forecaster of that name, else the built-in plugin.
	// +optional
	// +kubebuilder:validation:Pattern=`^[0-9]+\.[0-9]+\.[0-9]+(-[0-9a-z.-]+)?$`
	// +kubebuilder:validation:MaxLength=63
	Version string `json:"version,omitempty"`
}

// ScalingSpec is what the policy search needs to know about the workload.
type ScalingSpec struct {
	// Lead is the time a new replica needs to become ready, the horizon
	// the scaler reads (the ScaledObject trigger's horizon should match).
	// +optional
	// +kubebuilder:default="5m"
	// +kubebuilder:validation:Pattern=`^([0-9]+(\.[0-9]+)?(ms|s|m|h|d))+$`
	Lead string `json:"lead,omitempty"`

	// TargetValue is the metric one replica should carry: the ScaledObject
	// trigger's targetValue. Without it the search assumes the history's
	// peak needs 20 replicas, and the policy says so.
	// +optional
	// +kubebuilder:validation:Pattern=`^[0-9]+(\.[0-9]+)?$`
	TargetValue string `json:"targetValue,omitempty"`

	// TargetUtilization is the share of a replica's capacity that
	// TargetValue stands for, in (0, 1]. Default 0.8.
	// +optional
	// +kubebuilder:validation:Pattern=`^(0(\.[0-9]+)?|1(\.0+)?)$`
	TargetUtilization string `json:"targetUtilization,omitempty"`
}

// TrainingSpec configures the trainings of a Model.
type TrainingSpec struct {
	// Schedule is the retraining schedule in cron format (five fields, or
	// a descriptor such as @daily). Default hourly, "0 * * * *": see
	// DefaultSchedule for why.
	// +optional
	// +kubebuilder:default="0 * * * *"
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=128
	// +kubebuilder:validation:XValidation:rule="self.startsWith('@') || self.split(' ').filter(f, f != '').size() == 5",message="schedule must have five fields (minute hour day-of-month month day-of-week) or be a descriptor such as @daily"
	Schedule string `json:"schedule,omitempty"`

	// TimeZone is the IANA time zone of the schedule, e.g. Europe/Paris.
	// Default: the Argo controller's.
	// +optional
	// +kubebuilder:validation:MaxLength=64
	TimeZone string `json:"timeZone,omitempty"`

	// Suspend stops retraining (the first training still runs).
	// +optional
	Suspend bool `json:"suspend,omitempty"`

	// HoldOut is the backtest window at the end of the history that the
	// quality gate scores ("1d"). Default: the trainer's, min(1d, 20% of
	// the history).
	// +optional
	// +kubebuilder:validation:Pattern=`^([0-9]+(ms|s|m|h|d))+$`
	HoldOut string `json:"holdout,omitempty"`

	// Gate rejects a trained model whose hold-out errors are too large:
	// a rejected version is stored but not served.
	// +optional
	Gate *GateSpec `json:"gate,omitempty"`

	// Resources of the training container.
	// +optional
	Resources corev1.ResourceRequirements `json:"resources,omitempty"`

	// ServiceAccountName runs the training pods (Argo needs one allowed to
	// report results). Default: the controller's training ServiceAccount
	// (ppa-controller --training-service-account, ppa-workflow by
	// default), which the controller creates in the namespace with a Role
	// that lets Argo's executor report results.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	ServiceAccountName string `json:"serviceAccountName,omitempty"`
}

// GateSpec are the quality gate's limits, as decimal numbers. An absent
// limit is not checked.
type GateSpec struct {
	// MaxMASE is the largest hold-out MASE (mean absolute scaled error,
	// against a seasonal naive forecast) accepted, e.g. "1.0".
	// +optional
	// +kubebuilder:validation:Pattern=`^[0-9]+(\.[0-9]+)?$`
	MaxMASE string `json:"maxMASE,omitempty"`

	// MaxSMAPE is the largest hold-out sMAPE accepted, as a fraction
	// (0.2 = 20%).
	// +optional
	// +kubebuilder:validation:Pattern=`^[0-9]+(\.[0-9]+)?$`
	MaxSMAPE string `json:"maxSMAPE,omitempty"`
}

// ServingMode says whether a Model shares an InferenceService.
// +kubebuilder:validation:Enum=shared;dedicated
type ServingMode string

// Serving modes.
const (
	// ServingShared shares one InferenceService among the Models of a
	// namespace that use the same store, runtime and service account.
	ServingShared ServingMode = "shared"
	// ServingDedicated gives the Model its own InferenceService.
	ServingDedicated ServingMode = "dedicated"
)

// ServingSpec configures the InferenceService of a Model.
// +kubebuilder:validation:XValidation:rule="!has(self.maxReplicas) || self.maxReplicas >= self.minReplicas",message="maxReplicas must not be below minReplicas"
type ServingSpec struct {
	// Mode is shared (the default) or dedicated. Shared: the Models of a
	// namespace with the same store, runtime and service account share
	// one InferenceService, ppa-HASH, whose runtime serves them all.
	// Dedicated: the Model gets its own InferenceService, named like the
	// Model. The replica and resource settings of a shared
	// InferenceService are the largest of its members'.
	// +optional
	// +kubebuilder:default=shared
	Mode ServingMode `json:"mode,omitempty"`

	// Runtime is the ClusterServingRuntime (or ServingRuntime) that
	// serves the model.
	// +optional
	// +kubebuilder:default="ppa-runtime"
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	// +kubebuilder:validation:MaxLength=63
	Runtime string `json:"runtime,omitempty"`

	// MinReplicas of the predictor. At least 1: the scaler reads the
	// forecast at all times, so the predictor never scales to zero.
	// +optional
	// +kubebuilder:default=1
	// +kubebuilder:validation:Minimum=1
	MinReplicas int32 `json:"minReplicas,omitempty"`

	// MaxReplicas of the predictor. Default: KServe's.
	// +optional
	// +kubebuilder:validation:Minimum=1
	MaxReplicas *int32 `json:"maxReplicas,omitempty"`

	// Resources of the predictor container.
	// +optional
	Resources corev1.ResourceRequirements `json:"resources,omitempty"`

	// ServiceAccountName runs the predictor pods.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	ServiceAccountName string `json:"serviceAccountName,omitempty"`
}

// StoreSpec is an artifact store.
type StoreSpec struct {
	// URI is s3://BUCKET/PREFIX (optionally ?endpoint=HOST:PORT&insecure=true
	// for S3-compatible servers) or an absolute directory path on a volume
	// the pods share.
	// +kubebuilder:validation:Pattern=`^(s3://[a-z0-9][-a-z0-9.]*[a-z0-9](/[^\s]*)?|/[^\s]*)$`
	// +kubebuilder:validation:MaxLength=2048
	URI string `json:"uri"`

	// CredentialsSecret names a Secret in the Model's namespace whose keys
	// become environment variables of the training and serving pods
	// (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, optionally
	// AWS_SESSION_TOKEN and AWS_REGION).
	// +optional
	CredentialsSecret *corev1.LocalObjectReference `json:"credentialsSecret,omitempty"`
}

// ModelStatus is what the controller observed about a Model.
type ModelStatus struct {
	// Conditions: Ready (trained and serving), Trained (a model version
	// the gate accepted exists), Serving (the InferenceService is ready).
	// Reasons are the Reason* constants of this package.
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// ObservedGeneration is the generation of the spec the status
	// describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// LatestVersion is the version the most recent finished training
	// wrote, accepted by the gate or not.
	// +optional
	LatestVersion string `json:"latestVersion,omitempty"`

	// ServingVersion is the version the runtime serves, as the runtime
	// itself reports it (the controller asks it, ppa-controller
	// --ask-runtime, the default): also a version trained outside the
	// controller's workflows. Without asking: the newest version the
	// controller's trainings stored and the quality gate accepted.
	// +optional
	ServingVersion string `json:"servingVersion,omitempty"`

	// Endpoint is the predictor's gRPC address (host:port, Open Inference
	// Protocol v2), set once the InferenceService is ready. The scaler
	// dials it.
	// +optional
	Endpoint string `json:"endpoint,omitempty"`

	// LastTrainingTime is when the most recent training finished.
	// +optional
	LastTrainingTime *metav1.Time `json:"lastTrainingTime,omitempty"`

	// LastTrainingWorkflow names the Argo Workflow of the most recent
	// training.
	// +optional
	LastTrainingWorkflow string `json:"lastTrainingWorkflow,omitempty"`

	// Forecaster is the plugin the trainings use, as resolved.
	// +optional
	Forecaster *ResolvedForecaster `json:"forecaster,omitempty"`

	// Policy is the scaling policy the newest finished training learned:
	// predictive (with the forecaster it picked and what it gained on the
	// history) or reactive, and why.
	// +optional
	Policy *PolicyStatus `json:"policy,omitempty"`
}

// PolicyStatus summarises a learned scaling policy (host/policy).
type PolicyStatus struct {
	// Mode is predictive or reactive.
	Mode string `json:"mode"`
	// Reason says why: what won, or why nothing beat the HPA.
	Reason string `json:"reason,omitempty"`
	// Forecaster is the plugin a predictive policy reads.
	// +optional
	Forecaster string `json:"forecaster,omitempty"`
	// Rules describes a predictive policy's decision rules.
	// +optional
	Rules string `json:"rules,omitempty"`
	// GapClosed is the share of the HPA → oracle gap in under-provisioned
	// minutes the policy closed on the history at equal replica-hours,
	// e.g. "61.2%".
	// +optional
	GapClosed string `json:"gapClosed,omitempty"`
	// Version is the model version the policy was stored with.
	// +optional
	Version string `json:"version,omitempty"`
}

// ResolvedForecaster is the plugin a Model's forecaster reference resolved
// to.
type ResolvedForecaster struct {
	// Plugin is what the trainer receives as --plugin: NAME@VERSION, or
	// NAME for a built-in plugin without a version.
	Plugin string `json:"plugin"`
	// Forecaster names the registered Forecaster, empty for a built-in.
	// +optional
	Forecaster string `json:"forecaster,omitempty"`
	// SHA256 is the registered artifact's digest, empty for a built-in.
	// The trainer gets it as --plugin-sha256 and checks every load.
	// +optional
	SHA256 string `json:"sha256,omitempty"`
	// URI is the registered artifact's location, empty for a built-in.
	// The trainer gets it as --plugin-uri and fetches the artifact into
	// the store when the store lacks it.
	// +optional
	URI string `json:"uri,omitempty"`
}

// Model is one metric that PPA forecasts: its source, forecaster,
// retraining, serving and store. The controller creates an Argo Workflow
// (first training), an Argo CronWorkflow (retraining) and a KServe
// InferenceService (serving), all owned by the Model.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:scope=Namespaced,categories=ppa
// +kubebuilder:printcolumn:name="Forecaster",type=string,JSONPath=`.spec.forecaster.name`
// +kubebuilder:printcolumn:name="Schedule",type=string,JSONPath=`.spec.training.schedule`
// +kubebuilder:printcolumn:name="Serving",type=string,JSONPath=`.status.servingVersion`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].reason`
// +kubebuilder:printcolumn:name="Endpoint",type=string,JSONPath=`.status.endpoint`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
// +kubebuilder:validation:XValidation:rule="self.metadata.name.matches('^[a-z]([-a-z0-9]*[a-z0-9])?$') && size(self.metadata.name) <= 40",message="metadata.name must be a DNS-1035 label of at most 40 characters (it names the InferenceService and the training workflows)"
type Model struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// Spec is the desired state.
	Spec ModelSpec `json:"spec"`
	// Status is the observed state.
	// +optional
	Status ModelStatus `json:"status,omitempty"`
}

// ModelList is a list of Models.
//
// +kubebuilder:object:root=true
type ModelList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	// Items are the Models.
	Items []Model `json:"items"`
}

func init() {
	SchemeBuilder.Register(&Model{}, &ModelList{})
}
