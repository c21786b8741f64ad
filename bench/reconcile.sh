#!/usr/bin/env bash
# Reconcile at scale (issue 21): RECONCILE_SERVERS (default 1,000,000) MCP
# servers over RECONCILE_ACCOUNTS (default 100,000) integrated accounts,
# made with SQL (generate_series; the accounts' sealed credentials by
# bench/reconcile_seed.c, the seal is bound to each id), loaded with the
# triggers off, then the release API started against them:
#   1. the first full pass, Redis empty, publishes everything: its time, the
#      CPU of the API's PostgreSQL backends, of the API and of Redis, and
#      Redis memory per server (used_memory before and after, and MEMORY
#      USAGE of sampled srv: and acct: keys);
#   2. a full pass with Redis in sync (the marker key deleted to start one):
#      its time and CPU as above;
#   3. creates through the admin API at a sustained rate (bench/api_load:
#      each of RECONCILE_CREATE_RATE, default "200", creates/s due on a fixed schedule
#      over RECONCILE_CREATE_CONNS (default 8) keep-alive connections for
#      RECONCILE_CREATE_SECONDS, default
#      20; latency from each request's due time) while a full pass runs, and
#      the same without one, in RECONCILE_CREATE_ROUNDS (default 3)
#      alternating rounds: p50, p90, p99;
#   4. incremental passes: for each count of RECONCILE_CHANGES (default
#      "1000 50000"), that many servers updated with one SQL statement (a
#      writer that died before publishing; the ids picked beforehand, so the
#      statement is short): time from its COMMIT (PostgreSQL's clock right
#      after it) until the outbox is empty and Redis has them, the passes
#      that took it, CPU as above;
#   4b. with RECONCILE_REPLICAS=2: the API restarted as two replicas on the
#      same database and Redis: both run a full pass at start (Redis in
#      sync) at once, creates during them, then a backlog of the largest
#      count above shared by both through the outbox (SKIP LOCKED);
#   4c. with RECONCILE_GAP_AB (e.g. "0 50"): the API restarted as
#      RECONCILE_REPLICAS replicas for each JSMCP_RECONCILE_HINT_GAP_MS in
#      the list in turn, RECONCILE_GAP_ROUNDS (default 3) rounds; once their
#      start's full passes ended, creates at the first rate of
#      RECONCILE_CREATE_RATE: the CPU of PostgreSQL (the replicas'
#      backends, the creates' own included), the API and Redis per create,
#      and the incremental passes (0 is a pass per NOTIFY, as before the gap);
#   5. the tests' invariant checker (bench/pub_check, tests/support/tc.h)
#      over every row: each server's record equals its row (config, auth
#      flag, expiry, account, name, version), each account's and API key's
#      too, and no record lacks a row except tombstones.
# Every figure line ends with the load average when it was taken, and the
# load average every 30 s is printed at the end (the machine may be shared).
# Needs the services of bench/run.sh (JSMCP_TEST_PG_URL, JSMCP_TEST_REDIS_URL).
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib/common.sh
NSRV=${RECONCILE_SERVERS:-1000000}
NACCT=${RECONCILE_ACCOUNTS:-100000}
NCHGS=${RECONCILE_CHANGES:-1000 50000}
NREP=${RECONCILE_REPLICAS:-1}
CRATE=${RECONCILE_CREATE_RATE:-200}
CSECS=${RECONCILE_CREATE_SECONDS:-20}
CROUNDS=${RECONCILE_CREATE_ROUNDS:-3}
CCONNS=${RECONCILE_CREATE_CONNS:-8}

DB=bench_rc_$$
PREFIX="benchrc$$:"
DBURL="${JSMCP_TEST_PG_URL%/*}/$DB"
API_PORT=$(free_port) METRICS_PORT=$(free_port)
API="http://127.0.0.1:$API_PORT"
METRICS="http://127.0.0.1:$METRICS_PORT" # the API's /metrics is only here, never on the public port
API2_PORT=$(free_port) METRICS2_PORT=$(free_port) # the second replica's (RECONCILE_REPLICAS=2)
METRICS_ALL="$METRICS" # the metrics ports summed by metric()
LOG=$(mktemp /tmp/jsmcp-bench-reconcile.XXXXXX)
R() { redis-cli -u "$JSMCP_TEST_REDIS_URL" "$@"; }
Q() { psql -tAq "$DBURL" -c "$1"; }
APIPID= API2PID= LOADPID=
cleanup() {
  [ -n "$APIPID" ] && kill "$APIPID" 2>/dev/null && wait "$APIPID" 2>/dev/null || true
  local p
  for p in $API2PID; do kill "$p" 2>/dev/null && wait "$p" 2>/dev/null || true; done
  [ -n "$LOADPID" ] && kill "$LOADPID" 2>/dev/null && wait "$LOADPID" 2>/dev/null || true
  # 1,000 keys an UNLINK, all through one redis-cli (not one per batch)
  R --scan --pattern "${PREFIX}*" | awk '{k = k " " $0} NR % 1000 == 0 {print "UNLINK" k; k = ""}
    END {if (k != "") print "UNLINK" k}' | R >/dev/null 2>&1 || true
  psql -q "$JSMCP_TEST_PG_URL" -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null 2>&1 || true
}
trap cleanup EXIT
trap 'exit 1' INT TERM
HZ=$(getconf CLK_TCK)
ticks() { # utime+stime of the pids, read by one awk (all at the same moment)
  local f=() p
  for p in "$@"; do [ -r "/proc/$p/stat" ] && f+=("/proc/$p/stat"); done
  if [ ${#f[@]} -gt 0 ]; then awk '{t += $14 + $15} END {print t + 0}' "${f[@]}" 2>/dev/null; else echo 0; fi
}
backends() { psql -tAq "$JSMCP_TEST_PG_URL" -c "SELECT pid FROM pg_stat_activity WHERE datname = '$DB' AND application_name = 'jsmcp-api'"; }
cpu_s() { python3 -c "print(f'{$1 / $HZ:.2f}')"; }
metric() { # $1: a series, summed over the replicas' /metrics
  local u
  for u in $METRICS_ALL; do curl -fs "$u/metrics"; done | awk -v m="$1" 'index($0, m) == 1 {s += $NF} END {print s + 0}'
}
used_memory() { R INFO memory | awk -F: '/^used_memory:/{print $2}' | tr -d '\r'; }
redis_cpu() { R INFO cpu | tr -d '\r' | awk -F: '/^used_cpu_(sys|user):/{s += $2} END {printf "%.2f", s}'; }
la() { echo "[load $(cut -d' ' -f1-3 /proc/loadavg)]"; }
elapsed() { python3 -c "print(f'{$2 - $1:.2f}')"; }
# The load average every 30 s, printed at the end.
( while :; do echo "$(date -u +%T) $(cut -d' ' -f1-3 /proc/loadavg)"; sleep 30; done ) > "$LOG.load" &
LOADPID=$!

export JSMCP_DATABASE_URL="$DBURL" JSMCP_REDIS_URL="$JSMCP_TEST_REDIS_URL" JSMCP_REDIS_PREFIX="$PREFIX"
export JSMCP_MASTER_KEYS="k1:$(head -c 32 /dev/urandom | base64 -w0)" JSMCP_API_LISTEN="127.0.0.1:$API_PORT"
export JSMCP_API_METRICS_LISTEN="127.0.0.1:$METRICS_PORT"
export JSMCP_LOG_LEVEL=warn PGAPPNAME=jsmcp-api
psql -q "$JSMCP_TEST_PG_URL" -c "CREATE DATABASE $DB" >/dev/null
PGAPPNAME=bench "$BIN/jsmcp-api" migrate >/dev/null
WS=$(Q "INSERT INTO workspaces (name) VALUES ('bench') RETURNING id")
KEY="jsk_bench_$(head -c 24 /dev/urandom | base64 -w0 | tr '+/=' 'xyz')"
Q "INSERT INTO api_keys (workspace_id, name, prefix, key_hash) VALUES ('$WS', 'bench', 'jsk_benc', '$(printf %s "$KEY" | sha256sum | cut -d' ' -f1)')" >/dev/null
t=$(date +%s.%N)
"$BBIN/reconcile_seed" "$NACCT" "$WS" > "$LOG.accounts"
# The plain indexes of mcp_servers are dropped first and built after the
# rows: one sort each instead of a million inserts at random places (the
# unique ones stay: they are the table's constraints). The ids stay random
# (gen_random_uuid), so the full pass walks the primary key in an order the
# heap does not follow, as on a table filled by creates over time; a run
# that inserted them in key order spent a quarter less PostgreSQL CPU on
# its passes than that real layout (BENCHMARKS.md).
psql -q -v ON_ERROR_STOP=1 "$DBURL" <<SQL
SET session_replication_role = replica;
SET maintenance_work_mem = '256MB';
\copy integrated_accounts (id, workspace_id, tenant_id, site_url, auth_type, credentials_sealed, key_id) FROM '$LOG.accounts'
SELECT string_agg(pg_get_indexdef(indexrelid), '; ') AS defs, string_agg(indexrelid::regclass::text, ', ') AS names
  FROM pg_index WHERE indrelid = 'mcp_servers'::regclass AND NOT indisunique \gset
DROP INDEX :names;
INSERT INTO mcp_servers (workspace_id, account_id, name, config, token_hash)
  SELECT '$WS', ('00000000-0000-4000-8000-' || lpad(to_hex(i % $NACCT), 12, '0'))::uuid, 'srv' || i,
         '{"methods": ["read"], "tags": ["itsm"]}', encode(sha256(convert_to('bench-token-' || i, 'UTF8')), 'hex')
  FROM generate_series(1, $NSRV) AS i;
:defs;
ANALYZE;
SQL
rm -f "$LOG.accounts"
echo "rows: $NSRV servers, $NACCT accounts made with SQL in $(elapsed "$t" "$(date +%s.%N)") s $(la)"

mem0=$(used_memory)
"$BIN/jsmcp-api" >"$LOG" 2>&1 &
APIPID=$!
wait_up "$API"
# Every figure below is read from /metrics: without it the waits would run
# out their hour and report nothing.
curl -fs -o /dev/null "$METRICS/metrics" || { echo "bench: no /metrics at $METRICS"; exit 1; }
full_done() { metric 'jsmcp_api_reconcile_runs_total{kind="full",outcome="ok"}'; }
wait_full() { # $1: count to reach
  for _ in $(seq 36000); do [ "$(full_done)" -ge "$1" ] && return 0; sleep 0.1; done
  echo "bench: full pass did not end"; tail -5 "$LOG"; return 1
}
# The API's backends: its pool connects at start (a backend started later
# counts whole, one that ended is missed: the figures name the count).
PIDS=$(backends)
c0=$(ticks $PIDS) a0=$(ticks "$APIPID") r0=$(redis_cpu)
wait_full 1
PIDS=$(backends)
c1=$(ticks $PIDS) a1=$(ticks "$APIPID") r1=$(redis_cpu)
mem1=$(used_memory)
echo "first full pass, Redis empty (publishes every record): $(metric 'jsmcp_api_reconcile_last_pass_seconds{kind="full"}') s," \
  "$(metric 'jsmcp_api_reconcile_repairs_total{kind="full"}') records written; PostgreSQL CPU $(cpu_s $((c1 - c0))) s" \
  "($(echo $PIDS | wc -w) backends), API CPU $(cpu_s $((a1 - a0))) s (its start included), Redis CPU $(elapsed "$r0" "$r1") s $(la)"
mu() { # $1: key pattern -> average MEMORY USAGE of 1,000 keys
  local sample
  sample=$(R --scan --pattern "$1" | head -1000 || true) # head closes the pipe early
  for k in $sample; do echo "MEMORY USAGE $k"; done | R | awk '{s += $1; n++} END {printf "%.0f", s / n}'
}
echo "Redis memory: $(( (mem1 - mem0) / (NSRV + NACCT) )) bytes per published record (used_memory delta over" \
  "$((NSRV + NACCT)) records, $(( (mem1 - mem0) / 1048576 )) MiB); MEMORY USAGE of a srv: key $(mu "${PREFIX}srv:*") bytes," \
  "of an acct: key $(mu "${PREFIX}acct:*") bytes on average (1,000 of each sampled)"

# A full pass: the marker key deleted, the next tick (every second) puts it
# back and starts the pass.
start_full() {
  R DEL "${PREFIX}reconcile:marker" >/dev/null
  for _ in $(seq 100); do [ "$(R EXISTS "${PREFIX}reconcile:marker")" = 1 ] && return 0; sleep 0.05; done
  echo "bench: no full pass started"; return 1
}
c0=$(ticks $PIDS) a0=$(ticks "$APIPID") r0=$(redis_cpu)
start_full
wait_full 2
c1=$(ticks $PIDS) a1=$(ticks "$APIPID") r1=$(redis_cpu)
echo "full pass, Redis in sync: $(metric 'jsmcp_api_reconcile_last_pass_seconds{kind="full"}') s;" \
  "PostgreSQL CPU $(cpu_s $((c1 - c0))) s, API CPU $(cpu_s $((a1 - a0))) s, Redis CPU $(elapsed "$r0" "$r1") s $(la)"

creates() { # $1: label; $2: rate
  echo "$1 ($2 creates/s due for $CSECS s over $CCONNS connections, bench/api_load) $(la):"
  "$BBIN/api_load" "$API_PORT" "/integrated-account/00000000-0000-4000-8000-000000000001/mcp" "$KEY" \
    "$2" "$CSECS" "$CCONNS" '{"name":"bench","config":{"methods":["read"]}}' | sed 's/^/  /' || echo "  (some answers were not 2xx)"
}
# Rounds alternate with and without a full pass, so a change in the
# machine's load falls on both; each rate of RECONCILE_CREATE_RATE in turn
# within one pass (a pass outlasts several runs at 1M).
nfull=2
for round in $(seq "$CROUNDS"); do
  echo "round $round:"
  start_full
  for rate in $CRATE; do
    creates "creates during a full pass" "$rate"
    if [ "$(full_done)" -gt "$nfull" ]; then
      echo "  WARNING: the full pass ended before the creates did: the figures above are partly without one"
    else
      echo "  (the full pass was still running when the creates ended) $(la)"
    fi
  done
  nfull=$((nfull + 1))
  wait_full "$nfull"
  echo "(that full pass: $(metric 'jsmcp_api_reconcile_last_pass_seconds{kind="full"}') s)"
  for rate in $CRATE; do creates "creates without a full pass" "$rate"; done
done

inc_ok() { metric 'jsmcp_api_reconcile_runs_total{kind="incremental",outcome="ok"}'; }
incremental() { # $1: servers to change; $2: label
  local n=$1 t0 tc t1 ok1 ok0
  # The ids first: the UPDATE is then a short statement, and its COMMIT is
  # the start of the clock (a 1,000-row "ORDER BY random()" over the whole
  # table took seconds at load 10, and an earlier run counted them).
  t0=$(date +%s.%N)
  Q "DROP TABLE IF EXISTS bench_chg; CREATE TABLE bench_chg AS SELECT id FROM mcp_servers ORDER BY random() LIMIT $n" >/dev/null
  echo "  (picking $n ids at random took $(elapsed "$t0" "$(date +%s.%N)") s with psql's start: the earlier script's" \
    "UPDATE did this inside the time it reported) $(la)"
  ok0=$(inc_ok)
  c0=$(ticks $PIDS) a0=$(ticks $APIPIDS) r0=$(redis_cpu)
  t0=$(date +%s.%N)
  # Two -c: the SELECT runs in its own transaction, after the UPDATE's COMMIT.
  tc=$(psql -tAq "$DBURL" -c "UPDATE mcp_servers SET name = name || '+' WHERE id IN (SELECT id FROM bench_chg)" \
       -c "SELECT extract(epoch FROM clock_timestamp())")
  for _ in $(seq 12000); do [ "$(Q 'SELECT count(*) FROM publish_outbox')" = 0 ] && break; sleep 0.05; done
  t1=$(date +%s.%N)
  c1=$(ticks $PIDS) a1=$(ticks $APIPIDS) r1=$(redis_cpu)
  ok1=$(inc_ok)
  echo "incremental$2: $n changed servers published $(elapsed "$tc" "$t1") s after their COMMIT (the UPDATE took" \
    "$(elapsed "$t0" "$tc") s with psql's start; $((ok1 - ok0)) passes from its start, the ticks' empty ones included; outbox polled" \
    "every 50 ms with psql); PostgreSQL CPU $(cpu_s $((c1 - c0))) s, API CPU $(cpu_s $((a1 - a0))) s," \
    "Redis CPU $(elapsed "$r0" "$r1") s (the UPDATE's own backend not counted) $(la)"
  one=$(Q "SELECT token_hash FROM mcp_servers WHERE id = (SELECT id FROM bench_chg LIMIT 1)")
  echo "  a changed server in Redis: $(R GET "${PREFIX}srv:$one" | cut -c1-120)"
}
APIPIDS=$APIPID
for n in $NCHGS; do incremental "$n" ""; done
c0=$(ticks $PIDS) a0=$(ticks "$APIPID")
sleep 10
c1=$(ticks $PIDS) a1=$(ticks "$APIPID")
echo "idle (incremental passes every second, nothing to do): PostgreSQL CPU $(cpu_s $((c1 - c0))) s," \
  "API CPU $(cpu_s $((a1 - a0))) s in 10 s $(la)"
if [ "$NREP" -ge 2 ]; then
  # Two replicas: the API stopped, then started twice on the same database
  # and Redis. Each runs a full pass at its start (Redis in sync), so the
  # two run at once; creates go to the first one meanwhile.
  kill "$APIPID"; wait "$APIPID" 2>/dev/null || true; APIPID=
  "$BIN/jsmcp-api" >>"$LOG" 2>&1 &
  APIPID=$!
  JSMCP_API_LISTEN="127.0.0.1:$API2_PORT" JSMCP_API_METRICS_LISTEN="127.0.0.1:$METRICS2_PORT" "$BIN/jsmcp-api" >"$LOG.2" 2>&1 &
  API2PID=$!
  wait_up "$API"
  wait_up "http://127.0.0.1:$API2_PORT"
  METRICS_ALL="$METRICS http://127.0.0.1:$METRICS2_PORT"
  APIPIDS="$APIPID $API2PID"
  PIDS=$(backends)
  c0=$(ticks $PIDS) a0=$(ticks $APIPIDS) r0=$(redis_cpu)
  echo "two API replicas started at $(date -u +%T); each runs a full pass at its start (Redis in sync):"
  creates "creates (to replica 1) during both replicas' full passes" "${CRATE%% *}"
  if [ "$(full_done)" -ge 2 ]; then
    echo "  WARNING: both full passes ended before the creates did"
  else
    echo "  (full passes ended when the creates ended: $(full_done) of 2) $(la)"
  fi
  wait_full 2
  c1=$(ticks $PIDS) a1=$(ticks $APIPIDS) r1=$(redis_cpu)
  each() { curl -fs "$1/metrics" | awk -v m="$2" 'index($0, m) == 1 {s += $NF} END {print s + 0}'; }
  lp='jsmcp_api_reconcile_last_pass_seconds{kind="full"}'
  echo "two replicas' full passes at once, Redis in sync: $(each "$METRICS" "$lp") s and" \
    "$(each "http://127.0.0.1:$METRICS2_PORT" "$lp") s; PostgreSQL CPU $(cpu_s $((c1 - c0))) s ($(echo $PIDS | wc -w) backends)," \
    "API CPU $(cpu_s $((a1 - a0))) s (both, the creates' included), Redis CPU $(elapsed "$r0" "$r1") s (the creates' included) $(la)"
  creates "creates (to replica 1) without a full pass, two replicas" "${CRATE%% *}"
  big=0
  for n in $NCHGS; do [ "$n" -gt "$big" ] && big=$n; done
  rp='jsmcp_api_reconcile_repairs_total{kind="incremental"}'
  w1=$(each "$METRICS" "$rp") w2=$(each "http://127.0.0.1:$METRICS2_PORT" "$rp")
  incremental "$big" " (two replicas)"
  echo "  records written by each replica's incremental passes: $(( $(each "$METRICS" "$rp") - w1 )) and" \
    "$(( $(each "http://127.0.0.1:$METRICS2_PORT" "$rp") - w2 ))"
fi
# Starts RECONCILE_REPLICAS replicas (more than 2: ports of their own)
# with the environment given, waits for them and their start's full passes.
start_replicas() {
  local i port mport
  [ -n "$API2PID" ] && { kill $API2PID; for p in $API2PID; do wait "$p" 2>/dev/null || true; done; API2PID=; }
  kill "$APIPID"; wait "$APIPID" 2>/dev/null || true; APIPID=
  env "$@" "$BIN/jsmcp-api" >>"$LOG" 2>&1 &
  APIPID=$!
  APIPIDS=$APIPID METRICS_ALL=$METRICS
  wait_up "$API"
  for i in $(seq 2 "$NREP"); do
    port=$(free_port) mport=$(free_port)
    env "$@" JSMCP_API_LISTEN="127.0.0.1:$port" JSMCP_API_METRICS_LISTEN="127.0.0.1:$mport" "$BIN/jsmcp-api" >>"$LOG.2" 2>&1 &
    API2PID="$API2PID $!"
    APIPIDS="$APIPIDS $!" METRICS_ALL="$METRICS_ALL http://127.0.0.1:$mport"
    wait_up "http://127.0.0.1:$port"
  done
  API2PID=${API2PID# }
  wait_full "$NREP"
}
if [ -n "${RECONCILE_GAP_AB:-}" ]; then
  rate=${CRATE%% *}
  for round in $(seq "${RECONCILE_GAP_ROUNDS:-3}"); do
    for gap in $RECONCILE_GAP_AB; do
      start_replicas JSMCP_RECONCILE_HINT_GAP_MS="$gap"
      PIDS=$(backends)
      p0=$(inc_ok) c0=$(ticks $PIDS) a0=$(ticks $APIPIDS) r0=$(redis_cpu)
      out=$("$BBIN/api_load" "$API_PORT" "/integrated-account/00000000-0000-4000-8000-000000000001/mcp" "$KEY" \
              "$rate" "$CSECS" "$CCONNS" '{"name":"bench","config":{"methods":["read"]}}' || echo "(some answers were not 2xx)")
      c1=$(ticks $PIDS) a1=$(ticks $APIPIDS) r1=$(redis_cpu) p1=$(inc_ok)
      n=$((rate * CSECS))
      echo "gap round $round, JSMCP_RECONCILE_HINT_GAP_MS=$gap, $NREP replicas, $rate creates/s for $CSECS s:" \
        "PostgreSQL CPU $(cpu_s $((c1 - c0))) s ($(python3 -c "print(f'{($c1 - $c0) / $HZ / $n * 1e6:.0f}')") µs a create," \
        "$(echo $PIDS | wc -w) backends), API CPU $(cpu_s $((a1 - a0))) s, Redis CPU $(elapsed "$r0" "$r1") s," \
        "$(python3 -c "print(int($p1 - $p0))") incremental passes $(la)"
      echo "$out" | grep -E 'p50|answered|rate' | sed 's/^/  /' || true
    done
  done
fi
if [ -n "${RECONCILE_AB_BASE:-}" ]; then
  # A/B of the incremental pass: the API of another build (a directory of
  # binaries, e.g. main's build/) and this one, restarted in turn on the same
  # rows, RECONCILE_AB_ROUNDS (default 2) rounds; each waits for the full
  # pass every start runs (Redis in sync), then takes the largest backlog.
  big=0
  for n in $NCHGS; do [ "$n" -gt "$big" ] && big=$n; done
  for round in $(seq "${RECONCILE_AB_ROUNDS:-2}"); do
    for side in base this; do
      [ -n "$API2PID" ] && { kill "$API2PID"; wait "$API2PID" 2>/dev/null || true; API2PID=; }
      kill "$APIPID"; wait "$APIPID" 2>/dev/null || true; APIPID=
      bin=$BIN
      [ "$side" = base ] && bin=$RECONCILE_AB_BASE
      "$bin/jsmcp-api" >>"$LOG" 2>&1 &
      APIPID=$!
      APIPIDS=$APIPID METRICS_ALL=$METRICS
      wait_up "$API"
      PIDS=$(backends)
      c0=$(ticks $PIDS) a0=$(ticks "$APIPID") r0=$(redis_cpu)
      wait_full 1
      c1=$(ticks $PIDS) a1=$(ticks "$APIPID") r1=$(redis_cpu)
      echo "full pass at the start of one API ($side), Redis in sync: $(metric 'jsmcp_api_reconcile_last_pass_seconds{kind="full"}') s;" \
        "PostgreSQL CPU $(cpu_s $((c1 - c0))) s, API CPU $(cpu_s $((a1 - a0))) s, Redis CPU $(elapsed "$r0" "$r1") s $(la)"
      incremental "$big" " (A/B round $round, $side: $bin)"
    done
  done
fi
# Consistency: the tests' invariant checker over every row.
t0=$(date +%s.%N)
echo "invariant checker (bench/pub_check, every row) $(la):"
JSMCP_DATABASE_URL="$DBURL" PGAPPNAME=bench "$BBIN/pub_check" | head -45 | sed 's/^/  /' || true
echo "  (checked $(Q 'SELECT count(*) FROM mcp_servers') servers, $(Q 'SELECT count(*) FROM integrated_accounts') accounts" \
  "in $(elapsed "$t0" "$(date +%s.%N)") s) $(la)"
grep -hE '"level":"(warn|error)"' "$LOG" "$LOG.2" 2>/dev/null | head -5 || true
rm -f "$LOG.2"
echo "load average every 30 s during the run (UTC, 1/5/15 min):"
cat "$LOG.load"
rm -f "$LOG.load"
