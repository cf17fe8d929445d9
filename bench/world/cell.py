"""bench/world/cell.py - the cellapp figures of issue 11 on the world
cluster (examples/world/layout.lua, eight real nodes on 127.0.0.1), with
test/e2e/test_world.py's machinery:

    python3 bench/world/cell.py --build DIR [--repeat N]

prints
    BENCH migration_pause_ms N ms          median pause (freeze to hand-off) of N migrations under a walking player
    BENCH migration_pause_ms_max N ms
    BENCH migration_pause_5k_ms N ms       the same with 5,000 more entities in the space (and _max)
    BENCH failover_cellapp_kill_ms N ms    median, from kill -9 of the space's cellapp until both players had WORLD again
    BENCH failover_cellapp_kill_ms_max N ms
    BENCH failover_cellapp_stop_ms N ms    the same for SIGSTOP (the registry's detection bound dominates)
    BENCH failover_cellapp_stop_ms_max N ms
N (--repeat, default BENCH_REPEAT or 5) rounds of each.
"""
import argparse
import os
import signal
import statistics
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(SRC, "test", "e2e"))
import nodeutil  # noqa: E402
import test_world  # noqa: E402


class Bench(test_world.CellappFailover):
    def runTest(self):
        pass

    def migrations(self, n, name="mig"):
        a = self.player(name)
        start = a.where(10)
        stop = threading.Event()

        def walker():
            x = start["x"]
            while not stop.is_set():
                x += 0.01
                a.walk(x, start["y"], 0.0)
                time.sleep(0.005)
        t = threading.Thread(target=walker)
        t.start()
        pauses = []
        try:
            for _ in range(n):
                r = self.mgr_call("migrate", "world")
                if not isinstance(r.get("r"), dict):
                    raise AssertionError("migration failed: %r" % r)
                pauses.append(r["r"]["pause_ms"])
        finally:
            stop.set()
            t.join(10)
        a.logout()
        return pauses


    def crowd(self, n):
        """n NPCs (no mailbox: seen, seeing nothing) in `world`, entered
        through its cellapp's own `enter` command."""
        node, _ = self.holder("world")
        lua = ('local shoal = require "shoal"\n'
               'local ok = 0\n'
               'for i = 1, %d do\n'
               '  local x, y = (i * 7919) %% 1000, (i * 104729) %% 1000\n'
               '  if shoal.call(shoal.self(), "lua", "enter", "world", 0, 1000000 + i, {x = x, y = y}, nil, 0) then\n'
               '    ok = ok + 1\n'
               '  end\n'
               'end\n'
               'return require("cjson").encode({ok = ok})\n') % n
        r = self.inject(node, lua, service=".cellapp", timeout=120)
        if r.get("ok") != n:
            raise AssertionError("crowd: %r" % r)


def figures(name, values):
    print("BENCH %s %d ms" % (name, round(statistics.median(values))))
    print("BENCH %s_max %d ms" % (name, round(max(values))))
    sys.stdout.flush()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.path.join(SRC, "build"))
    ap.add_argument("--repeat", type=int, default=int(os.environ.get("BENCH_REPEAT", "5")))
    args = ap.parse_args()
    nodeutil.SHOAL_BIN = os.path.join(os.path.abspath(args.build), "shoal")
    nodeutil.SOURCE_DIR = SRC
    n = max(args.repeat, 1)
    b = Bench()
    b.setUp()
    try:
        figures("migration_pause_ms", b.migrations(max(n, 5)))
        b.crowd(5000)
        figures("migration_pause_5k_ms", b.migrations(max(n, 5), "mig5k"))
        figures("failover_cellapp_kill_ms", b.failover(signal.SIGKILL, n, "k"))
        figures("failover_cellapp_stop_ms", b.failover(signal.SIGSTOP, n, "s"))
    finally:
        b.tearDown()
        b.doCleanups()


if __name__ == "__main__":
    main()
