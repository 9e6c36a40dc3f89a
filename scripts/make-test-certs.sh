#!/usr/bin/env bash
# Makes a throw-away certificate authority, a server certificate for localhost/127.0.0.1 and a
# client certificate, for the TLS tests of the private broker node. Never use them elsewhere.
#
#   scripts/make-test-certs.sh DIR     writes ca.pem, server.pem/.key, client.pem/.key,
#                                      other-ca.pem (a CA that signed nothing, for failure tests)
set -euo pipefail
DIR="${1:?usage: $0 DIR}"
mkdir -p "$DIR"
cd "$DIR"
[[ -f ca.pem && -f server.pem && -f client.pem && -f other-ca.pem ]] && exit 0
command -v openssl >/dev/null || { echo "make-test-certs: openssl is missing (apt-get install openssl)" >&2; exit 1; }
q() { "$@" >/dev/null 2>&1; }
q openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 30 -subj "/CN=kaltim-test-ca"
q openssl req -x509 -newkey rsa:2048 -nodes -keyout other-ca.key -out other-ca.pem -days 30 -subj "/CN=kaltim-other-ca"
printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' >server.ext
q openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr -subj "/CN=localhost"
q openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out server.pem -days 30 -extfile server.ext
printf 'extendedKeyUsage=clientAuth\n' >client.ext
q openssl req -newkey rsa:2048 -nodes -keyout client.key -out client.csr -subj "/CN=kaltim-test-client"
q openssl x509 -req -in client.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out client.pem -days 30 -extfile client.ext
rm -f ./*.csr ./*.ext ./*.srl
