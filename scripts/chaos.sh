#!/usr/bin/env bash
# The chaos run at full size: the whole pipeline on 10,000 registrations with release
# binaries, every role under the supervisor, a random worker killed with SIGKILL every 3 s,
# the broker restarted once and every connection closed once; then the checker counts lost
# and duplicated effects, leftovers, stray dead letters and NIKs in the logs, and the script
# fails on any. Runs on a private node of its own (kaltim-chaos, port 5752), started and
# stopped here. The test suite runs the same on 2,000 registrations (ChaosTests).
#
#   scripts/chaos.sh [--registrations N] [--seed N] [--chaos-interval SECONDS] [other kaltim-demo options]
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
scripts/install-deps.sh
export KALTIM_BROKER_NAME=kaltim-chaos KALTIM_BROKER_PORT=5752
cleanup() { scripts/broker.sh stop || true; }
trap cleanup EXIT
scripts/broker.sh start
echo "== building (release)"
swift build -c release --product kaltim-worker 2>&1 | grep -E "error|Build of" || true
swift build -c release --product kaltim-demo 2>&1 | grep -E "error|Build of" || true
BIN="$(swift build -c release --show-bin-path)"
[[ -x "$BIN/kaltim-worker" && -x "$BIN/kaltim-demo" ]] || { echo "chaos.sh: the build failed" >&2; exit 1; }
"$BIN/kaltim-demo" --broker-url "$(scripts/broker.sh url)" --worker-binary "$BIN/kaltim-worker" --output out/chaos \
  --registrations 10000 --residents 25000 --chaos --chaos-interval 3 --broker-script scripts/broker.sh "$@"
