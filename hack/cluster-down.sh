#!/usr/bin/env bash
# Stops exactly the processes cluster-up started (by recorded PID, checked against the
# binary path so a reused PID is never killed), then removes the cluster's state.
set -euo pipefail
source "$(dirname "$0")/cluster-env.sh"
stopped=0
for c in kwok kube-scheduler kube-controller-manager kube-apiserver etcd; do
  f="$PIDS/$c.pid"; [ -f "$f" ] || continue
  pid=$(cat "$f")
  if [ -d "/proc/$pid" ] && tr '\0' ' ' < "/proc/$pid/cmdline" | grep -q -- "$BIN/$c"; then
    echo "[cluster-down] stopping $c (pid $pid)"
    kill "$pid" 2>/dev/null || true
    for i in $(seq 1 50); do [ -d "/proc/$pid" ] || break; sleep 0.1; done
    [ -d "/proc/$pid" ] && kill -9 "$pid" 2>/dev/null || true
    stopped=1
  fi
  rm -f "$f"
done
[ "$stopped" = 1 ] || echo "[cluster-down] no cluster processes were running"
rm -rf "$CLUSTER_DIR/etcd-data" "$KUBECONFIG_PATH"
# Keep the network rule in place if asked (another cluster dir may still be running).
[ "${WEFT_KEEP_NETWORK:-0}" = 1 ] && { echo "[cluster-down] done (logs kept in $LOGS)"; exit 0; }
ip route del blackhole "$SERVICE_CIDR" 2>/dev/null || true
ip route del blackhole "$NODE_CIDR" 2>/dev/null || true
ip link del "$BRIDGE" 2>/dev/null || true
echo "[cluster-down] done (logs kept in $LOGS)"
