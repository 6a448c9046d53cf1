#!/usr/bin/env bash
# For users WITH Docker (not run in CI here: no Docker engine on these machines).
# Creates a kind cluster, builds the Weft image and loads it into the cluster.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
NAME="${KIND_CLUSTER:-weft}"
VERSION="$(node -p 'require("'"$ROOT"'/package.json").version')"
command -v docker >/dev/null && docker info >/dev/null 2>&1 || { echo "kind-up needs a running Docker engine" >&2; exit 1; }
command -v kind >/dev/null || { echo "kind not found: go install sigs.k8s.io/kind@v0.32.0" >&2; exit 1; }
kind get clusters | grep -qx "$NAME" || kind create cluster --name "$NAME"
docker build -t "weft:$VERSION" "$ROOT"
kind load docker-image --name "$NAME" "weft:$VERSION"
echo "kind cluster '$NAME' ready with image weft:$VERSION; kubectl config use-context kind-$NAME"
