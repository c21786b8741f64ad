#!/usr/bin/env bash
# make bench: every benchmark in one run, on release binaries (build/),
# against PostgreSQL and Redis started in a temp dir like the tests. Each
# bench/<name>.sh prints its figures; all output is also saved under
# bench/results/. Figures are recorded by hand in BENCHMARKS.md.
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
{
  echo "# jsmcp benchmarks $(date -u +%FT%TZ) on $(nproc) cores, $(uname -r)"
  for b in bench/*.sh; do
    [ "$(basename "$b")" = run.sh ] && continue
    [ -n "${BENCH_FILTER:-}" ] && [[ $b != *"$BENCH_FILTER"* ]] && continue
    echo; echo "## $(basename "$b" .sh)"
    bash "$b" || echo "bench $(basename "$b") FAILED rc=$?"
  done
} 2>&1 | tee "$OUT"
echo "results saved to $OUT"
