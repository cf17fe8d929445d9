#!/usr/bin/env bash
# fuzz/aoi.sh [SECONDS] - builds the area-of-interest libFuzzer harness
# (fuzz/fuzz_aoi.c + lualib/src/aoi.c + the reference test/unit/aoi_ref.c)
# with clang (-fsanitize=fuzzer,address,undefined) and runs it for SECONDS
# (default 60) on a copy of the seed corpus fuzz/corpus_aoi/. Exits
# non-zero if the fuzzer found a crash, a leak or a disagreement with the
# reference (the reproducer is left in the work dir, fuzz/out/aoi). See
# fuzz/common.sh.
set -euo pipefail
source "$(dirname "$0")/common.sh"
fuzz_prepare aoi "${1:-60}"
fuzz_build -I"$ROOT/lualib/src" -I"$ROOT/test/unit" "$HERE/fuzz_aoi.c" "$ROOT/lualib/src/aoi.c" "$ROOT/test/unit/aoi_ref.c" -lm
fuzz_run 4096
