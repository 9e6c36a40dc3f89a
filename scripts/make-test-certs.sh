#!/usr/bin/env bash
# Makes a throw-away certificate authority and a server certificate for localhost/127.0.0.1 (with
# scripts/make-broker-certs.sh, as for deploy/) and a client certificate, for the TLS tests of
# the private broker node. Never use them elsewhere.
#
#   scripts/make-test-certs.sh DIR     writes ca.pem, server.pem/.key, client.pem/.key,
#                                      other-ca.pem (a CA that signed nothing, for failure tests)
set -euo pipefail
DIR="${1:?usage: $0 DIR}"
HERE="$(cd "$(dirname "$0")" && pwd)"
mkdir -p "$DIR"
cd "$DIR"
[[ -f ca.pem && -f server.pem && -f client.pem && -f other-ca.pem ]] && exit 0
command -v openssl >/dev/null || { echo "make-test-certs: openssl is missing (apt-get install openssl)" >&2; exit 1; }
q() { "$@" >/dev/null 2>&1; }
# The CA and the server certificate come from the script deploy/ uses, so the TLS tests run on
# exactly what it makes.
KALTIM_CERT_DAYS=30 "$HERE/make-broker-certs.sh" . localhost 127.0.0.1 2>/dev/null
q openssl req -x509 -newkey rsa:2048 -nodes -keyout other-ca.key -out other-ca.pem -days 30 -subj "/CN=kaltim-other-ca"
printf 'extendedKeyUsage=clientAuth\n' >client.ext
q openssl req -newkey rsa:2048 -nodes -keyout client.key -out client.csr -subj "/CN=kaltim-test-client"
q openssl x509 -req -in client.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out client.pem -days 30 -extfile client.ext
rm -f ./*.csr ./*.ext ./*.srl
