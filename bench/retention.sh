#!/usr/bin/env bash
# The retention pass of tool_calls (issue 21, migration 034) against the one
# it replaced, on a table in the shape retention leaves: RETENTION_ROWS
# (default 2,000,000) records of RETENTION_WORKSPACES (default 1,000)
# workspaces, half of them due (31 to 40 days old) and half kept (0 to 29
# days), mixed in every page, as rows fill the pages retention freed.
# RETENTION_LAYOUT=ordered instead puts the rows in time order, as the drain
# writes them (batches of 2,000, each sorted by workspace): a table retention
# has not yet cycled through, the due rows in its first pages.
# Measured, each RETENTION_RUNS (default 5) times alternating, the median:
#   - a pass with a full batch due (10,000 rows, rolled back after each run);
#   - a pass with nothing due, right after the due rows were deleted (their
#     index entries still there) and again after a VACUUM.
# "before" is migration 008's statement through its BRIN on ts (built here on
# a scratch basis: 035 drops it); "full" and "bounded" are
# jsmcp_calls_retention with since -infinity and since a minute before the
# cutoff (where the API's last complete pass stopped). Figures: the
# statement's time and the blocks of tool_calls and its indexes it asked
# for, of which table pages (pg_stat_get_xact_blocks_fetched).
# Needs the services of bench/run.sh (JSMCP_TEST_PG_URL).
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib/common.sh
ROWS=${RETENTION_ROWS:-2000000}
NWS=${RETENTION_WORKSPACES:-1000}
RUNS=${RETENTION_RUNS:-5}
LAYOUT=${RETENTION_LAYOUT:-mixed}
case $LAYOUT in
  mixed) TS="CASE WHEN g % 2 = 0 THEN interval '31 days' + random() * interval '9 days' ELSE random() * interval '29 days' END";;
  ordered) TS="CASE WHEN g <= $ROWS / 2 THEN interval '40 days' - (g * interval '9 days' / ($ROWS / 2))
                    ELSE interval '29 days' - ((g - $ROWS / 2) * interval '29 days' / ($ROWS / 2)) END";;
  *) echo "RETENTION_LAYOUT: mixed or ordered" >&2; exit 2;;
esac

DB=bench_ret_$$
psql -q "$JSMCP_TEST_PG_URL" -c "CREATE DATABASE $DB" >/dev/null
DBURL="${JSMCP_TEST_PG_URL%/*}/$DB"
cleanup() { psql -q "$JSMCP_TEST_PG_URL" -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null 2>&1 || true; }
trap cleanup EXIT
trap 'exit 1' INT TERM
JSMCP_DATABASE_URL="$DBURL" JSMCP_LOG_LEVEL=warn "$BIN/jsmcp-api" migrate >/dev/null
# RETENTION_SQL=<file>: a scratch change after the migrations (another
# jsmcp_calls_retention to compare).
if [ -n "${RETENTION_SQL:-}" ]; then psql -q -v ON_ERROR_STOP=1 "$DBURL" -f "$RETENTION_SQL" >/dev/null; fi

t0=$(date +%s.%N)
psql -q "$DBURL" <<SQL >/dev/null
ALTER TABLE tool_calls DISABLE TRIGGER USER;
INSERT INTO tool_calls (call_id, ts, workspace_id, account_id, server_id, tool, upstream_status, latency_ms,
                        request_id, upstream_request_id, result_bytes)
SELECT md5('rt' || g)::uuid,
       now() - $TS,
       md5('ws' || g % $NWS)::uuid, md5('acct' || g % $NWS)::uuid, md5('srv' || g % ($NWS * 10))::uuid, 'search',
       200, 20 + random() * 400, 'r' || g, md5('up' || g), 2000
FROM generate_series(1, $ROWS) g
ORDER BY CASE WHEN '$LAYOUT' = 'ordered' THEN (g - 1) / 2000 END, g % $NWS, g;
ALTER TABLE tool_calls ENABLE TRIGGER USER;
CREATE INDEX bench_tool_calls_ts ON tool_calls USING brin (ts);
VACUUM ANALYZE tool_calls;
SQL
echo "seeded $ROWS records of $NWS workspaces ($LAYOUT) in $(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN{printf "%.0f", b-a}') s;" \
     "tool_calls $(psql -tAq "$DBURL" -c "SELECT pg_size_pretty(pg_relation_size('tool_calls')) || ', ' ||
       pg_relation_size('tool_calls') / 8192 || ' pages'")"

BEFORE="DELETE FROM tool_calls WHERE ctid = ANY (ARRAY (SELECT ctid FROM tool_calls WHERE ts < now() - 30 * interval '1 day' LIMIT 10000))"
FULL="SELECT * FROM jsmcp_calls_retention(30, 10000, '-infinity')"
BOUNDED="SELECT * FROM jsmcp_calls_retention(30, 10000, now() - interval '30 days 1 minute')"
# One run of $2 in a fresh connection: "ms buffers table_pages"; $1=1 rolls
# the statement back. Timed by PostgreSQL's clock around the plain statement
# (EXPLAIN ANALYZE's per-node timing costs more in the loop of the new pass
# than in the old one's few nodes); buffers: every block of tool_calls and
# its indexes the statement asked for (hit or read), of which table pages.
one() {
  local end=COMMIT; [ "$1" = 1 ] && end=ROLLBACK
  psql -tAq "$DBURL" -c BEGIN -c "SELECT set_config('bench.t0', clock_timestamp()::text, true)" -c '\o /dev/null' \
       -c "$2" -c '\o' -c "SELECT round(extract(epoch FROM clock_timestamp() - current_setting('bench.t0')::timestamptz)
                                         * 1000, 1),
                                   (SELECT sum(pg_stat_get_xact_blocks_fetched(c.oid)) FROM pg_class c
                                    WHERE c.oid = 'tool_calls'::regclass OR c.oid IN
                                          (SELECT indexrelid FROM pg_index WHERE indrelid = 'tool_calls'::regclass)),
                                   pg_stat_get_xact_blocks_fetched('tool_calls'::regclass)" -c "$end" |
    grep '|' | tr '|' ' '
}
median() { sort -n | awk '{a[NR]=$1} END{print a[int((NR+1)/2)]}'; }
# measure <label> <rollback> <sql>...: RUNS rounds, each statement once per round.
measure() {
  local label=$1 rb=$2; shift 2
  local -A ms bufs pages
  for _ in $(seq "$RUNS"); do
    for i in $(seq $#); do
      read -r m b p <<<"$(one "$rb" "${!i}")"
      ms[$i]+="$m "; bufs[$i]+="$b "; pages[$i]+="$p "
    done
  done
  for i in $(seq $#); do
    local name; case ${!i} in "$BEFORE") name=before;; "$FULL") name=full;; *) name=bounded;; esac
    printf '  %-34s %-8s %9s ms %9s buffers %9s table pages  (ms: %s)\n' "$label" "$name" \
      "$(tr ' ' '\n' <<<"${ms[$i]}" | grep . | median)" "$(tr ' ' '\n' <<<"${bufs[$i]}" | grep . | median)" \
      "$(tr ' ' '\n' <<<"${pages[$i]}" | grep . | median)" "${ms[$i]% }"
  done
}
echo "retention passes, median of $RUNS (PostgreSQL $(psql -tAq "$DBURL" -c 'SHOW server_version'))":
measure "10,000 due (rolled back)" 1 "$BEFORE" "$FULL"
# Everything due goes (the new function, as the API would), then nothing is.
while [ "$(psql -tAq "$DBURL" -c "SELECT deleted FROM jsmcp_calls_retention(30, 100000, '-infinity')")" != 0 ]; do :; done
measure "nothing due, before VACUUM" 0 "$BEFORE" "$FULL" "$BOUNDED"
psql -q "$DBURL" -c "VACUUM tool_calls" >/dev/null
measure "nothing due, after VACUUM" 0 "$BEFORE" "$FULL" "$BOUNDED"
