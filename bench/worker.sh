#!/usr/bin/env bash
# MCP worker figures (issue 4): tools/call get_single_jira_service_management_
# issue_by_id through the release worker against the JSM sandbox (zero
# latency, rate limiting off), and the same upstream request straight to the
# sandbox, in one run:
#   - throughput with 64 requests in flight (wrk -t2 -c64, keep-alive);
#   - latency with 1 request in flight (wrk -t1 -c1 --latency), worker minus
#     direct, in WORKER_BENCH_LAT_PAIRS (default 7) alternating rounds;
#   - RSS per idle worker process;
#   - RSS per idle legacy SSE session with WORKER_SSE_SESSIONS (default 10,000)
#     sessions held open (bench/worker_sse.c), and how long opening them took.
# Everything (2 worker processes, sandbox, API, Redis, wrk) shares this
# machine's cores. The server is created through the admin API.
# Needs the services of bench/run.sh (JSMCP_TEST_PG_URL, JSMCP_TEST_REDIS_URL).
# WORKER_BENCH_SECONDS (default 10) sets each measured run, WORKER_BENCH_WARMUP
# the warm-up before it (default 2 s; see there). PostgreSQL's CPU is the whole
# instance's, autovacuum workers that ran and exited during the run included,
# split into the API's connections and the rest. An A/B against an older build:
# JSMCP_BIN_DIR=<its build dir>, alternating runs with this one's.
# Our processes run with the allocator setting the images use
# (GLIBC_TUNABLES=glibc.malloc.tcache_count=500, see deploy/Dockerfile);
# WORKER_BENCH_TUNABLES= (empty) runs them with glibc's defaults.
# WORKER_BENCH_CALLGRIND=1 measures instead the instructions per tool call:
# one worker process under valgrind --tool=callgrind; after the warm-up call,
# the instructions of WORKER_BENCH_SECONDS of wrk -t1 -c1 minus those of as
# long idle, over the tool calls made (a count that does not drift with the
# machine's load, unlike the timings).
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib/common.sh
. bench/lib/cpu.sh
SECS=${WORKER_BENCH_SECONDS:-10}
NSSE=${WORKER_SSE_SESSIONS:-10000}
WARM=${WORKER_BENCH_WARMUP:-2}
case $WARM in
  steady|[1-9]|[1-9][0-9]|[1-9][0-9][0-9]) ;;
  *) echo "bench: WORKER_BENCH_WARMUP is 'steady' or whole seconds (1-999), not '$WARM'" >&2; exit 2;;
esac

rss_children() { # KiB summed over the children of pid $1
  local t=0 c
  for c in $(cat "/proc/$1/task/$1/children"); do t=$((t + $(awk '/VmRSS/{print $2}' "/proc/$c/status"))); done
  echo "$t"
}

DB=bench_wk_$$
psql -q "$JSMCP_TEST_PG_URL" -c "CREATE DATABASE $DB" >/dev/null
API_PORT=$(free_port) WK_PORT=$(free_port) SB_PORT=$(free_port) WKM_PORT=$(free_port)
API="http://127.0.0.1:$API_PORT" WK="http://127.0.0.1:$WK_PORT" SB="http://127.0.0.1:$SB_PORT"
WKM="http://127.0.0.1:$WKM_PORT" # the worker's /metrics listener (not the public port)
BOOT="jsb_$(rand_b64 24 | tr '+/=' 'xyz')"
LOGDIR=$(mktemp -d /tmp/jsmcp-bench-worker.XXXXXX)
export JSMCP_DATABASE_URL="${JSMCP_TEST_PG_URL%/*}/$DB" JSMCP_REDIS_URL="$JSMCP_TEST_REDIS_URL"
export JSMCP_REDIS_PREFIX="benchwk$$:" JSMCP_MASTER_KEYS="k1:$(rand_b64 32)" JSMCP_BOOTSTRAP_KEY="$BOOT"
export JSMCP_API_LISTEN="127.0.0.1:$API_PORT" JSMCP_PUBLIC_WORKER_URL="$WK" JSMCP_WORKER_LISTEN="127.0.0.1:$WK_PORT"
export JSMCP_WORKER_METRICS_LISTEN="127.0.0.1:$WKM_PORT" JSMCP_API_METRICS_LISTEN=127.0.0.1:0
export JSMCP_SITE_ALLOWLIST="127.0.0.1:$SB_PORT" JSM_SANDBOX_LISTEN="127.0.0.1:$SB_PORT" JSM_SANDBOX_RATE_LIMIT=0
# The per-URL limits of issue 20 (20 open streams, 100 sessions, 2 initialize/s
# burst 100) guard a tenant's share; this benchmark opens its 10,000 SSE
# sessions on one URL to measure memory per session, so it turns them off.
export JSMCP_STREAMS_PER_TOKEN=0 JSMCP_SESSIONS_PER_TOKEN=0 JSMCP_INIT_RATE_PER_TOKEN=off
export JSMCP_WORKERS=${JSMCP_WORKERS:-2} JSMCP_LOG_LEVEL=warn
TUNABLES=${WORKER_BENCH_TUNABLES-glibc.malloc.tcache_count=500}
CG=${WORKER_BENCH_CALLGRIND:-}
WRAP=()
if [ -n "$CG" ]; then
  export JSMCP_WORKERS=1
  WRAP=(valgrind --tool=callgrind --trace-children=yes -q "--callgrind-out-file=__LOGDIR__/cg.%p")
fi
echo "GLIBC_TUNABLES for jsmcp processes: '${TUNABLES}'"

PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  psql -q "$JSMCP_TEST_PG_URL" -c "DROP DATABASE IF EXISTS $DB" >/dev/null 2>&1 || true
}
trap cleanup EXIT
GLIBC_TUNABLES=$TUNABLES "$BIN/jsm-sandbox" >"$LOGDIR/sandbox.log" 2>&1 & SBPID=$!; PIDS+=("$SBPID")
GLIBC_TUNABLES=$TUNABLES "$BIN/jsmcp-api" >"$LOGDIR/api.log" 2>&1 & APIPID=$!; PIDS+=("$APIPID")
WRAP=("${WRAP[@]/__LOGDIR__/$LOGDIR}")
GLIBC_TUNABLES=$TUNABLES "${WRAP[@]}" "$BIN/jsmcp-worker" >"$LOGDIR/worker.log" 2>&1 & WPID=$!; PIDS+=("$WPID")
wait_up "$SB"; wait_up "$API"
if [ -n "$CG" ]; then for _ in 1 2 3 4 5 6; do wait_up "$WK" 2>/dev/null && break; done; fi
wait_up "$WK"
# WORKER_BENCH_SQL='<statements>': a scratch schema change for an A/B (drop
# an index or a trigger), run on the bench database once the API migrated it.
if [ -n "${WORKER_BENCH_SQL:-}" ]; then psql -q "$JSMCP_DATABASE_URL" -v ON_ERROR_STOP=1 -c "$WORKER_BENCH_SQL" >/dev/null; fi
sleep 0.5
echo "idle worker RSS: $(( $(rss_children "$WPID") / JSMCP_WORKERS )) KiB per worker process ($JSMCP_WORKERS processes)"

j() { python3 -c 'import json,sys;print(json.load(sys.stdin)'"$1"')'; }
WS=$(curl -fs -X POST "$API/workspaces" -H "Authorization: Bearer $BOOT" -H 'Content-Type: application/json' -d '{"name":"bench"}' | j "['id']")
KEY=$(curl -fs -X POST "$API/workspaces/$WS/api-keys" -H "Authorization: Bearer $BOOT" -H 'Content-Type: application/json' -d '{"name":"bench"}' | j "['key']")
ACCT=$(curl -fs -X POST "$API/integrated-account" -H "Authorization: Bearer $KEY" -H 'Content-Type: application/json' \
  -d "{\"tenant_id\":\"bench\",\"site_url\":\"$SB\",\"auth\":{\"type\":\"api_token\",\"email\":\"agent@sandbox.test\",\"api_token\":\"sandbox-api-token\"}}" | j "['id']")
MCP=$(curl -fs -X POST "$API/integrated-account/$ACCT/mcp" -H "Authorization: Bearer $KEY" -H 'Content-Type: application/json' \
  -d '{"name":"bench","config":{"methods":["read"]}}' | j "['url']")
SID=$(curl -fs -D - -o /dev/null -X POST "$MCP" -H 'Content-Type: application/json' -H 'Accept: application/json, text/event-stream' \
  -d '{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"bench","version":"1"}}}' \
  | awk -F': ' 'tolower($1)=="mcp-session-id"{print $2}' | tr -d '\r')
ISSUE=${WORKER_BENCH_ISSUE:-ITSM-994}
# The upstream request the tool makes (its catalog row asks for these fields).
FIELDS=summary,status,issuetype,priority,project,assignee,reporter,created,updated,resolution,resolutiondate,duedate,labels,description
DIRECT="$SB/rest/api/3/issue/$ISSUE?fields=$FIELDS"
export WRK_SESSION="$SID"
export WRK_BODY="{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"tools/call\",\"params\":{\"name\":\"get_single_jira_service_management_issue_by_id\",\"arguments\":{\"id\":\"$ISSUE\"}}}"
export WRK_AUTH="Basic $(printf 'agent@sandbox.test:sandbox-api-token' | base64 -w0)"
one=$(curl -fs -X POST "$MCP" -H 'Content-Type: application/json' -H 'Accept: application/json, text/event-stream' -H "Mcp-Session-Id: $SID" -d "$WRK_BODY")
case $one in *'"isError"'*|*'"error"'*) echo "bench: the tool call fails: $one" >&2; exit 1;; esac
echo "tool result: $(printf %s "$one" | wc -c) bytes; upstream issue JSON: $(curl -fs -H "Authorization: $WRK_AUTH" "$DIRECT" | wc -c) bytes with the tool's fields, $(curl -fs -H "Authorization: $WRK_AUTH" "$SB/rest/api/3/issue/$ISSUE" | wc -c) bytes with all fields"

# Builds before the worker's own metrics listener served /metrics on the
# public port: an A/B against one (JSMCP_BIN_DIR=<its build>) reads it there.
# Neither answering is an error: every figure below divides by the calls.
MET=$WKM
if ! curl -fs -o /dev/null "$WKM/metrics"; then
  curl -fs -o /dev/null "$WK/metrics" || { echo "bench: the worker's /metrics answers on neither $WKM nor $WK" >&2; exit 1; }
  MET=$WK
fi
calls() { curl -fs "$MET/metrics" | awk '/^jsmcp_worker_tool_calls_total/{s+=$NF} END{print s+0}'; }
ok_calls() { curl -fs "$MET/metrics" | awk '/^jsmcp_worker_tool_calls_total.*upstream_status="200"/{s+=$NF} END{print s+0}'; }
summ() { grep -E "Requests/sec|Latency  | 50%| 99%|Non-2xx|Socket errors" | sed 's/^/    /'; }
if [ -n "$CG" ]; then
  # Two stretches of SECS each: idle, then wrk -t1 -c1; the counters are
  # zeroed before and dumped after each. The idle stretch's instructions
  # (timers, metrics publishing) are taken off the loaded one's, so the
  # figure does not depend on how many calls the machine's load let through.
  WCHILD=$(cat "/proc/$WPID/task/$WPID/children" | awk '{print $1}')
  cg_dump() { # the instructions since the last zeroing, from the dump numbered $1
    callgrind_control -d "$WCHILD" >/dev/null
    for _ in $(seq 100); do [ -s "$LOGDIR/cg.$WCHILD.$1" ] && break; sleep 0.2; done
    awk '/^(summary|totals):/{print $2; exit}' "$LOGDIR/cg.$WCHILD.$1"
  }
  sleep 1.5; callgrind_control -z "$WCHILD" >/dev/null
  sleep "$SECS"; idle=$(cg_dump 1)
  c0=$(calls); callgrind_control -z "$WCHILD" >/dev/null
  wrk -t1 -c1 -d"${SECS}s" -s bench/worker_call.lua "$MCP" | summ
  ir=$(cg_dump 2); n=$(( $(calls) - c0 )) # the metrics scrapes outside the counted stretches
  echo "callgrind: $n tool calls (one in flight) in ${SECS}s: $ir instructions in the worker process, $idle in" \
       "${SECS}s idle: $(( (ir - idle) / (n > 0 ? n : 1) )) per call"
  exit 0
fi

# A child that exits between the listing and the read counts 0.
cpu_kids() {
  local t=0 c v
  for c in $(cat "/proc/$1/task/$1/children"); do v=$(awk '{print $14+$15}' "/proc/$c/stat" 2>/dev/null || true); t=$((t + ${v:-0})); done
  echo "$t"
}
cpu_one() { awk '{print $14+$15}' "/proc/$1/stat"; }
# CPU ticks of the other processes on the machine's cores: the API (which
# drains the audit stream into PostgreSQL), PostgreSQL, Redis.
cpu_redis() { cpu_one "$(cat "$JSMCP_TEST_TMP/redis.pid")"; }
# PostgreSQL, whole (pg_all) and its minor page faults (pg_minflt): bench/lib/cpu.sh.
# A backend faults the first time it touches each 4 KiB page of shared_buffers
# (and the first process to touch one also has the kernel clear it), so a
# freshly started PostgreSQL or a fresh connection pays CPU there that a
# long-running one does not.
# The API's connections alone (client backends other than psql; one bench
# runs at a time): the drain's and the API's queries, without autovacuum,
# the WAL writer, the checkpointer and the rest of the instance.
cpu_pg_api() {
  local t=0 p
  for p in $(psql -tAq "$JSMCP_TEST_PG_URL" -c "SELECT pid FROM pg_stat_activity WHERE backend_type = 'client backend'
               AND application_name <> 'psql'"); do
    [ -r "/proc/$p/stat" ] && t=$((t + $(cpu_one "$p")))
  done
  echo "$t"
}
TCK=$(getconf CLK_TCK)
# One decimal: PostgreSQL's share is a few us a call (issue 21's goal: <= 8).
per_call() { awk -v t="$1" -v n="$2" -v hz="$TCK" 'BEGIN {printf "%.1f", t * 1000000 / hz / (n > 0 ? n : 1)}'; }
# Warm-up: WORKER_BENCH_WARMUP seconds (default 2) of the same load. The
# PostgreSQL of bench/run.sh was just started and the API's connections are
# new: the first process to write a buffer has the kernel allocate and clear
# its memory, and each backend faults the first time it touches each 4 KiB
# of shared_buffers (no huge pages here), ~0.1 minor faults a call, printed
# with the figures. WORKER_BENCH_WARMUP=steady loads the worker in 5 s steps
# until a step costs PostgreSQL at most 0.02 faults a call, at most 240 s:
# by then shared_buffers is full and every new page evicts an old one, the
# state of a server that has run a while (it measured no cheaper here:
# BENCHMARKS.md, "PostgreSQL's share of a tool call, counted whole").
wc0=$(calls) wt0=$(date +%s)
if [ "$WARM" = steady ]; then
  while :; do
    sf0=$(pg_minflt) sc0=$(calls)
    wrk -t2 -c64 -d5s -s bench/worker_call.lua "$MCP" >/dev/null
    sleep 1.1 # the other worker processes' /metrics
    sf=$(( $(pg_minflt) - sf0 )) sc=$(( $(calls) - sc0 ))
    [ $((sf * 50)) -le "$sc" ] && break
    [ $(( $(date +%s) - wt0 )) -ge 240 ] && { echo "warm-up: still $sf page faults in $sc calls after 240 s"; break; }
  done
else
  wrk -t2 -c64 -d"${WARM}s" -s bench/worker_call.lua "$MCP" >/dev/null
fi
echo "warm-up ($WARM): $(( $(date +%s) - wt0 )) s, $(( $(calls) - wc0 )) tool calls"
sleep 1.5  # /metrics of the other worker processes is refreshed once a second
echo "tools/call through the worker, 64 in flight (wrk -t2 -c64 -d${SECS}s):"
c0=$(calls); o0=$(ok_calls); w0=$(cpu_kids "$WPID"); s0=$(cpu_one "$SBPID"); a0=$(cpu_one "$APIPID"); p0=$(pg_all); r0=$(cpu_redis)
q0=$(cpu_pg_api) f0=$(pg_minflt)
wrk -t2 -c64 -d"${SECS}s" -s bench/worker_call.lua "$MCP" | summ
w1=$(cpu_kids "$WPID"); s1=$(cpu_one "$SBPID"); a1=$(cpu_one "$APIPID"); p1=$(pg_all); r1=$(cpu_redis)
q1=$(cpu_pg_api) f1=$(pg_minflt); sleep 1.5
n=$(( $(calls) - c0 ))
echo "    tool calls counted by the worker: $n, with upstream 200: $(( $(ok_calls) - o0 ))"
echo "    CPU per call: worker processes $(per_call $((w1 - w0)) "$n") us, sandbox $(per_call $((s1 - s0)) "$n") us," \
     "API $(per_call $((a1 - a0)) "$n") us, PostgreSQL $(per_call $((p1 - p0)) "$n") us, Redis $(per_call $((r1 - r0)) "$n") us"
echo "    PostgreSQL's share: the API's connections $(per_call $((q1 - q0)) "$n") us, the rest of the instance" \
     "(autovacuum, WAL writer, checkpointer, ...) $(per_call $((p1 - p0 - (q1 - q0))) "$n") us;" \
     "minor page faults $(awk -v f=$((f1 - f0)) -v n="$n" 'BEGIN {printf "%.2f", f / (n > 0 ? n : 1)}') per call"
# The audit records of that run are in PostgreSQL before the next one starts.
for _ in $(seq 300); do
  [ "$(redis-cli -u "$JSMCP_REDIS_URL" XLEN "${JSMCP_REDIS_PREFIX}audit")" = 0 ] && break; sleep 0.1
done
echo "the same request straight to the sandbox, 64 in flight:"
wrk -t2 -c64 -d"${SECS}s" -s bench/worker_direct.lua "$DIRECT" | summ
# One in flight: LAT_PAIRS rounds of (through the worker, straight to the
# sandbox), each 3/10 of SECS, back to back; the machine's noise drifts
# over minutes (one round in three or four lands in a noisy stretch, 20-40 us
# off), so the added latency is taken per round and the median reported.
LAT_PAIRS=${WORKER_BENCH_LAT_PAIRS:-7}
LSECS=$(( SECS * 3 / 10 > 2 ? SECS * 3 / 10 : 2 ))
us() { awk -v p="$1" '$1 == p { v = $2; if (v ~ /us$/) v += 0; else if (v ~ /ms$/) v *= 1000; else v *= 1000000; print int(v + 0.5) }'; }
median() { sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
echo "one in flight (wrk -t1 -c1 --latency, ${LSECS}s each), through the worker vs straight to the sandbox:"
: >"$LOGDIR/lat"
for i in $(seq "$LAT_PAIRS"); do
  wrk -t1 -c1 -d"${LSECS}s" --latency -s bench/worker_call.lua "$MCP" >"$LOGDIR/w.out"
  wrk -t1 -c1 -d"${LSECS}s" --latency -s bench/worker_direct.lua "$DIRECT" >"$LOGDIR/d.out"
  w50=$(us 50% <"$LOGDIR/w.out"); w99=$(us 99% <"$LOGDIR/w.out"); d50=$(us 50% <"$LOGDIR/d.out"); d99=$(us 99% <"$LOGDIR/d.out")
  echo "    round $i: worker p50 $w50 us p99 $w99 us ($(awk '/Requests\/sec/{print $2}' "$LOGDIR/w.out") calls/s);" \
       "direct p50 $d50 us p99 $d99 us; added p50 $((w50 - d50)) us, p99 $((w99 - d99)) us"
  echo "$((w50 - d50)) $((w99 - d99))" >>"$LOGDIR/lat"
done
echo "    median added latency over $LAT_PAIRS rounds: p50 $(cut -d' ' -f1 "$LOGDIR/lat" | median) us," \
     "p99 $(cut -d' ' -f2 "$LOGDIR/lat" | median) us"

before=$(rss_children "$WPID")
TOKEN=${MCP##*/mcp/}
coproc SSE { "$BBIN/worker_sse" 127.0.0.1 "$WK_PORT" "/mcp/$TOKEN/sse" "$NSSE"; }
read -r -t 120 word n secs <&"${SSE[0]}" || { echo "bench: SSE sessions did not open" >&2; exit 1; }
sleep 1
after=$(rss_children "$WPID")
echo "legacy SSE sessions held: $n of $NSSE (opened in ${secs}s); worker RSS $before -> $after KiB:" \
     "$(( (after - before) * 1024 / (n > 0 ? n : 1) )) bytes per idle session"
exec {SSE[1]}>&-
wait "$SSE_PID" 2>/dev/null || true
