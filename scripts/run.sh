#!/usr/bin/env bash
# The main job: the 2025 programme end to end on a seeded synthetic cohort. Installs what is
# missing, starts the private broker (and stops it afterwards if it started it), builds the
# release binaries, runs every worker role as its own process (intake with replicas), and
# prints a report. Stores, logs, certificates (PDF + JSON) and the report land in out/run/.
#
#   scripts/run.sh [--seed N] [--residents N] [--registrations N] [--intake-replicas N]
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
scripts/install-deps.sh
started_broker=0
if ! scripts/broker.sh status >/dev/null 2>&1; then started_broker=1; fi
cleanup() { if ((started_broker)); then scripts/broker.sh stop || true; fi; }
trap cleanup EXIT
scripts/broker.sh start
echo "== building (release)"
swift build -c release --product kaltim-worker 2>&1 | grep -E "error|warning: |Compiling|Build complete" | grep -v "^\[" || true
swift build -c release --product kaltim-demo 2>&1 | grep -E "error|Build complete" || true
BIN="$(swift build -c release --show-bin-path)"
[[ -x "$BIN/kaltim-worker" && -x "$BIN/kaltim-demo" ]] || { echo "run.sh: the build failed" >&2; exit 1; }
"$BIN/kaltim-demo" --broker-url "$(scripts/broker.sh url)" --worker-binary "$BIN/kaltim-worker" --output out/run "$@"
