#!/usr/bin/env bash
# `make demo`: the main job. Starts (or reuses) the local cluster and shows it.
# Then hack/demo-mesh.sh runs the mesh on real pods (process kubelet) and prints a report.
set -euo pipefail
source "$(dirname "$0")/cluster-env.sh"
export KUBECONFIG="$KUBECONFIG_PATH" PATH="$BIN:$PATH"
step() { echo; echo "==> $*"; }
step "cluster version"
kubectl version
step "nodes"
kubectl get nodes -o wide
if [ -x "$ROOT/hack/demo-mesh.sh" ]; then bash "$ROOT/hack/demo-mesh.sh"; fi
echo
echo "The cluster keeps running. Use it with: export KUBECONFIG=$KUBECONFIG_PATH PATH=$BIN:\$PATH"
echo "Stop the demo with: make demo-down   (and the cluster with: make cluster-down)"
