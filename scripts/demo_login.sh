#!/usr/bin/env bash
# The login cluster demo (the README's first command before the world;
# scripts/demo.sh is now the world demo): installs the dependencies, builds, starts the
# nine nodes of examples/login/layout.lua on 127.0.0.1 (registry, dbmgr, two
# baseappmgrs, two loginapps, three baseapps), runs the C bot against them
# (BOTS clients register over both loginapps, play checked rounds with
# encrypted frames, log out), prints the bot's summary and a short cluster
# status, and stops every node it started (also on Ctrl-C). Exit code 0
# only if every bot succeeded.
#
#   bash scripts/demo_login.sh                 # everything
#   bash scripts/demo_login.sh --no-build      # skip deps and build (build/ must exist)
#   bash scripts/demo_login.sh --bots 500      # more clients (default 200)
# Environment: SHOAL_DEMO_NO_BUILD=1 (as --no-build), CLUSTER_BASE_PORT (the
# first of nine harbor ports, default 7201), SHOAL_CLUSTER_SECRET (default
# a demo secret), SHOAL_DEMO_KEEP=1 keeps the run directory (configs, logs).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
BUILD="$ROOT/build"
BOTS=200
NO_BUILD="${SHOAL_DEMO_NO_BUILD:-0}"
while [ $# -gt 0 ]; do
  case "$1" in
    --no-build) NO_BUILD=1 ;;
    --bots) BOTS="$2"; shift ;;
    --build-dir) BUILD="$2"; shift ;;
    *) echo "demo: unknown argument $1 (--no-build, --bots N, --build-dir DIR)" >&2; exit 2 ;;
  esac
  shift
done

if [ "$NO_BUILD" != 1 ]; then
  bash "$ROOT/scripts/deps.sh"
  cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
  cmake --build "$BUILD" -j2
fi
for f in "$BUILD/shoal" "$BUILD/bench/bot"; do
  [ -x "$f" ] || { echo "demo: $f is missing: build first (without --no-build)" >&2; exit 2; }
done

LAYOUT="$ROOT/examples/login/layout.lua"
LAUNCH=(lua5.4 "$ROOT/scripts/cluster.lua" "$LAYOUT")
SERVER_KEY=e3712d851a0e5d79b831c5e34ab22b41a198171de209b8b8faca23a11c624859 # of the layout's demo login_static_key
RUN="$(mktemp -d "${TMPDIR:-/tmp}/shoal-demo.XXXXXX")"
export SHOAL_CLUSTER_SECRET="${SHOAL_CLUSTER_SECRET:-shoal-demo-secret}"
export LOGIN_DB="$RUN/game.db"

stopped=0
cleanup() {
  if [ "$stopped" = 0 ]; then
    stopped=1
    echo "demo: stopping the cluster"
    "${LAUNCH[@]}" stop --dir "$RUN" --wait 20 | sed 's/^/  /' || true
  fi
  if [ "${SHOAL_DEMO_KEEP:-0}" = 1 ]; then echo "demo: kept $RUN"; else rm -rf "$RUN"; fi
}
trap cleanup EXIT
trap 'echo "demo: interrupted"; exit 130' INT TERM

echo "demo: starting the login cluster (examples/login/layout.lua) in $RUN"
"${LAUNCH[@]}" start --dir "$RUN" --shoal "$BUILD/shoal" | sed 's/^/  /'

# Every wait is bounded: the loginapps' ports, the baseapps registered,
# one baseappmgr active.
wait_for() { # FILE REGEX SECONDS
  local end=$((SECONDS + $3))
  until grep -qE "$2" "$1" 2>/dev/null; do
    if [ $SECONDS -ge $end ]; then echo "demo: timed out waiting for /$2/ in $1" >&2; tail -5 "$1" >&2 || true; exit 1; fi
    sleep 0.1
  done
}
for n in 7 8 9; do wait_for "$RUN/node$n.log" "registered, gate" 30; done
wait_for "$RUN/node3.log" "baseappmgr 3: (active|standby)" 30
wait_for "$RUN/node4.log" "baseappmgr 4: (active|standby)" 30
LOGINS=""
for n in 5 6; do
  wait_for "$RUN/node$n.log" "loginapp: listening on" 30
  port="$(grep -oE 'loginapp: listening on [0-9.]+:[0-9]+' "$RUN/node$n.log" | head -1 | sed 's/.*://')"
  LOGINS="${LOGINS:+$LOGINS,}127.0.0.1:$port"
done
echo "demo: loginapps at $LOGINS; $BOTS bots register, play 10 rounds (moves, pings, chat) and log out"

# The bot runs in the background so that Ctrl-C reaches the trap at once
# (a shell defers traps while a foreground child runs); --duration-limit
# bounds it.
"$BUILD/bench/bot" --login "$LOGINS" --server-key "$SERVER_KEY" --register --bots "$BOTS" \
  --rounds 10 --say-every 5 --concurrency 16 --prefix demo --duration-limit 150 &
BOT_PID=$!
trap 'echo "demo: interrupted"; kill "$BOT_PID" 2>/dev/null; exit 130' INT TERM
set +e
wait "$BOT_PID"
rc=$?
set -e

echo "demo: cluster status"
"${LAUNCH[@]}" status --dir "$RUN" | sed 's/^/  /' || true
for n in 3 4; do
  { grep -ohE "baseappmgr $n: (active|standby)[^|]*" "$RUN/node$n.log" || true; } | tail -1 | sed 's/^/  /'
done
# node 1 logs the registry's online count per baseapp each second (login_node.lua)
# (no sample at all is possible in a short run: grep's "no match" must not end the script)
peak="$({ grep -oE 'login cluster: online [0-9]+ .*' "$RUN/node1.log" || true; } | sort -t' ' -k4,4n | tail -1 | sed 's/^login cluster: //')"
# (each bot plays for a few ms after a login the KDF makes slow: a handful at once)
echo "demo: online per baseapp at the peak (the registry's view, sampled each second): ${peak:-none seen online}"
stopped=1
"${LAUNCH[@]}" stop --dir "$RUN" --wait 20 >/dev/null || true
echo "demo: sessions per baseapp (from their exit stats)"
for n in 7 8 9; do
  line="$({ grep -oE 'baseapp [0-9a-f]+: exit stats .*' "$RUN/node$n.log" || true; } | tail -1)"
  echo "  node $n: ${line:-no exit stats}"
done
if [ $rc -eq 0 ]; then
  echo "demo: ok: every bot logged in, played and logged out"
else
  echo "demo: FAILED: the bot exited with $rc"
fi
exit $rc
