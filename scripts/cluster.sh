#!/usr/bin/env bash
# A private three-node RabbitMQ cluster on this machine, for the cluster test and for trying
# the pipeline on a cluster: nodes <name>-a, -b and -c (default kaltim-cluster-a@localhost …),
# each a scripts/broker.sh node with its own AMQP port (base, base + 2, base + 4), distribution
# port, data folder and pid file; -b and -c join -a. The verbs are broker.sh's, so a tool that
# drives broker.sh (kaltim-demo --chaos --broker-script) drives the cluster the same way:
#
#   scripts/cluster.sh start      start the three nodes and join them (reuses running ones)
#   scripts/cluster.sh stop       stop all three
#   scripts/cluster.sh kill       kill -9 all three
#   scripts/cluster.sh restart    kill -9 ONE node (KALTIM_CLUSTER_VICTIM: a, b or c; default
#                                 a, the first address of the URL list, where clients connect
#                                 first), wait KALTIM_CLUSTER_DOWNTIME seconds (default 5),
#                                 start it again and wait until it is back in the cluster
#   scripts/cluster.sh status     exit 0 when all three nodes answer and form one cluster
#   scripts/cluster.sh url        the AMQP URLs of the three nodes, comma-separated (workers,
#                                 the admin tool and the demo take such a list and fail over)
#   scripts/cluster.sh management-url   node a's management API
#   scripts/cluster.sh ctl ARGS   rabbitmqctl ARGS on every running node in turn
#                                 (close_all_connections then closes every client's
#                                 connection; a client that reconnects to a node not yet
#                                 visited is closed again there)
#   scripts/cluster.sh node X VERB [ARGS]   broker.sh VERB for node X alone (a, b or c)
#
# Settings: KALTIM_CLUSTER_NAME (default kaltim-cluster), KALTIM_CLUSTER_PORT (default 5792).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
NAME="${KALTIM_CLUSTER_NAME:-kaltim-cluster}"
BASE="${KALTIM_CLUSTER_PORT:-5792}"
NODES=(a b c)

log() { echo "cluster: $*" >&2; }

port_of() {
  case "$1" in
    a) echo "$BASE" ;;
    b) echo $((BASE + 2)) ;;
    c) echo $((BASE + 4)) ;;
    *) log "no node '$1' (a, b or c)"; return 64 ;;
  esac
}

# broker.sh for one node; the node's settings replace any KALTIM_BROKER_* of the caller.
node() {
  local id="$1"; shift
  local port; port="$(port_of "$id")"
  env -u KALTIM_BROKER_DIR -u KALTIM_BROKER_DIST_PORT -u KALTIM_BROKER_MANAGEMENT_PORT -u KALTIM_BROKER_LISTEN \
    -u KALTIM_BROKER_TLS_PORT KALTIM_BROKER_NAME="$NAME-$id" KALTIM_BROKER_PORT="$port" "$ROOT/scripts/broker.sh" "$@"
}

in_cluster() {  # node $1 sees all three nodes running
  local status; status="$(node "$1" ctl cluster_status --formatter json 2>/dev/null)" || return 1
  python3 - "$status" "$NAME" <<'PY'
import json, sys
status = json.loads(sys.argv[1])
want = {f"{sys.argv[2]}-{x}@localhost" for x in "abc"}
sys.exit(0 if want <= set(status.get("running_nodes", [])) else 1)
PY
}

join() {  # node $1 joins a, unless it is already a member
  local id="$1"
  if node "$id" ctl cluster_status --formatter json 2>/dev/null | grep -q "\"$NAME-a@localhost\""; then return 0; fi
  log "joining $NAME-$id to $NAME-a"
  node "$id" ctl stop_app >/dev/null
  node "$id" ctl join_cluster "$NAME-a@localhost" >/dev/null
  node "$id" ctl start_app >/dev/null
}

wait_cluster() {
  local deadline=$((SECONDS + 120))
  until in_cluster a; do
    if ((SECONDS > deadline)); then log "the three nodes did not form a cluster in 120 s"; return 1; fi
    sleep 1
  done
}

start() {
  # Together: after all three were killed, each node waits at boot for the others.
  local pids=() id failed=0
  for id in "${NODES[@]}"; do
    node "$id" start &
    pids+=($!)
  done
  for pid in "${pids[@]}"; do wait "$pid" || failed=1; done
  ((failed == 0)) || { log "a node did not start"; return 1; }
  join b
  join c
  wait_cluster
  log "cluster $NAME ready: $(url)"
}

url() {
  local urls=() id
  for id in "${NODES[@]}"; do urls+=("amqp://guest:guest@127.0.0.1:$(port_of "$id")/%2f"); done
  (IFS=,; echo "${urls[*]}")
}

restart_one() {
  local victim="${KALTIM_CLUSTER_VICTIM:-a}" downtime="${KALTIM_CLUSTER_DOWNTIME:-5}"
  port_of "$victim" >/dev/null
  log "kill -9 of node $NAME-$victim; it comes back in $downtime s"
  node "$victim" kill
  sleep "$downtime"
  node "$victim" start
  wait_cluster
  log "node $NAME-$victim is back in the cluster"
}

case "${1:-}" in
  start) start ;;
  stop) for id in c b a; do node "$id" stop; done ;;
  kill) for id in "${NODES[@]}"; do node "$id" kill; done ;;
  restart) restart_one ;;
  status) in_cluster a ;;
  url) url ;;
  management-url) node a management-url ;;
  ctl)
    shift
    for id in "${NODES[@]}"; do
      if node "$id" status; then node "$id" ctl "$@"; fi
    done ;;
  node) shift; id="${1:-}"; shift || true; port_of "$id" >/dev/null; node "$id" "$@" ;;
  *) echo "usage: $0 start|stop|kill|restart|status|url|management-url|ctl ARGS...|node a|b|c VERB [ARGS...]" >&2; exit 64 ;;
esac
