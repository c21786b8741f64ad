#!/usr/bin/env bash
# make fuzz: builds every fuzz/fuzz_*.c with clang -fsanitize=fuzzer,address,undefined
# and runs each for FUZZ_SECONDS (default 600) from its committed corpus
# (fuzz/corpus/<name>/). New interesting inputs go to build/fuzz/corpus/<name>.
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${FUZZ_SECONDS:-600}
OUT=build/fuzz
mkdir -p "$OUT"
CFLAGS="-std=c11 -D_GNU_SOURCE -g -O1 -fsanitize=fuzzer,address,undefined -Icommon -I/usr/share/include/llhttp $(pkg-config --cflags libuv libpq hiredis libcurl jansson libsodium)"
LIBS="$(pkg-config --libs libuv libpq hiredis libcurl jansson libsodium) -lm"
# libcommon built with clang + fuzzer instrumentation (no main).
make BUILD="$OUT/common" CC=clang OPT="-g -O1 -fsanitize=fuzzer-no-link,address,undefined" "$OUT/common/libcommon.a" >/dev/null
for src in fuzz/fuzz_*.c; do
  name=$(basename "$src" .c); name=${name#fuzz_}
  [ -n "${FUZZ_FILTER:-}" ] && [[ $name != *"$FUZZ_FILTER"* ]] && continue
  extra=""; [ -f "fuzz/$name.objs" ] && extra=$(cat "fuzz/$name.objs")
  # shellcheck disable=SC2086
  clang $CFLAGS -o "$OUT/fuzz_$name" "$src" $extra "$OUT/common/libcommon.a" $LIBS
  mkdir -p "$OUT/corpus/$name"
  echo "fuzz: $name for ${SECS}s"
  "$OUT/fuzz_$name" -max_total_time="$SECS" -timeout=10 -rss_limit_mb=2048 \
    "$OUT/corpus/$name" "fuzz/corpus/$name" 2>&1 | tail -5
done
