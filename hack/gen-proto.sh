#!/usr/bin/env bash
# gen-proto.sh: generate the Go code for the Open Inference Protocol v2 gRPC
# API (package inferencepb) from the proto that ships in the pinned KServe
# module. The output is committed; CI re-runs this script and diffs.
#
# Deterministic by construction: the proto comes from the module version in
# go.mod, the Go package is pinned with an M option (the upstream file has no
# go_package), and the protoc plugins are the versions go.mod implies, taken
# from $PPA_TEST_BIN (default ${XDG_CACHE_HOME:-$HOME/.cache}/ppa-test/bin,
# where test/scripts/install-deps.sh puts them). A missing plugin is built
# there with `go install`, the same way install-deps.sh does.
#
# Needs protoc (Debian package protobuf-compiler, 3.21).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BIN=${PPA_TEST_BIN:-${XDG_CACHE_HOME:-$HOME/.cache}/ppa-test/bin}
OUT=$ROOT/host/runtime/inferencepb
PKG=github.com/ppa-autoscaler/ppa/host/runtime/inferencepb
PROTO=grpc_predict_v2.proto
# protoc-gen-go-grpc lives in its own module; keep in step with install-deps.sh.
PROTOC_GEN_GO_GRPC_VERSION=v1.5.1

die() {
	printf 'gen-proto: %s\n' "$*" >&2
	exit 1
}

command -v protoc >/dev/null || die "protoc is not on PATH (apt-get install -y protobuf-compiler)"

cd "$ROOT"
mod_version() {
	go list -m -f '{{.Version}}' "$1" || die "go.mod does not require $1"
}
KSERVE_VERSION=$(mod_version github.com/kserve/kserve)
PROTOBUF_VERSION=$(mod_version google.golang.org/protobuf)
KSERVE_DIR=$(go mod download -json "github.com/kserve/kserve@$KSERVE_VERSION" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
[[ -n $KSERVE_DIR && -f $KSERVE_DIR/docs/predict-api/v2/$PROTO ]] ||
	die "cannot find docs/predict-api/v2/$PROTO in github.com/kserve/kserve@$KSERVE_VERSION"

# plugin NAME PACKAGE VERSION: path of NAME at VERSION in $BIN, built if absent.
plugin() {
	local name=$1 pkg=$2 version=$3 target="$BIN/$1-$3"
	if [[ ! -x $target ]]; then
		mkdir -p "$BIN"
		local tmp
		tmp=$(mktemp -d)
		(cd "$tmp" && GOBIN="$tmp" GOFLAGS= GOWORK=off go install -trimpath "$pkg@$version") >&2 ||
			die "go install $pkg@$version failed"
		mv -f "$tmp/$name" "$target.tmp" && mv -f "$target.tmp" "$target"
		rm -rf "$tmp"
		ln -sfn "$name-$version" "$BIN/$name"
	fi
	echo "$target"
}
GEN_GO=$(plugin protoc-gen-go google.golang.org/protobuf/cmd/protoc-gen-go "$PROTOBUF_VERSION")
GEN_GO_GRPC=$(plugin protoc-gen-go-grpc google.golang.org/grpc/cmd/protoc-gen-go-grpc "$PROTOC_GEN_GO_GRPC_VERSION")

TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
# Copy the proto so that the source path recorded in the output does not
# depend on where the module cache is.
cp "$KSERVE_DIR/docs/predict-api/v2/$PROTO" "$TMP/$PROTO"
chmod u+w "$TMP/$PROTO"
protoc \
	--plugin=protoc-gen-go="$GEN_GO" \
	--plugin=protoc-gen-go-grpc="$GEN_GO_GRPC" \
	-I "$TMP" \
	--go_out="$TMP" --go_opt=paths=source_relative --go_opt="M$PROTO=$PKG;inferencepb" \
	--go-grpc_out="$TMP" --go-grpc_opt=paths=source_relative --go-grpc_opt="M$PROTO=$PKG;inferencepb" \
	"$TMP/$PROTO"
mkdir -p "$OUT"
for f in grpc_predict_v2.pb.go grpc_predict_v2_grpc.pb.go; do
	cp "$TMP/$f" "$OUT/$f"
done
echo "gen-proto: wrote $OUT (kserve $KSERVE_VERSION, protoc-gen-go $PROTOBUF_VERSION, protoc-gen-go-grpc $PROTOC_GEN_GO_GRPC_VERSION, $(protoc --version))"
