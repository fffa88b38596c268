#!/usr/bin/env bash
# install-imagetools.sh: the tools `make images` and the image smoke test
# (test/images) need, on a fresh Debian machine (run as root) or an already
# prepared one. Docker is not needed and not used.
#
#   Go:      ko (builds the images from ./cmd/ppa-*), crane (builds the base
#            image, serves a throw-away loopback registry, pushes images),
#            both from the Go module proxy
#   Debian:  runc (runs an unpacked image in the smoke test), ca-certificates
#            and tzdata (the sources of the base image's layer)
#
# Go binaries land in
#   ${PPA_TEST_BIN:-${XDG_CACHE_HOME:-$HOME/.cache}/ppa-test/bin}/NAME-VERSION
# with the symlink NAME beside it; a binary already there is reused.
# Idempotent; apt-get runs only when a package is missing.
# Cold: about 1-2 minutes on 2 cores (ko's build); warm: nothing to do.
set -euo pipefail

KO_VERSION=${KO_VERSION:-v0.19.1}
CRANE_VERSION=${CRANE_VERSION:-v0.22.1}

BIN=${PPA_TEST_BIN:-${XDG_CACHE_HOME:-$HOME/.cache}/ppa-test/bin}
START=$(date +%s)

log() { printf '[install-imagetools %3ds] %s\n' "$(($(date +%s) - START))" "$*" >&2; }
die() {
	printf '[install-imagetools] ERROR: %s\n' "$*" >&2
	exit 1
}

command -v go >/dev/null || die "go is not on PATH"
mkdir -p "$BIN" || die "cannot create $BIN"
BIN=$(cd "$BIN" && pwd)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/ppa-install-imagetools.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

# go_install_versioned NAME PACKAGE VERSION [ldflags] builds PACKAGE@VERSION
# into $BIN/NAME-VERSION (skipped when present and runnable) and points the
# symlink $BIN/NAME at it.
go_install_versioned() {
	local name=$1 pkg=$2 version=$3 ldflags=${4:-}
	local target="$BIN/$name-$version"
	if [[ -x $target ]] && "$target" version >/dev/null 2>&1; then
		log "$name $version: cached ($target)"
	else
		log "$name $version: building $pkg@$version"
		local gobin="$WORK/gobin-$name"
		mkdir -p "$gobin"
		# Outside any module so the project's go.mod plays no part; an empty
		# GOFLAGS keeps caller settings such as -mod=vendor out.
		(cd "$WORK" && GOBIN="$gobin" GOFLAGS='' GOWORK=off GOTOOLCHAIN=local CGO_ENABLED=0 \
			go install -trimpath -ldflags "-s -w $ldflags" "$pkg@$version") ||
			die "$name: go install $pkg@$version failed"
		[[ -x $gobin/$name ]] || die "$name: go install produced no $gobin/$name"
		mv -f "$gobin/$name" "$target.tmp"
		mv -f "$target.tmp" "$target"
		log "$name $version: built ($(du -h "$target" | cut -f1))"
	fi
	ln -sfn "$name-$version" "$BIN/$name"
}

# The two builds are independent: run them side by side.
go_install_versioned ko github.com/google/ko "$KO_VERSION" \
	"-X github.com/google/ko/pkg/commands.Version=$KO_VERSION" &
ko_pid=$!
go_install_versioned crane github.com/google/go-containerregistry/cmd/crane "$CRANE_VERSION" \
	"-X github.com/google/go-containerregistry/cmd/crane/cmd.Version=$CRANE_VERSION" &
crane_pid=$!
rc=0
wait "$ko_pid" || rc=1
wait "$crane_pid" || rc=1
((rc == 0)) || die "a Go build failed (log above)"

APT_PACKAGES=(runc ca-certificates tzdata)
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
	# apt-get update only when the package lists are missing (a fresh
	# machine); install-deps.sh may be running apt at the same time, so
	# wait for its lock instead of failing.
	if ! compgen -G '/var/lib/apt/lists/*_Packages' >/dev/null; then
		apt-get -o DPkg::Lock::Timeout=600 update -q || die "apt-get update failed"
	fi
	apt-get -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends "${missing[@]}" ||
		die "apt-get install ${missing[*]} failed"
fi
command -v runc >/dev/null || die "runc is not on PATH after installing it"

log "ko $("$BIN/ko" version), crane $("$BIN/crane" version), $(runc --version | head -n1)"
echo "$BIN"
