#!/usr/bin/env bash
# Reconcile at scale (issue 21): RECONCILE_SERVERS (default 1,000,000) MCP
# servers over RECONCILE_ACCOUNTS (default 100,000) integrated accounts,
# made with SQL (generate_series; the accounts' sealed credentials by
# bench/reconcile_seed.c, the seal is bound to each id), loaded with the
# triggers off, then the release API started against them:
#   1. the first full pass publishes everything: its time, and Redis memory
#      per server (used_memory before and after, and MEMORY USAGE of sampled
#      srv: keys);
#   2. a full pass with Redis in sync (the marker key deleted to start one):
#      its time and the CPU of the API's PostgreSQL backends and of the API;
#   3. creates through the admin API while a full pass runs, and without
#      one: p50 and p90 (curl's time_total);
#   4. an incremental pass: RECONCILE_CHANGES (default 1,000) servers
#      updated with SQL (a writer that died before publishing): time until
#      the outbox is empty and Redis has them, CPU as above.
# Needs the services of bench/run.sh (JSMCP_TEST_PG_URL, JSMCP_TEST_REDIS_URL).
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib/common.sh
NSRV=${RECONCILE_SERVERS:-1000000}
NACCT=${RECONCILE_ACCOUNTS:-100000}
NCHG=${RECONCILE_CHANGES:-1000}
NCREATE=${RECONCILE_CREATES:-100}

DB=bench_rc_$$
PREFIX="benchrc$$:"
DBURL="${JSMCP_TEST_PG_URL%/*}/$DB"
API_PORT=$(free_port) METRICS_PORT=$(free_port)
API="http://127.0.0.1:$API_PORT"
METRICS="http://127.0.0.1:$METRICS_PORT" # the API's /metrics is only here, never on the public port
LOG=$(mktemp /tmp/jsmcp-bench-reconcile.XXXXXX)
R() { redis-cli -u "$JSMCP_TEST_REDIS_URL" "$@"; }
Q() { psql -tAq "$DBURL" -c "$1"; }
APIPID=
cleanup() {
  [ -n "$APIPID" ] && kill "$APIPID" 2>/dev/null && wait "$APIPID" 2>/dev/null || true
  R --scan --pattern "${PREFIX}*" | xargs -r -n 1000 redis-cli -u "$JSMCP_TEST_REDIS_URL" UNLINK >/dev/null 2>&1 || true
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
metric() { curl -fs "$METRICS/metrics" | awk -v m="$1" 'index($0, m) == 1 {s += $NF} END {print s + 0}'; }
used_memory() { R INFO memory | awk -F: '/^used_memory:/{print $2}' | tr -d '\r'; }

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
psql -q "$DBURL" <<SQL
SET session_replication_role = replica;
\copy integrated_accounts (id, workspace_id, tenant_id, site_url, auth_type, credentials_sealed, key_id) FROM '$LOG.accounts'
INSERT INTO mcp_servers (workspace_id, account_id, name, config, token_hash)
  SELECT '$WS', ('00000000-0000-4000-8000-' || lpad(to_hex(i % $NACCT), 12, '0'))::uuid, 'srv' || i,
         '{"methods": ["read"], "tags": ["itsm"]}', encode(sha256(convert_to('bench-token-' || i, 'UTF8')), 'hex')
  FROM generate_series(1, $NSRV) AS i;
ANALYZE;
SQL
rm -f "$LOG.accounts"
echo "rows: $NSRV servers, $NACCT accounts made with SQL in $(python3 -c "print(f'{$(date +%s.%N) - $t:.1f}')") s"

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
wait_full 1
mem1=$(used_memory)
echo "first full pass (publishes every record): $(metric 'jsmcp_api_reconcile_last_pass_seconds{kind="full"}') s," \
  "$(metric 'jsmcp_api_reconcile_repairs_total{kind="full"}') records written"
sample=$(R --scan --pattern "${PREFIX}srv:*" | head -1000 || true) # head closes the pipe early
avg=$(for k in $sample; do echo "MEMORY USAGE $k"; done | R | awk '{s += $1; n++} END {printf "%.0f", s / n}')
echo "Redis memory: $(( (mem1 - mem0) / (NSRV + NACCT) )) bytes per published record (used_memory delta over" \
  "$((NSRV + NACCT)) records); MEMORY USAGE of a srv: key $avg bytes on average (1,000 sampled)"

PIDS=$(backends)
c0=$(ticks $PIDS) a0=$(ticks "$APIPID")
R DEL "${PREFIX}reconcile:marker" >/dev/null
wait_full 2
c1=$(ticks $PIDS) a1=$(ticks "$APIPID")
echo "full pass, Redis in sync: $(metric 'jsmcp_api_reconcile_last_pass_seconds{kind="full"}') s;" \
  "PostgreSQL CPU $(cpu_s $((c1 - c0))) s, API CPU $(cpu_s $((a1 - a0))) s"

creates() { # $1: label
  local acct="00000000-0000-4000-8000-000000000001" i
  for i in $(seq "$NCREATE"); do
    curl -s -o /dev/null -w '%{time_total}\n' -X POST "$API/integrated-account/$acct/mcp" \
      -H "Authorization: Bearer $KEY" -H 'Content-Type: application/json' -d '{"name":"bench","config":{"methods":["read"]}}'
  done | sort -n | awk -v l="$1" '{a[NR] = $1} END {printf "%s: p50 %.1f ms, p90 %.1f ms (%d creates)\n", l, a[int(NR*0.5)]*1000, a[int(NR*0.9)]*1000, NR}'
}
R DEL "${PREFIX}reconcile:marker" >/dev/null
sleep 1.2 # the next tick (every second) starts the pass
creates "creates during a full pass"
wait_full 3
echo "(that full pass: $(metric 'jsmcp_api_reconcile_last_pass_seconds{kind="full"}') s)"
creates "creates without a full pass"

ok0=$(metric 'jsmcp_api_reconcile_runs_total{kind="incremental",outcome="ok"}')
c0=$(ticks $PIDS) a0=$(ticks "$APIPID")
t0=$(date +%s.%N)
Q "UPDATE mcp_servers SET name = name || '+' WHERE id IN (SELECT id FROM mcp_servers ORDER BY random() LIMIT $NCHG)" >/dev/null
for _ in $(seq 3000); do [ "$(Q 'SELECT count(*) FROM publish_outbox')" = 0 ] && break; sleep 0.05; done
t1=$(date +%s.%N)
c1=$(ticks $PIDS) a1=$(ticks "$APIPID")
ok1=$(metric 'jsmcp_api_reconcile_runs_total{kind="incremental",outcome="ok"}')
echo "incremental: $NCHG changed servers published $(python3 -c "print(f'{$t1 - $t0:.2f}')") s after their COMMIT" \
  "($((ok1 - ok0)) passes); PostgreSQL CPU $(cpu_s $((c1 - c0))) s, API CPU $(cpu_s $((a1 - a0))) s"
one=$(Q "SELECT token_hash FROM mcp_servers WHERE name LIKE '%+' LIMIT 1")
echo "a changed server in Redis: $(R GET "${PREFIX}srv:$one" | cut -c1-120)"
c0=$(ticks $PIDS) a0=$(ticks "$APIPID")
sleep 10
c1=$(ticks $PIDS) a1=$(ticks "$APIPID")
echo "idle (incremental passes every second, nothing to do): PostgreSQL CPU $(cpu_s $((c1 - c0))) s," \
  "API CPU $(cpu_s $((a1 - a0))) s in 10 s"
# Consistency: servers whose record is not live (sampled).
bad=0
for h in $(Q "SELECT token_hash FROM mcp_servers ORDER BY random() LIMIT 2000"); do echo "GET ${PREFIX}srv:$h"; done | R \
  | grep -v '"id"' > "$LOG.bad" || true
echo "servers sampled whose record is missing or a tombstone: $(wc -l < "$LOG.bad") of 2000 $(sort "$LOG.bad" | uniq -c | head -3)"
grep -E '"level":"(warn|error)"' "$LOG" | head -5 || true
