#!/usr/bin/env bash
# install-helm.sh: build the helm v3 command line from the Go module proxy,
# for test/chart (helm lint and helm template of charts/ppa). Helm's
# release downloads are not reachable from the build machines.
#
# The binary lands in
#   ${PPA_TEST_BIN:-${XDG_CACHE_HOME:-$HOME/.cache}/ppa-test/bin}/helm-<version>-k8s<kube>
# with the symlink helm beside it, where test/chart looks first. A binary
# already there is reused: the build runs only on a fresh machine or after a
# version change. Idempotent; prints the binary's path on its last line.
#
# How: `go install helm.sh/helm/v3/cmd/helm@VERSION` from a temporary
# directory outside the project's module (so that its go.mod plays no
# part), with the version stamped as upstream's release build does.
# Cold: about 3-6 minutes on 2 cores; warm: nothing to do.
set -euo pipefail

HELM_VERSION=${HELM_VERSION:-v3.19.5}
# Kubernetes version helm assumes without a cluster (helm template, helm
# lint): upstream's Makefile derives it from the client-go that helm
# v3.19 builds with (v0.34 -> 1.34); a plain go install would leave 1.20,
# below the chart's kubeVersion.
KUBE_MAJOR=1
KUBE_MINOR=34

BIN=${PPA_TEST_BIN:-${XDG_CACHE_HOME:-$HOME/.cache}/ppa-test/bin}
START=$(date +%s)

log() { printf '[install-helm %3ds] %s\n' "$(($(date +%s) - START))" "$*" >&2; }
die() {
	printf '[install-helm] ERROR: %s\n' "$*" >&2
	exit 1
}

command -v go >/dev/null || die "go is not on PATH"
mkdir -p "$BIN" || die "cannot create $BIN"
BIN=$(cd "$BIN" && pwd)
TARGET=$BIN/helm-$HELM_VERSION-k8s$KUBE_MAJOR.$KUBE_MINOR

if [[ -x $TARGET ]] && "$TARGET" version --short >/dev/null 2>&1; then
	log "helm $HELM_VERSION: cached ($TARGET)"
else
	log "helm $HELM_VERSION: building helm.sh/helm/v3/cmd/helm@$HELM_VERSION"
	WORK=$(mktemp -d "${TMPDIR:-/tmp}/ppa-install-helm.XXXXXX")
	trap 'rm -rf "$WORK"' EXIT
	# Outside any module; an empty GOFLAGS keeps caller settings such as
	# -mod=vendor out, and GOTOOLCHAIN=local forbids a toolchain download.
	(cd "$WORK" && GOBIN="$WORK/bin" GOFLAGS='' GOWORK=off GOTOOLCHAIN=local CGO_ENABLED=0 \
		go install -trimpath \
		-ldflags "-s -w -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION \
			-X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMajor=$KUBE_MAJOR \
			-X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMinor=$KUBE_MINOR \
			-X helm.sh/helm/v3/pkg/chartutil.k8sVersionMajor=$KUBE_MAJOR \
			-X helm.sh/helm/v3/pkg/chartutil.k8sVersionMinor=$KUBE_MINOR" \
		"helm.sh/helm/v3/cmd/helm@$HELM_VERSION") ||
		die "go install helm.sh/helm/v3/cmd/helm@$HELM_VERSION failed"
	[[ -x $WORK/bin/helm ]] || die "go install produced no $WORK/bin/helm"
	mv -f "$WORK/bin/helm" "$TARGET.tmp"
	mv -f "$TARGET.tmp" "$TARGET"
	log "helm $HELM_VERSION: built ($(du -h "$TARGET" | cut -f1))"
fi
ln -sfn "$(basename "$TARGET")" "$BIN/helm"
log "$("$BIN/helm" version --short)"
echo "$BIN/helm"
