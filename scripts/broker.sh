#!/usr/bin/env bash
# A private RabbitMQ node for development and tests: its own node name, AMQP port,
# distribution port, data/log folders and pid file, so a test may stop or kill it
# without touching any other broker on the machine.
#
#   scripts/broker.sh start     start the node (installs rabbitmq-server when missing);
#                               a node already running under this name is reused
#   scripts/broker.sh stop      stop it gracefully (rabbitmqctl stop, waits for the pid)
#   scripts/broker.sh kill      kill -9 the node's pid (from the pid file)
#   scripts/broker.sh restart   stop then start
#   scripts/broker.sh status    exit 0 when the node answers
#   scripts/broker.sh url       print the AMQP URL tests use (RABBITMQ_TEST_URL)
#   scripts/broker.sh management-url  print the management API's base URL
#   scripts/broker.sh ctl ARGS  run rabbitmqctl against this node
#
# Settings (environment): KALTIM_BROKER_NAME (default kaltim-test), KALTIM_BROKER_PORT
# (default 5682), KALTIM_BROKER_DIST_PORT (default AMQP port + 20000),
# KALTIM_BROKER_DIR (default .broker/<name> in the repository), KALTIM_BROKER_MANAGEMENT_PORT
# (default AMQP port + 10000: the management plugin's HTTP API on 127.0.0.1, which
# `kaltim-admin status` reads for unacknowledged counts and rates; `off` disables it),
# KALTIM_BROKER_LISTEN (the AMQP listener's addresses, comma-separated; default 127.0.0.1). With KALTIM_BROKER_TLS_PORT
# set, the node also listens for TLS on that port, with throw-away certificates made by
# scripts/make-test-certs.sh in <data dir>/tls (the CA and server certificate from
# scripts/make-broker-certs.sh, TLS 1.2 and 1.3 as in deploy/), and requires a client certificate.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
NAME="${KALTIM_BROKER_NAME:-kaltim-test}"
PORT="${KALTIM_BROKER_PORT:-5682}"
DIST_PORT="${KALTIM_BROKER_DIST_PORT:-$((PORT + 20000))}"
DIR="${KALTIM_BROKER_DIR:-$ROOT/.broker/$NAME}"
LISTEN="${KALTIM_BROKER_LISTEN:-127.0.0.1}"
MANAGEMENT_PORT="${KALTIM_BROKER_MANAGEMENT_PORT:-$((PORT + 10000))}"
NODE="$NAME@localhost"
PID_FILE="$DIR/rabbit.pid"
RMQ_BIN=/usr/lib/rabbitmq/bin

log() { echo "broker: $*" >&2; }

ensure_installed() {
  if [[ -x "$RMQ_BIN/rabbitmq-server" ]]; then return 0; fi
  log "rabbitmq-server is missing; installing it with apt-get"
  if [[ $(id -u) -ne 0 ]]; then SUDO=sudo; else SUDO=; fi
  $SUDO apt-get update -q >/dev/null
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q rabbitmq-server >/dev/null
}

export_env() {
  mkdir -p "$DIR/mnesia" "$DIR/log"
  export RABBITMQ_NODENAME="$NODE"
  if [[ "$LISTEN" == 127.0.0.1 ]]; then
    export RABBITMQ_NODE_IP_ADDRESS=127.0.0.1
    export RABBITMQ_NODE_PORT="$PORT"
  else
    # These would override the listeners of the configuration file.
    unset RABBITMQ_NODE_IP_ADDRESS RABBITMQ_NODE_PORT
  fi
  export RABBITMQ_DIST_PORT="$DIST_PORT"
  export RABBITMQ_MNESIA_BASE="$DIR/mnesia"
  export RABBITMQ_LOG_BASE="$DIR/log"
  export RABBITMQ_PID_FILE="$PID_FILE"
  export RABBITMQ_ENABLED_PLUGINS_FILE="$DIR/enabled_plugins"
  export RABBITMQ_CONFIG_FILE="$DIR/rabbitmq"
  # A message dead-lettered at least once into a full dead-letter queue is offered again every
  # 2 s here (3 minutes by default), so that the test of bounded dead letters waits on seconds.
  export RABBITMQ_ADVANCED_CONFIG_FILE="$DIR/advanced.config"
  echo '[{rabbit, [{dead_letter_worker_publisher_confirm_timeout, 2000}]}].' >"$DIR/advanced.config"
  if [[ "$MANAGEMENT_PORT" == off ]]; then
    echo '[].' >"$DIR/enabled_plugins"
  else
    echo '[rabbitmq_management].' >"$DIR/enabled_plugins"
  fi
  local listeners="" index=0 address
  IFS=, read -ra addresses <<<"$LISTEN"
  for address in "${addresses[@]}"; do
    index=$((index + 1))
    listeners+="listeners.tcp.$index = $address:$PORT"$'\n'
  done
  cat >"$DIR/rabbitmq.conf" <<CONF
${listeners}loopback_users.guest = true
disk_free_limit.absolute = 50MB
max_message_size = 1048576
log.file.level = warning
log.console = false
CONF
  if [[ "$MANAGEMENT_PORT" != off ]]; then
    cat >>"$DIR/rabbitmq.conf" <<CONF
management.tcp.ip = 127.0.0.1
management.tcp.port = $MANAGEMENT_PORT
collect_statistics_interval = 1000
CONF
  fi
  if [[ -n "${KALTIM_BROKER_TLS_PORT:-}" ]]; then
    "$ROOT/scripts/make-test-certs.sh" "$DIR/tls"
    cat >>"$DIR/rabbitmq.conf" <<CONF
listeners.ssl.default = 127.0.0.1:$KALTIM_BROKER_TLS_PORT
ssl_options.cacertfile = $DIR/tls/ca.pem
ssl_options.certfile = $DIR/tls/server.pem
ssl_options.keyfile = $DIR/tls/server.key
ssl_options.verify = verify_peer
ssl_options.fail_if_no_peer_cert = true
ssl_options.versions.1 = tlsv1.3
ssl_options.versions.2 = tlsv1.2
CONF
  fi
}

pid_alive() {
  [[ -f "$PID_FILE" ]] && kill -0 "$(cat "$PID_FILE")" 2>/dev/null
}

ctl() { "$RMQ_BIN/rabbitmqctl" -n "$NODE" "$@"; }

wait_ready() {
  # `wait` blocks until the pid file's node has booted (await_startup right after
  # -detached can fail because the node is not registered yet).
  local deadline=$((SECONDS + 90))
  while [[ ! -f "$PID_FILE" ]]; do
    if ((SECONDS > deadline)); then log "no pid file after 90 s; see $DIR/log"; return 1; fi
    sleep 0.2
  done
  ctl wait "$PID_FILE" --timeout 90 >/dev/null
  ctl await_startup --timeout 60 >/dev/null
}

start() {
  ensure_installed
  export_env
  if pid_alive; then
    log "node $NODE already running (pid $(cat "$PID_FILE")); reusing it"
    wait_ready
    return 0
  fi
  rm -f "$PID_FILE"
  if "$RMQ_BIN/rabbitmqctl" -n "$NODE" status >/dev/null 2>&1; then
    log "a node named $NODE is already running from another data folder (another checkout?);"
    log "stop it there, or choose another node with KALTIM_BROKER_NAME and KALTIM_BROKER_PORT"
    return 1
  fi
  log "starting $NODE on 127.0.0.1:$PORT (data in $DIR)"
  "$RMQ_BIN/rabbitmq-server" -detached >"$DIR/log/start.out" 2>&1
  if ! wait_ready; then
    log "node did not start; last log lines:"
    tail -n 30 "$DIR/log/"*.log 2>/dev/null >&2 || true
    return 1
  fi
  log "node $NODE ready (pid $(cat "$PID_FILE"))"
}

stop() {
  export_env
  if ! pid_alive; then log "node $NODE is not running"; rm -f "$PID_FILE"; return 0; fi
  local pid; pid="$(cat "$PID_FILE")"
  ctl stop "$PID_FILE" >/dev/null 2>&1 || kill "$pid" 2>/dev/null || true
  local deadline=$((SECONDS + 60))
  while kill -0 "$pid" 2>/dev/null; do
    if ((SECONDS > deadline)); then log "node $pid did not stop in 60 s; killing it"; kill -9 "$pid"; fi
    sleep 0.2
  done
  rm -f "$PID_FILE"
  log "node $NODE stopped"
}

kill_node() {
  export_env
  if ! pid_alive; then log "node $NODE is not running"; return 0; fi
  local pid; pid="$(cat "$PID_FILE")"
  kill -9 "$pid"
  while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
  rm -f "$PID_FILE"
  log "node $NODE killed (pid $pid)"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  kill) kill_node ;;
  restart) stop; start ;;
  status) export_env; pid_alive && ctl status >/dev/null 2>&1 ;;
  url) echo "amqp://guest:guest@127.0.0.1:$PORT/%2f" ;;
  management-url)
    [[ "$MANAGEMENT_PORT" != off ]] || { log "the management plugin is off for $NODE"; exit 1; }
    echo "http://guest:guest@127.0.0.1:$MANAGEMENT_PORT" ;;
  tls-dir) echo "$DIR/tls" ;;
  ctl) shift; export_env; ctl "$@" ;;
  *) echo "usage: $0 start|stop|kill|restart|status|url|management-url|tls-dir|ctl ARGS..." >&2; exit 64 ;;
esac
