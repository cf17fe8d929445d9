#!/usr/bin/env bash
# fuzz/run.sh [SECONDS] - builds the gate's frame parser harness
# (fuzz/fuzz_gate_frame.c + cservice/gate_frame.c) with clang
# (-fsanitize=fuzzer,address,undefined) and runs it for SECONDS (default
# 60) on a copy of the seed corpus fuzz/corpus_gate_frame/. Exits non-zero
# if the fuzzer found a crash, a leak or a wrong frame (the reproducer is
# left in the work dir).
#
# Environment: CC (default clang), FUZZ_JOBS (parallel fuzzing processes,
# default 1), FUZZ_OUT (work dir, default fuzz/out/gate_frame).
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
SECONDS_TO_RUN="${1:-60}"
CC_BIN="${CC:-clang}"
OUT="${FUZZ_OUT:-$HERE/out/gate_frame}"
case "$SECONDS_TO_RUN" in
  '' | *[!0-9]*) echo "usage: fuzz/run.sh [SECONDS]" >&2; exit 2 ;;
esac
if ! command -v "$CC_BIN" >/dev/null 2>&1; then
  echo "fuzz/run.sh: $CC_BIN not found (scripts/deps.sh installs clang)" >&2
  exit 2
fi
mkdir -p "$OUT/corpus"
cp -n "$HERE"/corpus_gate_frame/* "$OUT/corpus/" 2>/dev/null || true
bin="$OUT/fuzz_gate_frame"
"$CC_BIN" -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
  -I"$ROOT/cservice" "$HERE/fuzz_gate_frame.c" "$ROOT/cservice/gate_frame.c" -o "$bin"
echo "fuzz/run.sh: running $bin for ${SECONDS_TO_RUN}s"
cd "$OUT"
jobs=()
if [ "${FUZZ_JOBS:-1}" -gt 1 ]; then jobs=(-jobs="$FUZZ_JOBS" -workers="$FUZZ_JOBS"); fi
UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1" \
  "$bin" -max_total_time="$SECONDS_TO_RUN" ${jobs[@]+"${jobs[@]}"} \
  -max_len=4096 -print_final_stats=1 "$OUT/corpus"
