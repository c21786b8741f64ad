#!/usr/bin/env bash
# make test's runner: starts PostgreSQL and Redis (tests/support/services.sh),
# then runs every suite on the sanitizer build: each unit and integration
# binary (Criterion), each Node test file, and each fuzz target's saved corpus
# replayed once (fuzz/replay.c). TEST_FILTER=<substring> runs the suites whose
# name contains it.
#
# A suite passes when it exits 0, no sanitizer report is in its log, it ran
# at least one test, and it skipped nothing. The suites expected are derived
# from the sources (tests/unit/*/test_*.c, tests/integration/test_*.c,
# tests/node/*.test.mjs, fuzz/fuzz_*.c): one whose binary is missing (it did
# not build) fails. A skipped test (Criterion cr_skip_test or .disabled, Node
# t.skip or {skip}/{todo}) or a missing suite is a failure unless
# tests/allowed-skips.txt lists it with a reason. The closing line is
# "tests: N passed, N failed, N skipped (allowed)".
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
export JSMCP_BIN_DIR=${JSMCP_BIN_DIR:-$ROOT/build/san}
# One artifacts dir per build dir, so parallel runs do not clear each other's.
export JSMCP_TEST_ARTIFACTS=${JSMCP_TEST_ARTIFACTS:-$ROOT/tests/artifacts/$(basename "$JSMCP_BIN_DIR")}
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:halt_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
ALLOWED=tests/allowed-skips.txt
SANITIZER_RE="ERROR: (LeakSanitizer|AddressSanitizer)|runtime error:"
rm -rf "$JSMCP_TEST_ARTIFACTS"
mkdir -p "$JSMCP_TEST_ARTIFACTS"

passed=0 failed=0 skipped=0 failed_names=() skipped_names=()

# The reason tests/allowed-skips.txt gives for a skip of test in suite (test
# "(missing)": the whole suite missing), or nothing. Lines: suite | test | reason,
# test "*" = any test of the suite; # starts a comment.
allowed_reason() { # suite test
  [ -f "$ALLOWED" ] || return 0
  awk -F' *[|] *' -v s="$1" -v t="$2" '
    /^[[:space:]]*(#|$)/ { next }
    { sub(/^[[:space:]]+/, "", $1); sub(/[[:space:]]+$/, "", $3) }
    $1 == s && ($2 == t || ($2 == "*" && t != "(missing)")) && $3 != "" { print $3; exit }' "$ALLOWED"
}

fail() { # name why
  failed=$((failed + 1)); failed_names+=("$1"); echo "FAIL $1: $2"
}

# Skips of a finished suite, one "test<TAB>why" per line (Criterion's TAP
# file, or node --test's TAP output in the log).
skips_of() { # kind log tap
  if [ "$1" = criterion ]; then
    sed -nE 's/^ok - (.*[^ ]) +# SKIP ?(.*)$/\1\t\2/p' "$3" 2>/dev/null
  else
    sed -nE 's/^ *ok [0-9]+ - (.*[^ ]) +# (SKIP|TODO) ?(.*)$/\1\t\2 \3/p' "$2"
  fi
}

# Counts the tests a finished suite ran; 0 means it ran nothing.
tests_run() { # kind log
  case $1 in
    criterion) sed -nE 's/.*Synthesis: Tested: ([0-9]+).*/\1/p' "$2" | tail -1 ;;
    node) sed -nE 's/^# tests ([0-9]+)$/\1/p' "$2" | tail -1 ;;
    fuzz) sed -nE 's/^replayed ([0-9]+) inputs$/\1/p' "$2" | tail -1 ;;
  esac
}

run_one() { # kind name cmd...
  local kind=$1 name=$2; shift 2
  local log="$JSMCP_TEST_ARTIFACTS/$(echo "$name" | tr '/' '_').log" t0=$SECONDS
  local tap="$log.tap" why="" rc=0
  if [ "$kind" = criterion ]; then set -- "$@" --tap="$tap"; fi
  # A suite that hangs (a test that never ends, a handle a failed test left
  # open) fails after SUITE_TIMEOUT seconds instead of stopping the run.
  timeout -k 30 "${SUITE_TIMEOUT:-900}" "$@" >"$log" 2>&1 || rc=$?
  local ran
  ran=$(tests_run "$kind" "$log")
  # Criterion runs each test in a child whose sanitizer report comes after
  # the test counted as passed: a report anywhere in the log fails the suite.
  if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then why="timed out after ${SUITE_TIMEOUT:-900} s"
  elif [ "$rc" -ne 0 ]; then why="exit status $rc"
  elif grep -qE "$SANITIZER_RE" "$log"; then why="sanitizer report"
  elif [ "${ran:-0}" -eq 0 ]; then why="no test ran"
  fi
  local skip_bad=0 line test reason
  while IFS=$'\t' read -r test reason; do
    [ -n "$test" ] || continue
    local ok
    ok=$(allowed_reason "$name" "$test")
    if [ -n "$ok" ]; then
      skipped=$((skipped + 1)); skipped_names+=("$name: $test ($ok)")
    else
      skip_bad=$((skip_bad + 1)); echo "    skipped: $test: $reason"
    fi
  done < <(skips_of "$kind" "$log" "$tap")
  [ -z "$why" ] && [ "$skip_bad" -gt 0 ] && why="$skip_bad skipped test(s) not in $ALLOWED"
  if [ -z "$why" ]; then
    passed=$((passed + 1)); echo "PASS $name ($((SECONDS - t0))s)"
  else
    fail "$name" "$why ($((SECONDS - t0))s), log: $log"
    tail -40 "$log" | sed 's/^/    /'
  fi
  grep -h "Synthesis" "$log" | sed 's/^/    /' || true
}

# A suite that was expected but has no binary: a failure unless allowed.
missing() { # name what
  local ok
  ok=$(allowed_reason "$1" "(missing)")
  if [ -n "$ok" ]; then
    skipped=$((skipped + 1)); skipped_names+=("$1: missing ($ok)"); echo "SKIP $1: missing ($ok)"
  else
    fail "$1" "$2"
  fi
}

selected() { [ -z "${TEST_FILTER:-}" ] || [[ $1 == *"$TEST_FILTER"* ]]; }

# shellcheck source=support/services.sh
. tests/support/services.sh
services_start || { echo 'tests: 0 passed, 1 failed, 0 skipped (allowed)'; exit 1; }
trap services_stop EXIT
# shellcheck source=support/leftovers.sh
. tests/support/leftovers.sh
leftovers_mark
# Workers' audit spool files (worker/wk_spool.h) go with the run's temp directory.
export JSMCP_AUDIT_SPOOL_DIR=${JSMCP_AUDIT_SPOOL_DIR:-$JSMCP_TEST_TMP/spool}

for src in tests/unit/*/test_*.c tests/integration/test_*.c; do
  [ -f "$src" ] || continue
  name=${src#tests/}; name=${name%.c}
  selected "$name" || continue
  bin="$JSMCP_BIN_DIR/tests/$name"
  if [ -x "$bin" ]; then run_one criterion "$name" "$bin" --jobs 1
  else missing "$name" "no binary $bin (did it build?)"; fi
done
for src in tests/node/*.test.mjs; do
  [ -f "$src" ] || continue
  name="node/$(basename "$src")"
  selected "$name" || continue
  if [ -d tests/node/node_modules ]; then
    # --test-force-exit: a handle a failed test left open must not keep the file running.
    run_one node "$name" node --test --test-concurrency=1 --test-reporter=tap --test-force-exit --test-timeout=600000 "$src"
  else
    missing "$name" "tests/node/node_modules is missing (scripts/install-deps.sh)"
  fi
done
for src in fuzz/fuzz_*.c; do
  [ -f "$src" ] || continue
  t=$(basename "$src" .c); t=${t#fuzz_}; name="fuzz/$t"
  selected "$name" || continue
  bin="$JSMCP_BIN_DIR/fuzz/replay_$t"
  if [ ! -x "$bin" ]; then missing "$name" "no binary $bin (did it build?)"
  elif [ ! -d "fuzz/corpus/$t" ]; then missing "$name" "no saved corpus fuzz/corpus/$t"
  else run_one fuzz "$name" "$bin" "fuzz/corpus/$t"; fi
done
# The binaries the tests spawned log into artifacts too: any sanitizer
# report there (a leak at exit, a UBSan finding) fails the run.
reports=$(grep -lE "$SANITIZER_RE" "$JSMCP_TEST_ARTIFACTS"/*.log 2>/dev/null || true)
if [ -n "$reports" ]; then
  fail sanitizer-reports "sanitizer reports in process logs:"; echo "$reports" | sed 's/^/    /'
fi
# A test that failed or forgot to stop what it started leaves it running
# (tests/support/leftovers.sh): that fails the run, and the processes go.
leftovers_check || fail leftover-processes "processes started by the tests were still running (killed; listed above)"
echo
[ ${#skipped_names[@]} -gt 0 ] && printf 'skipped (allowed): %s\n' "${skipped_names[@]}"
[ ${#failed_names[@]} -gt 0 ] && echo "failed: ${failed_names[*]}"
echo "tests: $passed passed, $failed failed, $skipped skipped (allowed)"
[ "$failed" -eq 0 ] && [ $((passed + skipped)) -gt 0 ]
