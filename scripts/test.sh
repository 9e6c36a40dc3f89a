#!/usr/bin/env bash
# The full test suite, as CI runs it: installs what is missing, starts the private RabbitMQ
# node (scripts/broker.sh) and the private PostgreSQL server (scripts/postgres.sh), builds with
# zero warnings, checks formatting, runs every test against the real broker (and every store
# test on SQLite and PostgreSQL), and fails if any broker test was skipped.
#
#   scripts/test.sh [extra swift test arguments, e.g. --filter BrokerTests]
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
LOG_DIR="$ROOT/.build/test-logs"

scripts/install-deps.sh
mkdir -p "$LOG_DIR"

started_broker=0
if ! scripts/broker.sh status >/dev/null 2>&1; then started_broker=1; fi
started_postgres=0
if ! scripts/postgres.sh status >/dev/null 2>&1; then started_postgres=1; fi
cleanup() {
  # Nodes that broker tests start for themselves, in case a test died before stopping them.
  for node in kaltim-restart:5692 kaltim-freeze:5702 kaltim-tls:5712 kaltim-worker-restart:5722 kaltim-chaos-test:5762 kaltim-node-a:5772 kaltim-node-b:5774; do
    KALTIM_BROKER_NAME="${node%%:*}" KALTIM_BROKER_PORT="${node##*:}" scripts/broker.sh stop >/dev/null 2>&1 || true
  done
  if ((started_broker)); then scripts/broker.sh stop || true; fi
  if ((started_postgres)); then scripts/postgres.sh stop || true; fi
}
trap cleanup EXIT
scripts/broker.sh start
scripts/postgres.sh start

echo "== swift format lint"
swift format lint --strict -r Sources Tests Benchmarks Package.swift

echo "== build (warnings in this package's code fail the run)"
swift build --build-tests 2>&1 | tee "$LOG_DIR/build.log"
if grep -E "^$ROOT/(Sources|Tests|Benchmarks)/.*: warning:" "$LOG_DIR/build.log"; then
  echo "test.sh: the build has warnings (above)" >&2
  exit 1
fi

echo "== fuzz the decoders and the NIK rules for 60 s (scripts/fuzz.sh)"
scripts/fuzz.sh 60

echo "== swift test against $(scripts/broker.sh url | sed 's|//[^@]*@|//****@|')"
export RABBITMQ_TEST_URL="$(scripts/broker.sh url)"
export RABBITMQ_TEST_MANAGEMENT_URL="$(scripts/broker.sh management-url)"
export KALTIM_REQUIRE_BROKER=1
export KALTIM_TEST_POSTGRES_URL="$(scripts/postgres.sh url)"
set +e
if (($# == 0)); then
  # The chaos suite kills processes and restarts a broker with both cores busy, and the
  # console's browser test runs Chromium: each runs on its own, after the others, so that they
  # do not starve the other suites' deadlines.
  swift test --skip ChaosTests --skip ConsoleBrowserTests 2>&1 | tee "$LOG_DIR/test.log"
  status=${PIPESTATUS[0]}
  echo "== the console in a browser"
  swift test --skip-build --filter ConsoleBrowserTests 2>&1 | tee -a "$LOG_DIR/test.log"
  browser_status=${PIPESTATUS[0]}
  ((status == 0)) && status=$browser_status
  grep -q "Test theConsoleWorksInARealBrowser() passed" "$LOG_DIR/test.log" || {
    echo "test.sh: the browser test did not pass" >&2
    status=1
  }
  echo "== the chaos suite"
  swift test --skip-build --filter ChaosTests 2>&1 | tee -a "$LOG_DIR/test.log"
  chaos_status=${PIPESTATUS[0]}
  ((status == 0)) && status=$chaos_status
  grep -q "Test nothingIsLostOrDoubled.* passed" "$LOG_DIR/test.log" || { echo "test.sh: the chaos test did not pass" >&2; status=1; }
else
  swift test "$@" 2>&1 | tee "$LOG_DIR/test.log"
  status=${PIPESTATUS[0]}
fi
set -e
if grep -E "(Suite|Test) .* skipped" "$LOG_DIR/test.log"; then
  echo "test.sh: tests were skipped (above); every broker test must run here" >&2
  exit 1
fi
exit "$status"
