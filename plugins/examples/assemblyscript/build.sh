#!/bin/sh
# Rebuilds moving-average.wasm from assembly/index.ts. Needs node and npm;
# the AssemblyScript compiler (the version in package.json) is installed
# into a cache folder, not into this repository.
set -eu
cd "$(dirname "$0")"
version=$(node -p 'require("./package.json").devDependencies.assemblyscript')
tools="${PPA_ASC_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/ppa-asc/$version}"
if [ ! -x "$tools/node_modules/.bin/asc" ]; then
	mkdir -p "$tools"
	npm install --prefix "$tools" --no-audit --no-fund --no-save "assemblyscript@$version"
fi
"$tools/node_modules/.bin/asc" assembly/index.ts \
	--runtime stub --optimizeLevel 3 --shrinkLevel 1 --noAssert \
	--outFile moving-average.wasm
echo "wrote $(pwd)/moving-average.wasm ($(wc -c <moving-average.wasm) bytes)"
