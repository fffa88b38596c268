// Package chart tests the Helm chart charts/ppa with the real helm command
// line (built by test/scripts/install-helm.sh): helm lint --strict, helm
// template with the default values and with testdata/values-full.yaml, the
// rendered objects decoded strictly into their Kubernetes, KServe and Argo
// Go types, the containers' arguments checked against the flags of the
// real binaries (built from cmd/), the schema's rejections, the chart
// README's values table and examples, and helm install, upgrade and
// uninstall against envtest's kube-apiserver (test/scripts/install-envtest.sh)
// with the README's example Model and ScaledObject applied.
//
// Run `go test ./test/chart -run TestReadmeValues -update` after changing
// values.yaml to regenerate the README's values table.
package chart
