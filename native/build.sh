#!/usr/bin/env bash
# Builds the SO_ORIGINAL_DST N-API addon: one C file, one gcc call, no node-gyp, no install hook.
# Usage: bash native/build.sh [output-dir]   (default: build/)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/.." && pwd)"
out="${1:-$root/build}"
node_bin="$(command -v node)"
include="${NODE_INCLUDE_DIR:-$(cd "$(dirname "$node_bin")/.." && pwd)/include/node}"
if [ ! -f "$include/node_api.h" ]; then include="$root/.tools/node-v24.21.0/include/node"; fi
if [ ! -f "$include/node_api.h" ]; then echo "node_api.h not found (set NODE_INCLUDE_DIR)" >&2; exit 1; fi
mkdir -p "$out"
gcc -shared -fPIC -O2 -Wall -Wextra -DNODE_GYP_MODULE_NAME=orig_dst -I"$include" "$here/orig_dst.c" -o "$out/orig_dst.node"
echo "built $out/orig_dst.node"
