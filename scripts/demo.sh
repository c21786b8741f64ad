#!/usr/bin/env bash
# make demo / make stop: the whole local stack under run/ (PostgreSQL, Redis,
# JSM sandbox, admin API, workers, sweeper). Idempotent: a second `start`
# reuses what is running and what was created.
#
# Ports (all on 127.0.0.1): DEMO_PG_PORT (55432), DEMO_REDIS_PORT (56379),
# DEMO_SANDBOX_PORT (8090), DEMO_API_PORT (8080), DEMO_API_METRICS_PORT (9463), DEMO_WORKER_PORT (8081),
# DEMO_WORKER_METRICS_PORT (9464), DEMO_SWEEPER_PORT (8082);
# DEMO_PORT_OFFSET=<n> moves all the defaults by n,
# so a second checkout runs beside the first with `make demo
# DEMO_PORT_OFFSET=100`. A running demo keeps the ports it started on
# (run/ports.env); `scripts/demo.sh ports` prints them.
# DEMO_RUN_DIR (run/) and DEMO_BIN_DIR (build/) are for tests.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
RUN=${DEMO_RUN_DIR:-$ROOT/run}
BIN=${DEMO_BIN_DIR:-$ROOT/build}
PGBIN=/usr/lib/postgresql/15/bin

# name, variable, default port, what listens there
PORTS=(
  "PG DEMO_PG_PORT 55432 PostgreSQL"
  "REDIS DEMO_REDIS_PORT 56379 Redis"
  "SANDBOX DEMO_SANDBOX_PORT 8090 the JSM sandbox"
  "API DEMO_API_PORT 8080 the admin API"
  "APIMETRICS DEMO_API_METRICS_PORT 9463 the admin API's metrics"
  "WORKER DEMO_WORKER_PORT 8081 the MCP workers"
  "METRICS DEMO_WORKER_METRICS_PORT 9464 the workers' metrics"
  "SWEEPER DEMO_SWEEPER_PORT 8082 the sweeper"
)

# The ports of the last start, from run/ports.env ("DEMO_API_PORT=8080" lines).
declare -A SAVED=()
load_saved_ports() {
  local k v
  [ -f "$RUN/ports.env" ] || return 0
  while IFS='=' read -r k v; do SAVED[$k]=$v; done <"$RUN/ports.env"
}

# Sets PG_PORT, REDIS_PORT, ...: a port's own variable, else (without
# DEMO_PORT_OFFSET) the port of the last start, else default + offset.
requested_ports() {
  local off=${DEMO_PORT_OFFSET:-0} e name var def what v
  [[ $off =~ ^-?[0-9]+$ ]] || { echo "demo: DEMO_PORT_OFFSET=$off is not a number" >&2; return 1; }
  for e in "${PORTS[@]}"; do
    read -r name var def what <<<"$e"
    v=${!var:-}
    if [ -z "$v" ]; then
      if [ -z "${DEMO_PORT_OFFSET:-}" ] && [ -n "${SAVED[$var]:-}" ]; then v=${SAVED[$var]}; else v=$((def + off)); fi
    fi
    if ! [[ $v =~ ^[0-9]+$ ]] || ((v < 1 || v > 65535)); then
      echo "demo: $v is not a port (1-65535) for $what; check $var and DEMO_PORT_OFFSET" >&2
      return 1
    fi
    printf -v "${name}_PORT" %s "$v"
  done
}

print_ports() {
  local e name var def what p
  for e in "${PORTS[@]}"; do
    read -r name var def what <<<"$e"
    p=${name}_PORT
    echo "$var=${!p}"
  done
}

# From / : the postgres user may not be able to enter the checkout.
as_pg() { if [ "$(id -u)" -eq 0 ]; then (cd / && runuser -u postgres -- "$@"); else "$@"; fi; }
# A process of ours runs (a zombie, one that ended and was not reaped yet, does not).
alive() {
  local pid st
  [ -f "$RUN/$1.pid" ] && pid=$(cat "$RUN/$1.pid") && kill -0 "$pid" 2>/dev/null || return 1
  st=$(cat "/proc/$pid/stat" 2>/dev/null) || return 1
  st=${st##*) }
  [ "${st%% *}" != Z ]
}
pg_running() { [ -f "$RUN/pg/data/PG_VERSION" ] && as_pg "$PGBIN/pg_ctl" -D "$(pg_dir)/data" status >/dev/null 2>&1; }
running() { # PG REDIS SANDBOX ...: is this demo's part running?
  case $1 in PG) pg_running ;; METRICS) alive worker ;; APIMETRICS) alive api ;; *) alive "$(echo "$1" | tr 'A-Z' 'a-z')" ;; esac
}
wait_http() { for _ in $(seq 1 100); do curl -fs -o /dev/null "$1" && return 0; sleep 0.1; done; echo "demo: $1 did not come up (see $RUN/*.log)" >&2; return 1; }
# Something accepts connections on 127.0.0.1:<port>.
port_taken() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

demo_running() {
  local e name var def what
  for e in "${PORTS[@]}"; do
    read -r name var def what <<<"$e"
    running "$name" && return 0
  done
  return 1
}

# The ports of this start (see the top), each free unless this demo's own
# part runs there; saved in run/ports.env for the next start.
choose_ports() {
  local e name var def what p taken=0
  load_saved_ports
  requested_ports
  if [ -f "$RUN/ports.env" ] && [ "$(print_ports)" != "$(cat "$RUN/ports.env")" ]; then
    if demo_running; then
      echo "demo: already running here on the ports in $RUN/ports.env; make stop before moving it" >&2
      return 1
    fi
    # The demo account and its URL were made for the old ports: new ones.
    rm -f "$RUN/demo.env"
  fi
  for e in "${PORTS[@]}"; do
    read -r name var def what <<<"$e"
    p=${name}_PORT
    if ! running "$name" && port_taken "${!p}"; then
      echo "demo: port ${!p} on 127.0.0.1 (for $what) is already in use; set $var=<port> to use another" >&2
      taken=1
    fi
  done
  if [ "$taken" -ne 0 ]; then
    echo "demo: or move all the demo's ports by an offset, e.g. make demo DEMO_PORT_OFFSET=100" >&2
    return 1
  fi
  print_ports >"$RUN/ports.env"
}

# PostgreSQL refuses to run as root, so as root it runs as the postgres
# user, which must reach its data: when the checkout is not reachable for
# that user (say under /root), the data lives in a folder of its own and
# run/pg is a link to it.
pg_datadir() {
  mkdir -p "$RUN"
  if [ "$(id -u)" -eq 0 ] && [ ! -e "$RUN/pg" ] && ! runuser -u postgres -- test -w "$RUN" 2>/dev/null; then
    if ! runuser -u postgres -- test -x "$RUN" 2>/dev/null; then
      local alt
      alt=/var/lib/postgresql/jsmcp-demo-$(echo "$RUN" | md5sum | cut -c1-12)
      mkdir -p "$alt"
      chown postgres "$alt"
      ln -s "$alt" "$RUN/pg"
    fi
  fi
  mkdir -p "$RUN/pg"
}

# The PostgreSQL folder as a path the postgres user can follow: run/pg, or
# the folder run/pg links to (a path through the link would still cross the
# directories it cannot enter).
pg_dir() { readlink -f "$RUN/pg"; }

start_pg() {
  pg_datadir
  local pg sock
  pg=$(pg_dir)
  sock=$pg/sock
  if [ ! -f "$pg/data/PG_VERSION" ]; then
    mkdir -p "$pg/data" "$sock"
    [ "$(id -u)" -eq 0 ] && chown -R postgres "$pg/" "$pg/data" "$sock"
    as_pg "$PGBIN/initdb" -D "$pg/data" -U postgres -A trust >/dev/null
  fi
  if ! pg_running; then
    if ! as_pg "$PGBIN/pg_ctl" -D "$pg/data" -l "$pg/postgres.log" -w \
      -o "-p $PG_PORT -k $sock -c listen_addresses=127.0.0.1" start >/dev/null; then
      echo "demo: PostgreSQL did not start on port $PG_PORT (DEMO_PG_PORT); its log, $pg/postgres.log, ends:" >&2
      tail -5 "$pg/postgres.log" | sed 's/^/    /' >&2
      return 1
    fi
  fi
  if ! as_pg "$PGBIN/psql" -h 127.0.0.1 -p "$PG_PORT" -U postgres -tAc "select 1 from pg_database where datname='jsmcp'" | grep -q 1; then
    as_pg "$PGBIN/psql" -h 127.0.0.1 -p "$PG_PORT" -U postgres -qc "create database jsmcp" >/dev/null
  fi
}

start_redis() {
  alive redis && return 0
  redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save "" --appendonly no --daemonize no \
    --dir "$RUN" >"$RUN/redis.log" 2>&1 &
  echo $! >"$RUN/redis.pid"
  for _ in $(seq 1 50); do redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 && return 0; sleep 0.1; done
  echo "demo: redis did not start" >&2; return 1
}

secrets() {
  [ -f "$RUN/master.keys" ] || { printf 'k1:%s' "$(head -c 32 /dev/urandom | base64 -w0)" >"$RUN/master.keys"; chmod 600 "$RUN/master.keys"; }
  [ -f "$RUN/bootstrap.key" ] || { printf 'jsb_%s' "$(head -c 24 /dev/urandom | base64 -w0 | tr '+/' '-_' | tr -d '=')" >"$RUN/bootstrap.key"; chmod 600 "$RUN/bootstrap.key"; }
}

common_env() {
  export JSMCP_DATABASE_URL="postgresql://postgres@127.0.0.1:$PG_PORT/jsmcp"
  export JSMCP_REDIS_URL="redis://127.0.0.1:$REDIS_PORT/0"
  export JSMCP_MASTER_KEY_FILE="$RUN/master.keys"
  export JSMCP_SITE_ALLOWLIST="127.0.0.1:$SANDBOX_PORT"
  export JSMCP_PUBLIC_WORKER_URL="http://127.0.0.1:$WORKER_PORT"
  export JSMCP_BOOTSTRAP_KEY="$(cat "$RUN/bootstrap.key")"
  export JSMCP_API_LISTEN="127.0.0.1:$API_PORT"
  export JSMCP_WORKER_LISTEN="127.0.0.1:$WORKER_PORT"
  export JSMCP_WORKER_METRICS_LISTEN="127.0.0.1:$METRICS_PORT"
  export JSMCP_API_METRICS_LISTEN="127.0.0.1:$APIMETRICS_PORT"
  export JSMCP_SWEEPER_LISTEN="127.0.0.1:$SWEEPER_PORT"
  export JSM_SANDBOX_LISTEN="127.0.0.1:$SANDBOX_PORT"
  # Allocator setting the images use too (deploy/Dockerfile explains it).
  export GLIBC_TUNABLES=glibc.malloc.tcache_count=500
  # Audit records wait here until Redis has them (a killed worker's are replayed).
  export JSMCP_AUDIT_SPOOL_DIR="$RUN/spool"
}

start_bin() { # name binary args...
  local name=$1; shift
  alive "$name" && return 0
  "$@" >>"$RUN/$name.log" 2>&1 &
  echo $! >"$RUN/$name.pid"
}

provision() {
  local A="http://127.0.0.1:$API_PORT" B="Authorization: Bearer $JSMCP_BOOTSTRAP_KEY" J='Content-Type: application/json'
  if [ -f "$RUN/demo.env" ]; then
    # shellcheck disable=SC1091
    . "$RUN/demo.env"
    if curl -fs -o /dev/null -H "Authorization: Bearer $ADMIN_API_KEY" "$A/integrated-account/$DEMO_ACCOUNT_ID"; then
      return 0
    fi
  fi
  local ws key acct mcp
  ws=$(curl -fsS -X POST "$A/workspaces" -H "$B" -H "$J" -d '{"name":"demo"}' | jq -r .id)
  key=$(curl -fsS -X POST "$A/workspaces/$ws/api-keys" -H "$B" -H "$J" -d '{"name":"demo"}' | jq -r .key)
  acct=$(curl -fsS -X POST "$A/integrated-account" -H "Authorization: Bearer $key" -H "$J" \
    -d "{\"tenant_id\":\"demo-tenant\",\"site_url\":\"http://127.0.0.1:$SANDBOX_PORT\",\"auth\":{\"type\":\"api_token\",\"email\":\"agent@sandbox.test\",\"api_token\":\"sandbox-api-token\"}}" | jq -r .id)
  mcp=$(curl -fsS -X POST "$A/integrated-account/$acct/mcp" -H "Authorization: Bearer $key" -H "$J" \
    -d '{"name":"demo triage","config":{"methods":["read","write"]},"expires_at":null}' | jq -r .url)
  umask 077
  cat >"$RUN/demo.env" <<ENV
ADMIN_URL=$A
ADMIN_API_KEY=$key
WORKER_URL=http://127.0.0.1:$WORKER_PORT
DATABASE_URL=$JSMCP_DATABASE_URL
REDIS_URL=$JSMCP_REDIS_URL
SANDBOX_URL=http://127.0.0.1:$SANDBOX_PORT
SANDBOX_EMAIL=agent@sandbox.test
SANDBOX_API_TOKEN=sandbox-api-token
DEMO_WORKSPACE_ID=$ws
DEMO_ACCOUNT_ID=$acct
DEMO_MCP_URL=$mcp
ENV
}

cmd_start() {
  [ -x "$BIN/jsmcp-api" ] || { echo "demo: $BIN/jsmcp-api missing; run make first" >&2; exit 1; }
  # The API applies migrations itself; JSON tooling for provisioning below.
  command -v jq >/dev/null || { echo "demo: jq missing; run scripts/install-deps.sh" >&2; exit 1; }
  mkdir -p "$RUN"
  choose_ports
  start_pg
  start_redis
  secrets
  common_env
  # Parts that later issues add start when they are built.
  if [ -x "$BIN/jsm-sandbox" ]; then
    start_bin sandbox "$BIN/jsm-sandbox"
    wait_http "http://127.0.0.1:$SANDBOX_PORT/healthz"
  fi
  start_bin api "$BIN/jsmcp-api"
  wait_http "http://127.0.0.1:$API_PORT/healthz"
  if [ -x "$BIN/jsmcp-worker" ]; then
    start_bin worker "$BIN/jsmcp-worker"
    wait_http "http://127.0.0.1:$WORKER_PORT/healthz"
  fi
  start_bin sweeper "$BIN/jsmcp-api" sweeper
  wait_http "http://127.0.0.1:$SWEEPER_PORT/healthz"
  provision
  # shellcheck disable=SC1091
  . "$RUN/demo.env"
  cat <<TXT

jsmcp is running (logs and data in run/, stop with: make stop)
  admin API      $ADMIN_URL        (API key in run/demo.env: ADMIN_API_KEY)
  dashboard      $ADMIN_URL/       (sign in with ADMIN_API_KEY)
  MCP workers    $WORKER_URL
  JSM sandbox    $SANDBOX_URL      ($SANDBOX_EMAIL / $SANDBOX_API_TOKEN)
  demo account   $DEMO_ACCOUNT_ID

MCP server URL (paste into Claude, or: npx -y mcp-remote <url>):
  $DEMO_MCP_URL

Shell variables: . run/demo.env
TXT
}

cmd_stop() {
  for n in sweeper worker api sandbox redis; do
    if alive "$n"; then
      kill "$(cat "$RUN/$n.pid")" 2>/dev/null || true
      for _ in $(seq 1 50); do alive "$n" || break; sleep 0.1; done
      alive "$n" && kill -9 "$(cat "$RUN/$n.pid")" 2>/dev/null || true
    fi
    rm -f "$RUN/$n.pid"
  done
  if [ -f "$RUN/pg/data/PG_VERSION" ]; then
    as_pg "$PGBIN/pg_ctl" -D "$(pg_dir)/data" -m fast stop >/dev/null 2>&1 || true
  fi
  echo "jsmcp demo stopped"
}

cmd_ports() { # the ports the next start uses
  load_saved_ports
  requested_ports
  print_ports
}

case "${1:-start}" in
  start) cmd_start ;;
  stop) cmd_stop ;;
  ports) cmd_ports ;;
  *) echo "usage: $0 start|stop|ports" >&2; exit 2 ;;
esac
