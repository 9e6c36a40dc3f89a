#!/usr/bin/env bash
# Makes the certificates AMQP over TLS needs in deploy/: a certificate authority (ca.pem; its key
# ca.key, which belongs offline once the certificates exist) and the broker's certificate
# (server.pem, server.key), valid for every name the workers use to reach a broker node.
#
#   scripts/make-broker-certs.sh DIR [NAME...]
#
# NAMEs are DNS names or IP addresses; the default covers deploy/: rabbitmq, rabbitmq-1..3 (the
# compose files), kaltim-rabbitmq and its Service names (Kubernetes) and localhost. Existing files
# are never overwritten: if any of them is there, nothing is written (use a new DIR to rotate). ca.key is created 0600, server.key 0640:
# give its group to the broker's user (the rabbitmq image's is 999: chgrp 999 DIR/server.key).
#
# deploy/compose*.yaml read deploy/tls/ (kept out of git): scripts/make-broker-certs.sh deploy/tls
# Kubernetes: kubectl create secret tls kaltim-rabbitmq-tls --cert=DIR/server.pem --key=DIR/server.key
#             kubectl create secret generic kaltim-rabbitmq-ca --from-file=ca.crt=DIR/ca.pem
# Every worker is given ca.pem (--tls-ca) and reaches the broker as amqps://…:5671.
set -euo pipefail
DIR="${1:?usage: $0 DIR [NAME...]}"
shift
NAMES=("$@")
if ((${#NAMES[@]} == 0)); then
  NAMES=(rabbitmq rabbitmq-1 rabbitmq-2 rabbitmq-3 kaltim-rabbitmq kaltim-rabbitmq.default.svc
    kaltim-rabbitmq.default.svc.cluster.local localhost 127.0.0.1)
fi
DAYS="${KALTIM_CERT_DAYS:-825}"
command -v openssl >/dev/null || { echo "make-broker-certs: openssl is missing (apt-get install openssl)" >&2; exit 1; }
umask 077
if [[ -d "$DIR" ]]; then
  for file in ca.pem ca.key server.pem server.key; do
    if [[ -e "$DIR/$file" ]]; then
      echo "make-broker-certs: $DIR already holds $file; nothing written (use a new folder to rotate)" >&2
      exit 0
    fi
  done
else
  mkdir -p "$DIR"
  chmod 0755 "$DIR"
fi
cd "$DIR"
san=""
for name in "${NAMES[@]}"; do
  if [[ $name =~ ^[0-9.]+$ || $name == *:* ]]; then san+="IP:$name,"; else san+="DNS:$name,"; fi
done
q() {
  local output
  output=$("$@" 2>&1) || { echo "make-broker-certs: failed: $*" >&2; echo "$output" >&2; exit 1; }
}
q openssl req -x509 -newkey rsa:3072 -nodes -keyout ca.key -out ca.pem -days "$DAYS" -subj "/CN=kaltim-broker-ca" \
  -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign"
printf 'subjectAltName=%s\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\n' \
  "${san%,}" >server.ext
q openssl req -newkey rsa:3072 -nodes -keyout server.key -out server.csr -subj "/CN=${NAMES[0]}"
q openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out server.pem -days "$DAYS" -extfile server.ext
rm -f server.csr server.ext ca.srl
# The broker (its own user in the containers) must read its key: readable by the group; the
# certificates are public.
chmod 0640 server.key
chmod 0644 ca.pem server.pem
echo "make-broker-certs: wrote $DIR/ca.pem, server.pem, server.key (valid $DAYS days for ${NAMES[*]})" >&2
