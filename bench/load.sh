#!/usr/bin/env bash
# make load: 64 MCP clients for 60 s through two worker pools with slowloris
# clients alongside (bench/load.mjs), on the release binaries. Starts its own
# PostgreSQL and Redis (tests/support/services.sh). Zero errors and zero lost
# audit records or the exit status is 1. LOAD_CLIENTS, LOAD_SECONDS, LOAD_SLOW,
# LOAD_SLOW_BODY, LOAD_UPSTREAM_MS tune it.
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
export JSMCP_BIN_DIR=${JSMCP_BIN_DIR:-$ROOT/build}
export JSMCP_TEST_ARTIFACTS=${JSMCP_TEST_ARTIFACTS:-$(mktemp -d /tmp/jsmcp-load.XXXXXX)}
# shellcheck source=../tests/support/services.sh
. tests/support/services.sh
services_start || exit 1
trap services_stop EXIT
echo "load: binaries from $JSMCP_BIN_DIR, logs in $JSMCP_TEST_ARTIFACTS"
(cd tests/node && node "$ROOT/bench/load.mjs")
