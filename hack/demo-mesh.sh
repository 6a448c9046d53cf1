#!/usr/bin/env bash
# The mesh part of `make demo` (called by hack/demo.sh once the cluster is up), for a human:
# starts the process kubelet, installs Weft from manifests/ (operator, then a MeshConfig with the
# control plane and an ingress gateway, all as pods), deploys Bookinfo from samples/ into a labeled
# namespace, drives traffic, applies Istio's 90/10 reviews split, the bookinfo gateway and STRICT
# mTLS, prints a report from the proxies' metrics and what to try, and LEAVES IT RUNNING.
#   bash hack/demo-mesh.sh          # up (idempotent: an earlier demo is stopped first)
#   bash hack/demo-mesh.sh down     # stop the demo (namespaces, webhook config, control plane, kubelet)
# Must run as root (network namespaces). Every traffic loop is bounded.
#   bash hack/demo-mesh.sh down also uninstalls Weft (MeshConfig, then manifests/).
set -euo pipefail
source "$(dirname "$0")/cluster-env.sh"
export KUBECONFIG="$KUBECONFIG_PATH" PATH="$(bash "$ROOT/hack/ensure-node.sh"):$BIN:$PATH"
cd "$ROOT"
STATE_DIR="$CLUSTER_DIR/demo-mesh"
DEMO_PID="$STATE_DIR/demo.pid"
KUBELET_PID_FILE="$CLUSTER_DIR/process-kubelet.pid"
DEMO_LOG="$LOGS/demo-mesh.log"
say() { echo "[demo-mesh] $*"; }

alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

stop_demo() {
  if alive "$DEMO_PID"; then
    say "stopping the demo (pid $(cat "$DEMO_PID")): namespaces, webhook configuration, control plane"
    kill -TERM "$(cat "$DEMO_PID")"
    for _ in $(seq 1 120); do alive "$DEMO_PID" || break; sleep 1; done
  fi
  rm -f "$DEMO_PID"
}

stop_kubelet() {
  # Only the kubelet this script started (recorded in $STATE_DIR/kubelet.started).
  if [ -f "$STATE_DIR/kubelet.started" ] && alive "$KUBELET_PID_FILE"; then
    say "stopping the process kubelet (pid $(cat "$KUBELET_PID_FILE"))"
    kill -TERM "$(cat "$KUBELET_PID_FILE")"
    for _ in $(seq 1 60); do alive "$KUBELET_PID_FILE" || break; sleep 1; done
  fi
  rm -f "$STATE_DIR/kubelet.started"
}

if [ "${1:-up}" = "down" ]; then
  stop_demo
  stop_kubelet
  say "demo is down"
  exit 0
fi

if [ "$(id -u)" != 0 ]; then say "needs root (network namespaces, iptables); skipping the mesh demo"; exit 0; fi
mkdir -p "$STATE_DIR" "$LOGS"
stop_demo

if [ ! -f dist/src/cmd/weft.js ] || [ ! -f dist/test/e2e/install/demo.js ]; then
  say "building (npx tsc -p tsconfig.json)"
  npx tsc -p tsconfig.json >/dev/null || true   # emits even with type errors elsewhere
fi
if [ ! -f build/orig_dst.node ]; then say "building the SO_ORIGINAL_DST addon"; bash native/build.sh; fi

if alive "$KUBELET_PID_FILE"; then
  say "process kubelet already running (pid $(cat "$KUBELET_PID_FILE"))"
else
  say "starting the process kubelet (node weft-proc-0; log $LOGS/process-kubelet.log)"
  nohup node dist/hack/process-kubelet/main.js --kubeconfig "$KUBECONFIG_PATH" >>"$LOGS/process-kubelet.log" 2>&1 &
  touch "$STATE_DIR/kubelet.started"
  for i in $(seq 1 60); do
    if kubectl get node weft-proc-0 -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null | grep -q True \
      && [ -n "$(kubectl get node weft-proc-0 -o jsonpath='{.spec.podCIDR}' 2>/dev/null)" ]; then break; fi
    [ "$i" = 60 ] && { say "process kubelet not ready after 60 s; see $LOGS/process-kubelet.log"; exit 1; }
    sleep 1
  done
  say "node weft-proc-0 Ready"
fi

say "starting the mesh (log $DEMO_LOG)"
: >"$DEMO_LOG"
nohup node dist/test/e2e/install/demo.js >>"$DEMO_LOG" 2>&1 &
echo $! >"$DEMO_PID"
shown=0
for _ in $(seq 1 1200); do
  total=$(wc -l <"$DEMO_LOG")
  if [ "$total" -gt "$shown" ]; then sed -n "$((shown + 1)),${total}p" "$DEMO_LOG"; shown=$total; fi
  if grep -q 'READY (the demo keeps running)' "$DEMO_LOG"; then exit 0; fi
  if ! alive "$DEMO_PID"; then say "the demo stopped early; see $DEMO_LOG"; exit 1; fi
  sleep 0.5
done
say "the demo did not become ready within 600 s; see $DEMO_LOG"
exit 1
