#!/usr/bin/env bash
# The demo, the README's first command: installs the dependencies, builds,
# starts the world cluster of examples/world/layout.lua on 127.0.0.1
# (registry, dbmgr on SQLite, 2 baseappmgrs + 2 cellappmgrs active/standby
# with the failover service, 2 loginapps, 2 baseapps, 2 cellapps), then N
# C bots (bench/bot --world) that register, walk around the space `world`
# (WALK, WHERE) and chat; prints a live summary every few seconds; kills -9
# one baseapp (its bots RESUME at the other) and later the cellapp of the
# space (it is recreated from its snapshot on the other); and ends with one
# verdict line: exit 0 when every affected bot was back within the bound
# (baseapp: 2 s; cellapp: the layout's detection bound + 2 s), else 1.
# Every process it started is stopped on exit, also on Ctrl-C.
#
#   bash scripts/demo.sh                  # everything
#   bash scripts/demo.sh --no-build       # skip deps and build (the build dir must exist)
#   bash scripts/demo.sh --bots 60        # fewer bots (default 300)
#   bash scripts/demo.sh --keep-running   # after the verdict the cluster stays up until Ctrl-C
# Environment: SHOAL_DEMO_NO_BUILD=1 (as --no-build), CLUSTER_BASE_PORT (the
# first of eight harbor ports, default 7301), SHOAL_CLUSTER_SECRET (default
# a demo secret), SHOAL_DEMO_KEEP=1 keeps the run directory (configs, logs),
# SHOAL_DEMO_TIME_SCALE=N (default 1) stretches the bots' answer bound and
# the verdict's bounds N times (the test runs it so under the sanitizers).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
BUILD="$ROOT/build"
BOTS=300
NO_BUILD="${SHOAL_DEMO_NO_BUILD:-0}"
KEEP_RUNNING=0
SETTLE_S=6 # seconds of play between the phases
while [ $# -gt 0 ]; do
  case "$1" in
    --no-build) NO_BUILD=1 ;;
    --bots) BOTS="$2"; shift ;;
    --build-dir) BUILD="$2"; shift ;;
    --settle-s) SETTLE_S="$2"; shift ;;
    --keep-running) KEEP_RUNNING=1 ;;
    *) echo "demo: unknown argument $1 (--no-build, --bots N, --build-dir DIR, --settle-s S, --keep-running)" >&2; exit 2 ;;
  esac
  shift
done
case "$BOTS" in ''|*[!0-9]*) echo "demo: --bots wants a number" >&2; exit 2 ;; esac

if [ "$NO_BUILD" != 1 ]; then
  bash "$ROOT/scripts/deps.sh"
  cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
  cmake --build "$BUILD" -j2
fi
for f in "$BUILD/shoal" "$BUILD/bench/bot"; do
  [ -x "$f" ] || { echo "demo: $f is missing: build first (without --no-build)" >&2; exit 2; }
done

LAYOUT="$ROOT/examples/world/layout.lua"
LAUNCH=(lua5.4 "$ROOT/scripts/cluster.lua" "$LAYOUT")
SERVER_KEY=e3712d851a0e5d79b831c5e34ab22b41a198171de209b8b8faca23a11c624859 # of the layout's demo login_static_key
SCALE="${SHOAL_DEMO_TIME_SCALE:-1}"
case "$SCALE" in ''|*[!0-9]*|0) echo "demo: SHOAL_DEMO_TIME_SCALE wants a whole number >= 1" >&2; exit 2 ;; esac
DETECT_MS=2000 # the layout's heartbeat_ms x heartbeat_misses: a dead cellapp is noticed within it
RUN="$(mktemp -d "${TMPDIR:-/tmp}/shoal-demo.XXXXXX")"
export SHOAL_CLUSTER_SECRET="${SHOAL_CLUSTER_SECRET:-shoal-demo-secret}"
export WORLD_DB="$RUN/world.db"
# A KDF cost low enough that hundreds of registrations are quick on 2 cores
# (the layout's default, 16384 x 8, is a production cost).
export WORLD_SCRYPT_N="${WORLD_SCRYPT_N:-1024}" WORLD_SCRYPT_R="${WORLD_SCRYPT_R:-1}"

BOT_PID=""
stopped=0
cleanup() {
  if [ -n "$BOT_PID" ]; then kill -9 "$BOT_PID" 2>/dev/null || true; wait "$BOT_PID" 2>/dev/null || true; fi
  if [ "$stopped" = 0 ]; then
    stopped=1
    echo "demo: stopping the cluster"
    "${LAUNCH[@]}" stop --dir "$RUN" --wait 20 | sed 's/^/  /' || true
    # a node the stop missed (it should not happen) is killed by its pid file
    for f in "$RUN"/node*.pid; do
      [ -f "$f" ] && kill -9 "$(cat "$f")" 2>/dev/null && echo "  killed $(basename "$f" .pid) after the stop"
    done
  fi
  if [ "${SHOAL_DEMO_KEEP:-0}" = 1 ]; then echo "demo: kept $RUN"; else rm -rf "$RUN"; fi
}
trap cleanup EXIT
trap 'echo "demo: interrupted"; exit 130' INT TERM

now_ms() { date +%s%3N; }
fail() { echo "demo: FAIL: $*"; exit 1; }
wait_for() { # FILE REGEX SECONDS: every wait is bounded
  local end=$((SECONDS + $3))
  until grep -qE "$2" "$1" 2>/dev/null; do
    [ $SECONDS -ge $end ] && { tail -5 "$1" >&2 || true; fail "timed out waiting for /$2/ in $1"; }
    sleep 0.1
  done
}
node_pid() { cat "$RUN/node$1.pid" 2>/dev/null || true; }

echo "demo: starting the world cluster (examples/world/layout.lua) in $RUN"
"${LAUNCH[@]}" start --dir "$RUN" --shoal "$BUILD/shoal" | sed 's/^/  /'
for n in 3 4; do
  wait_for "$RUN/node$n.log" "cellappmgr $n: (active|standby)" 30
  wait_for "$RUN/node$n.log" "baseappmgr $n: (active|standby)" 30
done
for n in 5 6; do wait_for "$RUN/node$n.log" "registered, gate" 30; done
for n in 7 8; do wait_for "$RUN/node$n.log" "cellapp [0-9a-f]+: registered" 30; done
LOGINS=""
for n in 3 4; do
  wait_for "$RUN/node$n.log" "loginapp: listening on" 30
  port="$(grep -oE 'loginapp: listening on [0-9.]+:[0-9]+' "$RUN/node$n.log" | head -1 | sed 's/.*://')"
  LOGINS="${LOGINS:+$LOGINS,}127.0.0.1:$port"
done

# The bots play until the demo ends them (SIGTERM: each logs out after its
# round); --duration-limit bounds them anyway. In the background, so that
# Ctrl-C reaches the trap at once.
PLAY_S=$((KEEP_RUNNING == 1 ? 3600 : 600))
echo "demo: loginapps at $LOGINS; $BOTS bots register, walk around the space and chat"
"$BUILD/bench/bot" --login "$LOGINS" --server-key "$SERVER_KEY" --register --bots "$BOTS" --concurrency 32 \
  --world --resume --answer-ms $((1500 * SCALE)) --events --play-s "$PLAY_S" --round-ms 500 --say-every 10 --stats-every-ms 1000 \
  --prefix demo --duration-limit $((PLAY_S + 60)) >"$RUN/bot.out" 2>"$RUN/bot.err" &
BOT_PID=$!

# The live summary: the bot's latest STATS line, and moves per second
# from two of them.
last_walks=0; last_t=0
summary() {
  local line; line="$(grep '^STATS ' "$RUN/bot.err" | tail -1)"
  [ -n "$line" ] || { echo "demo: (no bot stats yet)"; return; }
  local t walks; t="$(sed -E 's/.*wall_ms=([0-9]+).*/\1/' <<<"$line")"; walks="$(sed -E 's/.* walks=([0-9]+).*/\1/' <<<"$line")"
  local mps=0; [ "$last_t" -gt 0 ] && [ "$t" -gt "$last_t" ] && mps=$(((walks - last_walks) * 1000 / (t - last_t)))
  last_walks=$walks; last_t=$t
  awk -v mps="$mps" '{ for (i = 2; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
    printf "demo: online %s/%s  moves/s %s  aoi records %s  login p50 %s ms (max %s)  rtt p50 %s ms p99 %s  lost %s back %s\n",
      v["playing"], ENVIRON["BOTS"], mps, v["aoi"], v["login_p50_ms"], v["login_max_ms"],
      v["rtt_p50_ms"], v["rtt_p99_ms"], v["lost"], v["back"] }' <<<"$line"
}
export BOTS
playing() { { grep '^STATS ' "$RUN/bot.err" || true; } | tail -1 | sed -nE 's/.* playing=([0-9]+).*/\1/p'; }
bot_alive() { kill -0 "$BOT_PID" 2>/dev/null; }
# plays SECONDS, a summary every 2 s
play_for() {
  local end=$((SECONDS + $1))
  while [ $SECONDS -lt $end ]; do
    bot_alive || fail "the bot exited early: $(tail -3 "$RUN/bot.err" | tr '\n' ' ')"
    sleep 2; summary
  done
}

# 1. Everyone in: bounded by the login time of BOTS bots.
end=$((SECONDS + (60 + BOTS / 10) * SCALE))
until [ "$(playing)" = "$BOTS" ]; do
  bot_alive || fail "the bot exited early: $(tail -3 "$RUN/bot.err" | tr '\n' ' ')"
  [ $SECONDS -ge $end ] && fail "not every bot got in: $(summary)"
  sleep 2; summary
done
echo "demo: all $BOTS bots are playing"
play_for "$SETTLE_S"

# events of the bots after a time: "EVENT KIND bot=I wall_ms=T ..."
events_after() { # KIND T0: one line per event "BOT DELAY_MS" (delay from T0)
  awk -v kind="$1" -v t0="$2" '$1 == "EVENT" && $2 == kind {
      for (i = 3; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
      if (v["wall_ms"] >= t0) print v["bot"], v["wall_ms"] - t0 }' "$RUN/bot.err"
}

# 2. kill -9 a baseapp: its bots lose their connections and RESUME at the other.
BPID="$(node_pid 5)"
[ -n "$BPID" ] || fail "no pid for the baseapp of node 5"
T_BASE=$(now_ms)
kill -9 "$BPID"
echo "demo: killed -9 baseapp node 5 (pid $BPID): its bots resume at node 6 with their tickets"
end=$((SECONDS + 15 * SCALE))
while :; do
  sleep 1; summary
  lost_n=$(events_after lost "$T_BASE" | awk '{print $1}' | sort -u | wc -l)
  back_n=$(events_after back "$T_BASE" | awk '{print $1}' | sort -u | wc -l)
  [ "$lost_n" -gt 0 ] && [ "$back_n" -ge "$lost_n" ] && break
  [ $SECONDS -ge $end ] && break
done
BASE_LOST=$lost_n; BASE_BACK=$back_n
BASE_MAX=$({ events_after back "$T_BASE" | awk '{ if ($2 > m) m = $2 } END { printf "%d", m + 0 }'; })
echo "demo: baseapp killed: $BASE_LOST bots lost, $BASE_BACK back (resumed: $(events_after back "$T_BASE" | wc -l) returns), max $BASE_MAX ms after the kill"
play_for "$SETTLE_S"

# 3. kill -9 the cellapp of the space: cellappmgr recreates it from its
# snapshot on the other cellapp; every bot gets WORLD again.
CNODE=""
for n in 7 8; do grep -qE "space world (created|restored|recreated)" "$RUN/node$n.log" && CNODE=$n && break; done
[ -n "$CNODE" ] || fail "no cellapp logs the space world"
CPID="$(node_pid "$CNODE")"
IN_WORLD=$(playing)
T_CELL=$(now_ms)
kill -9 "$CPID"
echo "demo: killed -9 cellapp node $CNODE (pid $CPID), the space world's: it is recreated on the other cellapp"
CELL_BOUND=$(((DETECT_MS + 2000) * SCALE))
BASE_BOUND=$((2000 * SCALE))
end=$((SECONDS + 20 * SCALE))
while :; do
  sleep 1; summary
  world_n=$(events_after world "$T_CELL" | awk '{print $1}' | sort -u | wc -l)
  [ "$world_n" -ge "$IN_WORLD" ] && break
  [ $SECONDS -ge $end ] && break
done
CELL_MAX=$({ events_after world "$T_CELL" | awk '{ if ($2 > m) m = $2 } END { printf "%d", m + 0 }'; })
echo "demo: cellapp killed: $world_n of $IN_WORLD bots back in the world, max $CELL_MAX ms after the kill"
play_for "$SETTLE_S"

if [ "$KEEP_RUNNING" = 1 ]; then
  echo "demo: the cluster keeps running (Ctrl-C stops it). Debug consoles:"
  for n in 1 2 3 4 5 6 7 8; do
    p="$({ grep -oE 'debug console listening on [0-9.]+:[0-9]+' "$RUN/node$n.log" || true; } | head -1 | sed 's/.*://')"
    [ -n "$p" ] && kill -0 "$(node_pid "$n")" 2>/dev/null && echo "  node $n: nc 127.0.0.1 $p"
  done
  echo "  then: players, spaces, entity ID, failover"
  while bot_alive; do sleep 5; summary; done
fi

# 4. The bots log out; their report.
kill -TERM "$BOT_PID" 2>/dev/null || true
end=$((SECONDS + 30 * SCALE))
while bot_alive && [ $SECONDS -lt $end ]; do sleep 0.2; done
bot_alive && { kill -9 "$BOT_PID"; fail "the bot did not log out within 30 s"; }
set +e; wait "$BOT_PID"; rc=$?; set -e
BOT_PID=""
sed 's/^/  /' "$RUN/bot.out"

stranded=$((BASE_LOST - BASE_BACK + IN_WORLD - world_n))
why=""
[ "$rc" = 0 ] || why="$why the bot exited with $rc;"
[ "$BASE_LOST" -gt 0 ] || why="$why no bot was on the killed baseapp;"
[ "$BASE_MAX" -le "$BASE_BOUND" ] || why="$why a baseapp's bot came back after $BASE_MAX ms (bound $BASE_BOUND);"
[ "$CELL_MAX" -le "$CELL_BOUND" ] || why="$why a cellapp's bot came back after $CELL_MAX ms (bound $CELL_BOUND);"
[ "$stranded" = 0 ] || why="$why $stranded stranded;"
verdict="$BOTS bots, baseapp killed: $BASE_BACK back in max $BASE_MAX ms, cellapp killed: $world_n back in max $CELL_MAX ms, $stranded stranded"
if [ -z "$why" ]; then
  echo "demo: PASS: $verdict"
  exit 0
fi
echo "demo: FAIL: $verdict:$why"
exit 1
