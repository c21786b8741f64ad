#!/usr/bin/env bash
# What one drained record costs PostgreSQL 15 in the COPY alone, by the shape
# of the statement (issue 21): the drain's binary COPY into tool_calls, the
# migrated schema, one backend, no API, no Redis. The question it answers:
# would moving the usage and ratelimit.burst rollups out of their statement
# triggers (into the API, as a second statement of the drain's transaction)
# make the drain cheaper? Variants, alternating, AUDIT_COPY_ROUNDS rounds
# (default 3), each on a fresh database migrated by `jsmcp-api migrate`:
#   current      the schema as migrated, statements of 1,500 rows (the
#                worker bench's batch at ~7,700 calls/s);
#   no-triggers  the two statement triggers dropped, 1,500 rows;
#   no-trig-64   the same in statements of 64 rows (under the 65 entries
#                where PostgreSQL 15's resource owner turns to a hash);
#   usage-only   the ratelimit.burst trigger dropped, 1,500 rows;
#   burst-only   the usage trigger dropped, 1,500 rows;
#   noop-after   the two triggers replaced by one AFTER INSERT statement
#                trigger that does nothing, 1,500 rows;
#   before-stmt  the two replaced by a BEFORE INSERT statement trigger that
#                does nothing, 1,500 rows.
# AUDIT_COPY_SQL='<statements>' adds a variant "sql": the schema as migrated,
# then those statements (a reshaped trigger function, say), 1,500 rows.
# AUDIT_COPY_ROWS rows a variant (default 60,000), the same rows for each
# (server-side binary files written once by COPY ... TO). The figure is the
# backend's CPU (utime+stime of /proc/<pid>/stat, read through psql's \!)
# over the rows, and its minor page faults (field 10) over the rows. Runs on the PostgreSQL of bench/run.sh: psql reaches it as a
# superuser and on this host.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib/common.sh
ROUNDS=${AUDIT_COPY_ROUNDS:-3}
ROWS=${AUDIT_COPY_ROWS:-60000}
case $ROUNDS$ROWS in *[!0-9]*) echo "bench: AUDIT_COPY_ROUNDS and AUDIT_COPY_ROWS are whole numbers" >&2; exit 2;; esac
DATA=$(mktemp -d /tmp/jsmcp-bench-copy.XXXXXX)
chmod 755 "$DATA"
[ "$(id -u)" -eq 0 ] && chown postgres "$DATA" # the server writes the files
DBS=()
cleanup() {
  for d in "${DBS[@]}"; do psql -q "$JSMCP_TEST_PG_URL" -c "DROP DATABASE IF EXISTS $d" >/dev/null 2>&1 || true; done
  rm -rf "$DATA"
}
trap cleanup EXIT

COLS="stream_id, ts, workspace_id, account_id, server_id, tool, args_sha256, upstream_status, latency_ms,
      ratelimit_limit, ratelimit_remaining, ratelimit_reset_s, upstream_request_id, error_class, request_id,
      result_bytes, call_id, args_digest, tool_id"
NOOP="CREATE FUNCTION bench_noop() RETURNS trigger LANGUAGE plpgsql AS \$\$ BEGIN RETURN NULL; END \$\$;"
DROP="DROP TRIGGER tool_calls_usage ON tool_calls; DROP TRIGGER tool_calls_ratelimit_burst ON tool_calls;"

# A fresh database, migrated, in DBU (its URL). $1: SQL run after the migrations.
NDB=0
fresh_db() {
  local d="bench_copy_$$_$NDB"
  NDB=$((NDB + 1))
  psql -q "$JSMCP_TEST_PG_URL" -c "CREATE DATABASE $d" >/dev/null
  DBS+=("$d")
  DBU="${JSMCP_TEST_PG_URL%/*}/$d"
  JSMCP_DATABASE_URL=$DBU JSMCP_LOG_LEVEL=warn "$BIN/jsmcp-api" migrate >/dev/null
  psql -q "$DBU" -v ON_ERROR_STOP=1 -c "INSERT INTO tool_names (id, name) OVERRIDING SYSTEM VALUE VALUES (1, 'get_issue')" >/dev/null
  [ -z "$1" ] || psql -q "$DBU" -v ON_ERROR_STOP=1 -c "$1" >/dev/null
}

# The rows, as binary COPY files of $1 rows each (ROWS in all), named
# <size>.<n>: one server and workspace, ts one microsecond apart, a random
# call_id; the columns the drain fills for a call (api/ap_audit.c).
write_files() {
  local n=$(( (ROWS + $1 - 1) / $1 ))
  psql -q "$U0" -v ON_ERROR_STOP=1 >/dev/null <<SQL
DO \$\$ BEGIN
FOR i IN 0 .. $n - 1 LOOP
  EXECUTE format(\$q\$COPY (SELECT NULL::text, now() + (g + %s) * interval '1 us',
      '11111111-1111-1111-1111-111111111111'::uuid, '22222222-2222-2222-2222-222222222222'::uuid,
      '33333333-3333-3333-3333-333333333333'::uuid, NULL::text, NULL::text, 200, 12.5::float8, 100, 99, 60,
      'req-' || md5(g::text), NULL::text, md5(random()::text), 4000::bigint, gen_random_uuid(),
      decode(md5(g::text) || md5(g::text), 'hex'), 1
      FROM generate_series(1, $1) g) TO %L (FORMAT binary)\$q\$, i * $1, '$DATA/$1.' || i);
END LOOP;
END \$\$;
SQL
}

# One variant: COPYs every file of size $2 into a fresh database prepared
# with $3, in one session; prints "<label> <us a row>".
run_variant() {
  local n i
  fresh_db "$3"
  n=$(( (ROWS + $2 - 1) / $2 ))
  {
    echo "SELECT pg_backend_pid() \\g $DATA/pid"
    echo "\\! awk '{print \$14+\$15, \$10}' /proc/\$(cat $DATA/pid)/stat > $DATA/t0"
    for ((i = 0; i < n; i++)); do echo "COPY tool_calls ($COLS) FROM '$DATA/$2.$i' (FORMAT binary);"; done
    echo "\\! awk '{print \$14+\$15, \$10}' /proc/\$(cat $DATA/pid)/stat > $DATA/t1"
  } > "$DATA/script.sql"
  psql -qtA "$DBU" -v ON_ERROR_STOP=1 -f "$DATA/script.sql" >/dev/null
  read -r t0 f0 < "$DATA/t0"
  read -r t1 f1 < "$DATA/t1"
  us_per_row=$(awk -v t="$((t1 - t0))" -v n="$((n * $2))" -v hz="$(getconf CLK_TCK)" 'BEGIN {printf "%.2f", t * 1000000 / hz / n}')
  echo "$1 $us_per_row" >> "$RES"
  echo "  round $r: $1 $us_per_row us a row, $(awk -v f="$((f1 - f0))" -v n="$((n * $2))" 'BEGIN {printf "%.3f", f / n}') minor page faults a row"
}

fresh_db ""
U0=$DBU
write_files 1500
write_files 64
echo "binary COPY into tool_calls, $ROWS rows a variant, backend CPU per row (us), $ROUNDS rounds; load at start $(cut -d' ' -f1 /proc/loadavg)"
RES=$DATA/results
for ((r = 1; r <= ROUNDS; r++)); do
  run_variant current 1500 ""
  run_variant no-triggers 1500 "$DROP"
  run_variant no-trig-64 64 "$DROP"
  run_variant usage-only 1500 "DROP TRIGGER tool_calls_ratelimit_burst ON tool_calls;"
  run_variant burst-only 1500 "DROP TRIGGER tool_calls_usage ON tool_calls;"
  run_variant noop-after 1500 "$DROP $NOOP CREATE TRIGGER t AFTER INSERT ON tool_calls FOR EACH STATEMENT EXECUTE FUNCTION bench_noop();"
  run_variant before-stmt 1500 "$DROP $NOOP CREATE TRIGGER t BEFORE INSERT ON tool_calls FOR EACH STATEMENT EXECUTE FUNCTION bench_noop();"
  [ -z "${AUDIT_COPY_SQL:-}" ] || run_variant sql 1500 "$AUDIT_COPY_SQL"
  # Each variant's database holds ROWS rows: only the first (the files' own) stays.
  for d in "${DBS[@]:1}"; do psql -q "$JSMCP_TEST_PG_URL" -c "DROP DATABASE IF EXISTS $d" >/dev/null; done
  DBS=("${DBS[0]}")
done
echo "medians (us a row):"
awk '{v[$1] = v[$1] " " $2} END {for (k in v) print k, v[k]}' "$RES" | while read -r k vals; do
  printf '  %-12s %s  (%s)\n' "$k" "$(tr ' ' '\n' <<< "$vals" | sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}')" "$vals"
done | sort
