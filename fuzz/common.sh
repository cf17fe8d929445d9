# fuzz/common.sh - what the fuzz/*.sh scripts share; sourced.
#   fuzz_prepare NAME SECONDS   sets HERE ROOT SECONDS_TO_RUN CC_BIN OUT bin,
#                               checks the compiler, seeds OUT/corpus from
#                               fuzz/corpus_NAME/
#   fuzz_build ARGS...          compiles $bin with libFuzzer, ASan and UBSan
#                               (ARGS: sources, flags, libraries)
#   fuzz_run MAX_LEN [ARGS...]  runs $bin bounded by SECONDS_TO_RUN
# Environment: CC (default clang), FUZZ_JOBS (parallel fuzzing processes,
# default 1), FUZZ_OUT (work dir, default fuzz/out/NAME).

fuzz_prepare() {
  local name="$1"
  HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
  ROOT="$(cd "$HERE/.." && pwd)"
  SECONDS_TO_RUN="${2:-60}"
  CC_BIN="${CC:-clang}"
  OUT="${FUZZ_OUT:-$HERE/out/$name}"
  case "$SECONDS_TO_RUN" in
    '' | *[!0-9]*) echo "usage: $0 [SECONDS]" >&2; exit 2 ;;
  esac
  if ! command -v "$CC_BIN" >/dev/null 2>&1; then
    echo "$0: $CC_BIN not found (scripts/deps.sh installs clang)" >&2
    exit 2
  fi
  mkdir -p "$OUT/corpus"
  cp -n "$HERE/corpus_$name"/* "$OUT/corpus/" 2>/dev/null || true
  bin="$OUT/fuzz_$name"
}

fuzz_build() {
  "$CC_BIN" -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
    -I"$ROOT/cservice" -I"$ROOT/include" "$@" -o "$bin"
}

fuzz_run() {
  local max_len="$1"
  shift
  echo "$0: running $bin for ${SECONDS_TO_RUN}s"
  cd "$OUT"
  local jobs=()
  if [ "${FUZZ_JOBS:-1}" -gt 1 ]; then jobs=(-jobs="$FUZZ_JOBS" -workers="$FUZZ_JOBS"); fi
  UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1" \
    "$bin" -max_total_time="$SECONDS_TO_RUN" ${jobs[@]+"${jobs[@]}"} \
    -max_len="$max_len" -print_final_stats=1 "$@" "$OUT/corpus"
}
