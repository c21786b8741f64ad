#!/usr/bin/env bash
# The admin audit trail's cost per write (issue 26): every admin write runs
# a trigger (migration 023) that computes a field diff and inserts one
# admin_events row in the write's transaction. Admin writes here are MCP
# server creates (POST /integrated-account/:id/mcp, bench/api_create.lua:
# a row, its event, a Redis key), 16 keep-alive clients (wrk -t2 -c16) for
# ADMIN_AUDIT_SECONDS (default 8) per run, on the release jsmcp-api and a
# fresh database. Runs alternate, in one process and database, between the
# trigger on and off (ALTER TABLE mcp_servers DISABLE TRIGGER), twice each,
# after a discarded warm-up, so drift of the shared machine hits both
# sides alike. Per run: writes/s, and PostgreSQL CPU per write: the API's
# backends (/proc/<pid>/stat of the client backends of the bench database)
# and the whole instance (postmaster and all its children), as
# bench/audit_drain.sh counts them.
# ADMIN_AUDIT_MODES (default "on sqldiff off"): "on" is the trail as the
# migrations leave it; "sqldiff" the same with jsmcp_admin_diff as
# migration 023 made it (LANGUAGE sql: parsed and planned again at every
# write; migration 029 made it PL/pgSQL), taken from that file; "off" the
# trigger disabled.
# Needs the services of bench/run.sh (JSMCP_TEST_PG_URL, JSMCP_TEST_REDIS_URL).
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib/common.sh
SECS=${ADMIN_AUDIT_SECONDS:-8}

DB=bench_aa_$$
psql -q "$JSMCP_TEST_PG_URL" -c "CREATE DATABASE $DB" >/dev/null
DBURL="${JSMCP_TEST_PG_URL%/*}/$DB"
PORT=$(free_port)
URL="http://127.0.0.1:$PORT"
PREFIX="benchaa$$:"
BOOT="jsb_$(rand_b64 24 | tr '+/=' 'xyz')"
LOG=$(mktemp /tmp/jsmcp-bench-aa.XXXXXX.log)
APIPID=
cleanup() {
  [ -n "$APIPID" ] && kill "$APIPID" 2>/dev/null && wait "$APIPID" 2>/dev/null || true
  psql -q "$JSMCP_TEST_PG_URL" -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null 2>&1 || true
  rm -f "$LOG"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# ticks, backends, pg_all, us_per
# shellcheck source=lib/cpu.sh
. bench/lib/cpu.sh
count() { psql -tAq "$DBURL" -c "SELECT (SELECT count(*) FROM mcp_servers) || ' ' || (SELECT count(*) FROM admin_events)"; }

JSMCP_DATABASE_URL="$DBURL" JSMCP_REDIS_URL="$JSMCP_TEST_REDIS_URL" JSMCP_REDIS_PREFIX="$PREFIX" \
JSMCP_MASTER_KEYS="k1:$(rand_b64 32)" JSMCP_BOOTSTRAP_KEY="$BOOT" JSMCP_API_LISTEN="127.0.0.1:$PORT" \
JSMCP_API_METRICS_LISTEN=127.0.0.1:0 JSMCP_LOG_LEVEL=warn JSMCP_PUBLIC_WORKER_URL="http://127.0.0.1:8081" \
  PGAPPNAME=jsmcp-api "$BIN/jsmcp-api" >"$LOG" 2>&1 &
APIPID=$!
for _ in $(seq 100); do curl -fs -o /dev/null "$URL/healthz" && break; sleep 0.1; done
curl -fs -o /dev/null "$URL/healthz" || { echo "jsmcp-api did not start:"; cat "$LOG"; exit 1; }
post() { curl -fsS -X POST -H "Authorization: Bearer $1" -H 'Content-Type: application/json' --data "$3" "$URL$2"; }
WS=$(post "$BOOT" /workspaces '{"name":"bench"}' | jq -r .id)
export BENCH_API_KEY BENCH_ACCOUNT_ID
BENCH_API_KEY=$(post "$BOOT" "/workspaces/$WS/api-keys" '{"name":"bench"}' | jq -r .key)
BENCH_ACCOUNT_ID=$(post "$BENCH_API_KEY" /integrated-account \
  '{"tenant_id":"bench","site_url":"https://bench.atlassian.net","auth":{"type":"api_token","email":"a@b.c","api_token":"bench-token"}}' |
  jq -r .id)
for _ in $(seq 200); do [ "$(backends | wc -l)" -ge "${JSMCP_PG_POOL_SIZE:-8}" ] && break; sleep 0.05; done

echo "method: wrk -t2 -c16 -d${SECS}s of POST /integrated-account/:id/mcp per run, modes ${ADMIN_AUDIT_MODES:-on sqldiff off} alternating; release $BIN/jsmcp-api; $(nproc) cores shared with PostgreSQL, Redis and wrk"
wrk -t2 -c16 -d2s -s bench/api_create.lua "$URL" >/dev/null
# A migration's CREATE [OR REPLACE] FUNCTION jsmcp_admin_diff statement.
diff_fn() { sed -n '/^CREATE.*FUNCTION jsmcp_admin_diff/,/^\(END \)\?\$\$;/p' "$1" | sed 's/^CREATE FUNCTION/CREATE OR REPLACE FUNCTION/'; }
for round in 1 2; do
  for mode in ${ADMIN_AUDIT_MODES:-on sqldiff off}; do
    if [ "$mode" = off ]; then act=DISABLE; else act=ENABLE; fi
    if [ "$mode" = sqldiff ]; then diff_fn migrations/023_admin_events.sql; else diff_fn migrations/029_admin_diff_cached.sql; fi |
      psql -q -v ON_ERROR_STOP=1 "$DBURL" >/dev/null
    psql -q "$DBURL" -c "ALTER TABLE mcp_servers $act TRIGGER mcp_servers_admin_event" >/dev/null
    read -r s0 e0 <<<"$(count)"
    PIDS=$(backends)
    b0=$(ticks $PIDS) g0=$(pg_all)
    out=$(wrk -t2 -c16 -d"${SECS}s" -s bench/api_create.lua "$URL")
    b1=$(ticks $PIDS) g1=$(pg_all)
    read -r s1 e1 <<<"$(count)"
    n=$((s1 - s0))
    echo "round $round, trigger $mode: $(echo "$out" | sed -nE 's/^creates: .* = ([0-9]+) creates\/s/\1/p') writes/s;" \
      "PostgreSQL CPU $(us_per $((b1 - b0)) "$n") us/write (API's backends; whole instance $(us_per $((g1 - g0)) "$n"));" \
      "$n rows, $((e1 - e0)) events; $(echo "$out" | grep -E '^latency' | sed 's/latency ms: /latency ms /'); $(echo "$out" | grep -E '^non-2xx' | cut -d' ' -f1-2)"
  done
done
psql -q "$DBURL" -c "ALTER TABLE mcp_servers ENABLE TRIGGER mcp_servers_admin_event" >/dev/null
psql -tAq "$DBURL" -c "SELECT 'jsmcp_admin_diff at the end: LANGUAGE ' || l.lanname FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang WHERE proname = 'jsmcp_admin_diff'"
