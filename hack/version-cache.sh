#!/usr/bin/env bash
# Puts a Weft build under a version number into the process kubelet's version cache, so that
# an image ghcr.io/weft/weft:<version> runs it (upgrade tests and demos).
#   hack/version-cache.sh <version>            the current build (dist/), stamped <version>
#   hack/version-cache.sh <version> <git-ref>  a build of that ref (tsc in a temp worktree; npm ci
#                                              only when its package-lock.json differs from ours)
# The install e2e test uses both: the previous release (hack/previous-release) built from its
# commit, so an upgrade runs old code against the new operator, and the current build stamped
# with a second version for the RevisionBased step.
set -euo pipefail
usage() { sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'; }
case "${1:-}" in -h|--help|"") usage; [ -n "${1:-}" ] && exit 0; exit 2;; esac
V="$1"; REF="${2:-}"
[[ "$V" =~ ^[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.-]+)?$ ]] || { echo "version-cache: '$V' is not a semantic version such as 0.0.9" >&2; exit 2; }
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
CACHE="${WEFT_VERSION_CACHE:-${WEFT_CLUSTER_DIR:-$ROOT/.cluster}/versions}"   # readable by UID 1337, unlike /root
DEST="$CACHE/$V"
SRC="$ROOT"
if [ -n "$REF" ]; then
  SRC="$(mktemp -d /tmp/weft-ref-XXXXXX)"
  trap 'git -C "$ROOT" worktree remove --force "$SRC" >/dev/null 2>&1 || rm -rf "$SRC"' EXIT
  echo "[version-cache] building $REF in $SRC"
  git -C "$ROOT" cat-file -e "$REF^{commit}" 2>/dev/null || { echo "version-cache: $REF is not a commit of this clone (a shallow clone?)" >&2; exit 3; }
  git -C "$ROOT" worktree add --detach "$SRC" "$REF" >/dev/null
  # The same lockfile means the same packages: link ours instead of a second npm ci (minutes).
  if cmp -s "$ROOT/package-lock.json" "$SRC/package-lock.json" && [ -d "$ROOT/node_modules" ]; then
    ln -s "$ROOT/node_modules" "$SRC/node_modules"
  else
    (cd "$SRC" && npm ci --no-audit --no-fund >/dev/null)
  fi
  (cd "$SRC" && "$ROOT/node_modules/.bin/tsc" -p tsconfig.json && bash native/build.sh >/dev/null)
fi
[ -f "$SRC/dist/src/cmd/weft.js" ] || { echo "version-cache: no build in $SRC/dist (run make build)" >&2; exit 1; }
echo "[version-cache] $DEST <- $SRC (version $V)"
rm -rf "$DEST.tmp"; mkdir -p "$DEST.tmp"
cp -r "$SRC/dist" "$DEST.tmp/dist"
[ -d "$SRC/build" ] && cp -r "$SRC/build" "$DEST.tmp/build"
# node_modules: a link to the source's when it is this checkout (read-only use), else a copy.
if [ -n "$REF" ] && [ ! -L "$SRC/node_modules" ]; then cp -r "$SRC/node_modules" "$DEST.tmp/node_modules"; else ln -s "$ROOT/node_modules" "$DEST.tmp/node_modules"; fi
node -e 'const f=process.argv[1],v=process.argv[2],p=JSON.parse(require("fs").readFileSync(f,"utf8"));p.version=v;require("fs").writeFileSync(process.argv[3],JSON.stringify(p,null,2)+"\n")' "$SRC/package.json" "$V" "$DEST.tmp/package.json"
rm -rf "$DEST"; mv "$DEST.tmp" "$DEST"
echo "[version-cache] ghcr.io/weft/weft:$V now runs node $DEST/dist/src/cmd/weft.js"
