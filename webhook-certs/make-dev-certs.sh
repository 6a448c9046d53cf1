#!/usr/bin/env bash
# Makes development certificates for running the Weft webhook locally (outside the operator,
# which makes and rotates its own). ECDSA P-256, like the operator's. Everything goes to
# webhook-certs/out/, which is gitignored: no private key is ever committed.
#
#   bash webhook-certs/make-dev-certs.sh [--days N] [--san DNS:name|IP:addr]... [--force]
#
# Outputs: out/ca.crt out/ca.key out/tls.crt out/tls.key, and out/ca-bundle.b64 (the
# caBundle value for a webhook configuration). Default SANs: 127.0.0.1, localhost and
# weft-webhook.weft-system.svc.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
OUT="${WEFT_DEV_CERTS_OUT:-$HERE/out}"  # override for tests only
DAYS=30
FORCE=0
SANS=()
while [ $# -gt 0 ]; do
  case "$1" in
    --days) DAYS="${2:?--days needs a number}"; shift 2 ;;
    --san) SANS+=("${2:?--san needs DNS:name or IP:addr}"); shift 2 ;;
    --force) FORCE=1; shift ;;
    -h|--help) sed -n '2,11p' "$0"; exit 0 ;;
    *) echo "make-dev-certs: unknown argument $1 (try --help)" >&2; exit 2 ;;
  esac
done
case "$DAYS" in ''|*[!0-9]*) echo "make-dev-certs: --days must be a whole number, got '$DAYS'" >&2; exit 2 ;; esac
[ ${#SANS[@]} -gt 0 ] || SANS=("IP:127.0.0.1" "DNS:localhost" "DNS:weft-webhook.weft-system.svc")
for s in "${SANS[@]}"; do
  case "$s" in DNS:?*|IP:?*) ;; *) echo "make-dev-certs: SAN must look like DNS:name or IP:addr, got '$s'" >&2; exit 2 ;; esac
done
command -v openssl >/dev/null || { echo "make-dev-certs: openssl is required (apt-get install openssl)" >&2; exit 1; }
if [ -f "$OUT/tls.crt" ] && [ "$FORCE" = 0 ]; then
  echo "make-dev-certs: $OUT already has certificates; pass --force to replace them" >&2
  exit 1
fi
mkdir -p "$OUT"
chmod 700 "$OUT"
umask 077
SAN_LIST=$(IFS=,; echo "${SANS[*]}")
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

openssl ecparam -name prime256v1 -genkey -noout -out "$TMP/ca.ec"
openssl pkcs8 -topk8 -nocrypt -in "$TMP/ca.ec" -out "$OUT/ca.key"
openssl req -x509 -new -key "$OUT/ca.key" -sha256 -days $((DAYS * 12)) -subj "/O=weft/CN=weft-webhook-dev-ca" \
  -addext "basicConstraints=critical,CA:TRUE,pathlen:0" -addext "keyUsage=critical,keyCertSign,cRLSign" \
  -out "$OUT/ca.crt" 2>/dev/null

openssl ecparam -name prime256v1 -genkey -noout -out "$TMP/tls.ec"
openssl pkcs8 -topk8 -nocrypt -in "$TMP/tls.ec" -out "$OUT/tls.key"
openssl req -new -key "$OUT/tls.key" -subj "/CN=${SANS[0]#*:}" -out "$TMP/tls.csr" 2>/dev/null
cat > "$TMP/ext.cnf" <<EXT
basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=serverAuth
subjectAltName=$SAN_LIST
EXT
openssl x509 -req -in "$TMP/tls.csr" -CA "$OUT/ca.crt" -CAkey "$OUT/ca.key" -CAcreateserial -CAserial "$TMP/ca.srl" \
  -days "$DAYS" -sha256 -extfile "$TMP/ext.cnf" -out "$OUT/tls.crt" 2>/dev/null
base64 -w0 < "$OUT/ca.crt" > "$OUT/ca-bundle.b64"
chmod 644 "$OUT/ca.crt" "$OUT/tls.crt" "$OUT/ca-bundle.b64"

openssl verify -CAfile "$OUT/ca.crt" "$OUT/tls.crt" >/dev/null
echo "make-dev-certs: wrote $OUT/{ca.crt,ca.key,tls.crt,tls.key,ca-bundle.b64}"
echo "  serving cert valid $DAYS days for $SAN_LIST"
echo "  caBundle: \$(cat $OUT/ca-bundle.b64)"
