#!/usr/bin/env bash
# The JSM sandbox must never be the bottleneck of a benchmark: simple
# keep-alive GETs with Basic auth, the sandbox pinned to core 0, wrk on core
# 1 (1 thread, 64 connections, BENCH_SECONDS each, default 10). Goal:
# >= 20,000 requests/s for the small GETs. Rate limiting stays on at its
# default scale (it is part of every request's cost); faults are off.
# Besides wrk's requests/s (which a busy machine drags down) it prints the
# sandbox's own CPU time per request from /proc/<pid>/stat and the
# requests/s one core could serve at that cost: the figure that does not
# depend on what else runs on the machine.
set -euo pipefail
BIN=${JSMCP_BIN_DIR:-build}/jsm-sandbox
DUR=${BENCH_SECONDS:-10}
LOG=$(mktemp)
taskset -c 0 "$BIN" --listen 127.0.0.1:0 2>"$LOG" & PID=$!
trap 'kill $PID 2>/dev/null; wait $PID 2>/dev/null; rm -f "$LOG"' EXIT
PORT=
for _ in $(seq 100); do
  PORT=$(grep -o '"port":"[0-9]*"' "$LOG" | grep -o '[0-9]*' || true)
  [ -n "$PORT" ] && break
  sleep 0.1
done
[ -n "$PORT" ] || { echo "sandbox did not start"; cat "$LOG"; exit 1; }
AUTH="Authorization: Basic $(printf '%s' 'agent@sandbox.test:sandbox-api-token' | base64)"
TCK=$(getconf CLK_TCK)
cpu_ticks() { awk '{print $14 + $15}' "/proc/$PID/stat"; }
printf '%-44s %12s %12s %14s %16s\n' endpoint "req/s (wrk)" "avg latency" "CPU us/req" "req/s per core"
run() { # label path
  curl -fs -o /dev/null -H "$AUTH" "http://127.0.0.1:$PORT$2" || { echo "$1: request failed"; return 1; }
  local t0 out t1
  t0=$(cpu_ticks)
  out=$(taskset -c 1 wrk -t1 -c64 -d"${DUR}s" -H "$AUTH" "http://127.0.0.1:$PORT$2")
  t1=$(cpu_ticks)
  echo "$out" | awk -v label="$1" -v dt=$((t1 - t0)) -v tck="$TCK" '
    /requests in/ {n=$1} /Requests\/sec/ {r=$2} /Latency/ {l=$2}
    END {us = n ? dt / tck * 1e6 / n : 0; printf "%-44s %12s %12s %14.1f %16.0f\n", label, r, l, us, us ? 1e6 / us : 0}'
}
run "GET /healthz (HTTP layer)" "/healthz"
run "GET servicedesk/2 (JSM, Basic auth)" "/rest/servicedeskapi/servicedesk/2"
run "GET issue ITSM-994 fields=summary,status" "/rest/api/3/issue/ITSM-994?fields=summary,status"
run "GET user (article lookup)" "/rest/api/3/user?accountId=5b10ac8d82e05b22cc7d4ef5"
run "GET queue 13 issues (limit 50)" "/rest/servicedeskapi/servicedesk/2/queue/13/issue"
run "GET issue ITSM-994 (all fields)" "/rest/api/3/issue/ITSM-994"
run "GET search/jql project=ITSM, 50 x summary" "/rest/api/3/search/jql?jql=project%3DITSM&maxResults=50&fields=summary"
