#!/usr/bin/env bash
# The embedded registry's TLS files, made once per cluster (sealer_runner does the same in its state dir):
#   scripts/registry-pki.sh DIR DOMAIN IP...      e.g. scripts/registry-pki.sh pki sea.hub 10.0.0.11
# DIR/ca.crt, ca.key (the cluster CA, 10 years, EC P-256; kept if present, so re-runs change nothing on the
# hosts), registry.crt and registry.key (for DOMAIN and each IP of the registry hosts). Keys are 0600.
set -euo pipefail
dir=$1 domain=$2
shift 2
mkdir -p "$dir"
umask 077
if [[ ! -e $dir/ca.crt || ! -e $dir/ca.key ]]; then
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 3650 -subj "/CN=$domain cluster CA" \
    -addext "basicConstraints=critical,CA:TRUE,pathlen:0" -addext "keyUsage=critical,keyCertSign,cRLSign" \
    -keyout "$dir/ca.key" -out "$dir/ca.crt" 2>/dev/null
fi
sans="DNS:$domain"
for ip in "$@"; do sans+=",IP:$ip"; done
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$domain" \
  -keyout "$dir/registry.key" -out "$dir/registry.csr" 2>/dev/null
openssl x509 -req -in "$dir/registry.csr" -CA "$dir/ca.crt" -CAkey "$dir/ca.key" -CAcreateserial -days 3650 \
  -extfile <(printf 'subjectAltName=%s\nextendedKeyUsage=serverAuth\n' "$sans") -out "$dir/registry.crt" 2>/dev/null
rm -f "$dir/registry.csr" "$dir/ca.srl"
chmod 644 "$dir/ca.crt" "$dir/registry.crt"
echo "$dir: ca.crt, registry.crt and registry.key for $sans"
