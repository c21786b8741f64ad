#!/usr/bin/env bash
# Would storing a drained batch's records together make the audit drain
# cheaper for PostgreSQL 15, and by how much (issue 21)? A measurement for a
# storage redesign, not of the product as it is: today every record is a row
# of tool_calls with two b-tree entries. Variants, alternating,
# AUDIT_GROUPS_ROUNDS rounds (default 3), each on a fresh copy of one
# migrated database, the same records for each (AUDIT_GROUPS_ROWS, default
# 60,000, in statements of 1,500 records, the worker bench's batch), from
# AUDIT_GROUPS_SERVERS servers of one workspace (default 1; 1000 is the
# drain bench's other shape):
#   rows          the drain's binary COPY into tool_calls as migrated (the
#                 usage and ratelimit.burst triggers included);
#   rows-storage  the same with the two triggers replaced by an AFTER
#                 statement trigger that does nothing: the storage alone
#                 (without any AFTER trigger, each COPY gives its memory back
#                 to the kernel and faults it in again: BENCHMARKS.md "The
#                 drain's COPY and its statement triggers");
#   group-array   one row per (statement, server): its first and last ts, a
#                 count, and the records as an array of a composite type,
#                 lz4-compressed, with the two listing b-trees on
#                 (server_id, last_ts) and (workspace_id, last_ts), and the
#                 same do-nothing AFTER trigger;
#   group-columns the same with one array per column (ts timestamptz[],
#                 call_id uuid[], ...: arrays of scalar types, which SQL
#                 could still unnest), lz4;
#   group-blob    the same with the records as opaque bytes (the array's
#                 binary form), lz4: what an API that packs the records itself
#                 would send;
#   group-plain   group-blob without compression (STORAGE EXTERNAL).
# The group variants keep no exactly-once key and no usage rollup: their
# figure is what the storage costs, the floor of such a design. The figure is
# the backend's CPU (utime+stime) and minor page faults over the records.
# Runs on the PostgreSQL of bench/run.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib/common.sh
ROUNDS=${AUDIT_GROUPS_ROUNDS:-3}
ROWS=${AUDIT_GROUPS_ROWS:-60000}
NSRV=${AUDIT_GROUPS_SERVERS:-1}
B=1500
case $ROUNDS$ROWS$NSRV in *[!0-9]*) echo "bench: AUDIT_GROUPS_ROUNDS, _ROWS and _SERVERS are whole numbers" >&2; exit 2;; esac
DATA=$(mktemp -d /tmp/jsmcp-bench-groups.XXXXXX)
chmod 755 "$DATA"
[ "$(id -u)" -eq 0 ] && chown postgres "$DATA" # the server writes the files
BASE=bench_groups_$$
cleanup() {
  psql -q "$JSMCP_TEST_PG_URL" -c "DROP DATABASE IF EXISTS ${BASE}_run" -c "DROP DATABASE IF EXISTS $BASE" >/dev/null 2>&1 || true
  rm -rf "$DATA"
}
trap cleanup EXIT
URL0=${JSMCP_TEST_PG_URL%/*}/$BASE
URL1=${JSMCP_TEST_PG_URL%/*}/${BASE}_run

COLS="stream_id, ts, workspace_id, account_id, server_id, tool, args_sha256, upstream_status, latency_ms,
      ratelimit_limit, ratelimit_remaining, ratelimit_reset_s, upstream_request_id, error_class, request_id,
      result_bytes, call_id, args_digest, tool_id"
REC="ROW(ts, call_id, account_id, tool_id, upstream_status, latency_ms, ratelimit_limit, ratelimit_remaining,
         ratelimit_reset_s, upstream_request_id, error_class, request_id, result_bytes, args_digest)::call_rec"
ARRAYS=$(for c in ts call_id account_id tool_id upstream_status latency_ms ratelimit_limit ratelimit_remaining \
  ratelimit_reset_s upstream_request_id error_class request_id result_bytes args_digest; do printf 'array_agg(%s ORDER BY ts), ' $c; done)
ARRAYS=${ARRAYS%, }
GROUP_TABLE="(workspace_id uuid NOT NULL, server_id uuid NOT NULL, first_ts timestamptz NOT NULL,
              last_ts timestamptz NOT NULL, n int NOT NULL"

psql -q "$JSMCP_TEST_PG_URL" -c "CREATE DATABASE $BASE" >/dev/null
JSMCP_DATABASE_URL=$URL0 JSMCP_LOG_LEVEL=warn "$BIN/jsmcp-api" migrate >/dev/null
psql -q "$URL0" -v ON_ERROR_STOP=1 >/dev/null <<SQL
INSERT INTO tool_names (id, name) OVERRIDING SYSTEM VALUE VALUES (1, 'get_issue');
CREATE FUNCTION bench_noop() RETURNS trigger LANGUAGE plpgsql AS \$\$ BEGIN RETURN NULL; END \$\$;
-- The records: what the drain writes for a call (api/ap_audit.c), ts one
-- microsecond apart, server g % NSRV, a random call_id.
CREATE TABLE bench_src AS
SELECT g, NULL::text AS stream_id, now() + g * interval '1 us' AS ts,
       '11111111-1111-1111-1111-111111111111'::uuid AS workspace_id,
       '22222222-2222-2222-2222-222222222222'::uuid AS account_id,
       ('33333333-3333-3333-3333-' || lpad((g % $NSRV)::text, 12, '0'))::uuid AS server_id, NULL::text AS tool,
       NULL::text AS args_sha256, 200 AS upstream_status, 12.5::float8 AS latency_ms, 100 AS ratelimit_limit,
       99 AS ratelimit_remaining, 60 AS ratelimit_reset_s, 'req-' || md5(g::text) AS upstream_request_id,
       NULL::text AS error_class, md5(random()::text) AS request_id, 4000::bigint AS result_bytes,
       gen_random_uuid() AS call_id, decode(md5(g::text) || md5(g::text), 'hex') AS args_digest, 1 AS tool_id
FROM generate_series(1, $ROWS) g;
CREATE TYPE call_rec AS (ts timestamptz, call_id uuid, account_id uuid, tool_id int, upstream_status int,
                         latency_ms float8, ratelimit_limit int, ratelimit_remaining int, ratelimit_reset_s int,
                         upstream_request_id text, error_class text, request_id text, result_bytes bigint,
                         args_digest bytea);
CREATE TABLE group_array $GROUP_TABLE, recs call_rec[] NOT NULL);
ALTER TABLE group_array ALTER COLUMN recs SET COMPRESSION lz4;
SET default_toast_compression = lz4;
CREATE TABLE group_columns $GROUP_TABLE, ts timestamptz[], call_id uuid[], account_id uuid[], tool_id int[],
                           upstream_status int[], latency_ms float8[], ratelimit_limit int[], ratelimit_remaining int[],
                           ratelimit_reset_s int[], upstream_request_id text[], error_class text[], request_id text[],
                           result_bytes bigint[], args_digest bytea[]);
CREATE TABLE group_blob $GROUP_TABLE, recs bytea NOT NULL);
ALTER TABLE group_blob ALTER COLUMN recs SET COMPRESSION lz4;
CREATE TABLE group_plain $GROUP_TABLE, recs bytea NOT NULL);
ALTER TABLE group_plain ALTER COLUMN recs SET STORAGE EXTERNAL;
DO \$\$ DECLARE t text; BEGIN
FOREACH t IN ARRAY ARRAY['group_array', 'group_columns', 'group_blob', 'group_plain'] LOOP
  EXECUTE format('CREATE INDEX ON %I (server_id, last_ts)', t);
  EXECUTE format('CREATE INDEX ON %I (workspace_id, last_ts)', t);
  EXECUTE format('CREATE TRIGGER t AFTER INSERT ON %I FOR EACH STATEMENT EXECUTE FUNCTION bench_noop()', t);
END LOOP; END \$\$;
-- The statements' files: binary COPY, B records each.
DO \$\$ BEGIN
FOR i IN 0 .. ($ROWS + $B - 1) / $B - 1 LOOP
  EXECUTE format('COPY (SELECT $COLS FROM bench_src WHERE g > %s AND g <= %s) TO %L (FORMAT binary)',
                 i * $B, (i + 1) * $B, '$DATA/rows.' || i);
  EXECUTE format('COPY (SELECT workspace_id, server_id, min(ts), max(ts), count(*)::int, array_agg($REC ORDER BY ts)
                  FROM bench_src WHERE g > %s AND g <= %s GROUP BY 1, 2) TO %L (FORMAT binary)',
                 i * $B, (i + 1) * $B, '$DATA/array.' || i);
  EXECUTE format('COPY (SELECT workspace_id, server_id, min(ts), max(ts), count(*)::int, $ARRAYS
                  FROM bench_src WHERE g > %s AND g <= %s GROUP BY 1, 2) TO %L (FORMAT binary)',
                 i * $B, (i + 1) * $B, '$DATA/columns.' || i);
  EXECUTE format('COPY (SELECT workspace_id, server_id, min(ts), max(ts), count(*)::int,
                         array_send(array_agg($REC ORDER BY ts))
                  FROM bench_src WHERE g > %s AND g <= %s GROUP BY 1, 2) TO %L (FORMAT binary)',
                 i * $B, (i + 1) * $B, '$DATA/blob.' || i);
END LOOP; END \$\$;
SQL
NSTMT=$(( (ROWS + B - 1) / B ))

# One variant: $1 label, $2 SQL run first, $3 the COPY target, $4 the files'
# prefix; a fresh copy of the database each time.
run_variant() {
  local i t0 f0 t1 f1
  psql -q "$JSMCP_TEST_PG_URL" -c "DROP DATABASE IF EXISTS ${BASE}_run" -c "CREATE DATABASE ${BASE}_run TEMPLATE $BASE" >/dev/null
  [ -z "$2" ] || psql -q "$URL1" -v ON_ERROR_STOP=1 -c "$2" >/dev/null
  {
    echo "SELECT pg_backend_pid() \\g $DATA/pid"
    echo "\\! awk '{print \$14+\$15, \$10}' /proc/\$(cat $DATA/pid)/stat > $DATA/t0"
    for ((i = 0; i < NSTMT; i++)); do echo "COPY $3 FROM '$DATA/$4.$i' (FORMAT binary);"; done
    echo "\\! awk '{print \$14+\$15, \$10}' /proc/\$(cat $DATA/pid)/stat > $DATA/t1"
  } > "$DATA/script.sql"
  psql -qtA "$URL1" -v ON_ERROR_STOP=1 -f "$DATA/script.sql" >/dev/null
  read -r t0 f0 < "$DATA/t0"
  read -r t1 f1 < "$DATA/t1"
  awk -v l="$1" -v t=$((t1 - t0)) -v f=$((f1 - f0)) -v n="$ROWS" -v hz="$(getconf CLK_TCK)" -v r="$r" \
    'BEGIN {printf "  round %d: %-14s %5.2f us a record, %.3f minor page faults a record\n", r, l, t * 1e6 / hz / n, f / n}' | tee -a "$DATA/results"
}

echo "$ROWS records from $NSRV server(s), statements of $B, PostgreSQL backend CPU per record; load at start $(cut -d' ' -f1 /proc/loadavg)"
DROP="DROP TRIGGER tool_calls_usage ON tool_calls; DROP TRIGGER tool_calls_ratelimit_burst ON tool_calls;
      CREATE TRIGGER t AFTER INSERT ON tool_calls FOR EACH STATEMENT EXECUTE FUNCTION bench_noop();"
for ((r = 1; r <= ROUNDS; r++)); do
  run_variant rows "" "tool_calls ($COLS)" rows
  run_variant rows-storage "$DROP" "tool_calls ($COLS)" rows
  run_variant group-array "" group_array array
  run_variant group-columns "" group_columns columns
  run_variant group-blob "" group_blob blob
  run_variant group-plain "" group_plain blob
done
psql -tAq "$URL1" -c "SELECT 'group rows ' || count(*) || ', ' || round(avg(n), 1) || ' records a row; heap ' ||
  pg_relation_size('group_plain') / 8192 || ' pages, TOAST ' ||
  pg_relation_size((SELECT reltoastrelid FROM pg_class WHERE relname = 'group_plain')) / 8192 || ' pages' FROM group_plain"
echo "medians (us a record):"
awk '{v[$3] = v[$3] " " $4} END {for (k in v) print k, v[k]}' "$DATA/results" | while read -r k vals; do
  printf '  %-14s %s  (%s)\n' "$k" "$(tr ' ' '\n' <<< "$vals" | sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}')" "$vals"
done | sort
