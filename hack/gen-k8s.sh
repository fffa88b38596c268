#!/usr/bin/env bash
# gen-k8s.sh: generate the Kubernetes artifacts of api/v1alpha1 and
# host/controller from their kubebuilder markers, with controller-gen:
#
#   api/v1alpha1/zz_generated.deepcopy.go   DeepCopy methods
#   charts/ppa/files/crds/ppa-autoscaler.io_*.yaml CRDs (Model, Forecaster;
#                                          templates/crds.yaml renders them)
#   host/controller/rbac/role.yaml          the controller's ClusterRole rules
#   charts/ppa/files/controller-role.yaml   the same, where the chart reads it
#
# The output is committed; CI re-runs this script and diffs. Deterministic:
# controller-gen is pinned (CONTROLLER_GEN_VERSION, the release built
# against the k8s.io/* v0.34 libraries in go.mod), its output depends only
# on the sources, and stale CRD files are removed before writing.
#
# controller-gen is built once with `go install` into $PPA_TEST_BIN (default
# ${XDG_CACHE_HOME:-$HOME/.cache}/ppa-test/bin) as controller-gen-VERSION.
set -euo pipefail

CONTROLLER_GEN_VERSION=v0.19.0

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BIN=${PPA_TEST_BIN:-${XDG_CACHE_HOME:-$HOME/.cache}/ppa-test/bin}
CRDS=charts/ppa/files/crds
RBAC=host/controller/rbac

die() {
	printf 'gen-k8s: %s\n' "$*" >&2
	exit 1
}

command -v go >/dev/null || die "go is not on PATH"

GEN=$BIN/controller-gen-$CONTROLLER_GEN_VERSION
if [[ ! -x $GEN ]]; then
	mkdir -p "$BIN" || die "cannot create $BIN"
	tmp=$(mktemp -d)
	# Outside any module, so that the project's go.mod plays no part.
	(cd "$tmp" && GOBIN="$tmp" GOFLAGS='' GOWORK=off go install -trimpath \
		"sigs.k8s.io/controller-tools/cmd/controller-gen@$CONTROLLER_GEN_VERSION") >&2 ||
		die "go install sigs.k8s.io/controller-tools/cmd/controller-gen@$CONTROLLER_GEN_VERSION failed"
	mv -f "$tmp/controller-gen" "$GEN.tmp" && mv -f "$GEN.tmp" "$GEN"
	rm -rf "$tmp"
	ln -sfn "controller-gen-$CONTROLLER_GEN_VERSION" "$BIN/controller-gen"
fi

cd "$ROOT"
mkdir -p "$CRDS" "$RBAC"
rm -f "$CRDS"/ppa-autoscaler.io_*.yaml
"$GEN" object paths=./api/...
"$GEN" crd paths=./api/... output:crd:artifacts:config="$CRDS"
"$GEN" rbac:roleName=ppa-controller paths=./host/controller/... output:rbac:artifacts:config="$RBAC"
# Helm reads files from inside the chart only: the chart's ClusterRole is
# rendered from this copy.
cp "$RBAC/role.yaml" charts/ppa/files/controller-role.yaml
echo "gen-k8s: wrote api/v1alpha1/zz_generated.deepcopy.go, $CRDS, $RBAC/role.yaml, charts/ppa/files/controller-role.yaml (controller-gen $CONTROLLER_GEN_VERSION)"
