#!/usr/bin/env bash
# Installs the anchors `make bench` measures Weft against, idempotently:
#   - nginx (nginx-light where Debian still ships it), HAProxy and wrk from Debian packages;
#   - the go-control-plane reference ADS server (hack/gcp), built from the Go module proxy
#     into ~/.cache/weft/bench-bin/ and keyed by the go-control-plane version.
# Usage: bash hack/bench-deps.sh [--print-dir]
# Missing pieces are reported, never fatal: the bench prints "not measured: <reason>" for them.
set -uo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
BIN_DIR="${WEFT_BENCH_BIN:-$HOME/.cache/weft/bench-bin}"
if [[ "${1:-}" == "--print-dir" ]]; then echo "$BIN_DIR"; exit 0; fi
mkdir -p "$BIN_DIR"

need=()
command -v nginx >/dev/null 2>&1 || need+=(nginx)
command -v haproxy >/dev/null 2>&1 || need+=(haproxy)
command -v wrk >/dev/null 2>&1 || need+=(wrk)
if ((${#need[@]})); then
  if command -v apt-get >/dev/null 2>&1 && [[ $(id -u) == 0 ]]; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null 2>&1 || echo "bench-deps: apt-get update failed" >&2
    pkgs=()
    for p in "${need[@]}"; do
      if [[ $p == nginx ]] && apt-cache show nginx-light >/dev/null 2>&1; then pkgs+=(nginx-light); else pkgs+=("$p"); fi
    done
    # One by one, so one missing package does not block the others.
    for p in "${pkgs[@]}"; do
      apt-get install -y -qq --no-install-recommends "$p" >/dev/null 2>&1 || echo "bench-deps: could not install $p" >&2
    done
    # Debian starts the services on install; the bench runs its own instances on loopback.
    for s in nginx haproxy; do
      if command -v systemctl >/dev/null 2>&1; then systemctl stop "$s" >/dev/null 2>&1 || true; fi
      service "$s" stop >/dev/null 2>&1 || true
    done
  else
    echo "bench-deps: missing ${need[*]} and cannot apt-get install (need root + apt)" >&2
  fi
fi

# go-control-plane reference server.
GCP_VERSION="$(awk '$1=="github.com/envoyproxy/go-control-plane" {print $2; exit}' "$HERE/gcp/go.mod" 2>/dev/null)"
# Keyed by the go-control-plane version and the wrapper's own source, so an edit rebuilds.
GCP_SRC_HASH="$(cat "$HERE/gcp/main.go" "$HERE/gcp/go.mod" 2>/dev/null | sha256sum | cut -c1-12)"
GCP_BIN="$BIN_DIR/gcp-ads-${GCP_VERSION:-unknown}-${GCP_SRC_HASH}"
if [[ ! -x "$GCP_BIN" ]]; then
  if command -v go >/dev/null 2>&1; then
    (cd "$HERE/gcp" && GOFLAGS=-mod=mod go build -o "$GCP_BIN.tmp" . && mv "$GCP_BIN.tmp" "$GCP_BIN") \
      || (cd "$HERE/gcp" && GOSUMDB=off GOFLAGS=-mod=mod go build -o "$GCP_BIN.tmp" . && mv "$GCP_BIN.tmp" "$GCP_BIN") \
      || echo "bench-deps: go-control-plane server build failed" >&2
  else
    echo "bench-deps: go not found; go-control-plane anchor unavailable" >&2
  fi
fi
ln -sf "$(basename "$GCP_BIN")" "$BIN_DIR/gcp-ads" 2>/dev/null || true

for t in nginx haproxy wrk; do printf 'bench-deps: %-8s %s\n' "$t" "$(command -v "$t" || echo missing)"; done
printf 'bench-deps: %-8s %s\n' gcp "$([[ -x $GCP_BIN ]] && echo "$GCP_BIN" || echo missing)"
