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
# that index costs the drain.
# AUDIT_DRAIN_BASE=<bin dir of another build> compares two builds (A/B): in
# each of AUDIT_DRAIN_ROUNDS rounds (default 3) this script runs on that
# build's jsmcp-api, then on this one's, against the same PostgreSQL and
# Redis and with the same load generator, so both see the same machine load;
# CPU per record is the figure to compare (rates move with the load).
# Needs the services of bench/run.sh (JSMCP_TEST_PG_URL, JSMCP_TEST_REDIS_URL).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
if [ -n "${AUDIT_DRAIN_BASE:-}" ]; then
  for i in $(seq "${AUDIT_DRAIN_ROUNDS:-3}"); do
    for dir in "$AUDIT_DRAIN_BASE" "${JSMCP_BIN_DIR:-$ROOT/build}"; do
      echo "### round $i: $dir, load average $(cut -d' ' -f1-3 /proc/loadavg)"
      AUDIT_DRAIN_BASE='' JSMCP_BIN_DIR=$dir JSMCP_BENCH_BIN_DIR="${JSMCP_BENCH_BIN_DIR:-$ROOT/build/bench}" bash "$0"
    done
  done
  echo "### load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
  exit 0
fi
. bench/lib/common.sh
N=${AUDIT_DRAIN_RECORDS:-200000}
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

"$BBIN/audit_load" "$RHOST" "$RPORT" "$STREAM" fill "$N"
if [ "${AUDIT_METERING:-on}" = off ] || [ "${SERIES_INDEX:-on}" = off ]; then
  JSMCP_DATABASE_URL="$DBURL" JSMCP_MASTER_KEYS="k1:$(head -c 32 /dev/urandom | base64 -w0)" \
    JSMCP_LOG_LEVEL=warn "$BIN/jsmcp-api" migrate >/dev/null
fi
if [ "${AUDIT_METERING:-on}" = off ]; then
  psql -q "$DBURL" -c "ALTER TABLE tool_calls DISABLE TRIGGER tool_calls_usage" \
    -c "ALTER TABLE tool_calls DISABLE TRIGGER tool_calls_ratelimit_burst" >/dev/null
fi
[ "${SERIES_INDEX:-on}" = off ] && psql -q "$DBURL" -c "DROP INDEX tool_calls_workspace_ts" >/dev/null
echo "metering: ${AUDIT_METERING:-on}, series index: ${SERIES_INDEX:-on}"
JSMCP_DATABASE_URL="$DBURL" JSMCP_REDIS_URL="$JSMCP_TEST_REDIS_URL" JSMCP_REDIS_PREFIX="$PREFIX" \
  JSMCP_MASTER_KEYS="k1:$(head -c 32 /dev/urandom | base64 -w0)" JSMCP_API_LISTEN="127.0.0.1:$API_PORT" \
  JSMCP_API_METRICS_LISTEN=127.0.0.1:0 \
  JSMCP_LOG_LEVEL=warn JSMCP_AUDIT_DRAIN_MS="${JSMCP_AUDIT_DRAIN_MS:-200}" PGAPPNAME=jsmcp-api "$BIN/jsmcp-api" >"$LOG" 2>&1 &
APIPID=$!
for _ in $(seq 100); do curl -fs -o /dev/null "http://127.0.0.1:$API_PORT/healthz" && break; sleep 0.05; done
# The default metrics port may be another process's: a failed start must
# say so, not leave the loops below waiting for rows that never come.
kill -0 "$APIPID" 2>/dev/null || { echo "jsmcp-api did not start:"; cat "$LOG"; exit 1; }
# All of the pool's connections (JSMCP_PG_POOL_SIZE, 8), not the first one up.
for _ in $(seq 200); do [ "$(backends | wc -l)" -ge "${JSMCP_PG_POOL_SIZE:-8}" ] && break; sleep 0.05; done
t0=$(date +%s.%N)
PIDS=$(backends)
c0=$(ticks $PIDS) a0=$(ticks "$APIPID") g0=$(pg_all)
for _ in $(seq 6000); do [ "$(rows)" -ge "$N" ] && break; sleep 0.1; done
t1=$(date +%s.%N)
c1=$(ticks $PIDS) a1=$(ticks "$APIPID") g1=$(pg_all)
got=$(rows)
secs=$(python3 -c "print(f'{$t1 - $t0:.2f}')")
echo "backlog: $got of $N records drained in $secs s ($(python3 -c "print(round($got / ($t1 - $t0)))")/s);" \
  "PostgreSQL CPU $(us_per $((c1 - c0)) "$got") us/record (API's backends; whole instance $(us_per $((g1 - g0)) "$got")), API CPU $(us_per $((a1 - a0)) "$got") us/record"

before=$(rows)
PIDS=$(backends)
c0=$(ticks $PIDS) a0=$(ticks "$APIPID") g0=$(pg_all)
"$BBIN/audit_load" "$RHOST" "$RPORT" "$STREAM" rate "$RATE" "$SECS" >"$LOG.load" &
LOADPID=$!
maxlag=0
while kill -0 "$LOADPID" 2>/dev/null; do
  lag=$(redis-cli -u "$JSMCP_TEST_REDIS_URL" XINFO GROUPS "$STREAM" 2>/dev/null | awk 'p{print; exit} /^lag$/{p=1}')
  [ -n "$lag" ] && [ "$lag" -gt "$maxlag" ] && maxlag=$lag
  sleep 0.5
done
wait "$LOADPID"
tend=$(date +%s.%N)
cat "$LOG.load"
sent=$(awk '{print $2}' "$LOG.load")
for _ in $(seq 600); do [ "$(rows)" -ge $((before + sent)) ] && break; sleep 0.1; done
tdone=$(date +%s.%N)
c1=$(ticks $PIDS) a1=$(ticks "$APIPID") g1=$(pg_all)
got=$(( $(rows) - before ))
echo "rate: $RATE records/s for $SECS s: $got drained; largest backlog seen $maxlag records;" \
  "drained $(python3 -c "print(f'{$tdone - $tend:.2f}')") s after the load ended;" \
  "PostgreSQL CPU $(us_per $((c1 - c0)) "$got") us/record (API's backends; whole instance $(us_per $((g1 - g0)) "$got")), API CPU $(us_per $((a1 - a0)) "$got") us/record"
echo "stream length after: $(redis-cli -u "$JSMCP_TEST_REDIS_URL" XLEN "$STREAM")"
grep -E '"level":"(warn|error)"' "$LOG" | head -5 || true
