#!/usr/bin/env bash
# End-to-end benchmark: N registrations through all five roles (persistent messages, publisher
# confirms, SQLite stores with synchronous=FULL), release builds, every role its own process
# (intake with replicas), notifications to a JSON-lines file. Prints registrations per second
# end to end, p50/p99 from submission to the decision message, per-role rates and each
# process's peak memory, and, measured in the same run just before, the raw C relay rate (the
# median of three rounds) as the ceiling.
#
# --rate R is the open loop: the portal publishes R registrations a second (each stamped when it
# is sent) for --duration seconds (300), or for --registrations N; the report then gives
# p50/p99/max from submission to intake's decision and to the decision's message under that
# steady load.
#
# --scale N1,N2,… runs the main job once per size (all at once, each after the other, one C relay
# measurement first) and prints the scaling table: per role the CPU its processes spent per
# message it consumed (the events of the types bound to its queue; each report also gives the
# CPU per output) at each size and its ratio to the first size (the goal: within 1.5×), end to
# end registrations/s against the relay, and the largest peak memory.
#
#   scripts/bench-e2e.sh [--registrations N (20000)] [--intake-replicas R (2)] [--seed S]
#                        [--rate R [--duration S]] [--scale 10000,20000,50000,100000]
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
REGISTRATIONS=""
REPLICAS=2
SEED=2025
RATE=""
DURATION=300
SCALE=""
usage="usage: $0 [--registrations N] [--intake-replicas R] [--seed S] [--rate R [--duration S]] [--scale N1,N2,...]"
while [[ $# -gt 0 ]]; do
  [[ $# -ge 2 ]] || { echo "$usage" >&2; exit 64; }
  case "$1" in
    --registrations) REGISTRATIONS="$2"; shift 2 ;;
    --intake-replicas) REPLICAS="$2"; shift 2 ;;
    --seed) SEED="$2"; shift 2 ;;
    --rate) RATE="$2"; shift 2 ;;
    --duration) DURATION="$2"; shift 2 ;;
    --scale) SCALE="$2"; shift 2 ;;
    *) echo "$usage" >&2; exit 64 ;;
  esac
done
[[ -z "$RATE" || ("$RATE" =~ ^[1-9][0-9]{0,4}$ && "$RATE" -le 100000) ]] ||
  { echo "--rate takes a whole number from 1 to 100000 per second" >&2; exit 64; }
[[ "$DURATION" =~ ^[1-9][0-9]{0,5}$ ]] || { echo "--duration takes a whole number of seconds" >&2; exit 64; }
if [[ -z "$RATE" && "$DURATION" != 300 ]]; then echo "--duration goes with --rate" >&2; exit 64; fi
if [[ -n "$SCALE" ]]; then
  [[ "$SCALE" =~ ^[1-9][0-9]{1,6}(,[1-9][0-9]{1,6}){0,9}$ ]] ||
    { echo "--scale takes up to 10 sizes of 10 to 9999999 registrations, comma-separated: 10000,20000,50000" >&2; exit 64; }
  [[ -z "$RATE" && -z "$REGISTRATIONS" ]] || { echo "--scale goes without --rate and --registrations" >&2; exit 64; }
  IFS=, read -r -a SIZES <<<"$SCALE"
  REGISTRATIONS="${SIZES[0]}"
fi
if [[ -z "$REGISTRATIONS" ]]; then
  if [[ -n "$RATE" ]]; then REGISTRATIONS=$((RATE * DURATION)); else REGISTRATIONS=20000; fi
fi
[[ "$REGISTRATIONS" =~ ^[1-9][0-9]{0,6}$ && "$REPLICAS" =~ ^[1-9]$ && "$SEED" =~ ^[0-9]{1,18}$ ]] ||
  { echo "usage: --registrations, --intake-replicas and --seed take positive numbers" >&2; exit 64; }
((REGISTRATIONS >= 10)) || { echo "at least 10 registrations (--rate × --duration, or --registrations)" >&2; exit 64; }
RESIDENTS=$((REGISTRATIONS * 5 / 2))
((RESIDENTS < 20000)) && RESIDENTS=20000

scripts/install-deps.sh
started_broker=0
if ! scripts/broker.sh status >/dev/null 2>&1; then started_broker=1; fi
cleanup() { if ((started_broker)); then scripts/broker.sh stop || true; fi; }
trap cleanup EXIT
scripts/broker.sh start
URL="$(scripts/broker.sh url)"

echo "== building (release)"
mkdir -p .bench
cc -O2 -Wall -Wextra -o .bench/c-relay Benchmarks/c-relay/relay.c -lrabbitmq
swift build -c release --product kaltim-worker 2>&1 | grep -E "error|Build complete" || true
swift build -c release --product kaltim-demo 2>&1 | grep -E "error|Build complete" || true
BIN="$(swift build -c release --show-bin-path)"
[[ -x "$BIN/kaltim-worker" && -x "$BIN/kaltim-demo" ]] || { echo "bench-e2e.sh: the build failed" >&2; exit 1; }

# The median of three rounds: one round of 20,000 messages moved from 12,600 to 31,400 msg/s
# between runs of the same day here.
echo "== the ceiling: raw C relay, 20000 persistent 1 KiB messages between two quorum queues, median of 3 rounds"
C=.bench/c-relay
rates=()
for round in 1 2 3; do
  for q in bench.a bench.b; do
    $C delete --url "$URL" --queue $q >/dev/null 2>&1 || true
    $C declare --url "$URL" --queue $q --quorum >/dev/null
  done
  $C fill --url "$URL" --queue bench.a --count 20000 >/dev/null
  line="$($C relay --url "$URL" --source bench.a --target bench.b --count 20000)"
  echo "  round $round: $line"
  rates+=("$(echo "$line" | sed -n 's/.* rate=\([0-9]*\).*/\1/p')")
done
RELAY="$(printf '%s\n' "${rates[@]}" | sort -n | sed -n 2p)"
echo "  median: $RELAY msg/s"
for q in bench.a bench.b; do $C delete --url "$URL" --queue $q >/dev/null 2>&1 || true; done

open_loop=()
if [[ -n "$RATE" ]]; then open_loop=(--rate "$RATE"); fi
if [[ -z "$SCALE" ]]; then
  echo "== $REGISTRATIONS registrations, $RESIDENTS residents, $REPLICAS intake processes${RATE:+, published at $RATE/s}"
  "$BIN/kaltim-demo" --broker-url "$URL" --worker-binary "$BIN/kaltim-worker" --output out/bench-e2e \
    --seed "$SEED" --registrations "$REGISTRATIONS" --residents "$RESIDENTS" --intake-replicas "$REPLICAS" \
    --relay-rate "${RELAY:-0}" ${open_loop[@]+"${open_loop[@]}"}
  exit
fi

# The scaling table: one run per size; each run's report and output are kept as
# out/bench-e2e-scale/report-N.txt and run-N.log
# (the main job empties its own output folder when it starts).
mkdir -p out/bench-e2e-scale
for size in "${SIZES[@]}"; do
  residents=$((size * 5 / 2))
  ((residents < 20000)) && residents=20000
  echo "== $size registrations, $residents residents, $REPLICAS intake processes"
  "$BIN/kaltim-demo" --broker-url "$URL" --worker-binary "$BIN/kaltim-worker" --output out/bench-e2e \
    --seed "$SEED" --registrations "$size" --residents "$residents" --intake-replicas "$REPLICAS" \
    --relay-rate "${RELAY:-0}" >"out/bench-e2e-scale/run-$size.log" 2>&1 ||
    { echo "bench-e2e.sh: the run of $size registrations failed; see out/bench-e2e-scale/run-$size.log" >&2; exit 1; }
  cp out/bench-e2e/report.txt "out/bench-e2e-scale/report-$size.txt"
done
echo "== scaling (C relay $RELAY msg/s; CPU of each role's processes per message it consumed, and its ratio to the first size)"
awk -v relay="${RELAY:-0}" -v sizes="$SCALE" '
  BEGIN { n = split(sizes, size, ","); split("intake scheduling grading certificates notifications", role, " ") }
  FNR == 1 { file++ }
  /^  end to end: / { e2e[file] = $4 }
  /^    [a-z]+ +[0-9]+ outputs in .* ms\/message$/ { cost[file, $1] = $(NF - 1) }
  /^    [a-z]+(-[0-9]+)? +[0-9.]+ MiB/ { if ($2 + 0 > peak[file]) peak[file] = $2 + 0 }
  END {
    printf "%-14s %9s %9s", "registrations", "e2e/s", "× relay"
    for (r = 1; r <= 5; r++) printf " %20s", role[r] " ms/msg"
    printf " %10s\n", "peak MiB"
    for (f = 1; f <= n; f++) {
      printf "%-14s %9s %9.3f", size[f], e2e[f], (relay > 0 ? e2e[f] / relay : 0)
      for (r = 1; r <= 5; r++) {
        c = cost[f, role[r]]; base = cost[1, role[r]]
        printf " %12.3f (%4.2f×)", c, (base > 0 ? c / base : 0)
      }
      printf " %10.1f\n", peak[f]
    }
  }' $(for size in "${SIZES[@]}"; do echo "out/bench-e2e-scale/report-$size.txt"; done)
