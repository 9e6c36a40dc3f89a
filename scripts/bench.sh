#!/usr/bin/env bash
# Relay benchmark: the Swift AMQP layer against a raw librabbitmq relay written in C, on the
# same private broker, in one run. Release builds. For each queue type and round it fills
# queue A with COUNT persistent 1 KiB messages, relays A -> B (prefetch 50, 50 confirms in
# flight), drains B, and prints both rates and their ratio (median over rounds). Then the worker
# runtime's full path against the C relay, and the certificates role's own rate (no broker).
#
#   scripts/bench.sh [--count N (20000)] [--rounds R (3)] [--types "quorum classic"]
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
COUNT=20000
ROUNDS=3
TYPES="quorum classic"
while [[ $# -gt 0 ]]; do
  case "$1" in
    --count) COUNT="$2"; shift 2 ;;
    --rounds) ROUNDS="$2"; shift 2 ;;
    --types) TYPES="$2"; shift 2 ;;
    *) echo "usage: $0 [--count N] [--rounds R] [--types \"quorum classic\"]" >&2; exit 64 ;;
  esac
done
[[ "$COUNT" =~ ^[1-9][0-9]*$ && "$ROUNDS" =~ ^[1-9][0-9]*$ ]] || { echo "usage: --count and --rounds take positive numbers" >&2; exit 64; }

scripts/install-deps.sh
OUT="$ROOT/.bench"
mkdir -p "$OUT"
cc -O2 -Wall -Wextra -o "$OUT/c-relay" Benchmarks/c-relay/relay.c -lrabbitmq
swift build -c release --product amqp-relay-bench 2>&1 | grep -E "error|warning|Compiling|Build complete" || true
swift build -c release --product jobs-bench 2>&1 | grep -E "error|warning|Build complete" || true
swift build -c release --product codec-bench 2>&1 | grep -E "error|warning|Build complete" || true
swift build -c release --product certificates-bench 2>&1 | grep -E "error|warning|Build complete" || true
SWIFT_RELAY="$(swift build -c release --show-bin-path)/amqp-relay-bench"
JOBS_BENCH="$(swift build -c release --show-bin-path)/jobs-bench"
CODEC_BENCH="$(swift build -c release --show-bin-path)/codec-bench"
CERT_BENCH="$(swift build -c release --show-bin-path)/certificates-bench"
scripts/broker.sh start
URL="$(scripts/broker.sh url)"
C="$OUT/c-relay"

rate() { sed -n 's/.* rate=\([0-9]*\).*/\1/p'; }
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }

echo "relay benchmark: $COUNT persistent 1 KiB messages per run, prefetch 50, 50 confirms in flight, $ROUNDS rounds"
echo "  c:               raw librabbitmq relay in C, one connection (Benchmarks/c-relay)"
echo "  swift-handler:   the Swift layer, one connection, delivery callback publishes, confirm callback acks (no tasks; C's shape)"
echo "  swift-callbacks: the Swift layer, one connection, a loop over the consumer sequence publishes, confirm callback acks"
echo "  swift-tasks:     the Swift layer, a task per message (await publish, await ack), consumer and publisher connections"
IMPLS="c swift-handler swift-callbacks swift-tasks"
for type in $TYPES; do
  flag=""; [[ "$type" == quorum ]] && flag="--quorum"
  for impl in $IMPLS; do : >"$OUT/$impl.$type"; done
  for round in $(seq 1 "$ROUNDS"); do
    for impl in $IMPLS; do
      $C delete --url "$URL" --queue bench.a >/dev/null 2>&1 || true
      $C delete --url "$URL" --queue bench.b >/dev/null 2>&1 || true
      $C declare --url "$URL" --queue bench.a $flag >/dev/null
      $C declare --url "$URL" --queue bench.b $flag >/dev/null
      $C fill --url "$URL" --queue bench.a --count "$COUNT" >/dev/null
      case $impl in
        c) line="$($C relay --url "$URL" --source bench.a --target bench.b --count "$COUNT")" ;;
        swift-handler) line="$("$SWIFT_RELAY" relay --url "$URL" --source bench.a --target bench.b --count "$COUNT" --mode handler --connections 1 2>/dev/null)" ;;
        swift-callbacks) line="$("$SWIFT_RELAY" relay --url "$URL" --source bench.a --target bench.b --count "$COUNT" --mode callbacks --connections 1 2>/dev/null)" ;;
        swift-tasks) line="$("$SWIFT_RELAY" relay --url "$URL" --source bench.a --target bench.b --count "$COUNT" --mode tasks --connections 2 2>/dev/null)" ;;
      esac
      $C drain --url "$URL" --queue bench.b --count "$COUNT" >/dev/null
      echo "  $type round $round $impl: $line"
      echo "$line" | rate >>"$OUT/$impl.$type"
    done
  done
  c_rate="$(median <"$OUT/c.$type")"
  echo "$type queues (medians): c $c_rate msg/s"
  for impl in swift-handler swift-callbacks swift-tasks; do
    s_rate="$(median <"$OUT/$impl.$type")"
    ratio="$(awk -v s="$s_rate" -v c="$c_rate" 'BEGIN {printf "%.2f", s / c}')"
    echo "$type queues (medians): $impl $s_rate msg/s, ratio to c $ratio"
  done
done
$C delete --url "$URL" --queue bench.a >/dev/null 2>&1 || true
$C delete --url "$URL" --queue bench.b >/dev/null 2>&1 || true

# The worker runtime's full path (decode, inbox + state + outbox in one SQLite transaction
# with synchronous=FULL, ack, publish with confirm), one process, a trivial handler, against the
# quorum C relay: at the C relay's prefetch (50), at the workers' default concurrency (64), and
# at 512 (larger group commits).
if [[ " $TYPES " == *" quorum "* ]]; then
  # The part of the full path that is the contract codec, against Foundation's in the same run.
  "$CODEC_BENCH" 20000
  for concurrency in 50 64 512; do
    : >"$OUT/jobs.$concurrency"
    for round in $(seq 1 "$ROUNDS"); do
      line="$("$JOBS_BENCH" --url "$URL" --count "$COUNT" --concurrency "$concurrency" 2>/dev/null)"
      echo "  jobs round $round: $line"
      echo "$line" | rate >>"$OUT/jobs.$concurrency"
    done
  done
  c_rate="$(median <"$OUT/c.quorum")"
  for concurrency in 50 64 512; do
    j_rate="$(median <"$OUT/jobs.$concurrency")"
    goal=""; [[ $concurrency == 50 ]] && goal=" (goal >= 0.80)"
    echo "worker runtime full path, prefetch $concurrency (median): $j_rate msg/s, ratio to the quorum C relay $(awk -v s="$j_rate" -v c="$c_rate" 'BEGIN {printf "%.2f", s / c}')$goal"
  done
fi

# The certificates role's own rate, without a broker (the node above is idle by then; the main
# job's issuance is capped by the quotas): the store path alone first, then competent grades
# through the handler in group commits of 50, then the certificates' files (JSON and PDF).
"$CERT_BENCH" --count 5000
