#!/bin/sh
# Rebuilds ses.wasm from ses.c. Needs clang and wasm-ld with the wasm32
# target (Debian: apt-get install clang lld). No C library is used.
set -eu
cd "$(dirname "$0")"
clang --target=wasm32 -O2 -nostdlib -fno-builtin -ffreestanding \
	-Wall -Wextra -Werror \
	-Wl,--no-entry -Wl,--strip-all -Wl,-z,stack-size=65536 \
	-o ses.wasm ses.c
chmod 644 ses.wasm
echo "wrote $(pwd)/ses.wasm ($(wc -c <ses.wasm) bytes)"
