#!/usr/bin/env bash
# fuzz/harbor.sh [SECONDS] - builds the harbor frame reader's libFuzzer
# harness (fuzz/fuzz_harbor_link.c + cservice/harbor_link.c) with clang
# (-fsanitize=fuzzer,address,undefined) and runs it for SECONDS (default 60)
# on a copy of the seed corpus fuzz/corpus_harbor_link/. Exits non-zero if
# the fuzzer found a crash, a leak or two readings that disagree (the
# reproducer is left in the work dir, fuzz/out/harbor_link). See
# fuzz/common.sh.
set -euo pipefail
source "$(dirname "$0")/common.sh"
fuzz_prepare harbor_link "${1:-60}"
fuzz_build "$HERE/fuzz_harbor_link.c" "$ROOT/cservice/harbor_link.c"
fuzz_run 200000
