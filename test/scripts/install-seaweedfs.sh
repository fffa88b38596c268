#!/usr/bin/env bash
# install-seaweedfs.sh: build SeaweedFS's weed command from the Go module
# proxy, for the store tests that run against its S3 gateway
# (test/testenv.SeaweedFS: weed server -s3).
#
# The binary lands in
#   ${PPA_TEST_BIN:-${XDG_CACHE_HOME:-$HOME/.cache}/ppa-test/bin}/weed-<version>
# with the symlink weed beside it, where test/testenv looks first. A binary
# already there is reused. Idempotent; prints the binary's path last.
#
# How: SeaweedFS's go.mod has replace directives, so `go install
# pkg@version` refuses it; the module is downloaded from the proxy (go mod
# download), copied to a temporary directory and built there as the main
# module. Cold: several minutes on 2 cores (a large dependency tree);
# warm: nothing to do.
set -euo pipefail

# The module has no semver tags the proxy lists: a pinned pseudo-version.
WEED_VERSION=${WEED_VERSION:-v0.0.0-20261109003541-7506e5f91cd6}
MODULE=github.com/seaweedfs/seaweedfs

BIN=${PPA_TEST_BIN:-${XDG_CACHE_HOME:-$HOME/.cache}/ppa-test/bin}
START=$(date +%s)

log() { printf '[install-seaweedfs %3ds] %s\n' "$(($(date +%s) - START))" "$*" >&2; }
die() {
	printf '[install-seaweedfs] ERROR: %s\n' "$*" >&2
	exit 1
}

command -v go >/dev/null || die "go is not on PATH"
mkdir -p "$BIN" || die "cannot create $BIN"
BIN=$(cd "$BIN" && pwd)
TARGET=$BIN/weed-$WEED_VERSION

if [[ -x $TARGET ]] && "$TARGET" version >/dev/null 2>&1; then
	log "weed $WEED_VERSION: cached ($TARGET)"
else
	WORK=$(mktemp -d "${TMPDIR:-/tmp}/ppa-install-seaweedfs.XXXXXX")
	trap 'chmod -R u+w "$WORK" 2>/dev/null; rm -rf "$WORK"' EXIT
	export GOFLAGS='' GOWORK=off GOTOOLCHAIN=local CGO_ENABLED=0
	log "weed $WEED_VERSION: downloading $MODULE@$WEED_VERSION"
	dir=$(cd "$WORK" && go mod download -json "$MODULE@$WEED_VERSION" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
	[[ -n $dir && -d $dir ]] || die "go mod download $MODULE@$WEED_VERSION gave no directory"
	cp -r "$dir" "$WORK/src"
	chmod -R u+w "$WORK/src"
	log "weed $WEED_VERSION: building"
	(cd "$WORK/src" && go build -trimpath -ldflags "-s -w" -o "$WORK/weed" ./weed) || die "go build ./weed failed"
	mv -f "$WORK/weed" "$TARGET.tmp"
	mv -f "$TARGET.tmp" "$TARGET"
	log "weed $WEED_VERSION: built ($(du -h "$TARGET" | cut -f1))"
fi
ln -sfn "$(basename "$TARGET")" "$BIN/weed"
echo "$BIN/weed"
