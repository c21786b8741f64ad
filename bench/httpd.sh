#!/usr/bin/env bash
# The bare HTTP layer (common/httpd) on one core: the ceiling every jsmcp
# server inherits. wrk on the other core, 64 keep-alive connections.
set -euo pipefail
PORT=$(python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])' 2>/dev/null || echo 18199)
taskset -c 0 "$JSMCP_BENCH_BIN_DIR/httpd_hello" "$PORT" & PID=$!
trap 'kill $PID 2>/dev/null' EXIT
for _ in $(seq 50); do curl -fs -o /dev/null "http://127.0.0.1:$PORT/" && break; sleep 0.1; done
taskset -c 1 wrk -t1 -c64 -d10s "http://127.0.0.1:$PORT/" | grep -E "Requests/sec|Latency"
