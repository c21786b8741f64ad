#!/usr/bin/env bash
# make test's runner: starts PostgreSQL and Redis (tests/support/services.sh),
# then runs every unit binary, every integration binary (both Criterion) and
# the Node tests, on the sanitizer build. TEST_FILTER=<substring> runs a subset.
# Prints one closing line "N passed, N failed" over all suites.
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
export JSMCP_BIN_DIR=${JSMCP_BIN_DIR:-$ROOT/build/san}
# One artifacts dir per build dir, so parallel runs do not clear each other's.
export JSMCP_TEST_ARTIFACTS=${JSMCP_TEST_ARTIFACTS:-$ROOT/tests/artifacts/$(basename "$JSMCP_BIN_DIR")}
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:halt_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
rm -rf "$JSMCP_TEST_ARTIFACTS"
mkdir -p "$JSMCP_TEST_ARTIFACTS"
# shellcheck source=support/services.sh
. tests/support/services.sh
services_start || { echo 'tests: 0 passed, 1 failed'; exit 1; }
trap services_stop EXIT
# shellcheck source=support/leftovers.sh
. tests/support/leftovers.sh
leftovers_mark
# Workers' audit spool files (worker/wk_spool.h) go with the run's temp directory.
export JSMCP_AUDIT_SPOOL_DIR=${JSMCP_AUDIT_SPOOL_DIR:-$JSMCP_TEST_TMP/spool}

passed=0 failed=0 failed_names=()
run_one() { # name cmd...
  local name=$1; shift
  [ -n "${TEST_FILTER:-}" ] && [[ $name != *"$TEST_FILTER"* ]] && return 0
  local log="$JSMCP_TEST_ARTIFACTS/$(echo "$name" | tr '/' '_').log" t0=$SECONDS
  # Criterion runs each test in a child whose sanitizer report comes after
  # the test counted as passed: a report anywhere in the log fails the suite.
  if "$@" >"$log" 2>&1 && ! grep -qE "ERROR: (LeakSanitizer|AddressSanitizer)|runtime error:" "$log"; then
    passed=$((passed + 1)); echo "PASS $name ($((SECONDS - t0))s)"
  else
    failed=$((failed + 1)); failed_names+=("$name"); echo "FAIL $name ($((SECONDS - t0))s), log: $log"
    tail -40 "$log" | sed 's/^/    /'
  fi
  grep -h "Synthesis" "$log" | sed 's/^/    /' || true
}

for t in "$JSMCP_BIN_DIR"/tests/unit/*/test_* "$JSMCP_BIN_DIR"/tests/integration/test_*; do
  [ -x "$t" ] && [[ $t != *.d ]] || continue
  run_one "${t#"$JSMCP_BIN_DIR"/tests/}" "$t" --jobs 1
done
if [ -f tests/node/package.json ]; then
  for t in tests/node/*.test.mjs; do
    [ -f "$t" ] || continue
    run_one "node/$(basename "$t")" node --test --test-concurrency=1 "$t"
  done
fi
# The binaries the tests spawned log into artifacts too: any sanitizer
# report there (a leak at exit, a UBSan finding) fails the run.
reports=$(grep -lE "ERROR: (LeakSanitizer|AddressSanitizer)|runtime error:" "$JSMCP_TEST_ARTIFACTS"/*.log 2>/dev/null || true)
if [ -n "$reports" ]; then
  failed=$((failed + 1)); failed_names+=("sanitizer-reports")
  echo "FAIL sanitizer reports in process logs:"; echo "$reports" | sed 's/^/    /'
fi
# A test that failed or forgot to stop what it started leaves it running
# (tests/support/leftovers.sh): that fails the run, and the processes go.
if ! leftovers_check; then
  failed=$((failed + 1)); failed_names+=("leftover-processes")
  echo "FAIL processes started by the tests were still running (killed; listed above)"
fi
echo
[ ${#failed_names[@]} -gt 0 ] && echo "failed: ${failed_names[*]}"
echo "tests: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
