#!/usr/bin/env bash
# images.sh: build PPA's four container images (ppa-controller, ppa-runtime,
# ppa-scaler, ppa-trainer) as multi-platform OCI image layouts, without
# Docker and without network: ko builds the Go binaries onto a base image
# this script makes from Debian packages with crane.
#
#   hack/images.sh [--out DIR] [--platforms linux/amd64,linux/arm64]
#   hack/images.sh --print-refs     # the image references, nothing built
#
# Output (DIR, default $PPA_IMAGES_DIR or _out/images under the module root):
#   DIR/<image>/        an OCI image layout holding the image's index
#                       (one manifest per platform) and ko's SBOMs
#   DIR/images.txt      "<repository>:<tag> <index digest>" per image
#   DIR/sbom/<image>/   ko's SPDX SBOM of each platform's image (Go modules
#                       of the binary); ko attaches SBOMs only when it pushes
#   DIR/base/           the base image's layout (for inspection)
#   DIR/.stamp          the hash of every input; an equal hash skips the build
#
# Reproducible: every input is fixed (sorted layer with fixed mtimes and
# numeric owners, SOURCE_DATE_EPOCH for ko's timestamps, -trimpath), so a
# second run on the same sources, tools and Debian packages gives the same
# digests. The image references are REPO/<image>:TAG with REPO from
# $IMAGE_REPO (default ghcr.io/ppa-autoscaler) and TAG from $IMAGE_TAG
# (default the chart's appVersion): exactly the chart's default images.
#
# The base layer holds what the binaries need besides themselves: CA
# certificates (Debian's ca-certificates, concatenated as
# update-ca-certificates does), the time zone database (Debian's tzdata),
# /etc/passwd and /etc/group with root and the user nonroot (65532), its
# home directory, /etc/nsswitch.conf and /tmp. The image user is
# 65532:65532; nothing is written to the root file system, so the images
# run with a read-only root.
#
# Needs ko, crane (test/scripts/install-imagetools.sh, run by `make deps`),
# GNU tar, and the built-in plugins (`make plugins`): the binaries embed
# plugins/builtin/wasm/*.wasm.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
IMAGES=(ppa-controller ppa-runtime ppa-scaler ppa-trainer)
IMAGE_REPO=${IMAGE_REPO:-ghcr.io/ppa-autoscaler}
IMAGE_TAG=${IMAGE_TAG:-$(awk -F'"' '/^appVersion:/ { print $2 }' "$ROOT/charts/ppa/Chart.yaml")}
OUT=${PPA_IMAGES_DIR:-$ROOT/_out/images}
PLATFORMS=linux/amd64,linux/arm64
# 2024-01-01T00:00:00Z: the time stamped on every file and image config.
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-1704067200}
NONROOT=65532
START=$(date +%s)

log() { printf '[images %3ds] %s\n' "$(($(date +%s) - START))" "$*" >&2; }
die() {
	printf '[images] ERROR: %s\n' "$*" >&2
	exit 1
}

print_refs=false
while (($#)); do
	case $1 in
	--out) OUT=${2:?--out needs a directory}; shift 2 ;;
	--platforms) PLATFORMS=${2:?--platforms needs a list}; shift 2 ;;
	--print-refs) print_refs=true; shift ;;
	*) die "unknown argument $1 (usage: hack/images.sh [--out DIR] [--platforms LIST] [--print-refs])" ;;
	esac
done
[[ -n $IMAGE_TAG ]] || die "no appVersion in charts/ppa/Chart.yaml and no IMAGE_TAG"
if $print_refs; then
	for i in "${IMAGES[@]}"; do echo "$IMAGE_REPO/$i:$IMAGE_TAG"; done
	exit 0
fi

BIN=${PPA_TEST_BIN:-${XDG_CACHE_HOME:-$HOME/.cache}/ppa-test/bin}
export PATH=$BIN:$PATH
for c in ko crane go sha256sum dpkg-query; do
	command -v "$c" >/dev/null || die "$c not found on PATH nor in $BIN: run 'make deps' (test/scripts/install-imagetools.sh)"
done
tar --version 2>/dev/null | grep -q 'GNU tar' || die "tar is not GNU tar"
for p in ca-certificates tzdata; do
	[[ $(dpkg-query -W -f='${Status}' "$p" 2>/dev/null) == "install ok installed" ]] ||
		die "Debian package $p is not installed: run 'make deps'"
done
compgen -G "$ROOT/plugins/builtin/wasm/*.wasm" >/dev/null ||
	die "no built-in plugins in plugins/builtin/wasm: run 'make plugins' first"

mkdir -p "$OUT" || die "cannot create $OUT"
OUT=$(cd "$OUT" && pwd)
# One build at a time per output folder: test/images and test/cluster may
# call this script at once (go test runs packages side by side); the second
# waits, then finds the images up to date.
exec 9>"$OUT/.lock" || die "cannot open $OUT/.lock"
flock 9 || die "cannot lock $OUT/.lock"
cd "$ROOT"

# --- inputs: skip the build when nothing changed ---------------------------
# Every file of the module the four binaries are built from (Go and embedded
# files) and of the modules it replaces with a folder of this tree (abi/,
# plugins/sdk/), the go.mod/go.sum files, this script, the tools' and
# packages' versions.
inputs() {
	echo "images.sh $(sha256sum "${BASH_SOURCE[0]}" | cut -d' ' -f1)"
	echo "repo=$IMAGE_REPO tag=$IMAGE_TAG platforms=$PLATFORMS epoch=$SOURCE_DATE_EPOCH"
	echo "$(go env GOVERSION) ko=$(ko version) crane=$(crane version)"
	dpkg-query -W -f='${Package}=${Version}\n' ca-certificates tzdata
	sha256sum go.mod go.sum abi/go.mod plugins/sdk/go.mod
	local pkgs=()
	for i in "${IMAGES[@]}"; do pkgs+=("./cmd/$i"); done
	local p
	for p in ${PLATFORMS//,/ }; do
		GOOS=${p%%/*} GOARCH=${p#*/} CGO_ENABLED=0 go list -deps \
			-f '{{if .Module}}{{if or .Module.Main (and .Module.Replace (not .Module.Replace.Version))}}{{$d := .Dir}}{{range .GoFiles}}{{$d}}/{{.}}{{"\n"}}{{end}}{{range .EmbedFiles}}{{$d}}/{{.}}{{"\n"}}{{end}}{{end}}{{end}}' \
			"${pkgs[@]}"
	done | sort -u | sed "s|^$ROOT/||" | xargs -r sha256sum
}
STAMP=$(inputs | sha256sum | cut -d' ' -f1) || die "cannot hash the inputs"
up_to_date=true
[[ -f $OUT/.stamp && $(cat "$OUT/.stamp") == "$STAMP" && -f $OUT/images.txt ]] || up_to_date=false
for i in "${IMAGES[@]}"; do [[ -f $OUT/$i/index.json ]] || up_to_date=false; done
if $up_to_date; then
	log "up to date (inputs $STAMP)"
	cat "$OUT/images.txt"
	exit 0
fi

# ko names what it writes to an OCI layout by the layout's path, which must
# then be a valid repository name: lowercase.
WORK=${TMPDIR:-/tmp}/ppa-images-$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')
[[ $WORK =~ ^[a-z0-9_./-]+$ ]] || die "work directory $WORK: ko needs a lowercase path (set TMPDIR)"
mkdir -m 0700 "$WORK" || die "cannot create $WORK"
REG_PID=
cleanup() {
	if [[ -n $REG_PID ]]; then
		kill "$REG_PID" 2>/dev/null || true
		wait "$REG_PID" 2>/dev/null || true
	fi
	rm -rf "$WORK"
}
trap cleanup EXIT

# --- the base layer --------------------------------------------------------
log "base layer: ca-certificates $(dpkg-query -W -f='${Version}' ca-certificates), tzdata $(dpkg-query -W -f='${Version}' tzdata)"
R=$WORK/rootfs
mkdir -p "$R/etc/ssl/certs" "$R/usr/share" "$R/home/nonroot" "$R/tmp"
cat >"$R/etc/passwd" <<EOF
root:x:0:0:root:/root:/sbin/nologin
nonroot:x:$NONROOT:$NONROOT:nonroot:/home/nonroot:/sbin/nologin
EOF
cat >"$R/etc/group" <<EOF
root:x:0:
nonroot:x:$NONROOT:
EOF
echo 'hosts: files dns' >"$R/etc/nsswitch.conf"
# The bundle update-ca-certificates would write: every certificate the
# package ships, in name order.
mapfile -t certs < <(dpkg-query -L ca-certificates | grep '^/usr/share/ca-certificates/.*\.crt$' | LC_ALL=C sort)
((${#certs[@]} > 0)) || die "ca-certificates lists no certificates"
cat "${certs[@]}" >"$R/etc/ssl/certs/ca-certificates.crt"
# The zone files of tzdata (symlinks kept as symlinks).
dpkg-query -L tzdata | sed -n 's|^/\(usr/share/zoneinfo/.*\)|\1|p' | LC_ALL=C sort |
	tar -C / -cf - --no-recursion -T - | tar -C "$R" -xf -
[[ -f $R/usr/share/zoneinfo/Europe/Berlin ]] || die "tzdata: no zone files copied"
find "$R" -type d -exec chmod 0755 {} +
find "$R" -type f -exec chmod 0644 {} +
chmod 1777 "$R/tmp"
chmod 0700 "$R/home/nonroot"
# Sorted, fixed times, numeric owners, no atime/ctime: the same bytes on
# every run. Everything belongs to root except nonroot's home, appended
# with its own owner.
TAR_FLAGS=(--format=posix --pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime
	--sort=name --mtime="@$SOURCE_DATE_EPOCH" --numeric-owner)
tar -C "$R" -cf "$WORK/layer.tar" "${TAR_FLAGS[@]}" --owner=0 --group=0 \
	--exclude=./home/nonroot ./etc ./home ./tmp ./usr
tar -C "$R" -rf "$WORK/layer.tar" "${TAR_FLAGS[@]}" --owner="$NONROOT" --group="$NONROOT" ./home/nonroot
log "base layer: $(du -h "$WORK/layer.tar" | cut -f1), sha256 $(sha256sum "$WORK/layer.tar" | cut -c1-12)"

# --- the base image: one manifest per platform, built in a throw-away
# registry on loopback (crane's commands work on registries) -----------------
crane registry serve --address 127.0.0.1:0 >"$WORK/registry.log" 2>&1 &
REG_PID=$!
port=
for _ in $(seq 100); do
	port=$(sed -n 's/.*serving on port \([0-9]*\).*/\1/p' "$WORK/registry.log")
	[[ -n $port ]] && break
	kill -0 "$REG_PID" 2>/dev/null || die "crane registry exited: $(cat "$WORK/registry.log")"
	sleep 0.1
done
[[ -n $port ]] || die "crane registry did not report its port"
REG=127.0.0.1:$port
crane append --oci-empty-base -f "$WORK/layer.tar" -t "$REG/base:layer" >/dev/null 2>"$WORK/crane.log" ||
	die "crane append: $(cat "$WORK/crane.log")"
manifests=()
for p in ${PLATFORMS//,/ }; do
	crane mutate "$REG/base:layer" --set-platform "$p" --user "$NONROOT:$NONROOT" --workdir /home/nonroot \
		--env PATH=/usr/local/bin:/usr/bin:/bin --env SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt \
		-t "$REG/base:${p//\//-}" >/dev/null 2>"$WORK/crane.log" || die "crane mutate $p: $(cat "$WORK/crane.log")"
	manifests+=(-m "$REG/base:${p//\//-}")
done
crane index append "${manifests[@]}" -t "$REG/base:index" >/dev/null 2>"$WORK/crane.log" ||
	die "crane index append: $(cat "$WORK/crane.log")"
BASE_DIGEST=$(crane digest "$REG/base:index")
# ko reads a base named by digest from its cache (KOCACHE/img), without
# network; the name itself is never resolved.
KOCACHE=$WORK/kocache
# The index and each platform's manifest must be listed in the cache's
# index.json: ko looks each of them up there by digest.
for ref in "$REG/base@$BASE_DIGEST" $(for p in ${PLATFORMS//,/ }; do echo "$REG/base@$(crane digest --platform "$p" "$REG/base:index")"; done); do
	crane pull --format=oci "$ref" "$KOCACHE/img" 2>"$WORK/crane.log" || die "crane pull $ref: $(cat "$WORK/crane.log")"
done
rm -rf "$WORK/base" && crane pull --format=oci "$REG/base@$BASE_DIGEST" "$WORK/base" 2>/dev/null
kill "$REG_PID" 2>/dev/null || true
wait "$REG_PID" 2>/dev/null || true
REG_PID=
log "base image: $BASE_DIGEST ($PLATFORMS)"

# --- the images ------------------------------------------------------------
export KOCACHE KO_DEFAULTBASEIMAGE="base.invalid/ppa-base@$BASE_DIGEST" KO_DOCKER_REPO=$IMAGE_REPO
# -buildvcs=false: the binaries carry no git state, so the same sources give
# the same images whether the tree is clean or not (the input hash above
# covers the sources, not git).
export CGO_ENABLED=0 GOFLAGS="${GOFLAGS:-} -trimpath -buildvcs=false" KO_DATA_DATE_EPOCH=$SOURCE_DATE_EPOCH
# `ko build` offline: no registry is ever contacted (--push=false, the base
# from the cache).
: >"$WORK/images.txt"
for i in "${IMAGES[@]}"; do
	ko build --push=false --base-import-paths --tags="$IMAGE_TAG" --platform="$PLATFORMS" \
		--image-user="$NONROOT:$NONROOT" --sbom=spdx --sbom-dir="$WORK/out/sbom/$i" --oci-layout-path="$WORK/out/$i" \
		--ldflags="-s -w -X main.version=$IMAGE_TAG" "./cmd/$i" >"$WORK/ko-$i.out" 2>"$WORK/ko-$i.log" ||
		die "ko build ./cmd/$i failed: $(cat "$WORK/ko-$i.log")"
	ref=$(tail -n1 "$WORK/ko-$i.out")
	echo "$IMAGE_REPO/$i:$IMAGE_TAG ${ref##*@}" >>"$WORK/images.txt"
	log "$IMAGE_REPO/$i:$IMAGE_TAG ${ref##*@}"
done

# --- publish into OUT --------------------------------------------------------
for i in "${IMAGES[@]}" base sbom; do rm -rf "${OUT:?}/$i"; done
mv "$WORK/base" "$OUT/base"
mv "$WORK/out/sbom" "$OUT/sbom"
for i in "${IMAGES[@]}"; do mv "$WORK/out/$i" "$OUT/$i"; done
mv "$WORK/images.txt" "$OUT/images.txt"
echo "$STAMP" >"$OUT/.stamp"
log "done: $OUT"
cat "$OUT/images.txt"
