#!/usr/bin/env bash
# What the workspace listing would cost without tool_calls_workspace (issue
# 21). A measurement for a design not built: the audit drain writes two
# b-tree entries a record, the primary key (server_id, ts, call_id) and
# tool_calls_workspace (workspace_id, ts, call_id), and the second is what
# GET /calls (newest first over a workspace), its exports and the series
# read. Without it, a workspace's calls would be found through a small table
# of the minutes each server had calls in, (workspace_id, minute,
# server_id), one row per server and minute (the drain would add it, at most
# once a minute a server), then each server's calls of that minute through
# the primary key; PostgreSQL's incremental sort on the minute stops at the
# page's end. The figure is a page's time (pgbench, one client, the mean of
# CALLS_BUCKETS_RUNS runs) both ways on the same rows:
#   index     the listing as api/ap_calls.c sends it (the workspace index);
#   buckets   the minute table, then the primary key of each server in it.
# Two pages: the newest, and one an hour back (a cursor). The rows:
# CALLS_BUCKETS_ROWS calls (default 300,000) of one workspace, 37 ms apart
# (~27 a second), from CALLS_BUCKETS_SERVERS servers in turn (default
# "1000 10000": every server has calls in every minute at 1,000, about one
# server in six at 10,000). Runs on the PostgreSQL of bench/run.sh, in a
# database migrated by jsmcp-api migrate (dropped at the end; CALLS_BUCKETS_EXPLAIN=1
# keeps it, with the last server count's rows, to EXPLAIN the queries).
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib/common.sh
ROWS=${CALLS_BUCKETS_ROWS:-300000}
RUNS=${CALLS_BUCKETS_RUNS:-50}
SERVERS=${CALLS_BUCKETS_SERVERS:-1000 10000}
case $ROWS$RUNS${SERVERS// /} in *[!0-9]*) echo "bench: CALLS_BUCKETS_* are whole numbers" >&2; exit 2;; esac
PGBENCH=$(ls /usr/lib/postgresql/*/bin/pgbench 2>/dev/null | tail -1)
[ -n "$PGBENCH" ] || { echo "bench: pgbench not found (postgresql's package ships it)" >&2; exit 1; }
DATA=$(mktemp -d /tmp/jsmcp-bench-buckets.XXXXXX)
DB="bench_buckets_$$"
DBU="${JSMCP_TEST_PG_URL%/*}/$DB"
cleanup() {
  psql -q "$JSMCP_TEST_PG_URL" -c "DROP DATABASE IF EXISTS $DB" >/dev/null 2>&1 || true
  rm -rf "$DATA"
}
trap cleanup EXIT
[ -z "${CALLS_BUCKETS_EXPLAIN:-}" ] || trap "rm -rf $DATA" EXIT # keeps the database for EXPLAIN
psql -q "$JSMCP_TEST_PG_URL" -c "CREATE DATABASE $DB" >/dev/null
JSMCP_DATABASE_URL=$DBU JSMCP_LOG_LEVEL=warn "$BIN/jsmcp-api" migrate >/dev/null
psql -q "$DBU" -v ON_ERROR_STOP=1 -c "INSERT INTO tool_names (id, name) OVERRIDING SYSTEM VALUE VALUES (1, 'get_issue')" >/dev/null
psql -q "$DBU" -v ON_ERROR_STOP=1 -c "CREATE TABLE call_minutes (workspace_id uuid NOT NULL, minute timestamptz NOT NULL,
  server_id uuid NOT NULL, PRIMARY KEY (workspace_id, minute, server_id))" >/dev/null

WS=11111111-1111-1111-1111-111111111111
# A page as ap_calls.c's listing reads it (the columns it shows are left out:
# both ways read the same rows), newest first, before the cursor :c.
cat > "$DATA/index.sql" <<SQL
SELECT c.ts, c.call_id FROM tool_calls c WHERE c.workspace_id = '$WS'
  AND (c.ts, c.call_id) < (:c, 'ffffffff-ffff-ffff-ffff-ffffffffffff'::uuid)
ORDER BY c.ts DESC, c.call_id DESC LIMIT 50;
SQL
cat > "$DATA/buckets.sql" <<SQL
SELECT c.ts, c.call_id FROM call_minutes m CROSS JOIN LATERAL (
    SELECT c.ts, c.call_id FROM tool_calls c
    WHERE c.server_id = m.server_id AND c.ts >= m.minute AND c.ts < m.minute + interval '1 minute'
      AND (c.ts, c.call_id) < (:c, 'ffffffff-ffff-ffff-ffff-ffffffffffff'::uuid)) c
WHERE m.workspace_id = '$WS' AND m.minute <= date_trunc('minute', :c)
ORDER BY m.minute DESC, c.ts DESC, c.call_id DESC LIMIT 50;
SQL

echo "a listing page of 50 over one workspace, $ROWS calls 37 ms apart, ms a page (pgbench, mean of $RUNS); load at start $(cut -d' ' -f1 /proc/loadavg)"
for n in $SERVERS; do
  psql -q "$DBU" -v ON_ERROR_STOP=1 >/dev/null <<SQL
TRUNCATE tool_calls, call_minutes;
ALTER TABLE tool_calls DISABLE TRIGGER USER;
INSERT INTO tool_calls (ts, workspace_id, account_id, server_id, tool_id, upstream_status, latency_ms, call_id)
SELECT now() - g * interval '37 ms', '$WS', '22222222-2222-2222-2222-222222222222',
       ('00000000-0000-0000-0000-' || lpad((g % $n)::text, 12, '0'))::uuid, 1, 200, 12.5, gen_random_uuid()
FROM generate_series(1, $ROWS) g;
ALTER TABLE tool_calls ENABLE TRIGGER USER;
INSERT INTO call_minutes SELECT DISTINCT workspace_id, date_trunc('minute', ts), server_id FROM tool_calls;
VACUUM ANALYZE tool_calls;
VACUUM ANALYZE call_minutes;
SQL
  pairs=$(psql -qtA "$DBU" -c "SELECT round(count(*)::numeric / count(DISTINCT minute), 1) FROM call_minutes")
  for page in newest hour-back; do
    c="now()"; [ "$page" = hour-back ] && c="now() - interval '1 hour'"
    line="  $n servers ($pairs a minute), $page page:"
    for way in index buckets; do
      ms=$("$PGBENCH" -n -c 1 -t "$RUNS" -D c="$c" -f "$DATA/$way.sql" "$DBU" 2>/dev/null |
           awk '/latency average/ {print $4}')
      line="$line $way ${ms:-failed}"
    done
    echo "$line"
  done
done
