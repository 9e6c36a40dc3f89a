#!/usr/bin/env bash
# Installs what building and testing need, when it is missing (Debian/Ubuntu): the C library
# librabbitmq (headers + pkg-config file), SQLite (for GRDB), cairo, libqrencode and zlib (certificate
# PDFs with a QR code; poppler and zbar to read one back in a test), libcurl (e-mail over SMTP), the RabbitMQ server for the
# private test node, Chromium with its WebDriver and Selenium (the console's browser test),
# pkg-config and a C compiler. The Swift toolchain itself must already be installed.
set -euo pipefail
missing=()
[[ -f /usr/include/amqp.h || -f /usr/include/rabbitmq-c/amqp.h ]] || missing+=(librabbitmq-dev)
[[ -x /usr/lib/rabbitmq/bin/rabbitmq-server ]] || missing+=(rabbitmq-server)
[[ -f /usr/include/sqlite3.h ]] || missing+=(libsqlite3-dev)
[[ -f /usr/include/cairo/cairo-pdf.h ]] || missing+=(libcairo2-dev)
[[ -f /usr/include/qrencode.h ]] || missing+=(libqrencode-dev)
# zlib: the certificate PDF's embedded fonts, compressed once per process.
[[ -f /usr/include/zlib.h ]] || missing+=(zlib1g-dev)
# The certificate's font (fontconfig's sans-serif), which the PDFs embed without its hinting.
[[ -f /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ]] || missing+=(fonts-dejavu-core)
[[ -f /usr/include/x86_64-linux-gnu/curl/curl.h || -f /usr/include/curl/curl.h || -f /usr/include/aarch64-linux-gnu/curl/curl.h ]] ||
  missing+=(libcurl4-openssl-dev)
# poppler-utils and zbar-tools: a test renders a certificate PDF and reads its QR code back.
command -v pdftoppm >/dev/null || missing+=(poppler-utils)
command -v zbarimg >/dev/null || missing+=(zbar-tools)
# qpdf: a test checks the structure of the certificate PDFs this project writes itself.
command -v qpdf >/dev/null || missing+=(qpdf)
# chromium, chromium-driver and Selenium (for Debian's /usr/bin/python3): the web console's test drives a
# real, headless browser.
[[ -x /usr/bin/chromium ]] || missing+=(chromium)
[[ -x /usr/bin/chromedriver ]] || missing+=(chromium-driver)
/usr/bin/python3 -c 'import selenium' >/dev/null 2>&1 || missing+=(python3-selenium)
command -v pkg-config >/dev/null || missing+=(pkg-config)
command -v cc >/dev/null || missing+=(gcc)
command -v python3 >/dev/null || missing+=(python3)
if ((${#missing[@]})); then
  echo "install-deps: installing ${missing[*]}" >&2
  if [[ $(id -u) -ne 0 ]]; then SUDO=sudo; else SUDO=; fi
  $SUDO apt-get update -q >/dev/null
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
fi
# Python packages the tests use: jsonschema (the independent validator of the exported
# schemas), pika (the publisher example in docs/PUBLISHING.md), aiosmtpd (the local SMTP
# server of the notification tests), PyYAML (parsing the deploy/ files in their test), and
# rfc8785, base58 and cryptography (scripts/verify-credential.py, the independent check of the
# exported Verifiable Credentials; Debian packages no rfc8785, so that one comes from PyPI).
if ! python3 -c 'import jsonschema, rfc3339_validator, pika, aiosmtpd, yaml, rfc8785, base58, cryptography' >/dev/null 2>&1
then
  echo "install-deps: installing the Python packages jsonschema, rfc3339-validator, pika, aiosmtpd, PyYAML," \
    "rfc8785, base58 and cryptography" >&2
  python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore jsonschema rfc3339-validator pika \
    aiosmtpd pyyaml rfc8785 base58 cryptography || {
    if [[ $(id -u) -ne 0 ]]; then SUDO=sudo; else SUDO=; fi
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q python3-jsonschema python3-rfc3339-validator python3-pika \
      python3-aiosmtpd python3-yaml python3-base58 python3-cryptography >/dev/null
  }
fi
if ! command -v swift >/dev/null; then
  echo "install-deps: the Swift 6 toolchain is not on PATH; install it from swift.org and retry" >&2
  exit 1
fi
