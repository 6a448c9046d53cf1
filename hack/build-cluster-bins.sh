#!/usr/bin/env bash
# Builds the local cluster binaries from Go modules (no Docker, no prebuilt downloads)
# and caches them outside the repo, keyed by version. A second run is a no-op.
set -euo pipefail
HACK="$(cd "$(dirname "$0")" && pwd)"
K8S_VERSION="v1.36.3"
ETCD_VERSION="v3.6.16"
KWOK_VERSION="v0.8.0"
CACHE_ROOT="${WEFT_CACHE:-$HOME/.cache/weft}"
BIN="$CACHE_ROOT/cluster-bin/k8s-$K8S_VERSION-etcd-$ETCD_VERSION-kwok-$KWOK_VERSION"
export GOFLAGS="-mod=mod -buildvcs=false"
# An older go fetches the pinned toolchain through the Go module proxy (GOTOOLCHAIN=auto).
# The checksum database may be unreachable here; go.sum in each wrapper still pins hashes.
export GOSUMDB="${GOSUMDB:-off}"

if [ "${1:-}" = "--print-dir" ]; then echo "$BIN"; exit 0; fi
mkdir -p "$BIN"
START=$(date +%s)
progress() { echo "[cluster-bins +$(( $(date +%s) - START ))s] $*"; }

build() { # name wrapper-dir package ldflags
  local name=$1 dir=$2 pkg=$3 ldflags=$4
  if [ -x "$BIN/$name" ]; then progress "$name: cached"; return; fi
  progress "$name: building $pkg (first build takes several minutes)"
  ( cd "$HACK/$dir" && go build -trimpath -ldflags "$ldflags" -o "$BIN/$name.tmp" "$pkg" )
  mv "$BIN/$name.tmp" "$BIN/$name"
  progress "$name: done"
}

KV="${K8S_VERSION#v}"; KMAJ=${KV%%.*}; KREST=${KV#*.}; KMIN=${KREST%%.*}
vflags() { # pkg version major minor
  echo "-X $1.gitVersion=$2 -X $1.gitMajor=$3 -X $1.gitMinor=$4 -X $1.gitTreeState=clean -X $1.buildDate=1970-01-01T00:00:00Z"
}
K8S_LD="-s -w $(vflags k8s.io/component-base/version $K8S_VERSION $KMAJ $KMIN) $(vflags k8s.io/client-go/pkg/version $K8S_VERSION $KMAJ $KMIN)"
for c in kube-apiserver kube-controller-manager kube-scheduler kubectl; do
  build "$c" kube "k8s.io/kubernetes/cmd/$c" "$K8S_LD"
done
build etcd etcd go.etcd.io/etcd/server/v3 "-s -w"
build kwok kwok sigs.k8s.io/kwok/cmd/kwok "-s -w -X sigs.k8s.io/kwok/pkg/consts.Version=${KWOK_VERSION#v}"

# kwok's Stage documents ship in its module source.
if [ ! -d "$BIN/kwok-stages" ]; then
  MOD=$(cd "$HACK/kwok" && go list -m -f '{{.Dir}}' sigs.k8s.io/kwok)
  rm -rf "$BIN/kwok-stages.tmp"; mkdir -p "$BIN/kwok-stages.tmp"
  cp "$MOD"/kustomize/stage/node/fast/node-initialize.yaml "$MOD"/kustomize/stage/node/heartbeat-with-lease/node-heartbeat-with-lease.yaml \
     "$MOD"/kustomize/stage/pod/fast/pod-{ready,complete,delete}.yaml "$BIN/kwok-stages.tmp/"
  mv "$BIN/kwok-stages.tmp" "$BIN/kwok-stages"
fi
progress "all binaries in $BIN"
