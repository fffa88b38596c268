// Package controller reconciles PPA's custom resources (api/v1alpha1).
//
// ModelReconciler turns a Model into three children, each owned by the
// Model so that Kubernetes' garbage collector deletes them with it:
//
//   - an Argo Workflow running the first training (ppa-trainer), named
//     MODEL-train-HASH after a hash of the training's inputs, so that a
//     change of source, forecaster, parameters, gate or store trains at
//     once instead of waiting for the schedule;
//   - an Argo CronWorkflow, MODEL-retrain, running the same training on
//     the Model's schedule;
//   - a KServe InferenceService whose predictor runs the PPA serving
//     runtime on the Model's store: in the default shared serving mode
//     ppa-HASH, one per namespace, store, runtime and service account,
//     serving all those Models, owned by each (none its controller) and
//     deleted with the last; in dedicated mode MODEL, the Model's own.
//
// The Model's status follows the children: the newest finished training
// workflow (the first training and the ones the CronWorkflow starts, found
// by the LabelModel label) sets Trained, LatestVersion, ServingVersion and
// LastTrainingTime, from the trainer's result file, which the workflow
// exports as its global output parameter OutputResult; the
// InferenceService's Ready condition sets Serving and Endpoint; Ready is
// both.
//
// ForecasterReconciler checks that this host speaks a registered
// Forecaster's ABI version.
//
// This is the only package, with cmd/ppa-controller, that links the KServe
// and Argo API packages.
package controller
