#!/usr/bin/env bash
# make faults: the fault tests of issue 9 at length. Starts PostgreSQL and
# Redis like tests/run.sh, then runs tests/node/faults.test.mjs (the quick
# versions that `make test` runs too) with FAULTS_SCALE (default 5: five
# times the load duration and clients where it applies) and every
# tests/faults/*.test.mjs. FAULTS_PATTERN=<regex> picks tests by name.
# Prints each test's "faults: <name>: {sent, failed, by, lost...}" lines.
set -uo pipefail
cd "$(dirname "$0")/../.."
ROOT=$(pwd)
export JSMCP_BIN_DIR=${JSMCP_BIN_DIR:-$ROOT/build/san}
export JSMCP_TEST_ARTIFACTS=${JSMCP_TEST_ARTIFACTS:-$ROOT/tests/artifacts/faults-$(basename "$JSMCP_BIN_DIR")}
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:halt_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export FAULTS_SCALE=${FAULTS_SCALE:-5}
rm -rf "$JSMCP_TEST_ARTIFACTS"; mkdir -p "$JSMCP_TEST_ARTIFACTS"
# shellcheck source=../support/services.sh
. tests/support/services.sh
services_start || exit 1
trap services_stop EXIT
# Workers' audit spool files (worker/wk_spool.h) go with the run's temp directory.
export JSMCP_AUDIT_SPOOL_DIR=${JSMCP_AUDIT_SPOOL_DIR:-$JSMCP_TEST_TMP/spool}
args=(--test --test-concurrency=1)
[ -n "${FAULTS_PATTERN:-}" ] && args+=(--test-name-pattern="$FAULTS_PATTERN")
files=(tests/node/faults.test.mjs)
for f in tests/faults/*.test.mjs; do [ -f "$f" ] && files+=("$f"); done
rc=0
for f in "${files[@]}"; do
  log="$JSMCP_TEST_ARTIFACTS/$(basename "$f").log"
  (cd tests/node && node "${args[@]}" "$ROOT/$f") >"$log" 2>&1 || rc=1
  grep -hE '^# faults:|^(not )?ok ' "$log" | sed 's/^# //'
done
[ $rc -eq 0 ] && echo "faults: all passed" || echo "faults: FAILED (logs in $JSMCP_TEST_ARTIFACTS)"
exit $rc
