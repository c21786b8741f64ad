#!/usr/bin/env bash
# The audit drain (issue 21): the API copies the workers' stream
# <prefix>audit into PostgreSQL (api/ap_audit.c). Synthetic records shaped
# like a worker's (bench/audit_load.c) are added to Redis directly, so the
# figures are the drain's alone:
#   1. backlog: AUDIT_DRAIN_RECORDS (default 200,000) records wait in the
#      stream before the API starts; time until all are rows, and CPU per
#      record of the PostgreSQL backends (/proc/<pid>/stat of every backend
#      of the bench database) and of the API process;
#   2. rate: AUDIT_DRAIN_RATE records/s (default 20,000) for
#      AUDIT_DRAIN_SECONDS (default 10) while the API drains; the drain
#      keeps up when the backlog stays small during the run and is gone
#      right after it; CPU per record as above.
# AUDIT_METERING=off disables the triggers that keep usage_daily and the
# ratelimit.burst runs (migration 022) for the run: drain throughput with
# metering on versus off. SERIES_INDEX=off drops the index of GET
# /calls/series (tool_calls_workspace_ts, migration 024) for the run: what
# that index costs the drain (builds before migration 026, which merged it
# into tool_calls_workspace; a build with 026 refuses it).
# AUDIT_DRAIN_SQL='<statements>' runs on the bench database after the
# migrations, before the API starts (a scratch schema change: drop an index,
# disable a trigger). AUDIT_DRAIN_SECONDS=0 skips the paced run;
# AUDIT_DRAIN_TRACE=1 prints each 0.5 s sample of the paced run (backlog,
# oldest record's age, load). The paced load comes from audit_load rate
# (bench/audit_load.c): it never waits for replies before sending what is due,
# and reports the least it sent in any second and how far behind schedule it was.
# AUDIT_DRAIN_PARTS=1: where PostgreSQL's CPU per record goes. In each of
# AUDIT_DRAIN_ROUNDS rounds, one backlog run per variant below (the full
# schema, then one part removed at a time, then all of them); each part's
# share is the full schema's figure minus the figure without it.
# AUDIT_DRAIN_PERF=<file>: perf record -g of the API's backends during the
# backlog run, into that file (perf report -i <file> --no-children).
# AUDIT_DRAIN_BASE=<bin dir of another build> compares two builds (A/B): in
# each of AUDIT_DRAIN_ROUNDS rounds (default 3) this script runs on that
# build's jsmcp-api, then on this one's, against the same PostgreSQL and
# Redis and with the same load generator, so both see the same machine load;
# CPU per record is the figure to compare (rates move with the load).
# AUDIT_DRAIN_TOGETHER=1 (with AUDIT_DRAIN_BASE): both builds drain at the
# same time, each its own database, stream and backlog, so each round's two
# figures see the very same machine load (backlog only, AUDIT_DRAIN_SECONDS=0;
# the API's backends' CPU, not the whole instance's, which both share).
# AUDIT_DRAIN_IDS: the call_id layout of the synthetic workers' records
# (AUDIT_LOAD_IDS of bench/audit_load.c: "time", the worker's since migration
# 027's change, or "prefix", the worker's before), AUDIT_DRAIN_WORKERS how many
# worker processes they come from (default 8). With AUDIT_DRAIN_BASE, the
# base build's records use AUDIT_DRAIN_BASE_IDS (default "prefix": main's
# workers) and AUDIT_DRAIN_BASE_SQL (default AUDIT_DRAIN_SQL), the other
# build's AUDIT_DRAIN_IDS (default "time") and AUDIT_DRAIN_SQL.
# AUDIT_DRAIN_SERVERS (default 1000): the records come from that many servers
# (AUDIT_LOAD_SERVERS of bench/audit_load.c: one workspace per 10 servers, a
# dozen of the catalog's tool names), the same for both builds of an A/B;
# before 2026-12-06 10:00 UTC every record came from one server (=1).
# AUDIT_DRAIN_WARMUP=<n>: n more records wait in the stream, and the figures
# count only the records after the first n, drained by the same API process
# and PostgreSQL connections: a fresh backend pays a page fault the first time
# it touches each 4 KiB of shared buffers, which a long-running server's
# connections did long ago (a warm-up larger than shared_buffers' pages
# leaves none untouched). The waits read the API's
# jsmcp_api_audit_drained_total, not count(*) (a scan of the whole table
# every 0.1 s); the rows are counted once at the end.
# Needs the services of bench/run.sh (JSMCP_TEST_PG_URL, JSMCP_TEST_REDIS_URL).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
# One side of an A/B: the base build (side 0) or this one (side 1), with its
# own call_id layout and schema change.
ab_side() {
  local side=$1 dir ids sql
  if [ "$side" = 0 ]; then
    dir=$AUDIT_DRAIN_BASE ids=${AUDIT_DRAIN_BASE_IDS:-prefix} sql=${AUDIT_DRAIN_BASE_SQL-${AUDIT_DRAIN_SQL:-}}
  else
    dir=${JSMCP_BIN_DIR:-$ROOT/build} ids=${AUDIT_DRAIN_IDS:-time} sql=${AUDIT_DRAIN_SQL:-}
  fi
  AUDIT_DRAIN_BASE='' AUDIT_DRAIN_IDS=$ids AUDIT_DRAIN_SQL=$sql JSMCP_BIN_DIR=$dir \
    JSMCP_BENCH_BIN_DIR="${JSMCP_BENCH_BIN_DIR:-$ROOT/build/bench}" bash "$0"
}
# The figure of one side's output: PostgreSQL CPU per record of the backlog.
pg_us() { sed -nE 's/^backlog: .*PostgreSQL CPU ([0-9.]+) us\/record.*/\1/p' "$1" | head -1; }
if [ -n "${AUDIT_DRAIN_BASE:-}" ] && [ "${AUDIT_DRAIN_TOGETHER:-}" = 1 ]; then
  figs=$(mktemp /tmp/jsmcp-bench-audit-figs.XXXXXX)
  trap 'rm -f "$figs"' EXIT # an interrupted A/B leaves nothing in /tmp
  trap 'exit 1' INT TERM
  for i in $(seq "${AUDIT_DRAIN_ROUNDS:-3}"); do
    echo "### round $i: both builds at once, load average $(cut -d' ' -f1-3 /proc/loadavg)"
    outs=()
    # Who starts first alternates (the first fill has Redis to itself a moment).
    for side in $([ $((i % 2)) = 1 ] && echo "0 1" || echo "1 0"); do
      out=$(mktemp /tmp/jsmcp-bench-audit-ab.XXXXXX)
      outs[$side]=$out
      AUDIT_DRAIN_SECONDS=0 ab_side "$side" >"$out" 2>&1 &
    done
    wait
    for side in 0 1; do echo "## side $side"; cat "${outs[$side]}"; done
    b=$(pg_us "${outs[0]}") n=$(pg_us "${outs[1]}")
    echo "### round $i: PostgreSQL CPU per record, base ${b:-?} us, this build ${n:-?} us, load average now $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "${b:-nan} ${n:-nan}" >>"$figs"
    rm -f "${outs[@]}"
  done
  python3 - "$figs" <<'PY'
import statistics, sys
rows = [tuple(map(float, l.split())) for l in open(sys.argv[1]) if l.strip()]
rows = [r for r in rows if r[0] > 0 and r[1] > 0]
if rows:
    b = statistics.median(r[0] for r in rows); n = statistics.median(r[1] for r in rows)
    print("### per round (base, this build, ratio): " + "; ".join(f"{x:.1f} {y:.1f} {y / x:.2f}" for x, y in rows))
    print(f"### medians: base {b:.2f} us, this build {n:.2f} us, ratio {n / b:.3f}; median of the rounds' ratios {statistics.median(y / x for x, y in rows):.3f}")
PY
  echo "### load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
  exit 0
fi
if [ -n "${AUDIT_DRAIN_BASE:-}" ]; then
  for i in $(seq "${AUDIT_DRAIN_ROUNDS:-3}"); do
    for side in 0 1; do
      echo "### round $i: side $side, load average $(cut -d' ' -f1-3 /proc/loadavg)"
      ab_side "$side"
    done
  done
  echo "### load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
  exit 0
fi
if [ "${AUDIT_DRAIN_PARTS:-}" = 1 ]; then
  # label|SQL; the labels name what is removed.
  PARTS=(
    "full schema|"
    "no tool_calls_server (builds before migration 032)|DROP INDEX IF EXISTS tool_calls_server"
    "no tool_calls_workspace|DROP INDEX IF EXISTS tool_calls_workspace"
    "no tool_calls_workspace_ts|DROP INDEX IF EXISTS tool_calls_workspace_ts"
    "no BRIN on ts|DROP INDEX tool_calls_ts"
    "no primary key (call_id; since 032 (server_id, ts, call_id), the per-server listing)|ALTER TABLE tool_calls DROP CONSTRAINT tool_calls_pkey"
    "no usage trigger|ALTER TABLE tool_calls DISABLE TRIGGER tool_calls_usage"
    "no ratelimit_burst trigger|ALTER TABLE tool_calls DISABLE TRIGGER tool_calls_ratelimit_burst"
    "no WAL (unlogged table)|ALTER TABLE tool_calls SET UNLOGGED"
    "bare heap (all of the above)|ALTER TABLE tool_calls DISABLE TRIGGER USER; ALTER TABLE tool_calls SET UNLOGGED;
      DO \$\$ DECLARE i record; BEGIN FOR i IN SELECT conname FROM pg_constraint WHERE conrelid = 'tool_calls'::regclass AND contype IN ('p', 'u') LOOP
      EXECUTE format('ALTER TABLE tool_calls DROP CONSTRAINT %I', i.conname); END LOOP;
      FOR i IN SELECT indexrelid::regclass AS n FROM pg_index WHERE indrelid = 'tool_calls'::regclass LOOP
      EXECUTE format('DROP INDEX %s', i.n); END LOOP; END \$\$"
  )
  for i in $(seq "${AUDIT_DRAIN_ROUNDS:-2}"); do
    for part in "${PARTS[@]}"; do
      echo "### round $i: ${part%%|*}, load average $(cut -d' ' -f1-3 /proc/loadavg)"
      AUDIT_DRAIN_PARTS='' AUDIT_DRAIN_SECONDS=0 AUDIT_DRAIN_SQL="${part#*|}" bash "$0"
    done
  done
  exit 0
fi
. bench/lib/common.sh
N=${AUDIT_DRAIN_RECORDS:-200000}
W=${AUDIT_DRAIN_WARMUP:-0}
export AUDIT_LOAD_IDS=${AUDIT_DRAIN_IDS:-time} AUDIT_LOAD_WORKERS=${AUDIT_DRAIN_WORKERS:-8}
export AUDIT_LOAD_SERVERS=${AUDIT_DRAIN_SERVERS:-1000}
RATE=${AUDIT_DRAIN_RATE:-20000}
SECS=${AUDIT_DRAIN_SECONDS:-10}
RHOST=$(echo "$JSMCP_TEST_REDIS_URL" | sed -E 's#redis://([^:/]+):([0-9]+).*#\1#')
RPORT=$(echo "$JSMCP_TEST_REDIS_URL" | sed -E 's#redis://([^:/]+):([0-9]+).*#\2#')

DB=bench_au_$$
PREFIX="benchau$$:"
STREAM="${PREFIX}audit"
DBURL="${JSMCP_TEST_PG_URL%/*}/$DB"
psql -q "$JSMCP_TEST_PG_URL" -c "CREATE DATABASE $DB" >/dev/null
API_PORT=$(free_port)
METRICS_PORT=$(free_port)
LOG=$(mktemp /tmp/jsmcp-bench-audit.XXXXXX)
APIPID=
cleanup() {
  [ -n "$APIPID" ] && kill "$APIPID" 2>/dev/null && wait "$APIPID" 2>/dev/null || true
  redis-cli -u "$JSMCP_TEST_REDIS_URL" DEL "$STREAM" >/dev/null 2>&1 || true
  psql -q "$JSMCP_TEST_PG_URL" -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null 2>&1 || true
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# ticks, backends, pg_all, us_per
# shellcheck source=lib/cpu.sh
. bench/lib/cpu.sh
rows() { psql -tAq "$DBURL" -c "SELECT count(*) FROM tool_calls"; }
# Records the API has written to PostgreSQL (its own counter, after COMMIT).
drained() {
  local v
  v=$(curl -fs "http://127.0.0.1:$METRICS_PORT/metrics" | awk '$1 == "jsmcp_api_audit_drained_total" {print $2}')
  echo "${v:-0}"
}
# Usage folds the API has finished (migration 030; empty before it).
folds() { curl -fs "http://127.0.0.1:$METRICS_PORT/metrics" | awk '$1 == "jsmcp_api_usage_folds_total" {print $2}'; }
# The usage rollup's work is part of a record's cost: since migration 030 it
# is done by folds every JSMCP_USAGE_FOLD_MS (default 5 s), not in the
# drain's transactions. Once every record is drained, waits for two more
# folds to finish: the second started after the last record was in, so
# nothing is left pending and its CPU is counted.
wait_folded() {
  local f0 f
  f0=$(folds)
  [ -n "$f0" ] || return 0
  for _ in $(seq 1200); do
    f=$(folds)
    [ "${f%.*}" -ge $(( ${f0%.*} + 2 )) ] && return 0
    sleep 0.05
  done
  echo "the usage folds did not finish"
}
# WAL written by the whole instance so far, in bytes.
wal_lsn() { psql -tAq "$DBURL" -c "SELECT pg_current_wal_lsn() - '0/0'::pg_lsn" | cut -d. -f1; }

"$BBIN/audit_load" "$RHOST" "$RPORT" "$STREAM" fill $((N + W))
if [ "${AUDIT_METERING:-on}" = off ] || [ "${SERIES_INDEX:-on}" = off ] || [ -n "${AUDIT_DRAIN_SQL:-}" ]; then
  JSMCP_DATABASE_URL="$DBURL" JSMCP_MASTER_KEYS="k1:$(head -c 32 /dev/urandom | base64 -w0)" \
    JSMCP_LOG_LEVEL=warn "$BIN/jsmcp-api" migrate >/dev/null
fi
if [ "${AUDIT_METERING:-on}" = off ]; then
  psql -q "$DBURL" -c "ALTER TABLE tool_calls DISABLE TRIGGER tool_calls_usage" \
    -c "ALTER TABLE tool_calls DISABLE TRIGGER tool_calls_ratelimit_burst" >/dev/null
fi
if [ "${SERIES_INDEX:-on}" = off ]; then
  psql -q "$DBURL" -c "DROP INDEX tool_calls_workspace_ts" >/dev/null ||
    { echo "SERIES_INDEX=off: since migration 026 one index serves GET /calls and the series"; exit 1; }
fi
[ -n "${AUDIT_DRAIN_SQL:-}" ] && psql -q -v ON_ERROR_STOP=1 "$DBURL" -c "$AUDIT_DRAIN_SQL" >/dev/null
echo "build: $BIN; metering: ${AUDIT_METERING:-on}, series index: ${SERIES_INDEX:-on}${AUDIT_DRAIN_SQL:+, schema change: $AUDIT_DRAIN_SQL};" \
  "call_id layout: $AUDIT_LOAD_IDS from $AUDIT_LOAD_WORKERS worker processes; $AUDIT_LOAD_SERVERS servers; warm-up: $W records"
echo "PostgreSQL: $(psql -tAq "$JSMCP_TEST_PG_URL" -c "SELECT string_agg(name || '=' || current_setting(name), ', ' ORDER BY name)
  FROM pg_settings WHERE name IN ('fsync', 'synchronous_commit', 'full_page_writes', 'shared_buffers', 'wal_level',
  'max_wal_size', 'checkpoint_timeout', 'wal_buffers', 'autovacuum', 'huge_pages', 'server_version')")"
JSMCP_DATABASE_URL="$DBURL" JSMCP_REDIS_URL="$JSMCP_TEST_REDIS_URL" JSMCP_REDIS_PREFIX="$PREFIX" \
  JSMCP_MASTER_KEYS="k1:$(head -c 32 /dev/urandom | base64 -w0)" JSMCP_API_LISTEN="127.0.0.1:$API_PORT" \
  JSMCP_API_METRICS_LISTEN="127.0.0.1:$METRICS_PORT" \
  JSMCP_LOG_LEVEL=warn JSMCP_AUDIT_DRAIN_MS="${JSMCP_AUDIT_DRAIN_MS:-200}" PGAPPNAME=jsmcp-api "$BIN/jsmcp-api" >"$LOG" 2>&1 &
APIPID=$!
for _ in $(seq 100); do curl -fs -o /dev/null "http://127.0.0.1:$API_PORT/healthz" && break; sleep 0.05; done
# The default metrics port may be another process's: a failed start must
# say so, not leave the loops below waiting for rows that never come.
kill -0 "$APIPID" 2>/dev/null || { echo "jsmcp-api did not start:"; cat "$LOG"; exit 1; }
# All of the pool's connections (JSMCP_PG_POOL_SIZE, 8), not the first one up.
for _ in $(seq 200); do [ "$(backends | wc -l)" -ge "${JSMCP_PG_POOL_SIZE:-8}" ] && break; sleep 0.05; done
PIDS=$(backends)
if [ "$W" -gt 0 ]; then
  tw=$EPOCHREALTIME
  for _ in $(seq 6000); do [ "$(drained)" -ge "$W" ] && break; sleep 0.05; done
fi
# The start: the counters first, read together (the drain goes on).
c0=$(ticks $PIDS) f0=$(minflt $PIDS) a0=$(ticks "$APIPID") d0=$(drained) t0=$(date +%s.%N)
g0=$(pg_all) w0=$(wal_lsn)
[ "$W" -gt 0 ] && echo "warm-up: $d0 records drained in $(awk -v a="$EPOCHREALTIME" -v b="$tw" 'BEGIN {printf "%.2f", a - b}') s, not counted"
PERFPID=
if [ -n "${AUDIT_DRAIN_PERF:-}" ]; then
  perf record -q -g -o "$AUDIT_DRAIN_PERF" -p "$(echo $PIDS | tr ' ' ,)" >/dev/null 2>&1 &
  PERFPID=$!
fi
for _ in $(seq 6000); do [ "$(drained)" -ge $((N + W)) ] && break; sleep 0.05; done
t1=$(date +%s.%N)
wait_folded
c1=$(ticks $PIDS) f1=$(minflt $PIDS) a1=$(ticks "$APIPID") d1=$(drained) g1=$(pg_all) w1=$(wal_lsn)
[ -n "$PERFPID" ] && kill -INT "$PERFPID" && wait "$PERFPID" || true
got=$((d1 - d0))
total=$(rows)
[ "$total" = $((N + W)) ] || echo "ROWS WRONG: $total rows in tool_calls, $((N + W)) records sent"
secs=$(python3 -c "print(f'{$t1 - $t0:.2f}')")
echo "backlog: $got of $N records drained in $secs s ($(python3 -c "print(round($got / ($t1 - $t0)))")/s);" \
  "PostgreSQL CPU $(us_per $((c1 - c0)) "$got") us/record (API's backends; whole instance $(us_per $((g1 - g0)) "$got")), API CPU $(us_per $((a1 - a0)) "$got") us/record," \
  "WAL $(( (w1 - w0) / (got > 0 ? got : 1) )) bytes/record, backends' page faults $(python3 -c "print(f'{($f1 - $f0) / max($got, 1):.2f}')")/record"
# Where a row's bytes go (the last 1,000 rows: the first batches may hold
# tool names not yet numbered, migration 028): what narrower types would save.
sizes="round(avg(pg_column_size(t.*))) || ' bytes on average; of which stream_id '
  || coalesce(round(avg(pg_column_size(stream_id))), 0) || ', tool ' || coalesce(round(avg(pg_column_size(tool))), 0) || ', args_sha256 '
  || coalesce(round(avg(pg_column_size(args_sha256))), 0) || ', upstream_request_id ' || round(avg(pg_column_size(upstream_request_id)))
  || ', request_id ' || round(avg(pg_column_size(request_id)))"
psql -tAq "$DBURL" -c "SELECT 'row: ' || $sizes || ', args_digest ' || coalesce(round(avg(pg_column_size(args_digest))), 0)
  || ', tool_id ' || coalesce(round(avg(pg_column_size(tool_id))), 0)
  || ', the three uuids and call_id 64' FROM (SELECT * FROM tool_calls WHERE id > (SELECT max(id) - 1000 FROM tool_calls)) t" 2>/dev/null ||
  psql -tAq "$DBURL" -c "SELECT 'row: ' || $sizes || ', args_digest ' || coalesce(round(avg(pg_column_size(args_digest))), 0)
  || ', the three uuids and call_id 64 (no tool_id: before migration 028)' FROM (SELECT * FROM tool_calls WHERE id > (SELECT max(id) - 1000 FROM tool_calls)) t" 2>/dev/null ||
  psql -tAq "$DBURL" -c "SELECT 'row: ' || $sizes || ' (no args_digest: before migration 027), the three uuids and call_id 64'
  FROM (SELECT * FROM tool_calls WHERE id > (SELECT max(id) - 1000 FROM tool_calls)) t"
# The sizes of the table and its indexes: narrower rows and time-ordered keys show here.
relations() {
  psql -tAq "$DBURL" -c "SELECT 'relations (pages): ' || string_agg(relname || ' ' || pg_relation_size(oid) / 8192, ', ' ORDER BY relname)
    FROM pg_class WHERE (relname LIKE 'tool_calls%' OR relname LIKE 'usage_daily%' OR relname = 'usage_pending') AND relkind IN ('r', 'i')"
}
relations
# The usage rollup (migration 022): its rows, and the calls they count (all of the records).
psql -tAq "$DBURL" -c "SELECT 'usage_daily: ' || count(*) || ' rows counting ' || coalesce(sum(calls), 0) || ' calls; updates '
  || (SELECT n_tup_upd || ', of which HOT ' || n_tup_hot_upd FROM pg_stat_user_tables WHERE relname = 'usage_daily') FROM usage_daily"
psql -tAq "$DBURL" -c "SELECT 'usage_pending (migration 030): ' || count(*) || ' rows counting ' || coalesce(sum(calls), 0) || ' calls' FROM usage_pending" 2>/dev/null || true
[ "$SECS" = 0 ] && exit 0

before=$(rows)
PIDS=$(backends)
c0=$(ticks $PIDS) a0=$(ticks "$APIPID") g0=$(pg_all)
"$BBIN/audit_load" "$RHOST" "$RPORT" "$STREAM" rate "$RATE" "$SECS" >"$LOG.load" &
LOADPID=$!
# Every 0.5 s: the group's lag (entries not yet read) and the API's own
# alert metric, the age of the oldest record not yet in PostgreSQL.
maxlag=0 maxage=0 samples=0 lastlag=0
tload=$EPOCHREALTIME
while kill -0 "$LOADPID" 2>/dev/null; do
  lag=$(redis-cli -u "$JSMCP_TEST_REDIS_URL" XINFO GROUPS "$STREAM" 2>/dev/null | awk 'p{print; exit} /^lag$/{p=1}')
  age=$(curl -fs "http://127.0.0.1:$METRICS_PORT/metrics" | awk '$1 == "jsmcp_api_audit_backlog_age_seconds" {print $2}')
  [ -n "$lag" ] && [ "$lag" -gt "$maxlag" ] && maxlag=$lag
  [ -n "$lag" ] && lastlag=$lag
  [ -n "$age" ] && maxage=$(awk -v a="$maxage" -v b="$age" 'BEGIN {print (b > a ? b : a)}')
  samples=$((samples + 1))
  if [ -n "${AUDIT_DRAIN_TRACE:-}" ]; then
    echo "  t=$(awk -v a="$EPOCHREALTIME" -v b="$tload" 'BEGIN {printf "%.1f", a - b}') s backlog ${lag:-?} records," \
      "oldest ${age:-?} s, load $(cut -d' ' -f1 /proc/loadavg)"
  fi
  sleep 0.5
done
wait "$LOADPID"
tend=$(date +%s.%N)
cat "$LOG.load"
echo "during the load ($samples samples, every 0.5 s): largest backlog $maxlag records, last $lastlag;" \
  "oldest record waiting at most $maxage s (jsmcp_api_audit_backlog_age_seconds); load average now $(cut -d' ' -f1-3 /proc/loadavg)"
sent=$(awk '{print $2}' "$LOG.load")
for _ in $(seq 600); do [ "$(rows)" -ge $((before + sent)) ] && break; sleep 0.1; done
tdone=$(date +%s.%N)
wait_folded
c1=$(ticks $PIDS) a1=$(ticks "$APIPID") g1=$(pg_all)
got=$(( $(rows) - before ))
echo "rate: $RATE records/s for $SECS s: $got drained; largest backlog seen $maxlag records;" \
  "drained $(python3 -c "print(f'{$tdone - $tend:.2f}')") s after the load ended;" \
  "PostgreSQL CPU $(us_per $((c1 - c0)) "$got") us/record (API's backends; whole instance $(us_per $((g1 - g0)) "$got")), API CPU $(us_per $((a1 - a0)) "$got") us/record"
echo "stream length after: $(redis-cli -u "$JSMCP_TEST_REDIS_URL" XLEN "$STREAM")"
relations
grep -E '"level":"(warn|error)"' "$LOG" | head -5 || true
