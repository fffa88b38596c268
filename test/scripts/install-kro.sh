#!/usr/bin/env bash
# install-kro.sh: build the kro controller (Kube Resource Orchestrator,
# github.com/kubernetes-sigs/kro) from the Go module proxy, for the test that
# runs the chart's ResourceGraphDefinition under a real kro on the test
# apiserver (test/kro).
#
# The binary lands in
#   ${PPA_TEST_BIN:-${XDG_CACHE_HOME:-$HOME/.cache}/ppa-test/bin}/kro-<version>
# with the symlink kro beside it, and kro's own CRDs (ResourceGraphDefinition,
# GraphRevision; from the module's helm/crds) in the directory
#   .../bin/kro-<version>-crds
# with the symlink kro-crds beside it, where test/testenv looks. A build
# already there is reused. Idempotent; prints the binary's path last.
#
# How: the module's go.mod has no replace directives, but its main package is
# cmd/controller (a binary named "controller"), so the module is downloaded
# (go mod download), copied to a temporary directory and built there as the
# main module with its own go.mod and go.sum, under the name kro.
# Cold (empty module and build caches): about 3-4 minutes on 2 cores;
# warm: nothing to do.
set -euo pipefail

KRO_VERSION=${KRO_VERSION:-v0.9.4}
MODULE=github.com/kubernetes-sigs/kro

BIN=${PPA_TEST_BIN:-${XDG_CACHE_HOME:-$HOME/.cache}/ppa-test/bin}
START=$(date +%s)

log() { printf '[install-kro %3ds] %s\n' "$(($(date +%s) - START))" "$*" >&2; }
die() {
	printf '[install-kro] ERROR: %s\n' "$*" >&2
	exit 1
}

command -v go >/dev/null || die "go is not on PATH"
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
mkdir -p "$BIN" || die "cannot create $BIN"
BIN=$(cd "$BIN" && pwd)
TARGET=$BIN/kro-$KRO_VERSION
CRDS=$BIN/kro-$KRO_VERSION-crds

# kro has no version flag; -h parses the flags and exits 0 without contacting
# a cluster, which proves the binary runs.
if [[ -x $TARGET ]] && "$TARGET" -h >/dev/null 2>&1 &&
	[[ -f $CRDS/kro.run_resourcegraphdefinitions.yaml ]]; then
	log "kro $KRO_VERSION: cached ($TARGET)"
else
	WORK=$(mktemp -d "${TMPDIR:-/tmp}/ppa-install-kro.XXXXXX")
	trap 'chmod -R u+w "$WORK" 2>/dev/null; rm -rf "$WORK"' EXIT
	export GOFLAGS='' GOWORK=off GOTOOLCHAIN=local CGO_ENABLED=0
	log "kro $KRO_VERSION: downloading $MODULE@$KRO_VERSION"
	(cd "$WORK" && module_source "$MODULE" "$KRO_VERSION" "$WORK/src") || exit 1
	log "kro $KRO_VERSION: building ./cmd/controller"
	(cd "$WORK/src" && go build -trimpath -ldflags "-s -w" -o "$WORK/kro" ./cmd/controller) ||
		die "go build ./cmd/controller failed"
	rm -rf "$CRDS.tmp"
	mkdir -p "$CRDS.tmp"
	cp "$WORK/src/helm/crds/"*.yaml "$CRDS.tmp/" || die "the module has no helm/crds"
	[[ -f $CRDS.tmp/kro.run_resourcegraphdefinitions.yaml ]] ||
		die "helm/crds has no kro.run_resourcegraphdefinitions.yaml"
	rm -rf "$CRDS"
	mv -f "$CRDS.tmp" "$CRDS"
	mv -f "$WORK/kro" "$TARGET.tmp"
	mv -f "$TARGET.tmp" "$TARGET"
	log "kro $KRO_VERSION: built ($(du -h "$TARGET" | cut -f1))"
fi
ln -sfn "$(basename "$TARGET")" "$BIN/kro"
ln -sfn "$(basename "$CRDS")" "$BIN/kro-crds"
echo "$BIN/kro"
