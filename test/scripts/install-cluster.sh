#!/usr/bin/env bash
# install-cluster.sh: the control-plane components `make test-cluster`
# (test/cluster) starts beside the envtest kube-apiserver and etcd, built
# from the Go module proxy because their release downloads are out of reach:
#
#   kube-controller-manager, kube-scheduler  Kubernetes $KUBE_VERSION
#   keda-operator, keda-adapter              KEDA $KEDA_VERSION (see below)
#   workflow-controller                      Argo Workflows $ARGO_VERSION
#   kwok                                     KWOK $KWOK_VERSION, plays the kubelet
#
# plus the CRDs and KWOK stages the test applies, copied from the same
# module sources so they always match the binaries:
#
#   crds/keda/*.yaml, crds/argo/*.yaml, kwok-stages.yaml, and
#   crds/kserve/*.yaml: KServe $KSERVE_VERSION's full CRDs (with schemas), which
#   the test validates the controller's InferenceServices and the chart's
#   ClusterServingRuntime against; KServe's controller is not built
#
# Everything lands in
#   ${PPA_TEST_BIN:-${XDG_CACHE_HOME:-$HOME/.cache}/ppa-test/bin}/cluster/<versions>/
# (the script prints the folder on its last line). A component already
# there is reused: builds run only on a fresh machine or after a version
# change.
#
# KEDA is built from a copy of its module source with its own go.mod (its
# replace directives apply), with TWO SCALERS REMOVED: the Go module proxy
# refuses the sources of github.com/newrelic/newrelic-client-go/v2 v2.74.2
# and github.com/solarwinds/swo-sdk-go/swov1 v0.13.0, so
# pkg/scalers/newrelic_scaler.go and pkg/scalers/solarwinds_scaler.go are
# deleted and their cases in pkg/scaling/scalers_builder.go return an error.
# No other KEDA code is changed; PPA's external scaler does not use either.
#
# Cold, 2 cores: about 7 min for kube-controller-manager (2 GB peak; less
# when install-envtest.sh's kube-apiserver build already filled the Go build
# cache), 0.5 min more for kube-scheduler, 4 min for KEDA, 2 min for Argo,
# 2 min for KWOK. Warm: nothing to do.
set -euo pipefail

# Keep in step with test/cluster (versions.go).
KUBE_VERSION=${KUBE_VERSION:-v1.34.3}
KEDA_VERSION=${KEDA_VERSION:-v2.18.3}
ARGO_VERSION=${ARGO_VERSION:-v3.7.18}
KWOK_VERSION=${KWOK_VERSION:-v0.8.0}
KSERVE_VERSION=${KSERVE_VERSION:-v0.17.0}

BIN=${PPA_TEST_BIN:-${XDG_CACHE_HOME:-$HOME/.cache}/ppa-test/bin}
DEST=$BIN/cluster/kube-$KUBE_VERSION-keda-$KEDA_VERSION-argo-$ARGO_VERSION-kwok-$KWOK_VERSION
START=$(date +%s)

log() { printf '[install-cluster %3ds] %s\n' "$(($(date +%s) - START))" "$*" >&2; }
die() {
	printf '[install-cluster] ERROR: %s\n' "$*" >&2
	exit 1
}

command -v go >/dev/null || die "go is not on PATH"
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
mkdir -p "$DEST" || die "cannot create $DEST"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/ppa-install-cluster.XXXXXX")
trap 'chmod -R u+w "$WORK" 2>/dev/null; rm -rf "$WORK"' EXIT

# Outside the project's module; an empty GOFLAGS keeps caller settings such
# as -mod=vendor out; no toolchain download.
export GOFLAGS='' GOWORK=off GOTOOLCHAIN=local CGO_ENABLED=0

# install FILE: move the freshly built $WORK/FILE into $DEST atomically.
install_file() {
	mv -f "$WORK/$1" "$DEST/$1.tmp" && mv -f "$DEST/$1.tmp" "$DEST/$1"
	log "$1: built ($(du -h "$DEST/$1" | cut -f1), $(($(date +%s) - $2)) s)"
}

build_kube() {
	if [[ -x $DEST/kube-controller-manager && -x $DEST/kube-scheduler ]]; then
		log "kube-controller-manager, kube-scheduler $KUBE_VERSION: cached"
		return 0
	fi
	local t0 dir=$WORK/kube
	t0=$(date +%s)
	log "kube-controller-manager, kube-scheduler $KUBE_VERSION: building"
	mkdir -p "$dir"
	cat >"$dir/go.mod" <<-GOMOD
		module ppa.local/cluster-helper

		go 1.24

		require k8s.io/kubernetes $KUBE_VERSION
	GOMOD
	cat >"$dir/tools.go" <<-GOSRC
		//go:build tools

		// Package tools pins the main packages this helper module builds.
		package tools

		import (
			_ "k8s.io/kubernetes/cmd/kube-controller-manager"
			_ "k8s.io/kubernetes/cmd/kube-scheduler"
		)
	GOSRC
	(
		cd "$dir"
		kube_staging_replaces "$KUBE_VERSION" >>go.mod
		grep -q '^replace k8s.io/api ' go.mod || die "no staging replace lines found in k8s.io/kubernetes@$KUBE_VERSION's go.mod"
		go mod tidy -e >/dev/null
		local ldflags
		ldflags=$(kube_ldflags "$KUBE_VERSION")
		nice go build -trimpath -ldflags="$ldflags" -o "$WORK/kube-controller-manager" k8s.io/kubernetes/cmd/kube-controller-manager
		nice go build -trimpath -ldflags="$ldflags" -o "$WORK/kube-scheduler" k8s.io/kubernetes/cmd/kube-scheduler
	) || die "kube-controller-manager/kube-scheduler $KUBE_VERSION: build failed"
	install_file kube-controller-manager "$t0"
	install_file kube-scheduler "$t0"
}

build_keda() {
	if [[ -x $DEST/keda-operator && -x $DEST/keda-adapter && -f $DEST/crds/keda/keda.sh_scaledobjects.yaml ]]; then
		log "KEDA $KEDA_VERSION: cached"
		return 0
	fi
	local t0 dir=$WORK/keda-src
	t0=$(date +%s)
	log "KEDA $KEDA_VERSION: building (without the new-relic and solarwinds scalers)"
	module_source github.com/kedacore/keda/v2 "$KEDA_VERSION" "$dir"
	(
		cd "$dir"
		rm pkg/scalers/newrelic_scaler.go pkg/scalers/solarwinds_scaler.go
		sed -i \
			-e 's|return scalers.NewNewRelicScaler(config)|return nil, fmt.Errorf("the new-relic scaler is not in this build: the Go module proxy refuses its dependency")|' \
			-e 's|return scalers.NewSolarWindsScaler(config)|return nil, fmt.Errorf("the solarwinds scaler is not in this build: the Go module proxy refuses its dependency")|' \
			pkg/scaling/scalers_builder.go
		grep -q 'the new-relic scaler is not in this build' pkg/scaling/scalers_builder.go || die "KEDA: new-relic case not found"
		grep -q 'the solarwinds scaler is not in this build' pkg/scaling/scalers_builder.go || die "KEDA: solarwinds case not found"
		rm -f pkg/scalers/*newrelic*_test.go pkg/scalers/*solarwinds*_test.go
		go mod edit -droprequire github.com/newrelic/newrelic-client-go/v2 -droprequire github.com/solarwinds/swo-sdk-go/swov1
		local ldflags="-s -w -X github.com/kedacore/keda/v2/version.Version=$KEDA_VERSION"
		nice go build -mod=mod -trimpath -ldflags="$ldflags" -o "$WORK/keda-operator" ./cmd/operator
		nice go build -mod=mod -trimpath -ldflags="$ldflags" -o "$WORK/keda-adapter" ./cmd/adapter
		mkdir -p "$DEST/crds/keda"
		cp config/crd/bases/*.yaml "$DEST/crds/keda/"
	) || die "KEDA $KEDA_VERSION: build failed"
	install_file keda-operator "$t0"
	install_file keda-adapter "$t0"
}

build_argo() {
	if [[ -x $DEST/workflow-controller && -f $DEST/crds/argo/argoproj.io_workflows.yaml ]]; then
		log "Argo workflow-controller $ARGO_VERSION: cached"
		return 0
	fi
	local t0 dir=$WORK/argo-src
	t0=$(date +%s)
	log "Argo workflow-controller $ARGO_VERSION: building"
	module_source github.com/argoproj/argo-workflows/v3 "$ARGO_VERSION" "$dir"
	(
		cd "$dir"
		local ldflags="-s -w -X github.com/argoproj/argo-workflows/v3.version=$ARGO_VERSION"
		nice go build -trimpath -ldflags="$ldflags" -o "$WORK/workflow-controller" ./cmd/workflow-controller
		mkdir -p "$DEST/crds/argo"
		cp manifests/base/crds/minimal/*.yaml "$DEST/crds/argo/"
		rm -f "$DEST/crds/argo/kustomization.yaml"
	) || die "Argo $ARGO_VERSION: build failed"
	install_file workflow-controller "$t0"
}

build_kwok() {
	if [[ -f $DEST/kwok && -x $DEST/kwok && -f $DEST/kwok-stages.yaml ]]; then
		log "KWOK $KWOK_VERSION: cached"
		return 0
	fi
	local t0 dir=$WORK/kwok-src
	t0=$(date +%s)
	log "KWOK $KWOK_VERSION: building"
	module_source sigs.k8s.io/kwok "$KWOK_VERSION" "$dir"
	(
		cd "$dir"
		nice go build -trimpath -ldflags='-s -w' -o "$WORK/kwok" ./cmd/kwok
		# Upstream's fast stages: nodes initialise and heartbeat; pods
		# become Ready at once, Jobs' pods complete, deleted pods go.
		local s=kustomize/stage
		for f in node/fast/node-initialize.yaml node/heartbeat/node-heartbeat.yaml \
			pod/fast/pod-ready.yaml pod/fast/pod-complete.yaml pod/fast/pod-delete.yaml; do
			[[ -f $s/$f ]] || die "KWOK: no stage $s/$f"
			printf -- '---\n' && cat "$s/$f"
		done >"$WORK/kwok-stages.yaml"
	) || die "KWOK $KWOK_VERSION: build failed"
	install_file kwok "$t0"
	install_file kwok-stages.yaml "$t0"
}

copy_kserve_crds() {
	if [[ -f $DEST/crds/kserve/serving.kserve.io_inferenceservices.yaml ]]; then
		log "KServe $KSERVE_VERSION CRDs: cached"
		return 0
	fi
	local src
	src=$(module_dir github.com/kserve/kserve "$KSERVE_VERSION") || exit 1
	mkdir -p "$DEST/crds/kserve.tmp"
	for f in inferenceservices servingruntimes clusterservingruntimes; do
		cp "$src/config/crd/full/serving.kserve.io_$f.yaml" "$DEST/crds/kserve.tmp/" || die "KServe: no CRD $f"
	done
	chmod u+w "$DEST"/crds/kserve.tmp/*
	rm -rf "$DEST/crds/kserve" && mv "$DEST/crds/kserve.tmp" "$DEST/crds/kserve"
	log "KServe $KSERVE_VERSION CRDs: copied"
}

# One at a time: the Kubernetes build alone peaks near 2 GB and each build
# already uses every core.
build_kube
build_keda
build_argo
build_kwok
copy_kserve_crds
log "done"
echo "$DEST"
