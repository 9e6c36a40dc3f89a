#!/usr/bin/env bash
# Fuzzes the envelope and contract decoders and the NIK, name, phone and e-mail rules with
# libFuzzer (Sources/KaltimFuzz).
#
#   scripts/fuzz.sh [SECONDS]     default 600; scripts/test.sh runs it for 60
#
# Builds kaltim-fuzz with -sanitize=fuzzer in .build-fuzz (its own build folder), seeds a
# working corpus with the contract fixtures and Tests/FuzzCorpus, and runs for SECONDS. A
# crash, trap or hang is written to Tests/FuzzCorpus/ (crash-…, timeout-…) and the script
# fails: fix the cause and commit the file, and it stays a regression test of the ordinary
# suite (FuzzRegressionTests replays every file there).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
DURATION="${1:-600}"
if ! [[ "$DURATION" =~ ^[0-9]+$ ]] || ((DURATION == 0)); then
  echo "usage: scripts/fuzz.sh [SECONDS]   (a positive whole number; default 600)" >&2
  exit 64
fi
SCRATCH="$ROOT/.build-fuzz"
FLAGS=(-c release --product kaltim-fuzz --scratch-path "$SCRATCH" -Xswiftc -sanitize=fuzzer -Xswiftc -DFUZZING)
echo "== build kaltim-fuzz with libFuzzer"
swift build "${FLAGS[@]}" 2>&1 | grep -Ev "^\[[0-9]+/[0-9]+\]" || true
BIN="$(swift build "${FLAGS[@]}" --show-bin-path)/kaltim-fuzz"
[[ -x "$BIN" ]] || { echo "fuzz.sh: the build did not produce $BIN" >&2; exit 1; }

WORK="$SCRATCH/corpus"
mkdir -p "$WORK" "$ROOT/Tests/FuzzCorpus"
cp -n Tests/ContractsTests/Fixtures/*.json "$WORK/" 2>/dev/null || true
echo "== fuzz for $DURATION s (working corpus: $(ls "$WORK" | wc -l) inputs)"
set +e
"$BIN" "$WORK" "$ROOT/Tests/FuzzCorpus" -max_total_time="$DURATION" -max_len=16384 -timeout=10 -rss_limit_mb=2048 \
  -artifact_prefix="$ROOT/Tests/FuzzCorpus/" -print_final_stats=1 >"$SCRATCH/last-run.log" 2>&1
status=$?
set -e
grep -E "^#[0-9]+[[:space:]]+(INITED|DONE)|ERROR|SUMMARY|stat::number_of_executed_units|stat::peak_rss" \
  "$SCRATCH/last-run.log" || true
if ((status != 0)); then
  echo "fuzz.sh: libFuzzer found a failing input (exit $status); see $SCRATCH/last-run.log and Tests/FuzzCorpus/" >&2
  exit 1
fi
