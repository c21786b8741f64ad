#!/usr/bin/env bash
# make bench: every benchmark in one run, on release binaries (build/),
# against PostgreSQL and Redis started in a temp dir like the tests. Each
# bench/<name>.sh prints its figures; all output is also saved under
# bench/results/ (committed: BENCHMARKS.md cites these files). Figures are
# recorded by hand in BENCHMARKS.md. Exits 1 when any benchmark failed.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
mkdir -p bench/results
OUT="bench/results/$(date -u +%Y%m%dT%H%M%SZ).txt"
export JSMCP_BIN_DIR="$ROOT/build"
export JSMCP_BENCH_BIN_DIR="$ROOT/build/bench"
# shellcheck source=../tests/support/services.sh
. tests/support/services.sh
services_start
trap services_stop EXIT
status=0
{
  echo "# jsmcp benchmarks $(date -u +%FT%TZ) on $(nproc) cores, $(uname -r), commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet HEAD 2>/dev/null || echo ' (with local changes)')"
  echo "# load average at the start: $(cut -d' ' -f1-3 /proc/loadavg)"
  failed=""
  for b in bench/*.sh; do
    name=$(basename "$b" .sh)
    [ "$name" = run ] && continue
    [ -n "${BENCH_FILTER:-}" ] && [[ $b != *"$BENCH_FILTER"* ]] && continue
    echo; echo "## $name"
    # The status first: $? is gone once anything else ran (even an expansion).
    rc=0
    bash "$b" || rc=$?
    if [ "$rc" -ne 0 ]; then
      echo "bench $name FAILED rc=$rc"
      failed="$failed $name"
    fi
  done
  echo
  if [ -n "$failed" ]; then
    echo "benchmarks FAILED:$failed"
    exit 1
  fi
  echo "benchmarks: all passed"
} 2>&1 | tee "$OUT" || status=$?
echo "results saved to $OUT"
exit "$status"
