#!/usr/bin/env bash
# install-envtest.sh: build the control-plane binaries that controller-runtime's
# envtest starts (kube-apiserver and etcd) from the Go module proxy, because
# setup-envtest downloads prebuilt binaries from the internet.
#
# The binaries land in
#   ${PPA_TEST_BIN:-${XDG_CACHE_HOME:-$HOME/.cache}/ppa-test/bin}/envtest/<kube>-etcd-<etcd>/
# (point KUBEBUILDER_ASSETS there; the script prints the folder on its last
# line). A folder that already holds both binaries is reused: the build runs
# only on a fresh machine or after a version change.
#
# Versions: KUBE_VERSION matches the k8s.io/* libraries in go.mod (v0.34.3 ->
# v1.34.3); ETCD_VERSION is an etcd 3.6 release, the line Kubernetes 1.34
# ships with. host/controller's tests name the same folder: keep the
# constants there (envtestKubeVersion, envtestEtcdVersion) in step.
#
# How: `go install module@version` refuses modules whose go.mod has replace
# directives (both etcd and Kubernetes do), so each binary is built from a
# throwaway helper module that requires the upstream module. For
# kube-apiserver the helper repeats upstream's replace block for its staging
# modules (k8s.io/api => k8s.io/api v0.34.3 ...), read from the downloaded
# k8s.io/kubernetes go.mod. CGO_ENABLED=0 and the version stamped with
# -ldflags, as upstream's release build does.
#
# Cold: about 9 min for kube-apiserver and 1.5 min for etcd on 2 cores (they
# build in parallel, under nice); warm: nothing to do.
set -euo pipefail

# Keep these in step with test/testenv/envtest.go (EnvtestKubeVersion, EnvtestEtcdVersion).
KUBE_VERSION=${KUBE_VERSION:-v1.34.3}
ETCD_VERSION=${ETCD_VERSION:-v3.6.16}

BIN=${PPA_TEST_BIN:-${XDG_CACHE_HOME:-$HOME/.cache}/ppa-test/bin}
DEST=$BIN/envtest/$KUBE_VERSION-etcd-$ETCD_VERSION
START=$(date +%s)

log() { printf '[install-envtest %3ds] %s\n' "$(($(date +%s) - START))" "$*" >&2; }
die() {
	printf '[install-envtest] ERROR: %s\n' "$*" >&2
	exit 1
}

command -v go >/dev/null || die "go is not on PATH"
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

if [[ -x $DEST/kube-apiserver && -x $DEST/etcd ]]; then
	log "cached: $DEST"
	echo "$DEST"
	exit 0
fi

mkdir -p "$DEST" || die "cannot create $DEST"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/ppa-install-envtest.XXXXXX")
PIDS=()
cleanup() {
	local p
	for p in "${PIDS[@]}"; do
		if kill -0 "$p" 2>/dev/null; then
			kill "$p" 2>/dev/null || true
			wait "$p" 2>/dev/null || true
		fi
	done
	rm -rf "$WORK"
}
trap cleanup EXIT

# Run outside the project's module; an empty GOFLAGS keeps caller settings
# such as -mod=vendor out.
export GOFLAGS='' GOWORK=off
# Pin the toolchain to the local one: the helper modules must not trigger a
# toolchain download.
export GOTOOLCHAIN=local

# helper_module DIR MODULE VERSION PACKAGE: a module at DIR that requires
# MODULE@VERSION and imports PACKAGE (a main package) for its side effect of
# being listed, so `go mod tidy` records everything the build needs.
helper_module() {
	local dir=$1 module=$2 version=$3 pkg=$4
	mkdir -p "$dir"
	cat >"$dir/go.mod" <<-GOMOD
		module ppa.local/envtest-helper

		go 1.24

		require $module $version
	GOMOD
	cat >"$dir/tools.go" <<-GOSRC
		//go:build tools

		// Package tools pins the main package this helper module builds.
		package tools

		import _ "$pkg"
	GOSRC
}

build_etcd() {
	local dir=$WORK/etcd
	if [[ -x $DEST/etcd ]]; then
		log "etcd $ETCD_VERSION: cached"
		return 0
	fi
	log "etcd $ETCD_VERSION: building"
	helper_module "$dir" go.etcd.io/etcd/server/v3 "$ETCD_VERSION" go.etcd.io/etcd/server/v3
	(
		cd "$dir"
		go mod tidy -e >/dev/null
		CGO_ENABLED=0 nice go build -trimpath -ldflags='-s -w' -o "$dir/etcd.bin" go.etcd.io/etcd/server/v3
	) || die "etcd $ETCD_VERSION: build failed"
	mv -f "$dir/etcd.bin" "$DEST/etcd.tmp" && mv -f "$DEST/etcd.tmp" "$DEST/etcd"
	log "etcd $ETCD_VERSION: built ($(du -h "$DEST/etcd" | cut -f1))"
}

build_kube_apiserver() {
	local dir=$WORK/kube
	if [[ -x $DEST/kube-apiserver ]]; then
		log "kube-apiserver $KUBE_VERSION: cached"
		return 0
	fi
	log "kube-apiserver $KUBE_VERSION: building"
	helper_module "$dir" k8s.io/kubernetes "$KUBE_VERSION" k8s.io/kubernetes/cmd/kube-apiserver
	(
		cd "$dir"
		kube_staging_replaces "$KUBE_VERSION" >>go.mod
		grep -q '^replace k8s.io/api ' go.mod || die "kube-apiserver: no staging replace lines found in k8s.io/kubernetes@$KUBE_VERSION's go.mod"
		go mod tidy -e >/dev/null
		local ldflags
		ldflags=$(kube_ldflags "$KUBE_VERSION")
		CGO_ENABLED=0 nice go build -trimpath -ldflags="$ldflags" -o "$dir/kube-apiserver.bin" k8s.io/kubernetes/cmd/kube-apiserver
	) || die "kube-apiserver $KUBE_VERSION: build failed"
	mv -f "$dir/kube-apiserver.bin" "$DEST/kube-apiserver.tmp" && mv -f "$DEST/kube-apiserver.tmp" "$DEST/kube-apiserver"
	log "kube-apiserver $KUBE_VERSION: built ($(du -h "$DEST/kube-apiserver" | cut -f1))"
}

build_etcd >"$WORK/etcd.log" 2>&1 &
PIDS+=($!)
build_kube_apiserver >"$WORK/kube.log" 2>&1 &
PIDS+=($!)

status=0
for i in "${!PIDS[@]}"; do
	if ! wait "${PIDS[$i]}"; then
		status=1
	fi
done
PIDS=()
if ((status != 0)); then
	cat "$WORK/etcd.log" "$WORK/kube.log" >&2
	die "build failed (log above)"
fi
# On success, only the summary lines (the logs also list every download).
grep -h '^\[install-envtest' "$WORK/etcd.log" "$WORK/kube.log" >&2 || true

"$DEST/kube-apiserver" --version >&2 || die "$DEST/kube-apiserver does not run"
"$DEST/etcd" --version >&2 || die "$DEST/etcd does not run"
log "done"
echo "$DEST"
