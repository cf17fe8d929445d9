#!/usr/bin/env bash
# sanitize.sh - builds Shoal under the sanitizers and runs the whole test
# suite (unit, Lua service and end-to-end tests) in each build:
#
#   build-asan  CC=clang, -DSHOAL_SANITIZE=address,undefined
#   build-tsan  CC=clang, -DSHOAL_SANITIZE=thread
#
# Usage: scripts/sanitize.sh [asan] [tsan] [fuzz] [-- CTEST_ARGS...]
#   (no names: all three; fuzz runs the five libFuzzer harnesses for
#   FUZZ_SECONDS each, default 60). E.g. `scripts/sanitize.sh tsan -- -L e2e`.
# Environment: JOBS (build/ctest parallelism, default nproc), CC (clang),
#   SHOAL_E2E_TIME_SCALE (stretches the e2e waits, default 4 here).
#
# Node processes report to their stderr; ctest shows it for failed tests
# (the e2e tests show the tail of a node's stderr in their failure text).
# TSan uses scripts/tsan.supp (empty: no race is suppressed).
#
# Exits non-zero if any configure, build or test step fails; the last line
# is a summary.
set -uo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
JOBS="${JOBS:-$(nproc 2>/dev/null || echo 2)}"
CC_BIN="${CC:-clang}"
export SHOAL_E2E_TIME_SCALE="${SHOAL_E2E_TIME_SCALE:-4}"

which=()
ctest_args=()
while [ $# -gt 0 ]; do
  case "$1" in
    asan | tsan | fuzz) which+=("$1") ;;
    --)
      shift
      ctest_args=("$@")
      break
      ;;
    -h | --help)
      sed -n '2,20p' "$0"
      exit 0
      ;;
    *)
      echo "sanitize.sh: unknown argument '$1' (asan, tsan, fuzz, -- CTEST_ARGS)" >&2
      exit 2
      ;;
  esac
  shift
done
[ ${#which[@]} -eq 0 ] && which=(asan tsan fuzz)

if ! command -v "$CC_BIN" >/dev/null 2>&1; then
  echo "sanitize.sh: $CC_BIN not found (scripts/deps.sh installs clang)" >&2
  exit 2
fi

summary=()
status=0

# run NAME SANITIZERS ENV...: configure, build and test one build dir.
run() {
  local name="$1" san="$2"
  shift 2
  local dir="$ROOT/build-$name"
  echo "==== $name: configure $dir (SHOAL_SANITIZE=$san, CC=$CC_BIN)"
  if ! CC="$CC_BIN" cmake -S "$ROOT" -B "$dir" -DSHOAL_SANITIZE="$san" -DCMAKE_BUILD_TYPE=RelWithDebInfo; then
    summary+=("$name: configure FAILED")
    status=1
    return
  fi
  echo "==== $name: build"
  if ! cmake --build "$dir" -j "$JOBS"; then
    summary+=("$name: build FAILED")
    status=1
    return
  fi
  echo "==== $name: ctest ($*)"
  local log="$dir/sanitize-ctest.log"
  local extra=()
  # test_serial is single-threaded (TSan checks nothing there) and raises
  # Lua errors by the hundred thousand: Debian's liblua longjmps through the
  # fortified __longjmp_chk, which clang 14's TSan does not intercept, and
  # its bookkeeping then grows until TSan itself crashes. It runs under ASan.
  # Under TSan: no test_serial (see above), and not the load scenarios
  # (e2e_world_Demo: 8 nodes and 60 bots with a verdict on timing;
  # e2e_failover_BotsKilled, e2e_chaos_*: hundreds of bots through five
  # losses; bot_login_path: 500 bots through scrypt logins, which failed
  # 1 run in 3 under TSan with its nodes starved): on two
  # cores their instrumented nodes starve each other's heartbeats and
  # answers. Their code paths run under TSan in the smaller e2e_world_* and
  # e2e_failover_* cases, and both run under ASan and in the release suite.
  if [ "$name" = tsan ]; then extra=(-E '^(test_serial(_random)?|bot_login_path|e2e_world_Demo|e2e_failover_BotsKilled|e2e_chaos_.*)$'); fi
  (cd "$dir" && env "$@" ctest --output-on-failure -j "$JOBS" ${extra[@]+"${extra[@]}"} ${ctest_args[@]+"${ctest_args[@]}"}) 2>&1 | tee "$log"
  local rc=${PIPESTATUS[0]}
  local line failed
  line="$(grep -E '^[0-9]+% tests passed' "$log" | tail -n 1)"
  failed="$(sed -n '/The following tests FAILED:/,$p' "$log" | grep -E '^\s+[0-9]+ - ' | sed -E 's/^\s+[0-9]+ - ([^ ]+).*/\1/' | tr '\n' ' ')"
  if [ "$rc" -ne 0 ]; then
    status=1
    summary+=("$name: FAIL - ${line:-ctest exit $rc}${failed:+ (failed: ${failed% })}")
  else
    summary+=("$name: ok - ${line:-no tests ran}")
  fi
}

for w in "${which[@]}"; do
  case "$w" in
    asan)
      run asan "address,undefined" \
        ASAN_OPTIONS="detect_leaks=1:abort_on_error=0:print_summary=1${ASAN_OPTIONS:+:$ASAN_OPTIONS}" \
        UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}"
      ;;
    tsan)
      run tsan "thread" \
        TSAN_OPTIONS="suppressions=$ROOT/scripts/tsan.supp:halt_on_error=1:second_deadlock_stack=1${TSAN_OPTIONS:+:$TSAN_OPTIONS}"
      ;;
    fuzz)
      # libFuzzer (with ASan+UBSan) on the gate's frame parser, the
      # console's command parser, the harbor's frame reader and the area
      # of interest (against its reference) and the gate's WebSocket protocol,
      # FUZZ_SECONDS each (default 60).
      for f in run console harbor aoi ws; do
        echo "==== fuzz: fuzz/$f.sh ${FUZZ_SECONDS:-60}"
        if bash "$ROOT/fuzz/$f.sh" "${FUZZ_SECONDS:-60}"; then
          summary+=("fuzz/$f.sh: ok - ${FUZZ_SECONDS:-60} s, nothing found")
        else
          summary+=("fuzz/$f.sh: FAIL")
          status=1
        fi
      done
      ;;
  esac
done

echo
for s in "${summary[@]}"; do echo "  $s"; done
if [ "$status" -eq 0 ]; then
  echo "sanitize: all passed (${which[*]})"
else
  echo "sanitize: FAILED (${which[*]})"
fi
exit "$status"
