#!/usr/bin/env bash
# A private PostgreSQL server for development and tests: its own data folder, port, socket
# folder and pid file (the server's postmaster.pid), so a test may stop it without touching
# any other server on the machine. The database cluster uses the C locale, so text sorts by
# bytes as in SQLite (the workers' orderings are the same on both stores).
#
#   scripts/postgres.sh start    initialise (first time) and start; a running server is reused
#   scripts/postgres.sh stop     stop it (fast shutdown), waiting for its pid
#   scripts/postgres.sh status   exit 0 when it accepts connections
#   scripts/postgres.sh url      print the URL tests use (KALTIM_TEST_POSTGRES_URL)
#   scripts/postgres.sh psql ARGS   psql against it
#
# Settings: KALTIM_POSTGRES_PORT (default 5832), KALTIM_POSTGRES_DIR (default
# .postgres/<port> in the repository). PostgreSQL refuses to run as root: as root, the server
# runs as the `postgres` system user (created by Debian's package), which then owns the folder;
# when that user cannot reach the repository (a private home folder), the default folder is
# kaltim-postgres-<port> in $TMPDIR (or /tmp) instead. The server listens on 127.0.0.1 only, no
# Unix socket.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PORT="${KALTIM_POSTGRES_PORT:-5832}"
DIR="${KALTIM_POSTGRES_DIR:-$ROOT/.postgres/$PORT}"
DATA="$DIR/data"
USER_NAME=kaltim
DATABASE=kaltim

log() { echo "postgres: $*" >&2; }

bin_dir() {
  local candidate
  for candidate in /usr/lib/postgresql/*/bin; do
    [[ -x "$candidate/initdb" ]] && { echo "$candidate"; return 0; }
  done
  return 1
}

ensure_installed() {
  if bin_dir >/dev/null; then return 0; fi
  log "the PostgreSQL server is missing; installing it with apt-get"
  if [[ $(id -u) -ne 0 ]]; then SUDO=sudo; else SUDO=; fi
  $SUDO apt-get update -q >/dev/null
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends postgresql >/dev/null
  # Debian starts the package's own cluster on 5432; this script never uses or stops it.
}

as_owner() {
  if [[ $(id -u) -eq 0 ]]; then (cd / && runuser -u postgres -- "$@"); else "$@"; fi
}

BIN=""
prepare() {
  ensure_installed
  BIN="$(bin_dir)"
  if [[ -z "${KALTIM_POSTGRES_DIR:-}" && $(id -u) -eq 0 ]] && ! runuser -u postgres -- test -x "$ROOT"; then
    DIR="${TMPDIR:-/tmp}/kaltim-postgres-$PORT"
    DATA="$DIR/data"
  fi
  mkdir -p "$DIR"
  if [[ $(id -u) -eq 0 ]]; then chown postgres: "$DIR"; fi
}

pid_alive() {
  [[ -f "$DATA/postmaster.pid" ]] && kill -0 "$(head -n 1 "$DATA/postmaster.pid")" 2>/dev/null
}

ready() { "$BIN/pg_isready" -q -h 127.0.0.1 -p "$PORT" >/dev/null 2>&1; }

start() {
  prepare
  if pid_alive; then
    log "server on port $PORT already running (pid $(head -n 1 "$DATA/postmaster.pid")); reusing it"
  else
    if [[ ! -f "$DATA/PG_VERSION" ]]; then
      log "initialising a database cluster in $DATA"
      as_owner "$BIN/initdb" -D "$DATA" -U postgres --auth=trust --locale=C --encoding=UTF8 >"$DIR/initdb.log" 2>&1 || {
        cat "$DIR/initdb.log" >&2
        return 1
      }
    fi
    log "starting on 127.0.0.1:$PORT (data in $DATA)"
    as_owner "$BIN/pg_ctl" -D "$DATA" -l "$DIR/server.log" -w -t 60 \
      -o "-p $PORT -c listen_addresses=127.0.0.1 -c unix_socket_directories='' -c max_connections=200" start >/dev/null || {
      tail -n 30 "$DIR/server.log" >&2
      return 1
    }
  fi
  local deadline=$((SECONDS + 60))
  until ready; do
    if ((SECONDS > deadline)); then log "not accepting connections after 60 s; see $DIR/server.log"; return 1; fi
    sleep 0.2
  done
  # The role and database the tests and workers use (idempotent).
  "$BIN/psql" -q -h 127.0.0.1 -p "$PORT" -U postgres -d postgres -v ON_ERROR_STOP=1 >/dev/null <<SQL
SELECT 'CREATE ROLE $USER_NAME LOGIN' WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$USER_NAME')\gexec
SELECT 'CREATE DATABASE $DATABASE OWNER $USER_NAME' WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = '$DATABASE')\gexec
SQL
  log "server ready: $(url)"
}

stop() {
  prepare
  if ! pid_alive; then log "server on port $PORT is not running"; return 0; fi
  local pid; pid="$(head -n 1 "$DATA/postmaster.pid")"
  as_owner "$BIN/pg_ctl" -D "$DATA" -m fast -w -t 60 stop >/dev/null || kill "$pid" 2>/dev/null || true
  while kill -0 "$pid" 2>/dev/null; do sleep 0.2; done
  log "server on port $PORT stopped"
}

url() { echo "postgres://$USER_NAME@127.0.0.1:$PORT/$DATABASE"; }

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) prepare; ready ;;
  url) url ;;
  psql) shift; prepare; "$BIN/psql" -h 127.0.0.1 -p "$PORT" -U postgres -d "$DATABASE" "$@" ;;
  *) echo "usage: $0 start|stop|status|url|psql ARGS..." >&2; exit 64 ;;
esac
