#!/usr/bin/env bash
# Starts a real local Kubernetes cluster without Docker: etcd, kube-apiserver,
# kube-controller-manager, kube-scheduler and kwok (simulated nodes), as local processes.
# Idempotent: a healthy running cluster is reused.
set -euo pipefail
source "$(dirname "$0")/cluster-env.sh"
START=$(date +%s)
say() { echo "[cluster-up +$(( $(date +%s) - START ))s] $*"; }
die() { echo "[cluster-up] ERROR: $*" >&2; exit 1; }
export PATH="$BIN:$PATH"

alive() { # component -> 0 if its recorded PID is alive and is that binary
  local f="$PIDS/$1.pid"; [ -f "$f" ] || return 1
  local pid; pid=$(cat "$f"); [ -d "/proc/$pid" ] || return 1
  tr '\0' ' ' < "/proc/$pid/cmdline" | grep -q -- "$BIN/$1" 
}
readyz() { curl -sf --max-time 3 --cacert "$PKI/ca.crt" --cert "$PKI/admin.crt" --key "$PKI/admin.key" "https://127.0.0.1:$APISERVER_PORT/readyz" >/dev/null 2>&1; }

all_alive=1; any_alive=0
for c in $COMPONENTS; do if alive "$c"; then any_alive=1; else all_alive=0; fi; done
if [ "$all_alive" = 1 ] && readyz; then
  say "cluster already running; reusing it"
  echo "export KUBECONFIG=$KUBECONFIG_PATH"
  exit 0
fi
if [ "$any_alive" = 1 ]; then
  say "a partial cluster is running; stopping it first"
  bash "$ROOT/hack/cluster-down.sh"
fi

[ -x "$BIN/kube-apiserver" ] && [ -x "$BIN/kwok" ] || die "cluster binaries missing in $BIN; run 'make cluster-bins'"
for p in $ETCD_PORT $ETCD_PEER_PORT $APISERVER_PORT $KCM_PORT $SCHED_PORT $KWOK_PORT; do
  if ss -Hltn "sport = :$p" | grep -q .; then
    die "port $p on 127.0.0.1 is already in use ($(ss -Hltnp "sport = :$p" | awk '{print $NF}' | head -1)); stop that process or set up a different WEFT_CLUSTER_DIR"
  fi
done

say "network rule: routing $POD_CIDR to bridge $BRIDGE, blackholing $SERVICE_CIDR and $NODE_CIDR"
ip link show "$BRIDGE" >/dev/null 2>&1 || ip link add "$BRIDGE" type bridge
ip addr replace "$BRIDGE_ADDR" dev "$BRIDGE"
ip link set "$BRIDGE" up
ip route replace "$POD_CIDR" dev "$BRIDGE"
ip route replace blackhole "$SERVICE_CIDR"
ip route replace blackhole "$NODE_CIDR"

mkdir -p "$PKI" "$LOGS" "$PIDS"
if [ ! -f "$PKI/admin.crt" ]; then
  say "generating certificates in $PKI"
  bash "$ROOT/hack/cluster-pki.sh" "$PKI"
fi

cat > "$KUBECONFIG_PATH" <<KC
apiVersion: v1
kind: Config
clusters:
- name: weft-local
  cluster:
    server: https://127.0.0.1:$APISERVER_PORT
    certificate-authority-data: $(base64 -w0 "$PKI/ca.crt")
users:
- name: weft-admin
  user:
    client-certificate-data: $(base64 -w0 "$PKI/admin.crt")
    client-key-data: $(base64 -w0 "$PKI/admin.key")
contexts:
- name: weft-local
  context: { cluster: weft-local, user: weft-admin }
current-context: weft-local
KC
chmod 600 "$KUBECONFIG_PATH"

launch() { # name args...
  local name=$1; shift
  say "starting $name (log: $LOGS/$name.log)"
  setsid "$BIN/$name" "$@" >"$LOGS/$name.log" 2>&1 < /dev/null &
  echo $! > "$PIDS/$name.pid"
}

rm -rf "$CLUSTER_DIR/etcd-data"
launch etcd --name default --data-dir "$CLUSTER_DIR/etcd-data" \
  --listen-client-urls "http://127.0.0.1:$ETCD_PORT" --advertise-client-urls "http://127.0.0.1:$ETCD_PORT" \
  --listen-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" --initial-advertise-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
  --initial-cluster "default=http://127.0.0.1:$ETCD_PEER_PORT" --unsafe-no-fsync --log-level warn

launch kube-apiserver --etcd-servers "http://127.0.0.1:$ETCD_PORT" \
  --bind-address 127.0.0.1 --advertise-address 127.0.0.1 --secure-port "$APISERVER_PORT" \
  --service-cluster-ip-range "$SERVICE_CIDR" --endpoint-reconciler-type none \
  --client-ca-file "$PKI/ca.crt" --tls-cert-file "$PKI/apiserver.crt" --tls-private-key-file "$PKI/apiserver.key" \
  --kubelet-client-certificate "$PKI/admin.crt" --kubelet-client-key "$PKI/admin.key" \
  --service-account-issuer https://kubernetes.default.svc.cluster.local \
  --service-account-key-file "$PKI/sa.pub" --service-account-signing-key-file "$PKI/sa.key" \
  --authorization-mode Node,RBAC --allow-privileged=true --cert-dir "$PKI/apiserver-generated" \
  --watch-cache-sizes=configmaps#0 --enable-aggregator-routing=true -v=1
# --enable-aggregator-routing: webhook (and aggregated API) calls go to a Service's endpoint
# addresses, not its ClusterIP: there is no kube-proxy, the service CIDR is blackholed, and pods
# on the process kubelet's bridge are reachable by their own IPs (the operator's webhook pod).
# configmaps#0: ConfigMap watches go straight to etcd, so a test can compact etcd and see the real
# 410 Gone a long-lived cluster produces; a young watch cache would accept any old resourceVersion.

say "waiting for kube-apiserver /readyz"
for i in $(seq 1 120); do readyz && break; alive kube-apiserver || die "kube-apiserver exited; see $LOGS/kube-apiserver.log"; sleep 0.5; done
readyz || die "kube-apiserver not ready after 60s; see $LOGS/kube-apiserver.log"
say "kube-apiserver ready"

launch kube-controller-manager --kubeconfig "$KUBECONFIG_PATH" \
  --authentication-kubeconfig "$KUBECONFIG_PATH" --authorization-kubeconfig "$KUBECONFIG_PATH" \
  --bind-address 127.0.0.1 --secure-port "$KCM_PORT" --leader-elect=false \
  --service-account-private-key-file "$PKI/sa.key" --root-ca-file "$PKI/ca.crt" \
  --cluster-signing-cert-file "$PKI/ca.crt" --cluster-signing-key-file "$PKI/ca.key" \
  --allocate-node-cidrs=true --cluster-cidr "$POD_CIDR" --node-cidr-mask-size 24 \
  --service-cluster-ip-range "$SERVICE_CIDR" --use-service-account-credentials=true -v=1

launch kube-scheduler --kubeconfig "$KUBECONFIG_PATH" \
  --authentication-kubeconfig "$KUBECONFIG_PATH" --authorization-kubeconfig "$KUBECONFIG_PATH" \
  --bind-address 127.0.0.1 --secure-port "$SCHED_PORT" --leader-elect=false -v=1

KWOK_CFG="$CLUSTER_DIR/kwok-stages.yaml"
{ for f in "$BIN"/kwok-stages/*.yaml; do cat "$f"; echo "---"; done; } > "$KWOK_CFG"
launch kwok --kubeconfig "$KUBECONFIG_PATH" --config "$KWOK_CFG" \
  --manage-all-nodes=false --manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake \
  --node-ip "$KWOK_NODE_IP" --node-lease-duration-seconds 40 --cidr "$POD_CIDR" \
  --server-address "127.0.0.1:$KWOK_PORT"

export KUBECONFIG="$KUBECONFIG_PATH"
for n in $(seq 0 $(( KWOK_NODES - 1 ))); do
  kubectl apply -f - >/dev/null <<NODE
apiVersion: v1
kind: Node
metadata:
  name: kwok-node-$n
  annotations: { kwok.x-k8s.io/node: fake, node.alpha.kubernetes.io/ttl: "0" }
  labels: { type: kwok, kubernetes.io/hostname: kwok-node-$n, kubernetes.io/os: linux, kubernetes.io/arch: amd64 }
status:
  allocatable: { cpu: "32", memory: 256Gi, pods: "110" }
  capacity: { cpu: "32", memory: 256Gi, pods: "110" }
NODE
done

say "waiting for a kwok node to be Ready"
for i in $(seq 1 120); do
  if kubectl get nodes -o jsonpath='{range .items[*]}{.status.conditions[?(@.type=="Ready")].status}{"\n"}{end}' 2>/dev/null | grep -q True; then break; fi
  sleep 0.5
done
kubectl get nodes -o jsonpath='{range .items[*]}{.status.conditions[?(@.type=="Ready")].status}{"\n"}{end}' | grep -q True \
  || die "no node became Ready; see $LOGS/kwok.log"
for c in $COMPONENTS; do alive "$c" || die "$c exited; see $LOGS/$c.log"; done
say "cluster ready"
kubectl get nodes -o wide
echo
echo "Use it with:  export KUBECONFIG=$KUBECONFIG_PATH"
echo "              export PATH=$BIN:\$PATH   # kubectl"
echo "Logs:         $LOGS"
