#!/usr/bin/env bash
# fuzz/run.sh [SECONDS] - builds the gate's frame parser harness
# (fuzz/fuzz_gate_frame.c + cservice/gate_frame.c) with clang
# (-fsanitize=fuzzer,address,undefined) and runs it for SECONDS (default
# 60) on a copy of the seed corpus fuzz/corpus_gate_frame/. Exits non-zero
# if the fuzzer found a crash, a leak or a wrong frame (the reproducer is
# left in the work dir, fuzz/out/gate_frame). See fuzz/common.sh.
set -euo pipefail
source "$(dirname "$0")/common.sh"
fuzz_prepare gate_frame "${1:-60}"
fuzz_build "$HERE/fuzz_gate_frame.c" "$ROOT/cservice/gate_frame.c"
fuzz_run 4096
