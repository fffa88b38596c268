// Package kro tests the chart's kro ResourceGraphDefinition
// (charts/ppa/templates/kro.yaml, kro.enabled) under a real kro controller
// (github.com/kubernetes-sigs/kro, built by test/scripts/install-kro.sh) on
// envtest's kube-apiserver and etcd: the graph rendered by `helm template`
// becomes Active, and each KroModel expands into the Workflow, CronWorkflow
// and InferenceService that ppa-controller, running beside it against the
// same API server with the options the chart gives it, makes of a Model with
// the same spec, and its status follows finished trainings as the Model's
// does; deleting the instance deletes them (kro's own deletion:
// envtest runs no garbage collector). It runs once with the schemaless Argo
// and KServe CRDs of the controller's tests and once with their full
// schemas, which kro type-checks the graph against.
package kro
