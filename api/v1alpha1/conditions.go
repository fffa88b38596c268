package v1alpha1

// Condition types of a Model's status.
const (
	// ConditionReady is True when the Model is Trained and Serving: the
	// scaler can use Endpoint.
	ConditionReady = "Ready"
	// ConditionTrained is True when a version that the quality gate
	// accepted exists (the latest training may still have failed: see its
	// reason).
	ConditionTrained = "Trained"
	// ConditionServing is True when the InferenceService is ready.
	ConditionServing = "Serving"
)

// Reasons of the Trained condition.
const (
	// ReasonTrainingPending: no training has finished yet (the first one
	// is queued or running).
	ReasonTrainingPending = "TrainingPending"
	// ReasonTrainingSucceeded: the latest training stored a version the
	// gate accepted.
	ReasonTrainingSucceeded = "TrainingSucceeded"
	// ReasonTrainingFailed: the latest training failed (its workflow's
	// message says why).
	ReasonTrainingFailed = "TrainingFailed"
	// ReasonGateRejected: the latest training stored a version the
	// quality gate rejected; it is not served.
	ReasonGateRejected = "GateRejected"
	// ReasonVersionServed: no training of the controller's stored an
	// accepted version, but the runtime serves one (trained elsewhere,
	// e.g. with the ClusterWorkflowTemplate or `ppa train`).
	ReasonVersionServed = "VersionServed"
)

// Reasons of the Serving condition.
const (
	// ReasonInferenceServiceReady: the InferenceService reports Ready.
	ReasonInferenceServiceReady = "InferenceServiceReady"
	// ReasonInferenceServiceNotReady: the InferenceService exists but is
	// not ready (its own message follows).
	ReasonInferenceServiceNotReady = "InferenceServiceNotReady"
	// ReasonModelNotServed: the InferenceService is ready but its runtime
	// does not serve the Model (or cannot be asked; the message says).
	ReasonModelNotServed = "ModelNotServed"
	// ReasonModelServed: the runtime serves the Model; servingVersion is
	// the version it reports.
	ReasonModelServed = "ModelServed"
)

// Reasons of the Ready condition, and of the other conditions when the
// controller cannot render the Model's children.
const (
	// ReasonReady: trained and serving.
	ReasonReady = "Ready"
	// ReasonNotTrained: no accepted version yet (see Trained).
	ReasonNotTrained = "NotTrained"
	// ReasonNotServing: the InferenceService is not ready (see Serving).
	ReasonNotServing = "NotServing"
	// ReasonForecasterNotFound: the forecaster is neither a registered
	// Forecaster nor a built-in plugin.
	ReasonForecasterNotFound = "ForecasterNotFound"
	// ReasonForecasterIncompatible: the registered Forecaster's ABI
	// version cannot run on this host.
	ReasonForecasterIncompatible = "ForecasterIncompatible"
	// ReasonNoStore: neither the Model nor the controller names a store.
	ReasonNoStore = "NoStore"
	// ReasonReconcileError: creating or updating a child object failed
	// (the message names it); the controller retries.
	ReasonReconcileError = "ReconcileError"
)

// Reasons of a Forecaster's Ready condition.
const (
	// ReasonABISupported: this host runs the plugin's ABI version.
	ReasonABISupported = "ABISupported"
	// ReasonABIUnsupported: this host cannot run the plugin's ABI version.
	ReasonABIUnsupported = "ABIUnsupported"
)
