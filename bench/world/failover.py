#!/usr/bin/env python3
"""bench/world/failover.py - how long a lost baseapp's players take to play
again (docs/failover.md). The login cluster of examples/login/layout.lua
(nine nodes on this machine), BOTS C bots (bench/bot --resume) playing a
round every 500 ms; REPEAT times kill -9 of the baseapp holding the most
bots (then restarted), REPEAT times SIGSTOP (then SIGCONT). For each: from
the signal until every bot it held is playing again (its ENTER_OK after
the RESUME). Prints the median and the max:

    BENCH failover_baseapp_kill_ms N ms
    BENCH failover_baseapp_kill_ms_max N ms
    BENCH failover_baseapp_stop_ms N ms
    BENCH failover_baseapp_stop_ms_max N ms

    python3 bench/world/failover.py --build DIR [--repeat 20] [--bots 300] [--kinds kill,stop]

The bars (docs/failover.md): kill max < 2000 ms; stop max < the bots'
answer bound (1500 ms) + 2000 ms. A stop is detected by the bot (no answer
within --answer-ms), not by the registry: the registry's bound only frees
the frozen baseapp's sessions for password logins.
"""
import argparse
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "test", "e2e"))
import nodeutil  # noqa: E402

PUB = "e3712d851a0e5d79b831c5e34ab22b41a198171de209b8b8faca23a11c624859"
BASEAPPS = (7, 8, 9)
ANSWER_MS = 1500


class Cluster:
    def __init__(self, build, run_dir):
        self.build, self.dir = build, run_dir
        self.env = dict(os.environ, SHOAL_CLUSTER_SECRET="bench-failover",
                        CLUSTER_BASE_PORT=str(nodeutil.free_port_run(9)),
                        LOGIN_DB=os.path.join(run_dir, "game.db"), LOGIN_SCRYPT_N="1024", LOGIN_SCRYPT_R="1")

    def launcher(self, *args):
        cmd = ["lua5.4", os.path.join(ROOT, "scripts", "cluster.lua"), os.path.join(ROOT, "examples", "login",
               "layout.lua"), args[0], "--dir", self.dir] + list(args[1:])
        return subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=self.env,
                              timeout=120)

    def start(self):
        r = self.launcher("start", "--shoal", os.path.join(self.build, "shoal"), "--check", "1")
        if r.returncode != 0:
            raise SystemExit("bench/world/failover.py: the cluster did not start:\n" + r.stdout)

    def stop(self):
        self.launcher("stop", "--wait", "20")
        for n in range(1, 10):
            pid = self.pid(n)
            if pid:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass

    def log(self, n):
        return nodeutil.read_text(os.path.join(self.dir, "node%d.log" % n))

    def pid(self, n):
        try:
            return int(nodeutil.read_text(os.path.join(self.dir, "node%d.pid" % n)).strip() or 0)
        except (OSError, ValueError):
            return 0

    def wait_log(self, n, pattern, timeout=30, count=1):
        nodeutil.wait_until(lambda: len(re.findall(pattern, self.log(n))) >= count, timeout,
                            "node %d logs %r" % (n, pattern))

    def online(self):
        lines = re.findall(r"login cluster: online (\d+) \|(.*)$", self.log(1), re.M)
        if not lines:
            return 0, {}
        return int(lines[-1][0]), dict((a, int(b)) for a, b in re.findall(r"baseapp (\S+) (\d+)", lines[-1][1]))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build", required=True)
    ap.add_argument("--repeat", type=int, default=20)
    ap.add_argument("--bots", type=int, default=300)
    ap.add_argument("--kinds", default="kill,stop", help="which losses, in order (kill,stop)")
    a = ap.parse_args()
    build = os.path.abspath(a.build)
    run_dir = tempfile.mkdtemp(prefix="bench-failover-")
    c = Cluster(build, run_dir)
    bot = None
    ok = False
    try:
        c.start()
        for n in BASEAPPS:
            c.wait_log(n, r"registered, gate")
        for n in (5, 6):
            c.wait_log(n, r"loginapp: listening")
        logins = ",".join("127.0.0.1:%s" % re.search(r"loginapp: listening on [0-9.]+:(\d+)", c.log(n)).group(1)
                          for n in (5, 6))
        bot = subprocess.Popen([os.path.join(build, "bench", "bot"), "--login", logins, "--server-key", PUB,
                                "--register", "--bots", str(a.bots), "--concurrency", "32", "--prefix", "bf",
                                "--resume", "--events", "--answer-ms", str(ANSWER_MS), "--play-s", "100000",
                                "--round-ms", "500", "--say-every", "0", "--json", "--duration-limit", "100000"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        events, lock = [], threading.Lock()

        err = open(os.path.join(run_dir, "bot.err"), "w")

        def read():
            for line in bot.stderr:
                err.write(line)
                m = re.match(r"EVENT (lost|back) bot=(\d+)(?: how=(\w+))? wall_ms=(\d+)", line)
                if m:
                    with lock:
                        events.append((m.group(1), int(m.group(2)), m.group(3), int(m.group(4))))
        threading.Thread(target=read, daemon=True).start()
        nodeutil.wait_until(lambda: c.online()[0] == a.bots, 120, "%d bots playing" % a.bots)
        kinds = a.kinds.split(",")
        figures = {kind: [] for kind in kinds}
        for kind in kinds:
            for k in range(a.repeat):
                by_id = c.online()[1]
                victim = max(BASEAPPS, key=lambda n: by_id.get("%02x000009" % n, 0))
                with lock:
                    seen = len(events)
                pid = c.pid(victim)
                t0 = time.time() * 1000
                os.kill(pid, signal.SIGKILL if kind == "kill" else signal.SIGSTOP)

                def settled():
                    with lock:
                        evs = events[seen:]
                    lost = {e[1] for e in evs if e[0] == "lost"}
                    back = {e[1] for e in evs if e[0] == "back"}
                    quiet = evs and time.time() * 1000 - max(e[3] for e in evs) > 1000
                    return lost and lost <= back and quiet
                nodeutil.wait_until(settled, 60, "the bots of node %d back" % victim)
                with lock:
                    backs = [e for e in events[seen:] if e[0] == "back"]
                ms = max(e[3] for e in backs) - t0
                figures[kind].append(ms)
                relogged = sum(1 for e in backs if e[2] != "resumed")
                print("%s %d: node %d, %d bots back in %.0f ms%s" % (kind, k + 1, victim, len(backs), ms,
                      ", %d by a password login" % relogged if relogged else ""), file=sys.stderr)
                if kind == "stop":
                    os.kill(pid, signal.SIGCONT)
                else:
                    c.wait_log(2 + 1, r"event=baseapp_dead", timeout=30, count=k + 1)
                    c.start()
                    c.wait_log(victim, r"registered, gate", count=1)
                nodeutil.wait_until(lambda: c.online()[0] == a.bots, 60, "%d sessions again" % a.bots)
        for kind in kinds:
            v = figures[kind]
            print("BENCH failover_baseapp_%s_ms %.0f ms" % (kind, statistics.median(v)))
            print("BENCH failover_baseapp_%s_ms_max %.0f ms" % (kind, max(v)))
        ok = True
    finally:
        if bot and bot.poll() is None:
            bot.kill()
            bot.wait()
        c.stop()
        if ok:
            shutil.rmtree(run_dir, ignore_errors=True)
        else:  # the node logs and the bots' events, for a look at what went wrong
            print("failover.py: kept %s" % run_dir, file=sys.stderr)


if __name__ == "__main__":
    main()
