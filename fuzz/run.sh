#!/usr/bin/env bash
# make fuzz: builds every fuzz/fuzz_<name>.c with clang -fsanitize=fuzzer,address,undefined
# and runs each for FUZZ_SECONDS (default 600) from its committed seed corpus
# (fuzz/corpus/<name>/). New interesting inputs go to build/fuzz/corpus/<name>,
# crashes to build/fuzz/crash-*. A target that needs a binary's code names the
# directory in fuzz/<name>.dir (worker, api, sandbox): its sources except main.c
# and its embedded files are compiled with the same instrumentation; what
# fuzz/<name>.link names (sources, linker options) is added (fuzz/fz_worker.h:
# the worker's Redis and JSM site faked in process). `make test` replays each
# target's corpus once on the sanitizer build (fuzz/replay.c, tests/run.sh).
# FUZZ_FILTER=<substring> picks targets; FUZZ_BUILD_ONLY=1 only builds them.
set -euo pipefail
shopt -s inherit_errexit
cd "$(dirname "$0")/.."
SECS=${FUZZ_SECONDS:-600}
OUT=${FUZZ_OUT:-build/fuzz}  # make fuzz passes $(BUILD)/fuzz
mkdir -p "$OUT"
# libFuzzer needs clang and its runtime (Debian: clang, libclang-rt-14-dev).
if ! command -v clang >/dev/null || ! ls /usr/lib/llvm-*/lib/clang/*/lib/linux/libclang_rt.fuzzer-x86_64.a >/dev/null 2>&1; then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends clang libclang-rt-14-dev >/dev/null
fi
SAN="-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined"
PKG="libuv libpq hiredis libcurl jansson libsodium"
CFLAGS="-std=c11 -D_GNU_SOURCE -g -O1 -Icommon -I/usr/share/include/llhttp $(pkg-config --cflags $PKG)"
LIBS="$(pkg-config --libs $PKG) -lm"
# libcommon built with clang + fuzzer instrumentation (no main).
make BUILD="$OUT/common" CC=clang OPT="-g -O1 $SAN" "$OUT/common/libcommon.a" >/dev/null

# The objects of one binary dir (minus main.o) plus its embedded data files.
dir_objs() {
  local d=$1 objs=() src o
  mkdir -p "$OUT/obj/$d"
  for src in "$d"/*.c; do
    [ "$(basename "$src")" = main.c ] && continue
    o="$OUT/obj/$d/$(basename "$src" .c).o"
    [ "$o" -nt "$src" ] || clang $CFLAGS $SAN -I"$d" -c "$src" -o "$o"
    objs+=("$o")
  done
  # Same file list as the Makefile's EMBED_<dir> (data files only).
  local files
  case $d in
    worker) files=$(ls worker/*.json) ;;
    sandbox) # no data file of its own today; strict mode's compacted OpenAPI documents
      make BUILD="$OUT/common" "$OUT/common/gen/sandbox_openapi.json" >/dev/null
      files="$(ls sandbox/*.json 2>/dev/null || true) $OUT/common/gen/sandbox_openapi.json" ;;
    api) files="$(ls migrations/*.sql) api/openapi.json worker/catalog.json $(ls api/web/* 2>/dev/null || true)" ;;
  esac
  # shellcheck disable=SC2086
  local gen="$OUT/gen/${d}_embed.c" f stale=""
  for f in $files; do [ "$gen" -nt "$f" ] || stale=1; done
  if [ -n "$stale" ] || [ ! -f "$OUT/obj/$d/embed.o" ]; then
    scripts/embed.sh "$d" "$gen" $files >&2
    clang $CFLAGS $SAN -c "$gen" -o "$OUT/obj/$d/embed.o"
  fi
  objs+=("$OUT/obj/$d/embed.o")
  echo "${objs[@]}"
}

status=0
for src in fuzz/fuzz_*.c; do
  name=$(basename "$src" .c); name=${name#fuzz_}
  [ -n "${FUZZ_FILTER:-}" ] && [[ $name != *"$FUZZ_FILTER"* ]] && continue
  extra=""; inc=""; link=""
  if [ -f "fuzz/$name.dir" ]; then
    d=$(cat "fuzz/$name.dir"); extra=$(dir_objs "$d"); inc="-I$d"
  fi
  [ -f "fuzz/$name.link" ] && link=$(cat "fuzz/$name.link")
  # shellcheck disable=SC2086
  clang $CFLAGS $inc -Ifuzz -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
    -o "$OUT/fuzz_$name" "$src" $link $extra "$OUT/common/libcommon.a" $LIBS
  [ -n "${FUZZ_BUILD_ONLY:-}" ] && continue
  mkdir -p "$OUT/corpus/$name"
  echo "fuzz: $name for ${SECS}s"
  if ! "$OUT/fuzz_$name" -max_total_time="$SECS" -timeout=10 -rss_limit_mb=2048 \
      -artifact_prefix="$OUT/" -print_final_stats=1 "$OUT/corpus/$name" "fuzz/corpus/$name" \
      >"$OUT/$name.log" 2>&1; then
    echo "fuzz: $name FAILED (see $OUT/$name.log)"; tail -40 "$OUT/$name.log"; status=1
  else
    grep -E '^(#[0-9]+ +DONE|Done [0-9]+ runs|stat::number_of_executed_units)' "$OUT/$name.log" | tail -2
  fi
done
exit $status
