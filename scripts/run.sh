#!/usr/bin/env bash
# The main job: the 2025 programme end to end on a seeded synthetic cohort. Installs what is
# missing, starts the private broker (and stops it afterwards if it started it), builds the
# release binaries, runs every worker role as its own process (intake with replicas), and
# prints a report. Stores, logs, certificates (PDF + JSON) and the report land in out/run/.
#
#   scripts/run.sh [--console] [--seed N] [--residents N] [--registrations N] [--intake-replicas N]
#
# --console: the web console runs on the run's topology from the start and is left running at
# the end (with the broker and the run's queues), its address and demo accounts printed and
# kept in out/run/console-accounts.txt, and so is the certificate verification service that the
# run's QR codes and messages point at (port 8090 unless --verification-port N). Stop them with
# `kill $(cat out/run/console.pid) $(cat out/run/verification.pid)`, then `scripts/broker.sh
# stop`. The console's port is 8080 unless --console-port N says otherwise. The next run.sh
# (with --console or not) stops a console and verification service an earlier run left, and
# deletes that run's queues from the private broker.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
console=0
arguments=()
for argument in "$@"; do
  if [[ "$argument" == "--console" ]]; then console=1; else arguments+=("$argument"); fi
done
scripts/install-deps.sh
started_broker=0
if ! scripts/broker.sh status >/dev/null 2>&1; then started_broker=1; fi
# A kaltim-console process a run started, if it is still running (known by its pid file, given
# as console or verification, and its command).
alive() {
  local pid
  pid="$(cat "out/run/$1.pid" 2>/dev/null || true)"
  [[ "$pid" =~ ^[0-9]+$ ]] && grep -q "kaltim-console" "/proc/$pid/cmdline" 2>/dev/null
}
console_alive() { alive console; }
# The broker stays up only for a console left running on it.
cleanup() { if ((started_broker)) && ! console_alive; then scripts/broker.sh stop || true; fi; }
trap cleanup EXIT
scripts/broker.sh start
for service in console verification; do
  if alive "$service"; then
    # A console or verification service an earlier run left (this script started it; the run
    # deletes out/run).
    old="$(cat "out/run/$service.pid")"
    echo "== stopping the $service service of the previous run (pid $old)"
    kill "$old" || true
    for _ in $(seq 1 300); do alive "$service" || break; sleep 0.1; done
  fi
done
if [[ -f out/run/console.prefix ]]; then
  prefix="$(cat out/run/console.prefix)"
  if [[ "$prefix" =~ ^demo-[0-9]+-[0-9]+\.$ ]]; then
    echo "== deleting the queues that run left (${prefix}*)"
    scripts/broker.sh ctl list_queues -q name 2>/dev/null | grep -F "$prefix" | while read -r queue; do
      [[ "$queue" == "$prefix"* ]] && scripts/broker.sh ctl delete_queue "$queue" </dev/null >/dev/null 2>&1 || true
    done || true
  fi
  rm -f out/run/console.prefix
fi
echo "== building (release)"
swift build -c release --product kaltim-worker 2>&1 | grep -E "error|warning: |Compiling|Build complete" | grep -v "^\[" || true
swift build -c release --product kaltim-demo 2>&1 | grep -E "error|Build complete" || true
BIN="$(swift build -c release --show-bin-path)"
[[ -x "$BIN/kaltim-worker" && -x "$BIN/kaltim-demo" ]] || { echo "run.sh: the build failed" >&2; exit 1; }
if ((console)); then
  swift build -c release --product kaltim-console 2>&1 | grep -E "error|Build complete" || true
  [[ -x "$BIN/kaltim-console" ]] || { echo "run.sh: the console's build failed" >&2; exit 1; }
  arguments+=(--console-binary "$BIN/kaltim-console")
  KALTIM_MANAGEMENT_URL="$(scripts/broker.sh management-url || true)"
  export KALTIM_MANAGEMENT_URL
fi
"$BIN/kaltim-demo" --broker-url "$(scripts/broker.sh url)" --worker-binary "$BIN/kaltim-worker" --output out/run \
  ${arguments[@]+"${arguments[@]}"}
