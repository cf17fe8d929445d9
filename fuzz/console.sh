#!/usr/bin/env bash
# fuzz/console.sh [SECONDS] - builds the debug console parser's libFuzzer
# harness (fuzz/fuzz_console.c, which loads lualib/shoal/console.lua into
# a Lua 5.4 state) with clang (-fsanitize=fuzzer,address,undefined) and
# runs it for SECONDS (default 60) on a copy of the seed corpus
# fuzz/corpus_console/. Exits non-zero if the fuzzer found a crash, a Lua
# error escaping the parser or a broken invariant (the reproducer is left
# in the work dir).
#
# Environment: CC (default clang), FUZZ_JOBS (parallel fuzzing processes,
# default 1), FUZZ_OUT (work dir, default fuzz/out/console).
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
SECONDS_TO_RUN="${1:-60}"
CC_BIN="${CC:-clang}"
OUT="${FUZZ_OUT:-$HERE/out/console}"
case "$SECONDS_TO_RUN" in
  '' | *[!0-9]*) echo "usage: fuzz/console.sh [SECONDS]" >&2; exit 2 ;;
esac
if ! command -v "$CC_BIN" >/dev/null 2>&1; then
  echo "fuzz/console.sh: $CC_BIN not found (scripts/deps.sh installs clang)" >&2
  exit 2
fi
if [ ! -f /usr/include/lua5.4/lua.h ]; then
  echo "fuzz/console.sh: Lua 5.4 headers not found (scripts/deps.sh installs liblua5.4-dev)" >&2
  exit 2
fi
mkdir -p "$OUT/corpus"
cp -n "$HERE"/corpus_console/* "$OUT/corpus/" 2>/dev/null || true
bin="$OUT/fuzz_console"
"$CC_BIN" -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
  -DCONSOLE_LUA="\"$ROOT/lualib/shoal/console.lua\"" -I/usr/include/lua5.4 \
  "$HERE/fuzz_console.c" -llua5.4 -lm -o "$bin"
echo "fuzz/console.sh: running $bin for ${SECONDS_TO_RUN}s"
cd "$OUT"
jobs=()
if [ "${FUZZ_JOBS:-1}" -gt 1 ]; then jobs=(-jobs="$FUZZ_JOBS" -workers="$FUZZ_JOBS"); fi
# Lines up to twice the console's limit, so "line too long" is reached.
UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1" \
  "$bin" -max_total_time="$SECONDS_TO_RUN" ${jobs[@]+"${jobs[@]}"} \
  -max_len=8192 -dict="$HERE/console.dict" -print_final_stats=1 "$OUT/corpus"
