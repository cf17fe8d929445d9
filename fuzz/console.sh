#!/usr/bin/env bash
# fuzz/console.sh [SECONDS] - builds the debug console parser's libFuzzer
# harness (fuzz/fuzz_console.c, which loads lualib/shoal/console.lua into
# a Lua 5.4 state) with clang (-fsanitize=fuzzer,address,undefined) and
# runs it for SECONDS (default 60) on a copy of the seed corpus
# fuzz/corpus_console/. Exits non-zero if the fuzzer found a crash, a Lua
# error escaping the parser or a broken invariant (the reproducer is left
# in the work dir, fuzz/out/console). See fuzz/common.sh.
set -euo pipefail
source "$(dirname "$0")/common.sh"
fuzz_prepare console "${1:-60}"
if [ ! -f /usr/include/lua5.4/lua.h ]; then
  echo "fuzz/console.sh: Lua 5.4 headers not found (scripts/deps.sh installs liblua5.4-dev)" >&2
  exit 2
fi
fuzz_build -DCONSOLE_LUA="\"$ROOT/lualib/shoal/console.lua\"" -I/usr/include/lua5.4 \
  "$HERE/fuzz_console.c" -llua5.4 -lm
# Lines up to twice the console's limit, so "line too long" is reached.
fuzz_run 8192 -dict="$HERE/console.dict"
