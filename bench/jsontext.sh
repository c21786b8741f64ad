#!/usr/bin/env bash
# common/jsontext's JSON parser and serializer against jansson's (bench/jsontext_speed.c),
# on one core: the upstream Jira issue, a search response of 8 issues and a
# JSON-RPC request; microseconds per operation and the speed-up.
set -euo pipefail
cd "$(dirname "$0")/.."
taskset -c 0 "$JSMCP_BENCH_BIN_DIR/jsontext_speed" bench/data/issue-itsm-994.json
