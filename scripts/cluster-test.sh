#!/usr/bin/env bash
# The cluster test: the whole pipeline on a private three-node RabbitMQ cluster
# (scripts/cluster.sh: nodes kaltim-cluster-a, -b, -c on ports 5792, 5794, 5796), every queue a
# quorum queue replicated on all three (retry tiers too: KALTIM_RETRY_QUEUE_TYPE=quorum), 5,000
# registrations, release binaries. During the run node a, where every client connects first,
# is killed with kill -9 and started again after 5 s; the workers and the demo fail over to b
# and c. The chaos run's other faults come with it (a worker killed with SIGKILL every 3 s,
# every connection closed once). The checker then counts lost and duplicated effects; the
# script also checks that every queue of the run was a quorum queue with a member on each node,
# and fails on any problem. It takes about 6 minutes here, so it is a command of its own beside
# scripts/test.sh. The cluster is stopped at the end unless it was running before.
#
#   scripts/cluster-test.sh [--registrations N (5000)] [other kaltim-demo options]
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
scripts/install-deps.sh
export KALTIM_RETRY_QUEUE_TYPE=quorum
# The nodes this script starts, and stops at the end (a node that was running stays).
started_here=()
for id in a b c; do scripts/cluster.sh node "$id" status 2>/dev/null || started_here+=("$id"); done
cleanup() {
  [[ -n "${WATCHER:-}" ]] && kill "$WATCHER" 2>/dev/null || true
  for id in "${started_here[@]}"; do scripts/cluster.sh node "$id" stop || true; done
}
trap cleanup EXIT
scripts/cluster.sh start
echo "== building (release)"
# tail, not grep: with pipefail a failed build stops the script.
swift build -c release --product kaltim-worker 2>&1 | tail -n 3
swift build -c release --product kaltim-demo 2>&1 | tail -n 3
BIN="$(swift build -c release --show-bin-path)"
[[ -x "$BIN/kaltim-worker" && -x "$BIN/kaltim-demo" ]] || { echo "cluster-test.sh: the build failed" >&2; exit 1; }

OUT=out/cluster
rm -rf "$OUT"
mkdir -p "$OUT"
# Records the run's queues (type and members) once its topology is declared, from node b
# (node a is killed during the run).
(
  for _ in $(seq 1 600); do
    scripts/cluster.sh node b ctl list_queues name type members --formatter json >"$OUT/queues.json.tmp" 2>/dev/null || true
    if grep -q '\.kaltim\.notifications\.retry' "$OUT/queues.json.tmp" 2>/dev/null; then
      mv "$OUT/queues.json.tmp" "$OUT/queues.json"
      exit 0
    fi
    sleep 1
  done
) &
WATCHER=$!

registrations=(--registrations 5000)
for argument in "$@"; do [[ "$argument" == --registrations ]] && registrations=(); done
status=0
"$BIN/kaltim-demo" --broker-url "$(scripts/cluster.sh url)" --worker-binary "$BIN/kaltim-worker" --output "$OUT" \
  --residents 15000 --chaos --chaos-interval 3 --broker-script scripts/cluster.sh "${registrations[@]}" "$@" || status=$?
wait "$WATCHER" || true
WATCHER=

python3 - "$OUT/queues.json" <<'PY' || status=1
import json, sys
try:
    queues = [q for q in json.load(open(sys.argv[1])) if ".kaltim." in q["name"]]
except (OSError, ValueError):
    sys.exit("cluster-test: the run's queues were never seen")
nodes = {f"kaltim-cluster-{x}@localhost" for x in "abc"}
bad = [q["name"] for q in queues if q.get("type") != "quorum" or set(q.get("members", [])) != nodes]
print(f"cluster-test: {len(queues)} queues of the run, {len(queues) - len(bad)} quorum queues with a member on each of the 3 nodes")
if bad:
    sys.exit("cluster-test: not replicated on all three nodes: " + ", ".join(sorted(bad)))
PY
if ((status == 0)); then echo "cluster-test: PASS"; else echo "cluster-test: FAIL" >&2; fi
exit "$status"
