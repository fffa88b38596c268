// Package cluster runs PPA's whole loop on a control plane made of real
// Kubernetes components, without Docker, and is what `make test-cluster`
// (and so `make test` and CI) runs:
//
//   - etcd and kube-apiserver (envtest's binaries) with the aggregation
//     layer: a front-proxy CA, and KEDA's metrics adapter registered as the
//     external.metrics.k8s.io APIService behind an ExternalName Service;
//   - kube-controller-manager (deployment, replicaset, horizontal pod
//     autoscaler and garbage-collector controllers) and kube-scheduler;
//   - KEDA's operator and metrics adapter, Argo's workflow-controller, and
//     KWOK playing the kubelet of one node;
//   - Prometheus and MinIO;
//   - PPA's chart installed with `helm install`, and PPA's controller and
//     scaler run as local processes from the chart's own Deployments: their
//     container command, arguments and environment, with a token of the
//     chart's ServiceAccount, so the chart's RBAC is what they run with.
//
// test/scripts/install-cluster.sh builds the components (see there for
// versions and the two KEDA scalers left out of the build).
//
// What is emulated, and so not proven here:
//
//   - Containers. KWOK only writes pod status; no image runs. The harness
//     plays the kubelet for the two kinds of pod PPA's work happens in: an
//     Argo training pod's main container is run as a local process with the
//     pod's command, arguments, environment and volumes (the ppa-trainer
//     binary the image holds, built from the same source), and its output
//     parameter is reported as Argo's wait container would (a
//     WorkflowTaskResult), after which KWOK ends the pod Succeeded or Failed
//     by the process's exit code.
//   - KServe's controller. It is not built. The harness merges the chart's
//     ClusterServingRuntime container with each InferenceService's
//     predictor as KServe does (arguments appended, environment added),
//     runs the result as a local ppa-runtime process, and reports the
//     InferenceService Ready with the process's gRPC address. The
//     InferenceService and ClusterServingRuntime objects themselves are
//     checked against KServe's own CRD schemas by the apiserver (full CRDs
//     and a server-side dry-run). KServe's pod templating, Knative or raw
//     Deployments, its Services and ingress are not exercised.
//   - Addresses. Everything listens on loopback; the APIService reaches the
//     adapter through an ExternalName Service naming localhost.
//
// The test binary runs as init of a PID namespace of its own (TestMain), so
// that every process it started dies with it, whatever ends it.
package cluster
