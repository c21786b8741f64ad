#!/usr/bin/env bash
# GET /calls/series (issue 26) on a realistic table: CALL_SERIES_ROWS
# (default 2,000,000) tool-call records of 100 workspaces over 7 days, one of
# them the bench's. The plan PostgreSQL ran for the API's own statement is
# captured with auto_explain (ANALYZE, BUFFERS; set on the bench database
# only) and printed, with the request's time through the API (curl, 5 runs,
# the median), for the last 24 hours in 24 buckets and the last 7 days in 24.
# The point is the plan: the rows read must be this workspace's in the range
# (tool_calls_workspace_ts), never the other 99 workspaces'.
# Needs the services of bench/run.sh (JSMCP_TEST_PG_URL, JSMCP_TEST_REDIS_URL).
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib/common.sh
ROWS=${CALL_SERIES_ROWS:-2000000}

DB=bench_cs_$$
psql -q "$JSMCP_TEST_PG_URL" -c "CREATE DATABASE $DB" >/dev/null
DBURL="${JSMCP_TEST_PG_URL%/*}/$DB"
PORT=$(free_port)
URL="http://127.0.0.1:$PORT"
BOOT="jsb_$(rand_b64 24 | tr '+/=' 'xyz')"
MASTER="k1:$(rand_b64 32)"
LOG=$(mktemp /tmp/jsmcp-bench-cs.XXXXXX.log)
APIPID=
stop_api() { [ -n "$APIPID" ] && kill "$APIPID" 2>/dev/null && wait "$APIPID" 2>/dev/null || true; APIPID=; }
cleanup() {
  stop_api
  psql -q "$JSMCP_TEST_PG_URL" -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null 2>&1 || true
  rm -f "$LOG"
}
trap cleanup EXIT
trap 'exit 1' INT TERM
start_api() {
  JSMCP_DATABASE_URL="$DBURL" JSMCP_REDIS_URL="$JSMCP_TEST_REDIS_URL" JSMCP_REDIS_PREFIX="benchcs$$:" \
  JSMCP_MASTER_KEYS="$MASTER" JSMCP_BOOTSTRAP_KEY="$BOOT" JSMCP_API_LISTEN="127.0.0.1:$PORT" \
  JSMCP_API_METRICS_LISTEN=127.0.0.1:0 JSMCP_LOG_LEVEL=warn JSMCP_PUBLIC_WORKER_URL="http://127.0.0.1:8081" \
    "$BIN/jsmcp-api" >>"$LOG" 2>&1 &
  APIPID=$!
  for _ in $(seq 100); do curl -fs -o /dev/null "$URL/healthz" && break; sleep 0.1; done
  curl -fs -o /dev/null "$URL/healthz" || { echo "jsmcp-api did not start:"; cat "$LOG"; exit 1; }
}
post() { curl -fsS -X POST -H "Authorization: Bearer $1" -H 'Content-Type: application/json' --data "$3" "$URL$2"; }

start_api
WS=$(post "$BOOT" /workspaces '{"name":"bench"}' | jq -r .id)
KEY=$(post "$BOOT" "/workspaces/$WS/api-keys" '{"name":"bench"}' | jq -r .key)
stop_api
t0=$(date +%s.%N)
# Workspace 0 is the bench's; the usage and burst triggers are off while seeding.
psql -q "$DBURL" <<SQL >/dev/null
ALTER TABLE tool_calls DISABLE TRIGGER USER;
INSERT INTO tool_calls (stream_id, call_id, ts, workspace_id, account_id, server_id, tool, upstream_status,
                        latency_ms, error_class, ratelimit_limit, ratelimit_remaining)
SELECT 's' || g, md5('cs' || g)::uuid, now() - random() * interval '7 days',
       CASE WHEN g % 100 = 0 THEN '$WS'::uuid ELSE md5('ws' || g % 100)::uuid END,
       md5('acct' || g % 1000)::uuid, md5('srv' || g % 5000)::uuid, 'search',
       CASE WHEN g % 20 = 0 THEN 429 ELSE 200 END, 20 + random() * 400,
       CASE WHEN g % 20 = 0 THEN 'rate_limited' END, 1000, (random() * 1000)::int
FROM generate_series(1, $ROWS) g;
ALTER TABLE tool_calls ENABLE TRIGGER USER;
VACUUM ANALYZE tool_calls;
SQL
echo "seeded $ROWS records of 100 workspaces over 7 days ($((ROWS / 100)) the bench workspace's) in $(python3 -c "print(f'{$(date +%s.%N) - $t0:.0f}')") s"
psql -q "$JSMCP_TEST_PG_URL" -c "ALTER DATABASE $DB SET session_preload_libraries = 'auto_explain'" \
  -c "ALTER DATABASE $DB SET auto_explain.log_min_duration = 0" -c "ALTER DATABASE $DB SET auto_explain.log_analyze = on" \
  -c "ALTER DATABASE $DB SET auto_explain.log_buffers = on" >/dev/null
PGLOG="$JSMCP_TEST_TMP/pg.log"
start_api # new connections: with auto_explain

series() { # window_s -> prints the median of 5 request times, then the plan
  local now since until times=() i
  now=$(date -u +%s)
  until=$(date -u -d "@$now" +%Y-%m-%dT%H:%M:%SZ)
  since=$(date -u -d "@$((now - $1))" +%Y-%m-%dT%H:%M:%SZ)
  local lines
  lines=$(wc -l <"$PGLOG")
  for i in 1 2 3 4 5; do
    times+=("$(curl -fsS -o /tmp/jsmcp-bench-cs.$$.json -w '%{time_total}' -H "Authorization: Bearer $KEY" \
      "$URL/calls/series?since=$since&until=$until&step=$(($1 / 24))")")
  done
  local calls
  calls=$(jq '[.buckets[].calls] | add' /tmp/jsmcp-bench-cs.$$.json)
  rm -f /tmp/jsmcp-bench-cs.$$.json
  echo "last $(($1 / 3600)) h in 24 buckets: $calls calls counted; request time (median of 5): $(printf '%s\n' "${times[@]}" | sort -n | sed -n 3p | awk '{printf "%.1f ms", $1 * 1000}')"
  # The last plan logged for the series statement (auto_explain: a LOG line,
  # then tab-indented lines).
  tail -n +"$((lines + 1))" "$PGLOG" | awk '
    /LOG: +duration: .* plan:/ { if (inplan && keep) last = buf; keep = 0; buf = $0 "\n"; inplan = 1; next }
    inplan && /^\t/ { buf = buf $0 "\n"; if ($0 ~ /date_bin/) keep = 1; next }
    inplan { inplan = 0; if (keep) last = buf }
    END { if (inplan && keep) last = buf; printf "%s", last }' | grep -vE 'Query Text|^\s+(FROM|WHERE|AND|GROUP|SELECT|count|percentile|min|FILTER|" )' | sed 's/^/  /'
}
series 86400
series 604800
