#!/bin/sh
# Rebuilds crash.wasm from crash.c (clang and wasm-ld with the wasm32
# target; Debian: apt-get install clang lld). The .wasm is committed so that
# the tests need no C toolchain.
set -eu
cd "$(dirname "$0")"
clang --target=wasm32 -O2 -nostdlib -fno-builtin -ffreestanding \
	-Wall -Wextra -Werror \
	-Wl,--no-entry -Wl,--strip-all -Wl,-z,stack-size=65536 \
	-o crash.wasm crash.c
chmod 644 crash.wasm
echo "wrote $(pwd)/crash.wasm ($(wc -c <crash.wasm) bytes)"
