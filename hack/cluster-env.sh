# Shared settings for cluster-up/cluster-down. Sourced, not executed.
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CLUSTER_DIR="${WEFT_CLUSTER_DIR:-$ROOT/.cluster}"
PKI="$CLUSTER_DIR/pki"
LOGS="$CLUSTER_DIR/logs"
PIDS="$CLUSTER_DIR/pids"
KUBECONFIG_PATH="$CLUSTER_DIR/kubeconfig"
BIN="$(bash "$ROOT/hack/build-cluster-bins.sh" --print-dir)"

# Ports, all on 127.0.0.1. Chosen away from the defaults so a stray real cluster does not collide.
ETCD_PORT=12379
ETCD_PEER_PORT=12380
APISERVER_PORT=16443
KCM_PORT=20257
SCHED_PORT=20259
KWOK_PORT=20263

# Network rule: pods live in POD_CIDR, routed to a local bridge; services and kwok node
# addresses are blackholed, so no packet to any of them can leave this machine.
POD_CIDR=10.88.0.0/16
BRIDGE=weft0
BRIDGE_ADDR=10.88.0.1/16
SERVICE_CIDR=10.96.0.0/16
NODE_CIDR=10.89.0.0/16
KWOK_NODE_IP=10.89.0.10
KWOK_NODES="${WEFT_KWOK_NODES:-1}"
COMPONENTS="etcd kube-apiserver kube-controller-manager kube-scheduler kwok"
