#!/usr/bin/env bash
# MCP server creation through the admin API (issue 2 goal: p50 <= 2 ms and
# >= 2,000 creates/s): the release jsmcp-api on a fresh database and Redis
# prefix, 16 keep-alive clients on loopback (wrk -t2 -c16, bench/api_create.lua)
# each POSTing /integrated-account/<id>/mcp. Every create writes a PostgreSQL
# row and a Redis key (srv:<hash>). A 2 s warm-up run is discarded.
# Runs: "saturated" (wrk: each client sends its next request as soon as the
# answer is in: the throughput ceiling; by Little's law its latency is
# 16 / throughput), "one client" (the unloaded latency of a create), and
# "open loop" (bench/api_load.c: API_CREATE_RATE, default 2000, creates/s
# due on a fixed schedule over the 16 connections, latency counted from
# each request's due time: the latency at the goal's rate).
# Needs the services of bench/run.sh (JSMCP_TEST_PG_URL, JSMCP_TEST_REDIS_URL).
# API_CREATE_SECONDS (default 10) sets the measured duration.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib/common.sh
SECS=${API_CREATE_SECONDS:-10}

DB=bench_api_$$
psql -q "$JSMCP_TEST_PG_URL" -c "CREATE DATABASE $DB" >/dev/null
DB_URL="${JSMCP_TEST_PG_URL%/*}/$DB"
PORT=$(free_port)
URL="http://127.0.0.1:$PORT"
PREFIX="bench$$:"
BOOT="jsb_$(rand_b64 24 | tr '+/=' 'xyz')"
LOG=$(mktemp /tmp/jsmcp-bench-api.XXXXXX.log)

JSMCP_DATABASE_URL="$DB_URL" JSMCP_REDIS_URL="$JSMCP_TEST_REDIS_URL" JSMCP_REDIS_PREFIX="$PREFIX" \
JSMCP_MASTER_KEYS="k1:$(rand_b64 32)" JSMCP_BOOTSTRAP_KEY="$BOOT" JSMCP_API_LISTEN="127.0.0.1:$PORT" \
JSMCP_API_METRICS_LISTEN=127.0.0.1:0 \
JSMCP_LOG_LEVEL=warn JSMCP_PUBLIC_WORKER_URL="http://127.0.0.1:8081" \
  "$BIN/jsmcp-api" >"$LOG" 2>&1 &
API_PID=$!
cleanup() {
  kill "$API_PID" 2>/dev/null && wait "$API_PID" 2>/dev/null || true
  psql -q "$JSMCP_TEST_PG_URL" -c "DROP DATABASE IF EXISTS $DB" >/dev/null 2>&1 || true
  rm -f "$LOG"
}
trap cleanup EXIT
for _ in $(seq 100); do curl -fs -o /dev/null "$URL/healthz" && break; sleep 0.1; done
curl -fs -o /dev/null "$URL/healthz" || { echo "jsmcp-api did not start:"; cat "$LOG"; exit 1; }

post() { # key path body -> JSON answer
  curl -fsS -X POST -H "Authorization: Bearer $1" -H 'Content-Type: application/json' --data "$3" "$URL$2"
}
WS=$(post "$BOOT" /workspaces '{"name":"bench"}' | jq -r .id)
export BENCH_API_KEY
BENCH_API_KEY=$(post "$BOOT" "/workspaces/$WS/api-keys" '{"name":"bench"}' | jq -r .key)
export BENCH_ACCOUNT_ID
BENCH_ACCOUNT_ID=$(post "$BENCH_API_KEY" /integrated-account \
  '{"tenant_id":"bench","site_url":"https://bench.atlassian.net","auth":{"type":"api_token","email":"a@b.c","api_token":"bench-token"}}' |
  jq -r .id)

echo "method: wrk -t2 -c16 -d${SECS}s, POST /integrated-account/:id/mcp, release $BIN/jsmcp-api, $(nproc) cores shared with PostgreSQL, Redis and wrk"
wrk -t2 -c16 -d2s -s bench/api_create.lua "$URL" >/dev/null
echo "saturated:"
wrk -t2 -c16 -d"${SECS}s" -s bench/api_create.lua "$URL" | grep -E '^(creates|latency|non-2xx)' | sed 's/^/  /'
echo "one client (wrk -t1 -c1):"
wrk -t1 -c1 -d"${SECS}s" -s bench/api_create.lua "$URL" | grep -E '^(creates|latency|non-2xx)' | sed 's/^/  /'
RATE=${API_CREATE_RATE:-2000}
echo "open loop ($RATE creates/s due, 16 connections, bench/api_load):"
"${JSMCP_BENCH_BIN_DIR:-$BIN/bench}/api_load" "$PORT" "/integrated-account/$BENCH_ACCOUNT_ID/mcp" \
  "$BENCH_API_KEY" "$RATE" "$SECS" 16 | sed 's/^/  /' || echo "  (some answers were not 2xx)"
ROWS=$(psql -tA "$DB_URL" -c "SELECT count(*) FROM mcp_servers")
KEYS=$(redis-cli -u "$JSMCP_TEST_REDIS_URL" --scan --pattern "${PREFIX}srv:*" | wc -l)
echo "check: $ROWS mcp_servers rows, $KEYS srv keys published (warm-up included)"
[ "$ROWS" = "$KEYS" ] || echo "WARNING: rows and published keys differ"
