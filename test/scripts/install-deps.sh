#!/usr/bin/env bash
# install-deps.sh: obtain every external program the test suite starts or
# calls, on a fresh Debian machine (run as root) or an already prepared one.
#
# Idempotent: Debian packages are installed only when missing (and
# `apt-get update` runs at most once), Go-built binaries are cached outside
# the checkout, keyed by version, and rebuilt only when absent.
#
#   Debian:  prometheus + promtool (2.42), protoc, clang/lld/wasi-libc
#            (C plugin examples), nodejs/npm (AssemblyScript examples)
#   Go:      minio (built from the Go module proxy), protoc-gen-go,
#            protoc-gen-go-grpc
#
# Go binaries land in $PPA_TEST_BIN, default
# ${XDG_CACHE_HOME:-$HOME/.cache}/ppa-test/bin, which is also where
# test/testenv looks for them first.
#
# Note: on a host running systemd the Debian prometheus package enables a
# service on port 9090. The tests never use it: they start their own servers
# on free loopback ports.
set -euo pipefail

MINIO_VERSION=v0.0.0-20260212201848-7aac2a2c5b7c
PROTOC_GEN_GO_GRPC_VERSION=v1.5.1

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BIN=${PPA_TEST_BIN:-${XDG_CACHE_HOME:-$HOME/.cache}/ppa-test/bin}
START=$(date +%s)

log() { printf '[install-deps %3ds] %s\n' "$(($(date +%s) - START))" "$*"; }
die() {
	printf '[install-deps] ERROR: %s\n' "$*" >&2
	exit 1
}

command -v go >/dev/null || die "go is not on PATH"
mkdir -p "$BIN" || die "cannot create $BIN"
BIN=$(cd "$BIN" && pwd)
log "binaries go to $BIN"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/ppa-install-deps.XXXXXX")
MINIO_PID=
cleanup() {
	if [[ -n $MINIO_PID ]] && kill -0 "$MINIO_PID" 2>/dev/null; then
		kill "$MINIO_PID" 2>/dev/null || true
		wait "$MINIO_PID" 2>/dev/null || true
	fi
	rm -rf "$WORK"
}
trap cleanup EXIT

# go_install_versioned NAME PACKAGE VERSION [extra go-install flags...]
# builds PACKAGE@VERSION into $BIN/NAME-VERSION (skipped when present) and
# points the symlink $BIN/NAME at it.
go_install_versioned() {
	local name=$1 pkg=$2 version=$3
	shift 3
	local target="$BIN/$name-$version"
	if [[ -x $target ]]; then
		log "$name $version: cached ($target)"
	else
		log "$name $version: building $pkg@$version"
		local gobin="$WORK/gobin-$name"
		mkdir -p "$gobin"
		# Run outside any module so the project's go.mod plays no part; an
		# empty GOFLAGS keeps caller settings such as -mod=vendor out.
		(cd "$WORK" && GOBIN="$gobin" GOFLAGS='' GOWORK=off go install "$@" "$pkg@$version") ||
			die "$name: go install $pkg@$version failed"
		[[ -x $gobin/$name ]] || die "$name: go install produced no $gobin/$name"
		mv -f "$gobin/$name" "$target.tmp"
		mv -f "$target.tmp" "$target"
		log "$name $version: built ($(du -h "$target" | cut -f1))"
	fi
	ln -sfn "$name-$version" "$BIN/$name"
}

# MinIO takes minutes to build: start it first, in the background, and let
# the Debian packages install meanwhile.
minio_build() {
	CGO_ENABLED=0 go_install_versioned minio github.com/minio/minio "$MINIO_VERSION" \
		-trimpath -ldflags='-s -w'
}
minio_build >"$WORK/minio.log" 2>&1 &
MINIO_PID=$!
log "minio: build started in the background (pid $MINIO_PID)"

# --- Debian packages -------------------------------------------------------
APT_PACKAGES=(prometheus protobuf-compiler clang lld wasi-libc libclang-rt-dev-wasm32)
# nodejs/npm are normally preinstalled (not necessarily from Debian); only
# ask apt for them when the commands are missing.
command -v node >/dev/null || APT_PACKAGES+=(nodejs)
command -v npm >/dev/null || APT_PACKAGES+=(npm)

missing=()
for p in "${APT_PACKAGES[@]}"; do
	if [[ $(dpkg-query -W -f='${Status}' "$p" 2>/dev/null) != "install ok installed" ]]; then
		missing+=("$p")
	fi
done
if ((${#missing[@]} == 0)); then
	log "apt: all present (${APT_PACKAGES[*]})"
else
	[[ $(id -u) == 0 ]] || die "apt: need root to install: ${missing[*]}"
	log "apt: installing ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -q || die "apt-get update failed"
	apt-get install -y -q --no-install-recommends "${missing[@]}" ||
		die "apt-get install ${missing[*]} failed"
fi
for c in prometheus promtool protoc clang wasm-ld node npm; do
	command -v "$c" >/dev/null || die "$c is not on PATH after installing packages"
done
log "prometheus: $(prometheus --version 2>&1 | head -n1)"

# --- protoc plugins, versions matching go.mod ------------------------------
mod_version() {
	local v
	v=$(awk -v m="$1" '$1 == m { print $2; exit } $1 == "require" && $2 == m { print $3; exit }' "$ROOT/go.mod")
	[[ -n $v ]] || die "go.mod does not require $1"
	echo "$v"
}
PROTOBUF_VERSION=$(mod_version google.golang.org/protobuf)
go_install_versioned protoc-gen-go google.golang.org/protobuf/cmd/protoc-gen-go "$PROTOBUF_VERSION" -trimpath
go_install_versioned protoc-gen-go-grpc google.golang.org/grpc/cmd/protoc-gen-go-grpc "$PROTOC_GEN_GO_GRPC_VERSION" -trimpath

# --- wait for MinIO --------------------------------------------------------
log "minio: waiting for the background build"
if ! wait "$MINIO_PID"; then
	MINIO_PID=
	cat "$WORK/minio.log" >&2
	die "minio build failed (log above)"
fi
MINIO_PID=
sed 's/^/  /' "$WORK/minio.log"
"$BIN/minio" --version >/dev/null 2>&1 || die "$BIN/minio does not run"

log "done: $(find "$BIN" -mindepth 1 -maxdepth 1 -printf '%f\n' | sort | tr '\n' ' ')"
